"""cell: gives severity, message and hint to a normalisation finding (ID-AS-NUMBER, DATE-AMBIGUOUS, …).

The engine raises these while normalising a column; the rule's id is the finding code the normaliser
names, `fields` (empty = any field) limits where the rule applies."""

from __future__ import annotations

from collections.abc import Iterable

from processor.checks.base import Check, Chunk, Hit, register


@register
class Cell(Check):
    kind = "cell"
    min_fields = 0
    skips_invalid = False

    def applies_to(self, field_code: str) -> bool:
        return not self.fields or field_code in self.fields

    def rows(self, chunk: Chunk) -> Iterable[Hit]:
        return ()
