"""pattern: the normalised text matches a regular expression."""

from __future__ import annotations

import re
from typing import Any

from processor.checks.base import Check, ParamSpec, RuleError, register
from processor.expr import show


@register
class Pattern(Check):
    kind = "pattern"
    params = {"pattern": ParamSpec((str,)), "pattern_hint": ParamSpec((str,), default="")}
    max_fields = 1

    def setup(self) -> None:
        source = self.p["pattern"] or self.field_spec(self.fields[0]).pattern
        if not source:
            raise RuleError("缺少参数 pattern（正则表达式）")
        try:
            self.regex = re.compile(source)
        except re.error as exc:
            raise RuleError(f"正则表达式“{source}”有误（{exc}）") from exc
        self.p["pattern"] = source
        if not self.p["pattern_hint"]:
            example = self.field_spec(self.fields[0]).example
            self.p["pattern_hint"] = f"请按规定格式填写，例如 {example}。" if example else "请按规定格式填写。"

    def test(self, values: tuple[Any, ...]) -> Any:
        value = values[0]
        if value is None:
            return None
        text = value if isinstance(value, str) else str(show(value))
        return self.regex.search(text) is None
