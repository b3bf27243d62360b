"""Selecting many rows by id without long ``IN`` lists: runs of consecutive ids become ``BETWEEN``.

The ids a bulk insert hands out are consecutive (processor/store/bulk.py), so the versions and teachers of
a big file come back as a few long runs. ``IN`` lists of 500 bound parameters cost SQLAlchemy more to
compile and the database more to plan than the rows cost to read; ``id BETWEEN lo AND hi`` over a run of
consecutive ids selects exactly the same rows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

MIN_RUN = 32  # shorter runs go into the IN lists
IN_CHUNK = 500


def runs(ids: Iterable[int]) -> list[tuple[int, int]]:
    """The maximal runs (first, last) of consecutive integers among ``ids``, ascending."""
    out: list[tuple[int, int]] = []
    first = last = None
    for i in sorted(set(ids)):
        if last is not None and i == last + 1:
            last = i
            continue
        if first is not None:
            out.append((first, last))  # type: ignore[arg-type]
        first = last = i
    if first is not None:
        out.append((first, last))  # type: ignore[arg-type]
    return out


def split(ids: Iterable[int], min_run: int = MIN_RUN) -> tuple[list[tuple[int, int]], list[int]]:
    """(the runs of at least ``min_run`` consecutive ids, the other ids ascending)."""
    long: list[tuple[int, int]] = []
    rest: list[int] = []
    for first, last in runs(ids):
        if last - first + 1 >= min_run:
            long.append((first, last))
        else:
            rest.extend(range(first, last + 1))
    return long, rest


def id_clauses(column: Any, ids: Iterable[int], *, chunk: int = IN_CHUNK, min_run: int = MIN_RUN) -> Iterator[Any]:
    """Conditions on ``column`` whose union selects exactly ``ids``, each to be run as a statement of its own:
    ``BETWEEN`` for every run of at least ``min_run`` consecutive ids, ``IN`` lists of at most ``chunk`` for
    the others."""
    long, rest = split(ids, min_run)
    for first, last in long:
        yield column.between(first, last)
    for i in range(0, len(rest), chunk):
        yield column.in_(rest[i:i + chunk])


__all__ = ["id_clauses", "runs", "split"]
