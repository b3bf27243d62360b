"""count: the number of rows where `when` holds (without `when`: where the field is filled) is between `min`
and `max` (e.g. exactly one 组长 on a roster).
Too many: every row past the allowed number is marked (adds `count`, `first_row`, `max`); too few: the
column's header cell is marked (adds `count`, `min`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from processor.checks.base import BlockInfo, Check, Chunk, Hit, ParamSpec, RuleError, register


@register
class Count(Check):
    kind = "count"
    params = {"min": ParamSpec((int,), default=0), "max": ParamSpec((int,), default=None)}
    max_fields = 1

    def setup(self) -> None:
        if self.p["max"] is not None and self.p["max"] < self.p["min"]:
            raise RuleError("参数 max 不能小于 min")

    def start(self, block: BlockInfo) -> Iterable[Hit]:
        super().start(block)
        self.matched: list[tuple[int, object]] = []
        return ()

    def rows(self, chunk: Chunk) -> Iterator[Hit]:
        mask = self.when_mask(chunk)
        if mask is None:  # no condition: count the rows whose field is filled
            mask = [v is not None and v != "" for v in chunk.column(self.target)]
        for i, ok in enumerate(mask):
            if ok:
                self.matched.append((chunk.rows[i], chunk.raw(self.target, i)))
        return iter(())

    def end(self) -> Iterator[Hit]:
        n, lo, hi = len(self.matched), self.p["min"], self.p["max"]
        if hi is not None and n > hi:
            first = self.matched[0][0]
            for row, raw in self.matched[hi:]:
                yield Hit(row, self.target, raw, {"count": n, "first_row": first})
        elif n < lo:
            yield Hit(self.block.header_row, self.target, None, {"count": n})
        self.matched = []
