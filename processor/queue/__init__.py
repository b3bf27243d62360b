"""Scale-out on PostgreSQL: every received file is a job in the database, taken by any number of `tmis run`
workers on any number of machines (procrastinate: jobs, locks, heartbeats, periodic tasks).

- ``claims``  the claim of an inbox file on a shared folder (unique-named rename) and its job row
- ``tasks``   the procrastinate app: the file, mail and exchange jobs, the periodic maintenance and schedules
- ``worker``  `tmis run` / `tmis run --once` on PostgreSQL
- ``status``  `tmis status` (jobs, throughput, workers) on both backends

SQLite keeps the single-process loop of processor.intake.
"""

from __future__ import annotations

from typing import Any


def uses_queue(engine: Any) -> bool:
    """True when the store is PostgreSQL: work goes through the job queue."""
    return engine.dialect.name == "postgresql"


def is_postgresql(url: str) -> bool:
    """True for a PostgreSQL database URL (without connecting)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).get_backend_name() == "postgresql"
    except ArgumentError:
        return False
