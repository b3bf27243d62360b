"""Planner statistics kept fresh on PostgreSQL while a province's files stream in.

A store that the workers fill grows from nothing to a million teachers within days. PostgreSQL plans every
query from the statistics ANALYZE gathers; autovacuum refreshes them when it runs, but it may be switched off
or behind, and a new database has none at all. Without them the planner takes the hundred identity numbers
of a look-up for half the table and reads every teacher: at 733,500 teachers that query took 174 ms instead
of 4 ms, and a 100-teacher file makes several of them, so each file came slower than the one before.

Each worker calls :func:`refresh` every ``[workers] analyze_seconds`` (from its heartbeat thread): a big table
whose live rows (``pg_stat_user_tables.n_live_tup``, counted as transactions end) outgrew the rows its
statistics knew (``pg_class.reltuples``, -1 before the first ANALYZE) by a fifth and 1,000 rows is analyzed.
One worker at a time does it (an advisory lock; the others skip that round). SQLite plans from its indexes
without statistics; nothing to do there.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

# The tables each file or import grows by its rows, and the queue's own: procrastinate picks each job with a
# query over procrastinate_jobs (no job of the same lock running), which without statistics took 0.6–1.8 s a
# job once 10,000 files were queued.
TABLES = ("teachers", "record_versions", "teacher_facts", "report_facts", "intake_persons", "findings",
          "submissions", "file_jobs", "audit_log", "procrastinate_jobs", "procrastinate_events")
GROWTH = 1.2  # analyzed again once the live rows exceed the known ones by a fifth …
MIN_ROWS = 1_000  # … and by this many
LOCK_KEY = 7_406_255_215  # pg_try_advisory_lock key of this refresh ("tmis" analyze)


def stale_tables(conn: Connection) -> list[tuple[str, float, int]]:
    """(table, rows the statistics know, live rows) of each table that needs ANALYZE."""
    rows = conn.execute(text(
        "SELECT c.relname, c.reltuples, s.n_live_tup FROM pg_class c "
        "JOIN pg_stat_user_tables s ON s.relid = c.oid "
        "WHERE s.schemaname = current_schema() AND c.relname = ANY(:names)"), {"names": list(TABLES)})
    return [(name, float(known), int(live)) for name, known, live in rows
            if live > max(float(known), 0.0) * GROWTH + MIN_ROWS]


def refresh(engine: Engine) -> list[str]:
    """ANALYZE the tables that outgrew their statistics; the tables analyzed ([] on SQLite, or when another
    worker is at it)."""
    if engine.dialect.name != "postgresql":
        return []
    done: list[str] = []
    with engine.connect() as conn:
        if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar():
            conn.rollback()
            return []
        try:
            for name, known, live in stale_tables(conn):
                conn.execute(text(f'ANALYZE "{name}"'))
                conn.commit()
                done.append(name)
                log.info("analyzed %s: %d live rows, statistics knew %d", name, live, max(int(known), 0))
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            conn.commit()
    return done
