"""range: a numeric value between `min` and `max` (inclusive)."""

from __future__ import annotations

from typing import Any

from processor.checks.base import Check, ParamSpec, RuleError, number, register


@register
class Range(Check):
    kind = "range"
    params = {"min": ParamSpec((int, float)), "max": ParamSpec((int, float))}
    max_fields = 1

    def setup(self) -> None:
        lo, hi = self.p["min"], self.p["max"]
        if lo is None and hi is None:
            raise RuleError("range 检查至少需要参数 min 或 max")
        if lo is not None and hi is not None and lo > hi:
            raise RuleError(f"range 检查的 min（{lo}）大于 max（{hi}）")

    def test(self, values: tuple[Any, ...]) -> Any:
        value = number(values[0])
        if value is None:
            return None
        lo, hi = self.p["min"], self.p["max"]
        return (lo is not None and value < lo) or (hi is not None and value > hi)
