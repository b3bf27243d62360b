"""order: fields[0] comes after `after` (on or after unless strict), optionally at least `min_years` later."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from processor.checks.base import BlockInfo, Check, Chunk, Hit, ParamSpec, RuleError, register
from processor.checks.date import compare, granular_cached, whole_years
from processor.expr import show


@register
class Order(Check):
    kind = "order"
    params = {
        "after": ParamSpec((str,), required=True),
        "strict": ParamSpec((bool,), default=False),
        "min_years": ParamSpec((int,)),
    }
    max_fields = 1

    def setup(self) -> None:
        other = self.p["after"]
        self.remote: tuple[str, str, str] | None = None
        if "." in other:
            # "basic.birth_date": the person's value on another sheet of the same file, linked by 身份证件号.
            sheet_id, code = other.split(".", 1)
            ref = self.pack.sheets.get(sheet_id)
            if ref is None or not ref.has_field(code):
                raise RuleError(f"参数 after 指定的字段“{other}”不存在")
            link = str((self.pack.settings.get("person_key") or ["id_type", "id_number"])[-1])
            if not (self.sheet.has_field(link) and ref.has_field(link)):
                raise RuleError(f"参数 after 引用其他工作表时，两表都须有证件号字段“{link}”")
            self.remote = (sheet_id, link, code)
            self.other, self.other_label = link, ref.field(code).label
        elif not self.sheet.has_field(other):
            raise RuleError(f"参数 after 指定的字段“{other}”不在工作表 {self.sheet.id} 中")
        else:
            self.other = other
            self.other_label = self.sheet.field(other).label

    def collects_map(self) -> tuple[str, str, str] | None:
        return self.remote

    def start(self, block: BlockInfo) -> Iterable[Hit]:
        if self.remote is not None:
            self._memo.clear()  # the values come from this file's other sheet
            self._remote_values = self.env.file_maps.get(self.remote, {})
        return super().start(block)

    def reads(self) -> tuple[str, ...]:
        return (self.fields[0], self.other)

    def rows(self, chunk: Chunk) -> Iterator[Hit]:
        """Column-wise: pairs of dates hardly repeat (birth dates), so memoising rows would not pay."""
        values = chunk.column(self.fields[0])
        others = chunk.column(self.other)
        if self.remote is not None:
            remote = self._remote_values
            others = [remote.get(k) if k.__class__ is str else None for k in others]
        g = granular_cached
        ga = [g(v) if v is not None else None for v in values]
        gb = [g(v) if v is not None else None for v in others]
        strict, need = self.p["strict"], self.p["min_years"]
        # Cheap test at the coarser granularity of each pair; the exact one runs on the few candidates.
        if need is None:
            if strict:
                candidates = [i for i, (a, b) in enumerate(zip(ga, gb, strict=True))
                              if a is not None and b is not None and a[:len(b)] <= b[:len(a)]]
            else:
                candidates = [i for i, (a, b) in enumerate(zip(ga, gb, strict=True))
                              if a is not None and b is not None and a[:len(b)] < b[:len(a)]]
        else:
            candidates = [i for i, (a, b) in enumerate(zip(ga, gb, strict=True))
                          if a is not None and b is not None and (a[0] - b[0] <= need or a[:len(b)] <= b[:len(a)])]
        if not candidates:
            return
        mask = self.when_mask(chunk)
        for i in candidates:
            if mask is not None and not mask[i]:
                continue
            extra = self._judge(ga[i], gb[i], others[i])
            if extra is not None:
                yield chunk.hit(i, self.fields[0], extra)

    def test(self, values: tuple[Any, ...]) -> Any:
        value, other = values
        if self.remote is not None:
            other = self._remote_values.get(other)
        return self._judge(granular_cached(value), granular_cached(other), other)

    def _judge(self, a: tuple[int, ...] | None, b: tuple[int, ...] | None, other: Any) -> dict[str, Any] | None:
        if a is None or b is None:
            return None
        c = compare(a, b)
        extra = {"other_label": self.other_label, "other_value": show(other), "other_field": self.other}
        if c < 0 or (c == 0 and self.p["strict"]):
            return extra
        need = self.p["min_years"]
        if need is not None:
            got = whole_years(b, a)
            if got < need:
                extra["actual_years"] = got
                return extra
        return None
