"""number: an int/decimal field holds a number (the normaliser reports text as NUMBER-INVALID)."""

from __future__ import annotations

from typing import Any

from processor.checks.base import Check, register


@register
class Number(Check):
    kind = "number"
    max_fields = 1

    def test(self, values: tuple[Any, ...]) -> Any:
        value = values[0]
        if value is None:
            return None
        return isinstance(value, bool) or not isinstance(value, (int, float))
