"""unique_file: no two rows of the sheet share the key `fields` (with against = "all": a row where `when`
holds shares its key with no other row, e.g. a 0-无 row must be the person's only row)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from processor.checks.base import INVALID, BlockInfo, Check, Chunk, Hit, ParamSpec, RuleError, register
from processor.findings import display_value


def _usable(v: Any) -> bool:
    return v is not None and v is not INVALID and v != "" and v != ()


@register
class UniqueFile(Check):
    kind = "unique_file"
    params = {"against": ParamSpec((str,), default="same")}

    def setup(self) -> None:
        if self.p["against"] not in ("same", "all"):
            raise RuleError(f"参数 against 只能是 \"same\" 或 \"all\"，实际为“{self.p['against']}”")

    def start(self, block: BlockInfo) -> Iterable[Hit]:
        super().start(block)
        self.first: dict[Any, int] = {}
        self.count: dict[Any, int] = {}
        self.candidates: list[tuple[Any, int, Any]] = []
        return ()

    def _keys(self, chunk: Chunk) -> Iterable[Any]:
        if len(self.fields) == 1:
            return chunk.column(self.fields[0])
        return zip(*[chunk.column(f) for f in self.fields], strict=True)

    def rows(self, chunk: Chunk) -> Iterator[Hit]:
        mask = self.when_mask(chunk)
        single = len(self.fields) == 1
        first, rows, target = self.first, chunk.rows, self.fields[0]
        if self.p["against"] == "all":
            count = self.count
            for i, key in enumerate(self._keys(chunk)):
                if not (_usable(key) if single else all(map(_usable, key))):
                    continue
                count[key] = count.get(key, 0) + 1
                first.setdefault(key, rows[i])
                if mask is None or mask[i]:
                    self.candidates.append((key, rows[i], chunk.raw(target, i)))
            return
        for i, key in enumerate(self._keys(chunk)):
            if mask is not None and not mask[i]:
                continue
            if not (_usable(key) if single else all(map(_usable, key))):
                continue
            row = rows[i]
            seen = first.setdefault(key, row)
            if seen != row:
                yield chunk.hit(i, target, {"first_row": seen,
                                            "normalised": display_value(key if single else key[0])})

    def end(self) -> Iterator[Hit]:
        target, single = self.fields[0], len(self.fields) == 1
        for key, row, raw in self.candidates:
            n = self.count.get(key, 0)
            if n > 1:
                first = self.first[key]
                yield Hit(row, target, raw, {"first_row": first if first != row else None, "others": n - 1,
                                            "key": display_value(key),
                                            "normalised": display_value(key if single else key[0])})
        self.candidates = []
        self.count = {}
        self.first = {}
