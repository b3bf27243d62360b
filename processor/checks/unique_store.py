"""unique_store: one person, one record (一人一号) — the person is not active at another school in the store."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from processor.checks.base import INVALID, Check, Chunk, Hit, RuleError, register

log = logging.getLogger(__name__)


@register
class UniqueStore(Check):
    kind = "unique_store"
    min_fields = 0

    def setup(self) -> None:
        key = list(self.pack.settings.get("person_key", ["id_type", "id_number"]))
        if len(key) != 2:
            raise RuleError("pack.toml [settings] person_key 应为两个字段：证件类型和证件号")
        self.type_field = key[0] if self.sheet.has_field(key[0]) else None
        self.number_field = self.fields[0] if self.fields else key[1]
        if not self.sheet.has_field(self.number_field):
            raise RuleError(f"工作表 {self.sheet.id} 没有证件号字段“{self.number_field}”")

    @property
    def target(self) -> str | None:
        return self.number_field

    def rows(self, chunk: Chunk) -> Iterator[Hit]:
        store, unit = self.env.store, self.env.unit_code
        if store is None or not unit:
            return
        mask = self.when_mask(chunk)
        numbers = chunk.column(self.number_field)
        types = chunk.column(self.type_field) if self.type_field else [None] * chunk.n
        wanted: dict[int, tuple[Any, str]] = {}
        for i, (t, number) in enumerate(zip(types, numbers, strict=True)):
            if not isinstance(number, str) or not number or (mask is not None and not mask[i]):
                continue
            wanted[i] = (None if t is None or t is INVALID else t, number)
        if not wanted:
            return
        try:
            found = store.persons_elsewhere(sorted(set(wanted.values()), key=str), unit)
        except Exception:  # a store that cannot answer must not stop the check of the file
            log.exception("persons_elsewhere failed; 一人一号 check skipped for this chunk")
            return
        for i, key in wanted.items():
            hit = found.get(key)
            if hit is not None:
                school_code, school = hit
                yield chunk.hit(i, self.number_field,
                                {"school": school, "school_code": school_code, "normalised": key[1]})
