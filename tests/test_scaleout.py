"""Scale-out on PostgreSQL: real `tmis run` worker processes on one store and one shared inbox.

The worker that is killed dies at a point of its progress, not of time (tests/crash_hooks.py: SIGKILL at its
second storing commit), and every wait polls the database or the processes with a generous timeout, so the
test behaves the same on a fast machine and on a loaded one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from pipeline_helpers import SCHOOL_A, SCHOOL_B, SCHOOL_C, SCHOOL_D, Env, make_env, people, workbook
from sqlalchemy import text

from processor.cli import main

HERE = Path(__file__).resolve().parent
SCHOOLS = (SCHOOL_A, SCHOOL_B, SCHOOL_C, SCHOOL_D)
WORKER = [sys.executable, "-c", "import crash_hooks; crash_hooks.main()", "run", "--config"]
FAST = {"TMIS_WORKERS_HEARTBEAT_SECONDS": "1", "TMIS_WORKERS_STALLED_SECONDS": "15", "TMIS_WORKERS_POLL_SECONDS": "1",
        "TMIS_INTAKE_STABLE_SECONDS": "0", "TMIS_INTAKE_RESCAN_SECONDS": "1", "TMIS_REVIEW_ISSUE_TIME": "",
        "TMIS_WORKERS_CLAIM_GRACE_SECONDS": "5"}
pg_only = pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)


def _wait(what: str, predicate: Callable[[], bool], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _sql(env: Env, query: str, **params: object) -> list[tuple]:
    with env.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(query), params)]


def _batch(env: Env, folder: Path) -> tuple[list[Path], str]:
    """14 files of four schools (3–6 teachers each), one sent twice, and two files of two schools that both
    carry the same person; returns the files and that person's identity number."""
    folder.mkdir()
    taken: set[str] = set()
    files = []
    for i in range(12):
        school = SCHOOLS[i % 4]
        path = folder / f"{i:02d}_{school[1]}_教师信息.xlsx"
        workbook(env, path, people(3 + i % 4, seed=500 + i, school=school, taken=taken), school=school, seed=i)
        files.append(path)
    shared = people(1, seed=900, school=SCHOOL_A, taken=taken)[0]
    for n, school in ((12, SCHOOL_A), (13, SCHOOL_B)):
        path = folder / f"{n:02d}_{school[1]}_新调入教师.xlsx"
        workbook(env, path, [shared, *people(2, seed=900 + n, school=school, taken=taken)], school=school, seed=n)
        files.append(path)
    copy = folder / "14_再次报送.xlsx"
    shutil.copy(files[3], copy)
    files.append(copy)
    old = time.time() - 600
    for p in files:
        os.utime(p, (old, old))
    return files, shared.id_number


def _start(env: Env, name: str, **extra: str) -> subprocess.Popen:
    environ = dict(os.environ, **FAST, TMIS_WORKERS_NAME=name, **extra,
                   PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
    log = (env.config.state_dir / f"{name}.log").open("w", encoding="utf-8")
    return subprocess.Popen([*WORKER, str(env.config_path)], stdout=log, stderr=subprocess.STDOUT, env=environ)


@pg_only
def test_three_workers_one_killed_process_every_file_once_and_store_every_person_once(
        store_instance: Path, unit_workbook: Path, tmp_path: Path) -> None:
    env = make_env(store_instance, unit_workbook)
    files, shared_id = _batch(env, tmp_path / "files")
    for p in files:
        os.rename(p, env.inbox / p.name)
    killed = _start(env, "w1", CRASH_KILL_AT="commit:2")
    others: list[subprocess.Popen] = []
    try:
        _wait("w1 to finish its first file",
              lambda: _sql(env, "SELECT jobs_done FROM workers WHERE name = 'w1'") in ([(1,)], [(2,)]) or
              killed.poll() is not None)
        others = [_start(env, "w2"), _start(env, "w3")]
        _wait("w1 to die at its second commit", lambda: killed.poll() is not None)
        assert killed.returncode == -signal.SIGKILL, (env.config.state_dir / "w1.log").read_text(encoding="utf-8")
        _wait("every file to be done", lambda: _sql(
            env, "SELECT count(*) FROM file_jobs WHERE state = 'done'") == [(len(files),)])
    finally:
        for w in others:
            w.send_signal(signal.SIGTERM)
        for w in [killed, *others]:
            try:
                w.wait(timeout=300)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
    assert [w.returncode for w in others] == [0, 0]

    # Every file: one row, one job, done once; the job of the killed worker was taken again.
    assert _sql(env, "SELECT count(*), count(DISTINCT key) FROM file_jobs") == [(15, 15)]
    jobs = _sql(env, "SELECT status, attempts FROM procrastinate_jobs WHERE task_name = 'tmis.file' ORDER BY id")
    assert len(jobs) == 15 and {s for s, _ in jobs} == {"succeeded"}
    assert sorted(a for _, a in jobs) == [1] * 14 + [2]  # each finished once; one was also retried
    assert _sql(env, "SELECT attempts, worker <> 'w1' FROM file_jobs WHERE attempts > 1") == [(2, True)]
    outcomes = sorted(o for (o,) in _sql(env, "SELECT outcome FROM file_jobs"))
    assert outcomes.count("duplicate") == 1 and len(outcomes) == 15
    # 14 distinct contents → 14 submissions, each archived once; the copy sits in duplicates/; nothing left.
    subs = _sql(env, "SELECT id, archived_path, unit_code FROM submissions ORDER BY id")
    assert len(subs) == 14 and len({s[1] for s in subs}) == 14
    assert all(Path(a).is_file() for _, a, _ in subs)
    archived = [p for p in (env.state / "archive").rglob("*") if p.is_file()]
    assert len(archived) == 15
    assert list(env.inbox.iterdir()) == [] and list((env.state / "processing").iterdir()) == []
    # Every person once; the person both schools sent is one teacher, the other school got the conflict.
    assert _sql(env, "SELECT id_number FROM teachers GROUP BY id_number HAVING count(*) > 1") == []
    assert _sql(env, "SELECT count(*) FROM teachers") == [(sum(3 + i % 4 for i in range(12)) + 1 + 4,)]
    [(winner,)] = _sql(env, "SELECT unit_code FROM teachers WHERE id_number = :n", n=shared_id)
    names = {SCHOOL_A[0]: SCHOOL_A[1], SCHOOL_B[0]: SCHOOL_B[1]}
    loser = SCHOOL_B[0] if winner == SCHOOL_A[0] else SCHOOL_A[0]
    conflicts = _sql(env, "SELECT f.message FROM findings f JOIN submissions s ON s.id = f.submission_id "
                          "WHERE f.rule = 'PERSON-CONFLICT' AND s.unit_code = :u", u=loser)
    assert len(conflicts) == 1 and f"{names[winner]}（{winner}）" in conflicts[0][0] and shared_id in conflicts[0][0]
    # Every report survived: one JSON per submission, none overwritten by another worker.
    reports = sorted(env.outbox.rglob("*.json"))
    assert len(reports) == 14
    assert len({json.loads(p.read_text(encoding="utf-8"))["sha256"] for p in reports}) == 14


@pg_only
def test_tmis_status_counts_jobs_and_names_the_workers(store_instance: Path, unit_workbook: Path,
                                                       tmp_path: Path) -> None:
    env = make_env(store_instance, unit_workbook)
    taken: set[str] = set()
    for i, school in enumerate((SCHOOL_A, SCHOOL_B)):
        workbook(env, env.inbox / f"{school[0]}.xlsx", people(3, seed=70 + i, school=school, taken=taken),
                 school=school)
    environ = {**FAST, "TMIS_WORKERS_NAME": "批处理-1"}
    result = CliRunner().invoke(main, ["run", "--once", "--config", str(store_instance)], env=environ)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("处理完成：共 2 个文件（接收 2，")
    result = CliRunner().invoke(main, ["status", "--format", "json", "--config", str(store_instance)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["jobs"] == {"waiting": 0, "running": 0, "done": 2, "failed": 0}
    assert [(w["name"], w["jobs_done"]) for w in out["workers"]] == [("批处理-1", 2)]
    assert out["last_hour"]["files"] == 2
    assert [(out["last_hour"]["rows"],)] == _sql(env, "SELECT sum(rows) FROM submissions") != [(0,)]
    text_out = CliRunner().invoke(main, ["status", "--config", str(store_instance)])
    assert text_out.exit_code == 0
    assert "作业：等待 0，处理中 0，已完成 2，失败 0" in text_out.output
    assert "批处理-1" in text_out.output


@pg_only
def test_a_mailed_workbook_is_a_job_and_answered_once(store_instance: Path, unit_workbook: Path, sink) -> None:
    from mail_helpers import free_port, mail_environ, outlook_message

    from processor.mail.spool import Spool

    env = make_env(store_instance, unit_workbook)
    path = env.state / "本校教师.xlsx"
    workbook(env, path, people(3, seed=81))
    raw = outlook_message("zhangwei@ncyz.edu.cn", "本校教师.xlsx", path.read_bytes())
    Spool(env.state).put(raw, source="smtp")
    environ = {**FAST, **mail_environ(env, listen_port=free_port(), smtp_port=sink.port, TMIS_MAIL_LISTEN="false")}
    for _ in range(2):  # the second run finds the message done: nothing registered, nothing sent again
        result = CliRunner().invoke(main, ["run", "--once", "--config", str(store_instance)], env=environ)
        assert result.exit_code == 0, result.output
    assert _sql(env, "SELECT kind, state, outcome FROM file_jobs") == [("mail", "done", "done")]
    assert _sql(env, "SELECT channel, sender, status FROM submissions") == [("mail", "zhangwei@ncyz.edu.cn", "accepted")]
    assert [r.rcpt_tos for r in sink.received] == [["zhangwei@ncyz.edu.cn"]]


@pg_only
def test_a_schedule_runs_once_per_period_however_many_workers_ask(engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    from datetime import UTC, datetime

    from processor.queue import tasks

    done: list[str] = []
    started = threading.Barrier(3)

    def work(_engine: object, _config: object, _pack: object, now: datetime) -> str:
        done.append(threading.current_thread().name)
        time.sleep(1)  # hold the period's key while the other workers ask for it
        return "made"

    monkeypatch.setattr(tasks, "SCHEDULES", [("test-report", lambda now: f"{now:%Y-%m}", work)])
    said: dict[str, dict[str, str]] = {}

    def worker(name: str) -> None:
        started.wait()
        said[name] = tasks.run_schedules(engine, None, None, datetime(2026, 12, 1, 8, 0, tzinfo=UTC))

    threads = [threading.Thread(target=worker, args=(f"w{i}",), name=f"w{i}") for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(done) == 1
    assert sorted(s["test-report"] for s in said.values()) == ["done", "skipped", "skipped"]
    assert _sql_engine(engine, "SELECT name, period FROM schedule_runs") == [("test-report", "2026-12")]
    # The next period runs again.
    assert tasks.run_schedules(engine, None, None, datetime(2027, 1, 1, 8, 0, tzinfo=UTC)) == {"test-report": "done"}


def _sql_engine(engine, query: str) -> list[tuple]:  # noqa: ANN001
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(query))]


def test_two_reports_named_at_the_same_moment_get_two_names(tmp_path: Path) -> None:
    from processor.feedback import _unique_target

    first = _unique_target(tmp_path, "回执_南昌市第一中学_教师信息采集表_2026-12-01", ".xlsx", "a" * 64)
    second = _unique_target(tmp_path, "回执_南昌市第一中学_教师信息采集表_2026-12-01", ".xlsx", "b" * 64)
    again = _unique_target(tmp_path, "回执_南昌市第一中学_教师信息采集表_2026-12-01", ".xlsx", "a" * 64)
    assert [first.name, second.name, again.name] == [
        "回执_南昌市第一中学_教师信息采集表_2026-12-01.xlsx", "回执_南昌市第一中学_教师信息采集表_2026-12-01（2）.xlsx",
        "回执_南昌市第一中学_教师信息采集表_2026-12-01.xlsx"]


def test_a_claim_whose_rename_answer_was_lost_is_still_the_claimers(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from processor.queue import claims

    inbox, processing = tmp_path / "inbox", tmp_path / "processing"
    inbox.mkdir()
    (inbox / "学校.xlsx").write_bytes(b"content")
    real_rename = os.rename
    calls = []

    def nfs_rename(src: object, dst: object) -> None:  # NFS: the RENAME happened, its retransmission says ENOENT
        calls.append(dst)
        real_rename(src, dst)
        if len(calls) == 1:
            raise FileNotFoundError(2, "No such file or directory", str(src))

    monkeypatch.setattr(claims.os, "rename", nfs_rename)
    claimed = claims.claim_file(inbox / "学校.xlsx", processing)
    assert claimed is not None and claimed.read_bytes() == b"content"
    assert claimed.parent == processing and claimed.name.endswith("__学校.xlsx")
    assert list(inbox.iterdir()) == []


def test_a_file_another_worker_claimed_first_is_not_taken(tmp_path: Path) -> None:
    from processor.queue.claims import claim_file

    inbox, processing = tmp_path / "inbox", tmp_path / "processing"
    inbox.mkdir()
    (inbox / "学校.xlsx").write_bytes(b"content")
    won = claim_file(inbox / "学校.xlsx", processing)
    lost = claim_file(inbox / "学校.xlsx", processing)
    assert won is not None and lost is None
    assert [p.name for p in processing.iterdir()] == [won.name]


def test_tmis_status_on_sqlite_reports_the_folders(instance: Path, unit_workbook: Path) -> None:
    env = make_env(instance, unit_workbook)
    taken: set[str] = set()
    for i, school in enumerate((SCHOOL_A, SCHOOL_C)):
        workbook(env, env.inbox / f"{school[0]}.xlsx", people(2, seed=90 + i, school=school, taken=taken),
                 school=school)
    before = json.loads(CliRunner().invoke(main, ["status", "--format", "json", "--config", str(instance)]).output)
    assert before["jobs"] == {"waiting": 2, "running": 0, "done": 0, "failed": 0}
    assert before["folders"] == {"inbox": 2, "processing": 0, "interrupted": 0, "quarantine": 0, "duplicates": 0}
    result = CliRunner().invoke(main, ["run", "--once", "--config", str(instance)], env=FAST)
    assert result.exit_code == 0, result.output
    after = json.loads(CliRunner().invoke(main, ["status", "--format", "json", "--config", str(instance)]).output)
    assert after["jobs"] == {"waiting": 0, "running": 0, "done": 2, "failed": 0}
    assert after["last_hour"]["files"] == 2
    assert [(w["name"], w["state"], w["jobs_done"], w["pid"]) for w in after["workers"]] == [
        (f"{socket.gethostname()} --once", "stopped", 2, os.getpid())]
    # The next `tmis run --once` (cron) takes the same row over instead of adding one per process.
    assert CliRunner().invoke(main, ["run", "--once", "--config", str(instance)], env=FAST).exit_code == 0
    again = json.loads(CliRunner().invoke(main, ["status", "--format", "json", "--config", str(instance)]).output)
    assert [(w["name"], w["state"], w["jobs_done"]) for w in again["workers"]] == [
        (f"{socket.gethostname()} --once", "stopped", 0)]
    assert after["backend"] == "sqlite"


def _status(instance: Path) -> dict:
    result = CliRunner().invoke(main, ["status", "--format", "json", "--config", str(instance)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_tmis_status_on_sqlite_shows_the_running_service_and_that_it_stopped(instance: Path,
                                                                             unit_workbook: Path) -> None:
    env = make_env(instance, unit_workbook)
    workbook(env, env.inbox / "学校.xlsx", people(2, seed=93, school=SCHOOL_A), school=SCHOOL_A)
    service = _start(env, "县教育局服务器")
    try:
        # Its row counts the file after the file's own commit: wait for the count, not for the submission.
        _wait("the service to count the file", lambda: [w["jobs_done"] for w in _status(instance)["workers"]] == [1])
        status = _status(instance)
        assert status["jobs"]["done"] == 1
        assert [(w["name"], w["state"], w["jobs_done"], w["pid"]) for w in status["workers"]] == [
            ("县教育局服务器", "running", 1, service.pid)]
        text_out = CliRunner().invoke(main, ["status", "--config", str(instance)]).output
        assert "  县教育局服务器：运行中，最后活动 " in text_out and "已完成 1 个作业" in text_out
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=300)
    assert service.returncode == 0
    assert [(w["name"], w["state"]) for w in _status(instance)["workers"]] == [("县教育局服务器", "stopped")]


def test_tmis_status_on_sqlite_says_a_killed_service_no_longer_answers(instance: Path, unit_workbook: Path) -> None:
    env = make_env(instance, unit_workbook)
    service = _start(env, "县教育局服务器")
    try:
        _wait("the service to start", lambda: [w["state"] for w in _status(instance)["workers"]] == ["running"])
    finally:
        service.kill()
        service.wait(timeout=300)
    assert [(w["name"], w["state"]) for w in _status(instance)["workers"]] == [("县教育局服务器", "lost")]


@pg_only
def test_a_file_whose_job_was_interrupted_three_times_is_quarantined(store_instance: Path, unit_workbook: Path) -> None:
    from types import SimpleNamespace

    from processor.intake import Intake
    from processor.queue.claims import claim_file, register_claim
    from processor.queue.tasks import Runtime, run_file_job

    env = make_env(store_instance, unit_workbook)
    workbook(env, env.inbox / "学校.xlsx", people(2, seed=95))
    intake = Intake(env.config, engine=env.engine, pack=env.pack)
    claimed = claim_file(env.inbox / "学校.xlsx", intake.dirs.processing)
    row = register_claim(env.engine, claimed)
    with env.engine.begin() as conn:  # three starts that never finished (their workers were killed)
        conn.execute(text("UPDATE file_jobs SET state = 'running', attempts = 3 WHERE id = :i"), {"i": row.id})
    runtime = Runtime(env.config, env.engine, env.pack, "w9", intake)
    run_file_job(SimpleNamespace(additional_context={"runtime": runtime}), row.key)
    assert _sql(env, "SELECT state, outcome, attempts FROM file_jobs") == [("failed", "failed", 4)]
    assert sorted(p.name for p in (env.state / "quarantine").iterdir()) == sorted([claimed.name, claimed.name + ".reason.txt"])
    reason = (env.state / "quarantine" / (claimed.name + ".reason.txt")).read_text(encoding="utf-8")
    assert "处理该文件时服务已多次中断" in reason
    assert _sql(env, "SELECT count(*) FROM submissions") == [(0,)]
