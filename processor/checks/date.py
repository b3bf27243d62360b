"""date: a valid date / month / year (the normaliser reports unreadable ones); optionally not after today."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from processor.checks.base import Check, ParamSpec, register

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def granular(value: Any) -> tuple[int, ...] | None:
    """(y,), (y, m) or (y, m, d) for a year, a 'YYYY-MM' month or a date; None for anything else."""
    if isinstance(value, datetime):
        return (value.year, value.month, value.day)
    if isinstance(value, date):
        return (value.year, value.month, value.day)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (value,)
    if isinstance(value, str) and MONTH.match(value):
        return (int(value[:4]), int(value[5:7]))
    return None


_GRANULAR: dict[Any, tuple[int, ...] | None] = {}
_CACHEABLE = (date, str)  # never int: 1 == True == 1.0 would share an entry


def granular_cached(value: Any) -> tuple[int, ...] | None:
    """granular() memoised by value (dates and months repeat across rows)."""
    if value.__class__ not in _CACHEABLE:
        return granular(value)
    try:
        hit = _GRANULAR[value]
    except KeyError:
        hit = granular(value)
        if len(_GRANULAR) > 100_000:
            _GRANULAR.clear()
        _GRANULAR[value] = hit
    return hit


def whole_years(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """Whole years from a to b (missing month/day count as the first)."""
    am, ad = (a[1] if len(a) > 1 else 1), (a[2] if len(a) > 2 else 1)
    bm, bd = (b[1] if len(b) > 1 else 1), (b[2] if len(b) > 2 else 1)
    return b[0] - a[0] - ((bm, bd) < (am, ad))


def compare(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """-1 / 0 / 1 comparing at the coarser of the two granularities (a month equals every day in it)."""
    n = min(len(a), len(b))
    x, y = a[:n], b[:n]
    return (x > y) - (x < y)


@register
class DateCheck(Check):
    kind = "date"
    params = {"not_future": ParamSpec((bool,), default=False)}
    max_fields = 1

    def setup(self) -> None:
        t = self.env.today
        self.today_key = (t.year, t.month, t.day)

    def test(self, values: tuple[Any, ...]) -> Any:
        value = values[0]
        if value is None:
            return None
        key = granular(value)
        if key is None:
            return {"problem": "invalid"}
        if self.p["not_future"] and compare(key, self.today_key) > 0:
            return {"problem": "future"}
        return None
