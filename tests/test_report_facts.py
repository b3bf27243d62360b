"""teacher_facts, the per-teacher current facts the summary counts (SQLite and PostgreSQL): kept in step with the
versions through ingest, a re-submission, a return and review to effective (real files, real signed sheets), and
filled by migration 0006 from the versions stored before it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_helpers import SCHOOL_A, SCHOOL_B, Env, workbook
from review_helpers import KEY, fill, issue, review_env, school_file, send
from sqlalchemy import text

from processor.reports import facts
from processor.store.db import head_revision, make_engine, upgrade


@pytest.fixture
def env(store_instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("TMIS_SIGNING_KEY", KEY)
    e = review_env(store_instance, tmp_path, levels="county")
    yield e
    e.engine.dispose()


def _downgrade(url: str, revision: str) -> None:
    from alembic import command

    from processor.store.db import _alembic_config

    engine = make_engine(url)
    with engine.connect() as connection:
        cfg = _alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)
        connection.commit()
    engine.dispose()


def _stale(env: Env) -> int:
    with env.engine.connect() as conn:
        return facts.stale(conn)


def _rows(env: Env) -> dict[str, tuple[str, str]]:
    """id_number → (unit_code, state) of every teacher_facts row."""
    with env.engine.connect() as conn:
        return {n: (u, s) for n, u, s in conn.execute(text(
            "SELECT t.id_number, f.unit_code, f.state FROM teacher_facts f JOIN teachers t ON t.id = f.teacher_id"))}


def test_teacher_facts_follow_ingest_resubmission_return_and_review(env: Env, tmp_path: Path) -> None:
    a_file, a_people = school_file(env, tmp_path, n=3, seed=11, school=SCHOOL_A)
    b_file, b_people = school_file(env, tmp_path, n=2, seed=12, school=SCHOOL_B)
    assert send(env, a_file).status == "accepted" and send(env, b_file).status == "accepted"
    assert _stale(env) == 0
    assert _rows(env) == {**{p.id_number: (SCHOOL_A[0], "pending") for p in a_people},
                          **{p.id_number: (SCHOOL_B[0], "pending") for p in b_people}}
    again = tmp_path / "drop2" / "再次报送.xlsx"
    workbook(env, again, a_people, school=SCHOOL_A, seed=9)
    assert send(env, again).status == "accepted"  # supersedes school A's pending rows
    assert _stale(env) == 0 and len(_rows(env)) == 5

    (sheet,) = issue(env)
    returned = a_people[0]
    filled = fill(sheet.path, tmp_path / "back" / "回执.xlsx", every=("通过", ""),
                  rows={("基本信息", returned.id_number): ("退回", "出生日期与档案不符", "出生日期")})
    assert send(env, filled).status == "applied"
    assert _stale(env) == 0
    rows = _rows(env)
    assert returned.id_number not in rows  # its only 基本信息 version was returned: not counted any more
    assert {n: s for n, (_u, s) in rows.items()} == {p.id_number: "effective" for p in [*a_people[1:], *b_people]}


def test_summary_composition_counts_teacher_facts_equal_to_sql_over_the_versions(env: Env, tmp_path: Path) -> None:
    a_file, _ = school_file(env, tmp_path, n=4, seed=21, school=SCHOOL_A)
    assert send(env, a_file).status == "accepted"
    from processor.reports.figures import composition

    with env.engine.connect() as conn:
        comp = composition(conn, "360000", env.pack, at_year=2026)
        by_sex = dict(conn.execute(text("""SELECT f.sex, COUNT(*) FROM report_facts f
            JOIN (SELECT MAX(id) AS vid FROM record_versions WHERE category = 'basic'
                  AND review_state IN ('pending', 'effective') GROUP BY teacher_id) c ON c.vid = f.version_id
            GROUP BY f.sex""")).all())
    names = {"1": "男性", "2": "女性"}
    assert comp["teachers"] == 4 and comp["sex"] == {names[k]: v for k, v in by_sex.items()}
    assert all(sum(comp[k].values()) == 4 for k in ("age", "education", "title", "subject", "employment"))


def test_migration_0006_fills_teacher_facts_from_the_versions_stored_before(env: Env, tmp_path: Path) -> None:
    a_file, _ = school_file(env, tmp_path, n=3, seed=31, school=SCHOOL_A)
    b_file, _ = school_file(env, tmp_path, n=2, seed=32, school=SCHOOL_B)
    assert send(env, a_file).status == "accepted" and send(env, b_file).status == "accepted"
    url = env.config.database_url
    env.engine.dispose()
    _downgrade(url, "0005")
    with env.engine.connect() as conn:
        assert "teacher_facts" not in {r[0] for r in conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'table'" if conn.dialect.name == "sqlite" else
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))}
    assert upgrade(url) == head_revision()
    assert _stale(env) == 0 and len(_rows(env)) == 5


def test_teacher_facts_of_new_teachers_come_with_their_rows_once_per_teacher(
        env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline_helpers import people

    from processor import pipeline

    # Two rows a chunk: the teacher_facts row of each new teacher is written with its 基本信息 version; the
    # person pasted again at the bottom (a later chunk, an error there) gets no second row.
    validator = pipeline._validator(env.pack, env.engine, env.config.today, int(env.config.get("check", "max_findings")))
    monkeypatch.setattr(validator, "chunk_rows", 2)
    persons = people(5, seed=41, school=SCHOOL_A)
    path = tmp_path / "drop" / "重复.xlsx"
    workbook(env, path, persons, school=SCHOOL_A, mistakes=[("duplicate_person", 1)])
    out = send(env, path)
    assert (out.status, out.errors) == ("partial", 1)
    assert _stale(env) == 0
    assert _rows(env) == {p.id_number: (SCHOOL_A[0], "pending") for p in persons}
    with env.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM teacher_facts")).scalar() == 5
