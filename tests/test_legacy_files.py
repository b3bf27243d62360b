"""Files without template metadata (legacy exports, a school's own workbook): the sender from the file name."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_helpers import SCHOOL_A, Env, make_env, people

from processor import samples
from processor.pipeline import process_file
from processor.store.models import RecordVersion


@pytest.fixture
def env(instance: Path, unit_workbook: Path) -> Env:
    e = make_env(instance, unit_workbook)
    yield e
    e.engine.dispose()


def test_legacy_csv_with_the_school_code_in_its_name_is_stored_for_that_school(env: Env, tmp_path: Path) -> None:
    path = samples.write_csv(tmp_path / f"基本信息导出_{SCHOOL_A[0]}.csv", people(4, seed=5), pack=env.pack)
    outcome = process_file(path, env.config, env.pack, env.engine)
    assert (outcome.status, outcome.stored) == ("accepted", 4)
    assert {v.unit_code for v in env.versions(RecordVersion.category == "basic")} == {SCHOOL_A[0]}


def test_legacy_csv_sender_found_by_name_is_told_in_a_warning(env: Env, tmp_path: Path) -> None:
    path = samples.write_csv(tmp_path / f"基本信息导出_{SCHOOL_A[0]}.csv", people(2, seed=5), pack=env.pack)
    process_file(path, env.config, env.pack, env.engine)
    report = next((env.outbox / SCHOOL_A[0]).glob("*.json")).read_text(encoding="utf-8")
    assert "UNIT-FROM-FILENAME" in report
    assert f"已按文件名中的学校标识码 {SCHOOL_A[0]} 认定为{SCHOOL_A[1]}报送" in report


def test_legacy_csv_without_a_known_code_in_its_name_is_rejected(env: Env, tmp_path: Path) -> None:
    path = samples.write_csv(tmp_path / "基本信息导出_9999999999.csv", people(2, seed=5), pack=env.pack)
    outcome = process_file(path, env.config, env.pack, env.engine)
    assert (outcome.status, outcome.stored) == ("rejected", 0)
