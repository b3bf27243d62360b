"""The deadline calendar: every year's update deadlines (``[deadlines] yearly``, "MM-DD 名称") and the
province's own one-off dates (``[deadlines] dates``, "YYYY-MM-DD 名称"). A deadline's period opens the day
after the deadline before it, so each file counts towards the next deadline to come."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

DEFAULT_NAME = "信息更新截止"


@dataclass(frozen=True)
class Deadline:
    """One deadline: its last day (inclusive), the first day of its period and its name."""

    due: date
    name: str
    opens: date

    @property
    def key(self) -> str:
        """Stable identity (dedup keys, the reminder marker): the date and the name."""
        return f"{self.due.isoformat()} {self.name}"[:80]

    def ends_at(self) -> datetime:
        """The instant the deadline passes: local midnight after its last day, in UTC."""
        nxt = self.due + timedelta(days=1)
        return datetime(nxt.year, nxt.month, nxt.day).astimezone().astimezone(UTC)

    def opens_at(self) -> datetime:
        return datetime(self.opens.year, self.opens.month, self.opens.day).astimezone().astimezone(UTC)

    def days_left(self, today: date) -> int:
        """Days from ``today`` to the last day (0 on the day itself, negative once it has passed)."""
        return (self.due - today).days

    def as_dict(self, today: date) -> dict[str, Any]:
        left = self.days_left(today)
        return {"key": self.key, "name": self.name, "due": self.due.isoformat(), "opens": self.opens.isoformat(),
                "days_left": max(left, 0), "days_late": max(-left, 0), "passed": left < 0}


def _parse(item: str, *, yearly: bool) -> tuple[str, str]:
    m = re.fullmatch(r"(\S+)(?:\s+(\S.*))?", str(item).strip())
    assert m is not None  # validated with the configuration
    return m.group(1), (m.group(2) or DEFAULT_NAME).strip()


def _occurrences(config: Any, years: range) -> list[tuple[date, str]]:
    out: list[tuple[date, str]] = []
    for item in config.get("deadlines", "yearly"):
        md, name = _parse(item, yearly=True)
        month, day = int(md[:2]), int(md[3:5])
        for year in years:
            try:
                out.append((date(year, month, day), name))
            except ValueError:  # 02-29 in a common year: the last day of February
                out.append((date(year, 3, 1) - timedelta(days=1), name))
    for item in config.get("deadlines", "dates"):
        iso, name = _parse(item, yearly=False)
        out.append((date.fromisoformat(iso), name))
    return sorted(set(out))


def calendar(config: Any, around: date) -> list[Deadline]:
    """The deadlines from about a year before ``around`` to a year after, each with the day its period opens."""
    occ = _occurrences(config, range(around.year - 2, around.year + 3))
    out = []
    for i, (due, name) in enumerate(occ):
        before = [d for d, _n in occ[:i] if d < due]
        opens = before[-1] + timedelta(days=1) if before else due - timedelta(days=182)
        out.append(Deadline(due, name, opens))
    return [d for d in out if around - timedelta(days=400) <= d.due <= around + timedelta(days=400)]


def current(config: Any, today: date) -> tuple[Deadline | None, Deadline | None]:
    """(the last deadline that has passed, the next one to come — today's included); either may be None."""
    deadlines = calendar(config, today)
    passed = [d for d in deadlines if d.due < today]
    coming = [d for d in deadlines if d.due >= today]
    return (passed[-1] if passed else None), (coming[0] if coming else None)


def shown(config: Any, today: date) -> list[Deadline]:
    """The deadlines a digest or report shows: the last one passed and the next one (in date order)."""
    return [d for d in current(config, today) if d is not None]
