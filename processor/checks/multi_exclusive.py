"""multi_exclusive: in a multi-code cell the `exclusive` codes stand alone (政治面貌 13 群众 with nothing else)."""

from __future__ import annotations

from typing import Any

from processor.checks.base import Check, ParamSpec, RuleError, register


@register
class MultiExclusive(Check):
    kind = "multi_exclusive"
    params = {"exclusive": ParamSpec((list,), required=True)}
    max_fields = 1

    def setup(self) -> None:
        spec = self.field_spec(self.fields[0])
        self.table = self.pack.tables.get(spec.table) if spec.table else None
        codes = [str(c) for c in self.p["exclusive"]]
        if not codes:
            raise RuleError("参数 exclusive 不能为空列表")
        if self.table is not None:
            bad = [c for c in codes if c not in self.table.entries]
            if bad:
                raise RuleError(f"参数 exclusive 中的代码 {'、'.join(bad)} 不在代码表 {self.table.id} 中")
        self.exclusive = frozenset(codes)

    def _label(self, code: str) -> str:
        return self.table.label(code) if self.table is not None else code

    def test(self, values: tuple[Any, ...]) -> Any:
        value = values[0]
        if not isinstance(value, tuple) or len(value) < 2:
            return None
        for code in value:
            if code in self.exclusive:
                return {"code": code, "code_label": self._label(code)}
        return None
