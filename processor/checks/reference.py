"""reference: the row's person has a row on `ref_sheet` (基本信息) in the same file or in the store."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from processor.checks.base import INVALID, Check, Chunk, Hit, NotApplicable, ParamSpec, RuleError, register

log = logging.getLogger(__name__)


@register
class Reference(Check):
    kind = "reference"
    params = {"ref_sheet": ParamSpec((str,), required=True), "ref_field": ParamSpec((str,)),
              "name_field": ParamSpec((str,), default="name")}
    max_fields = 1

    def setup(self) -> None:
        ref = self.p["ref_sheet"]
        if ref not in self.pack.sheets:
            raise RuleError(f"参数 ref_sheet 指定的工作表“{ref}”不存在")
        if ref == self.sheet.id:
            if self.rule.sheet == "*":
                raise NotApplicable("the referenced sheet itself")
            raise RuleError("参数 ref_sheet 不能是规则所在的工作表本身")
        self.ref_field = self.p["ref_field"] or self.fields[0]
        if not self.pack.sheets[ref].has_field(self.ref_field):
            raise RuleError(f"工作表 {ref} 没有字段“{self.ref_field}”")
        key = list(self.pack.settings.get("person_key", ["id_type", "id_number"]))
        self.type_field = key[0] if key and self.sheet.has_field(key[0]) else None
        self.ref_title = self.pack.sheets[ref].name
        name = self.p["name_field"]
        self.name_field = name if self.sheet.has_field(name) and self.pack.sheets[ref].has_field(name) else None

    def collects(self) -> tuple[str, str]:
        return (self.p["ref_sheet"], self.ref_field)

    def collects_suspects(self) -> tuple[str, str, str] | None:
        """(sheet, key field, name field): names on that sheet's rows with errors (see file_suspects)."""
        return (self.p["ref_sheet"], self.ref_field, self.name_field) if self.name_field else None

    def rows(self, chunk: Chunk) -> Iterator[Hit]:
        ref = self.p["ref_sheet"]
        in_file = self.env.file_keys.get((ref, self.ref_field), set())
        store = self.env.store
        if store is None and ref not in self.env.present_sheets:
            return  # nothing to compare with: neither the sheet in the file nor a store
        mask = self.when_mask(chunk)
        values = chunk.column(self.fields[0])
        types = chunk.column(self.type_field) if self.type_field else [None] * chunk.n
        # A person whose row on the referenced sheet has an error (a mistyped or unreadable number) is
        # reported there; the rows pointing at the person are not reported again.
        suspects = self.env.file_suspects.get((ref, self.ref_field), set())
        names = chunk.column(self.name_field) if self.name_field and suspects else None
        missing: dict[int, tuple[Any, str]] = {}
        for i, v in enumerate(values):
            if not isinstance(v, str) or not v or v in in_file or (mask is not None and not mask[i]):
                continue
            if len(v) == 18 and v[6:8] == "19" and (v[:6] + v[8:17]) in in_file:
                continue  # 基本信息 carries the old 15-digit form of the same number
            if names is not None and names[i] in suspects:
                continue
            t = types[i]
            missing[i] = (None if t is None or t is INVALID else t, v)
        if not missing:
            return
        known: set[tuple[Any, str]] = set()
        if store is not None:
            try:
                known = store.persons_known(sorted(set(missing.values()), key=str))
            except Exception:  # a store that cannot answer must not stop the check of the file
                log.exception("persons_known failed; reference check skipped for this chunk")
                return
        for i, key in missing.items():
            if key not in known and (key[0] is None or (None, key[1]) not in known):
                yield chunk.hit(i, self.fields[0], {"ref_sheet_name": self.ref_title, "normalised": key[1]})
