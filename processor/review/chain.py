"""Who reviews a school's records, level by level: the ancestors of the school at the configured levels.

``[review] levels`` lists the reviewing levels above the school, bottom-up (default ``["county"]``). The
school's own submission is its review (集体审核、校长负责), so a stored row enters the chain pending at the
first listed level above the school. A level where the school has no ancestor is skipped (a 省直辖县 has no
city; a school directly under a city has no county); a school with no reviewer at any level has its rows
effective at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.store.models import LEVEL_NAMES, Unit


@dataclass(frozen=True)
class Step:
    """A reviewing step: the level and the unit that acts there."""

    level: str
    unit_code: str


class Chain:
    """The review steps of every school, from the unit tree (loaded once per use)."""

    def __init__(self, levels: Sequence[str], parents: dict[str, tuple[str | None, str]]) -> None:
        self.levels = list(levels)
        self._parents = parents  # code → (parent code, level)
        self._cache: dict[str, list[Step]] = {}

    @classmethod
    def load(cls, session: Session, levels: Sequence[str], schools: Iterable[str] | None = None) -> Chain:
        """The whole tree, or with ``schools`` only those units and their ancestors: a province holds ten
        thousand units, and reading them all for each school's file cost a third of the file's time."""
        if schools is None:
            rows = session.execute(select(Unit.code, Unit.parent_code, Unit.level))
            return cls(levels, {code: (parent, level) for code, parent, level in rows})
        parents: dict[str, tuple[str | None, str]] = {}
        wanted = set(schools)
        while wanted:  # one query per level of the tree
            found = session.execute(select(Unit.code, Unit.parent_code, Unit.level).where(Unit.code.in_(sorted(wanted))))
            for code, parent, level in found:
                parents[code] = (parent, level)
            wanted = {p for p, _level in parents.values() if p and p not in parents} - wanted
        return cls(levels, parents)

    def steps(self, school_code: str) -> list[Step]:
        """The reviewing steps of a school, bottom-up."""
        hit = self._cache.get(school_code)
        if hit is not None:
            return hit
        by_level: dict[str, str] = {}
        code: str | None = self._parents.get(school_code, (None, ""))[0]
        seen: set[str] = set()
        while code and code not in seen:
            seen.add(code)
            parent, level = self._parents.get(code, (None, ""))
            by_level.setdefault(level, code)
            code = parent
        out = [Step(level, by_level[level]) for level in self.levels if level in by_level]
        self._cache[school_code] = out
        return out

    def first(self, school_code: str) -> Step | None:
        """Where a stored row of the school waits first (None: no reviewer, effective at once)."""
        steps = self.steps(school_code)
        return steps[0] if steps else None

    def after(self, school_code: str, level: str) -> Step | None:
        """The step after ``level`` for the school (None: ``level`` was the last, the record is effective)."""
        steps = self.steps(school_code)
        for i, step in enumerate(steps):
            if step.level == level:
                return steps[i + 1] if i + 1 < len(steps) else None
        return None

    def reviewing_units(self, school_codes: Iterable[str]) -> set[str]:
        return {s.unit_code for code in school_codes for s in self.steps(code)}


def level_title(level: str) -> str:
    """县级审核, 地市级审核 … for sheets and messages."""
    return f"{LEVEL_NAMES.get(level, level)}审核"
