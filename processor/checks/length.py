"""length: text length in characters between `min` and `max`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from processor.checks.base import INVALID, Check, Chunk, Hit, ParamSpec, RuleError, register
from processor.expr import show


@register
class Length(Check):
    kind = "length"
    params = {"min": ParamSpec((int,)), "max": ParamSpec((int,))}
    max_fields = 1

    def setup(self) -> None:
        if self.p["min"] is None and self.p["max"] is None:
            raise RuleError("length 检查至少需要参数 min 或 max")

    def rows(self, chunk: Chunk) -> Iterator[Hit]:
        """Column-wise: text columns (names, numbers) hardly repeat, so memoising would not pay."""
        col = chunk.column(self.fields[0])
        lo = self.p["min"] if self.p["min"] is not None else 0
        hi = self.p["max"] if self.p["max"] is not None else sys.maxsize
        candidates = [i for i, v in enumerate(col)
                      if v is not None and (v.__class__ is not str or not lo <= len(v) <= hi)]
        if not candidates:
            return
        mask = self.when_mask(chunk)
        for i in candidates:
            v = col[i]
            if v is INVALID or (mask is not None and not mask[i]):
                continue
            extra = self.test((v,))
            if extra:
                yield chunk.hit(i, self.fields[0], extra)

    def test(self, values: tuple[Any, ...]) -> Any:
        value = values[0]
        if value is None:
            return None
        n = len(value if isinstance(value, str) else str(show(value)))
        lo, hi = self.p["min"], self.p["max"]
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            return {"length": n}
        return None
