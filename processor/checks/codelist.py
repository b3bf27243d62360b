"""codelist: the value is a code of the field's table, optionally restricted by `allowed` / `forbidden`."""

from __future__ import annotations

from typing import Any

from processor.checks.base import Check, ParamSpec, RuleError, register


@register
class CodeList(Check):
    kind = "codelist"
    params = {"allowed": ParamSpec((list,)), "forbidden": ParamSpec((list,))}
    max_fields = 1

    def setup(self) -> None:
        spec = self.field_spec(self.fields[0])
        self.table = self.pack.tables.get(spec.table) if spec.table else None
        if self.table is None:
            raise RuleError(f"字段“{spec.code}”不是代码型字段（没有代码表），不能用 codelist 检查")
        self.allowed: frozenset[str] | None = None
        self.forbidden: frozenset[str] = frozenset()
        for name in ("allowed", "forbidden"):
            codes = self.p[name]
            if codes is None:
                continue
            bad = [c for c in codes if str(c) not in self.table.entries]
            if bad:
                raise RuleError(f"参数 {name} 中的代码 {'、'.join(map(str, bad))} 不在代码表 {self.table.id} 中")
            setattr(self, name, frozenset(str(c) for c in codes))
        self.allowed_text = "、".join(self.table.label(c) for c in sorted(self.allowed)) if self.allowed else ""

    def test(self, values: tuple[Any, ...]) -> Any:
        value = values[0]
        if value is None:
            return None
        codes = value if isinstance(value, tuple) else (value,)
        entries = self.table.entries
        for code in codes:
            if not isinstance(code, str) or code not in entries:
                return {"code": code}
            if self.allowed is not None and code not in self.allowed:
                return {"code": code, "code_label": self.table.label(code), "allowed_text": self.allowed_text}
            if code in self.forbidden:
                return {"code": code, "code_label": self.table.label(code), "allowed_text": self.allowed_text}
        return None
