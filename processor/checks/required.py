"""required: every field in `fields` is filled (when `when` holds); a failed cell counts as filled."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from processor.checks.base import EMPTY_VALUES, BlockInfo, Check, Chunk, Hit, register


@register
class Required(Check):
    kind = "required"
    skips_invalid = False
    project = EMPTY_VALUES.__contains__  # memoise on "is it empty?", not on the value

    def start(self, block: BlockInfo) -> Iterable[Hit]:
        super().start(block)
        # A whole column missing is reported once by the reader (HEADER-MISSING), or is a field of another
        # school-type variant of the template: no finding per row for it.
        self._absent = {f for f in self.fields if f not in block.columns} if self.when is None else set()
        # An exchange profile declares the fields its foreign layout does not carry at all (processor/exchange):
        # no row can fill them, so no rule, conditional or not, asks each row for them.
        self._absent |= {f for f in self.fields if f in getattr(block.raw_block, "absent_fields", ())}
        # A field of some school types only (幼儿园, 特教) is required only from a school of those types.
        school_type = self.env.school_type
        for f in self.fields:
            variants = block.sheet.field(f).variants if block.sheet.has_field(f) else ()
            if variants and school_type not in variants:
                self._absent.add(f)
        return ()

    def rows(self, chunk: Chunk) -> Iterable[Hit]:
        if self._absent and self._absent.issuperset(self.fields):
            return ()  # every field it asks for is absent: nothing to ask any row
        hits = super().rows(chunk)
        if self._absent:
            return (h for h in hits if h.field not in self._absent)
        return hits

    def test(self, values: tuple[Any, ...]) -> Any:
        return [(f, None) for f, empty in zip(self.fields, values, strict=True) if empty]
