"""covers: the values of a code or codes column, over all rows, include every code in `codes` (e.g. the
duties a workgroup must cover). Each missing code marks the column's header cell (adds `missing`, the
code's name, and `missing_code`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from processor.checks.base import INVALID, BlockInfo, Check, Chunk, Hit, ParamSpec, RuleError, register


@register
class Covers(Check):
    kind = "covers"
    params = {"codes": ParamSpec((list,), required=True)}
    max_fields = 1

    def setup(self) -> None:
        spec = self.field_spec(self.fields[0])
        self.table = self.pack.tables.get(spec.table or "")
        if self.table is None:
            raise RuleError(f"字段“{spec.code}”没有代码表，不能用 covers 检查")
        unknown = [c for c in self.p["codes"] if str(c) not in self.table.entries]
        if unknown:
            raise RuleError(f"codes 中的 {'、'.join(map(str, unknown))} 不在代码表 {self.table.id} 中")

    def start(self, block: BlockInfo) -> Iterable[Hit]:
        super().start(block)
        self.seen: set[str] = set()
        return ()

    def rows(self, chunk: Chunk) -> Iterator[Hit]:
        mask = self.when_mask(chunk)
        for i, value in enumerate(chunk.column(self.fields[0])):
            if value is None or value is INVALID or (mask is not None and not mask[i]):
                continue
            values: Any = value if isinstance(value, (tuple, list)) else (value,)
            self.seen.update(str(v) for v in values)
        return iter(())

    def end(self) -> Iterator[Hit]:
        for code in map(str, self.p["codes"]):
            if code not in self.seen:
                yield Hit(self.block.header_row, self.target, None,
                          {"missing": self.table.entries[code].name, "missing_code": code})
        self.seen = set()
