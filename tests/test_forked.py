"""A big file validated in a forked child while the parent stores (processor/forked.py), SQLite and PostgreSQL.

tests/test_ingest.py runs every ingest test through the child as well; here: when the child is used, what
happens when it dies, and that its store look-ups never wait for the parent's write transaction."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pipeline_helpers import SCHOOL_A, Env, make_env, people, workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from processor import forked, pipeline
from processor.engine import Validator
from processor.pipeline import process_file
from processor.store.models import RecordVersion, Teacher


@pytest.fixture
def env(store_instance: Path, unit_workbook: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("TMIS_INTAKE_PARALLEL_MIN_MB", "0")
    monkeypatch.setattr(forked, "available", lambda: True)
    e = make_env(store_instance, unit_workbook).reload()
    yield e
    e.engine.dispose()


def _versions_by_cell(env: Env) -> list[tuple[str, int, str, int, dict]]:
    with Session(env.engine) as s:
        return [(v.source_sheet, v.source_row, v.category, v.seq, v.data)
                for v in s.scalars(select(RecordVersion).order_by(RecordVersion.source_sheet, RecordVersion.source_row))]


def test_only_files_from_the_configured_size_are_validated_in_a_child(env: Env, tmp_path: Path) -> None:
    small, big = tmp_path / "小.xlsx", tmp_path / "大.xlsx"
    small.write_bytes(b"x" * 1000)
    big.write_bytes(b"x" * 3 * 1024 * 1024)
    two_mb = env.reload(TMIS_INTAKE_PARALLEL_MIN_MB="2").config
    assert (pipeline._validate_in_child(two_mb, small), pipeline._validate_in_child(two_mb, big)) == (False, True)
    never = env.reload(TMIS_INTAKE_PARALLEL_MIN_MB="-1").config
    assert pipeline._validate_in_child(never, big) is False


def test_a_child_that_dies_mid_file_leaves_the_file_to_one_process(
        env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = os.getpid()
    real = Validator.validate

    def dies_in_the_child(self, wb, *, keep_rows=True, on_chunk=None):  # type: ignore[no-untyped-def]
        if os.getpid() == parent:
            return real(self, wb, keep_rows=keep_rows, on_chunk=on_chunk)

        def first_then_die(sheet_id, records):  # type: ignore[no-untyped-def]
            on_chunk(sheet_id, records)
            os._exit(9)  # as if killed after the first chunk went to the parent

        return real(self, wb, keep_rows=keep_rows, on_chunk=first_then_die)

    monkeypatch.setattr(Validator, "validate", dies_in_the_child)
    persons = people(7, seed=41)
    path = tmp_path / "一中.xlsx"
    workbook(env, path, persons)
    out = process_file(path, env.config, env.pack, env.engine)
    assert (out.status, out.errors, out.stored) == ("accepted", 0, out.rows)
    with Session(env.engine) as s:
        assert s.scalar(select(func.count()).select_from(RecordVersion)) == out.rows  # the first chunk not twice
        assert sorted(s.scalars(select(Teacher.id_number))) == sorted(p.id_number for p in persons)


def test_a_read_only_engine_reads_while_a_writer_holds_the_store(env: Env) -> None:
    from processor.store.db import make_engine

    url = env.engine.url.render_as_string(hide_password=False)
    reader = make_engine(url, read_only=True)
    try:
        with Session(env.engine) as writer, writer.begin():  # BEGIN IMMEDIATE on SQLite: the write lock
            writer.add(Teacher(id_type="1", id_number="360102198001010012", name="王芳", unit_code=SCHOOL_A[0],
                               status="pending"))
            writer.flush()
            with Session(reader) as s:  # the validating child's look-ups: no wait, the last commit
                assert s.scalar(select(func.count()).select_from(Teacher)) == 0
        with Session(reader) as s:
            assert s.scalars(select(Teacher.name)).all() == ["王芳"]
    finally:
        reader.dispose()


def test_a_read_only_engine_refuses_writes(env: Env) -> None:
    from sqlalchemy.exc import DBAPIError

    from processor.store.db import make_engine

    reader = make_engine(env.engine.url.render_as_string(hide_password=False), read_only=True)
    try:
        with pytest.raises(DBAPIError), Session(reader) as s, s.begin():
            s.add(Teacher(id_type="1", id_number="360102198001010012", name="王芳", unit_code=SCHOOL_A[0],
                          status="pending"))
            s.flush()
    finally:
        reader.dispose()
    assert env.count(Teacher) == 0
