"""Intake: temporary names, stability, claims, duplicates, quarantine, crash recovery, `tmis run`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipeline_helpers import SCHOOL_A, Env, make_env, people, workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.cli import main
from processor.intake import Intake, StabilityTracker, candidates, claim, is_candidate_name, leftovers
from processor.pipeline import process_file
from processor.store.models import AuditEntry, Finding, RecordVersion, Submission


@pytest.fixture
def env(instance: Path, unit_workbook: Path) -> Env:
    e = make_env(instance, unit_workbook)
    yield e
    e.engine.dispose()


def _intake(env: Env) -> Intake:
    return Intake(env.config, engine=env.engine, pack=env.pack)


def _old(path: Path, seconds: float = 60) -> Path:
    t = time.time() - seconds
    os.utime(path, (t, t))
    return path


# ----------------------------------------------------------------------------------------- filters
@pytest.mark.parametrize("name", ["~$教师信息.xlsx", ".~lock.教师信息.xlsx#", "教师信息.xlsx.part", "上传中.tmp",
                                  "教师信息.xlsx.crdownload", ".隐藏.xlsx", "备份.xlsx~"])
def test_temporary_names_are_not_candidates(name: str) -> None:
    assert is_candidate_name(name) is False


def test_inbox_scan_lists_only_real_files(tmp_path: Path) -> None:
    for name in ("~$教师信息.xlsx", ".~lock.教师信息.xlsx#", "a.part", "b.tmp", "c.crdownload", ".hidden.xlsx",
                 "教师信息.xlsx", "新任教师.xls"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "子目录.xlsx").mkdir()
    (tmp_path / "链接.xlsx").symlink_to(tmp_path / "教师信息.xlsx")
    _old(tmp_path / "新任教师.xls", 120)
    assert [p.name for p in candidates(tmp_path)] == ["新任教师.xls", "教师信息.xlsx"]


def test_file_is_taken_only_after_it_stayed_the_same(tmp_path: Path) -> None:
    now = [1000.0]
    tracker = StabilityTracker(2.0, clock=lambda: now[0])
    f = tmp_path / "教师信息.xlsx"
    f.write_bytes(b"12345")
    assert tracker.ready(f) is False
    now[0] += 1.0
    assert tracker.ready(f) is False
    f.write_bytes(b"1234567890")  # still being copied: the clock starts again
    now[0] += 1.5
    assert tracker.ready(f) is False
    now[0] += 1.9
    assert tracker.ready(f) is False
    now[0] += 0.2
    assert tracker.ready(f) is True


def test_old_file_is_taken_at_first_look_only_when_mtime_is_trusted(tmp_path: Path) -> None:
    tracker = StabilityTracker(2.0)
    f = tmp_path / "教师信息.xlsx"
    f.write_bytes(b"x")
    _old(f)
    assert tracker.ready(f, trust_mtime=False) is False
    assert tracker.ready(f, trust_mtime=True) is True
    fresh = tmp_path / "刚写入.xlsx"
    fresh.write_bytes(b"x")
    assert tracker.ready(fresh, trust_mtime=True) is False


# ----------------------------------------------------------------------------------------- claims
def test_a_file_can_be_claimed_once(tmp_path: Path) -> None:
    inbox, processing = tmp_path / "inbox", tmp_path / "processing"
    inbox.mkdir()
    processing.mkdir()
    f = inbox / "教师信息.xlsx"
    f.write_bytes(b"data")
    first = claim(f, processing)
    second = claim(f, processing)
    assert first is not None and second is None
    assert not f.exists()
    assert first.path.parent == processing and first.path.name.endswith("__教师信息.xlsx")
    assert first.original_name == "教师信息.xlsx"
    first.release()


def test_a_claimed_file_is_not_taken_by_recovery_until_released(tmp_path: Path) -> None:
    inbox, processing = tmp_path / "inbox", tmp_path / "processing"
    inbox.mkdir()
    processing.mkdir()
    (inbox / "教师信息.xlsx").write_bytes(b"data")
    held = claim(inbox / "教师信息.xlsx", processing)
    assert held is not None
    assert leftovers(processing) == []
    held.release()
    found = leftovers(processing)
    assert [c.original_name for c in found] == ["教师信息.xlsx"]
    found[0].release()


# ----------------------------------------------------------------------------------------- processing
def test_duplicate_content_is_answered_already_received(env: Env, tmp_path: Path) -> None:
    workbook(env, env.inbox / "教师信息.xlsx", people(5, seed=3))
    shutil.copy(env.inbox / "教师信息.xlsx", env.inbox / "教师信息(1).xlsx")
    _old(env.inbox / "教师信息.xlsx", 120)
    _old(env.inbox / "教师信息(1).xlsx", 60)
    summary = _intake(env).run_once()
    assert [o.status for o in summary.outcomes] == ["accepted", "duplicate"]
    assert env.count(Submission) == 1
    stored = env.count(RecordVersion)
    assert stored == summary.outcomes[0].stored > 0
    dup = summary.outcomes[1]
    assert dup.archived_path.parent == env.state / "archive" / "duplicates"
    assert dup.archived_path.read_bytes() == summary.outcomes[0].archived_path.read_bytes()
    text = dup.report_path.read_text(encoding="utf-8")
    assert dup.report_path.parent == env.outbox / SCHOOL_A[0]
    assert "该文件已于" in text and "收到（收件编号 1，当时的文件名为“教师信息.xlsx”）" in text and "无需重复报送" in text
    with Session(env.engine) as s:
        assert s.scalar(select(AuditEntry.action).where(AuditEntry.action == "submission.duplicate")) is not None


def test_unreadable_file_is_quarantined_with_a_reason(env: Env) -> None:
    bad = env.inbox / "教师信息.xlsx"
    bad.write_bytes(b"PK\x03\x04 this is not really a workbook")
    _old(bad)
    summary = _intake(env).run_once()
    (outcome,) = summary.outcomes
    assert outcome.status == "unreadable"
    assert outcome.archived_path == env.state / "quarantine" / f"{outcome.submission_id}__教师信息.xlsx"
    assert outcome.archived_path.read_bytes().startswith(b"PK\x03\x04 this is not")
    reason = Path(str(outcome.archived_path) + ".reason.txt").read_text(encoding="utf-8")
    assert reason.startswith("隔离原因：教师信息.xlsx：")
    assert "原文件名：教师信息.xlsx\n" in reason and f"收件编号：{outcome.submission_id}\n" in reason
    notice = outcome.report_path
    assert notice.parent == env.outbox / "_未识别"
    assert "退回通知（文件无法识别）" in notice.read_text(encoding="utf-8")
    (sub,) = env.submissions()
    assert (sub.status, sub.archived_path, sub.message) == ("unreadable", str(outcome.archived_path), outcome.message)
    assert list(env.inbox.iterdir()) == [] and list((env.state / "processing").iterdir()) == []


def test_workbook_of_unknown_unit_is_rejected(env: Env) -> None:
    workbook(env, env.inbox / "教师信息.xlsx", people(3, seed=4), school=("3601990001", "不存在的学校"))
    _old(env.inbox / "教师信息.xlsx")
    (outcome,) = _intake(env).run_once().outcomes
    assert (outcome.status, outcome.stored) == ("rejected", 0)
    assert env.count(RecordVersion) == 0
    (sub,) = env.submissions()
    assert sub.message == "模板中的单位代码 3601990001 不在本系统的单位名录中"
    with Session(env.engine) as s:
        rule = s.scalar(select(Finding.rule).where(Finding.submission_id == sub.id, Finding.row.is_(None),
                                                   Finding.rule.like("UNIT-%")))
    assert rule == "UNIT-UNKNOWN"
    assert outcome.report_path.parent == env.outbox / "_未识别"


def test_bad_file_does_not_stop_the_others(env: Env) -> None:
    (env.inbox / "坏文件.xlsx").write_bytes(b"garbage")
    workbook(env, env.inbox / "教师信息.xlsx", people(3, seed=5))
    for p in env.inbox.iterdir():
        _old(p)
    summary = _intake(env).run_once()
    assert sorted(o.status for o in summary.outcomes) == ["accepted", "unreadable"]


def test_file_left_in_processing_is_processed_again(env: Env) -> None:
    processing = env.state / "processing"
    workbook(env, processing / ("0" * 32 + "__教师信息.xlsx"), people(4, seed=6))
    summary = _intake(env).run_once()
    (outcome,) = summary.outcomes
    assert (outcome.status, outcome.original_name) == ("accepted", "教师信息.xlsx")
    assert list(processing.iterdir()) == []
    assert outcome.archived_path.name == f"{outcome.submission_id}__教师信息.xlsx"


def test_file_interrupted_three_times_is_quarantined_not_retried_forever(env: Env) -> None:
    processing = env.state / "processing"
    path = processing / ("2" * 32 + "__崩溃的文件.xlsx")
    workbook(env, path, people(2, seed=6))
    (processing / f".{path.name}.attempts").write_text("2", encoding="utf-8")
    summary = _intake(env).run_once()
    (outcome,) = summary.outcomes
    assert (outcome.status, outcome.original_name) == ("failed", "崩溃的文件.xlsx")
    assert list(processing.iterdir()) == []
    reason = (env.state / "quarantine" / f"{path.name}.reason.txt").read_text(encoding="utf-8")
    assert "处理该文件时服务已多次中断" in reason
    assert env.count(Submission) == 0


def test_recovered_file_counts_its_attempt_and_clears_it_when_done(env: Env) -> None:
    processing = env.state / "processing"
    path = processing / ("3" * 32 + "__教师信息.xlsx")
    workbook(env, path, people(2, seed=6))
    (processing / f".{path.name}.attempts").write_text("1", encoding="utf-8")
    (processing / f".{'4' * 32}__已完成.xlsx.attempts").write_text("1", encoding="utf-8")
    (outcome,) = _intake(env).run_once().outcomes
    assert outcome.status == "accepted"
    assert list(processing.iterdir()) == []


def test_crash_after_commit_only_finishes_the_move(env: Env, tmp_path: Path) -> None:
    path = tmp_path / ("1" * 32 + "__教师信息.xlsx")
    workbook(env, path, people(4, seed=7))
    keep = path.read_bytes()
    first = process_file(path, env.config, env.pack, env.engine)
    versions = env.count(RecordVersion)
    # As if the process died between the commit and the move: the file is still in processing/.
    first.archived_path.unlink()
    leftover = env.state / "processing" / path.name
    leftover.write_bytes(keep)
    (again,) = _intake(env).run_once().outcomes
    assert again.status == "recovered"
    assert again.archived_path == first.archived_path and again.archived_path.read_bytes() == keep
    assert env.count(Submission) == 1 and env.count(RecordVersion) == versions
    assert not leftover.exists()


def test_run_once_prints_a_summary_line(env: Env, runner) -> None:  # type: ignore[no-untyped-def]
    workbook(env, env.inbox / "教师信息.xlsx", people(3, seed=8))
    workbook(env, env.inbox / "有错误.xlsx", people(3, seed=9), mistakes=[("id_checksum", 1)])
    (env.inbox / "~$教师信息.xlsx").write_bytes(b"lock")
    for p in env.inbox.iterdir():
        _old(p)
    result = runner.invoke(main, ["run", "--once", "--config", str(env.config_path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == (
        "处理完成：共 2 个文件（接收 1，部分接收 1，退回 0，无法识别 0，重复 0）。")
    assert [p.name for p in env.inbox.iterdir()] == ["~$教师信息.xlsx"]


def test_run_once_waits_for_a_file_still_being_written(env: Env) -> None:
    env.reload(TMIS_INTAKE_STABLE_SECONDS="0.6")
    target = env.inbox / "教师信息.xlsx"
    workbook(env, env.state / "source.xlsx", people(3, seed=10))
    data = (env.state / "source.xlsx").read_bytes()
    target.write_bytes(data[: len(data) // 2])  # fresh mtime: not trusted yet
    intake = _intake(env)
    done: list[str] = []

    def finish_copy() -> None:
        time.sleep(0.3)
        target.write_bytes(data)

    import threading

    t = threading.Thread(target=finish_copy)
    t.start()
    summary = intake.run_once(progress=lambda total, o: done.append(o.status))
    t.join()
    assert done == ["accepted"]
    assert summary.outcomes[0].archived_path.read_bytes() == data


def test_service_processes_a_dropped_file_and_stops_on_sigterm(env: Env) -> None:
    env_vars = dict(os.environ, TMIS_INTAKE_STABLE_SECONDS="0.3", TMIS_INTAKE_RESCAN_SECONDS="30")
    proc = subprocess.Popen([sys.executable, "-c", "from processor.cli import main; main()", "run", "--config", str(env.config_path)],
                            env=env_vars, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)  # started and watching
        workbook(env, env.state / "drop.xlsx", people(3, seed=11))
        os.rename(env.state / "drop.xlsx", env.inbox / "教师信息.xlsx")
        deadline = time.time() + 60
        while time.time() < deadline and not list((env.state / "archive").glob("*/*__教师信息.xlsx")):
            time.sleep(0.2)
        assert list((env.state / "archive").glob("*/*__教师信息.xlsx")), proc.stderr.read() if proc.poll() else ""
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "服务已停止。处理完成：共 1 个文件（接收 1" in err


def test_file_held_by_another_program_is_reported_not_waited_for(env: Env) -> None:
    import fcntl

    held = env.inbox / "正在被WPS打开.xlsx"
    held.write_bytes(b"x")
    _old(held)
    workbook(env, env.inbox / "教师信息.xlsx", people(2, seed=12))
    _old(env.inbox / "教师信息.xlsx")
    with held.open("rb") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        started = time.monotonic()
        summary = _intake(env).run_once()
        assert time.monotonic() - started < 20
    assert [o.status for o in summary.outcomes] == ["accepted"]
    assert summary.blocked == ["正在被WPS打开.xlsx"]
    assert summary.line() == ("处理完成：共 1 个文件（接收 1，部分接收 0，退回 0，无法识别 0，重复 0）；1 个文件无法从收件目录取出"
                              "（权限不足或被其他程序占用）：正在被WPS打开.xlsx。")
    assert held.exists()


def test_half_written_reports_of_a_killed_worker_are_swept(tmp_path: Path) -> None:
    from processor.intake import sweep_partial_reports

    school = tmp_path / "3601020001"
    school.mkdir()
    stale = school / ".错误报告_南昌市第一中学_教师信息采集表_2026-11-24.xlsx.1a2b3c4d.tmp"
    fresh = school / ".回执_南昌市第一中学_教师信息采集表_2026-11-24.xlsx.5e6f7a8b.tmp"
    report = school / "回执_南昌市第一中学_教师信息采集表_2026-11-24.xlsx"
    for p in (stale, fresh, report):
        p.write_bytes(b"x")
    _old(stale, 7200)
    _old(report, 7200)
    assert sweep_partial_reports(tmp_path) == 1
    assert sorted(p.name for p in school.iterdir()) == sorted([fresh.name, report.name])
