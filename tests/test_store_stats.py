"""Planner statistics on PostgreSQL keep up with a store that grows while files stream in (processor.store.stats)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from processor.store import bulk, stats
from processor.store.models import Teacher, Unit

pg_only = pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
sqlite_only = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def _teachers(engine: Engine, n: int, start: int = 0) -> None:
    now = datetime.now(UTC)
    with Session(engine) as s, s.begin():
        if s.get(Unit, "3601020001") is None:
            s.add(Unit(code="3601020001", name="东湖小学", level="school"))
            s.flush()
        bulk.insert_rows(s, Teacher, [{"id_type": "1", "id_number": f"36010219800101{i:04d}", "name": f"教师{i}",
                                       "unit_code": "3601020001", "status": "pending", "created_at": now,
                                       "updated_at": now} for i in range(start, start + n)])
        if engine.dialect.name == "postgresql":
            s.execute(text("SELECT pg_stat_force_next_flush()"))  # the live-row count is published at this commit


def _estimate(engine: Engine) -> int:
    """The rows the planner expects for a look-up of 100 identity numbers (as ingest makes them)."""
    numbers = ", ".join(f"'36010219800101{i:04d}'" for i in range(0, 5000, 50))
    with engine.connect() as conn:
        top = conn.execute(text(f"EXPLAIN SELECT id, unit_code FROM teachers WHERE id_number IN ({numbers})")).first()
    return int(re.search(r"rows=(\d+)", top[0]).group(1))


@pg_only
def test_a_table_that_outgrew_its_statistics_is_analyzed_and_a_lookup_is_planned_for_its_real_rows(engine: Engine) -> None:
    with engine.begin() as conn:  # as on a server whose autovacuum is off, or behind
        conn.execute(text("ALTER TABLE teachers SET (autovacuum_enabled = false)"))
    _teachers(engine, 5000)
    assert _estimate(engine) > 300  # no statistics: the 100 numbers are taken for a large part of the table
    assert "teachers" in stats.refresh(engine)
    assert _estimate(engine) == 100  # each number is one teacher: the identity index is the plan
    assert stats.refresh(engine) == []  # nothing grew since


@pg_only
def test_statistics_are_taken_again_only_once_the_table_grew_by_a_fifth_and_a_thousand_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE teachers SET (autovacuum_enabled = false)"))
    _teachers(engine, 5000)
    assert "teachers" in stats.refresh(engine)
    _teachers(engine, 1500, start=5000)  # 6,500 < 5,000 × 1.2 + 1,000
    assert "teachers" not in stats.refresh(engine)
    _teachers(engine, 1000, start=6500)  # 7,500 > 7,000
    assert "teachers" in stats.refresh(engine)


@pg_only
def test_a_second_worker_skips_the_refresh_while_another_holds_it(engine: Engine) -> None:
    _teachers(engine, 3000)
    with engine.connect() as other:
        assert other.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": stats.LOCK_KEY}).scalar()
        assert stats.refresh(engine) == []
        other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": stats.LOCK_KEY})
    assert "teachers" in stats.refresh(engine)


@sqlite_only
def test_sqlite_needs_no_statistics_refresh(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        s.add(Unit(code="3601020001", name="东湖小学", level="school"))
    assert stats.refresh(engine) == []
