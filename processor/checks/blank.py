"""blank: every field in `fields` is empty (when `when` holds); a failed cell is not empty."""

from __future__ import annotations

from typing import Any

from processor.checks.base import EMPTY_VALUES, Check, register


@register
class Blank(Check):
    kind = "blank"
    skips_invalid = False
    project = EMPTY_VALUES.__contains__  # memoise on "is it empty?", not on the value

    def test(self, values: tuple[Any, ...]) -> Any:
        return [(f, None) for f, empty in zip(self.fields, values, strict=True) if not empty]
