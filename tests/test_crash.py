"""A real crash: `tmis run --once` killed with SIGKILL at several moments, then run again to the end.

The moments are points of progress, not of time (crash_hooks: after the n-th read, after the n-th chunk the
streaming ingest stored (mid-file, transaction open), during and after the n-th commit, after the n-th move), so every run dies where it was meant to on a fast machine and on a loaded one.

Every kill is followed by the invariants that must hold at any moment (no file lost or copied, nothing
half-stored); the final state must equal that of an uninterrupted run over the same files: every file
processed exactly once."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import crash_hooks
import pytest
from click.testing import CliRunner
from pipeline_helpers import SCHOOL_A, SCHOOL_B, SCHOOL_C, SCHOOL_D, Env, make_env, people, workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from processor.cli import main
from processor.store.models import Finding, RecordVersion, Submission, Teacher

SCHOOLS = (SCHOOL_A, SCHOOL_B, SCHOOL_C, SCHOOL_D)
RUN = [sys.executable, "-c", "from processor.cli import main; main()", "run", "--once", "--config"]
HOOKED_RUN = [sys.executable, "-c", "import crash_hooks; crash_hooks.main()", "run", "--once", "--config"]
HERE = Path(__file__).resolve().parent


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _make_files(env: Env, folder: Path, rng: random.Random) -> list[Path]:
    """30 files: 4 schools, 2–25 teachers each, some with mistakes, 2 re-sent copies, 2 unreadable files."""
    folder.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    files: list[Path] = []
    for i in range(26):
        school = SCHOOLS[i % len(SCHOOLS)]
        persons = people(rng.randint(2, 25), seed=1000 + i, school=school, taken=taken)
        mistakes = [("id_checksum", 1), ("unknown_code", 1)] if i % 3 == 0 else []
        path = folder / f"{i:02d}_{school[1]}_教师信息.xlsx"
        workbook(env, path, persons, school=school, mistakes=mistakes, seed=i)
        files.append(path)
    for i in (1, 6):  # the same content sent again under another name
        copy = folder / f"{i:02d}_再次报送.xlsx"
        shutil.copy(files[i], copy)
        files.append(copy)
    (folder / "27_损坏.xlsx").write_bytes(b"PK\x03\x04" + bytes(rng.randrange(256) for _ in range(300)))
    (folder / "28_不是表格.xlsx").write_text("这不是一个表格文件", encoding="utf-8")
    files += [folder / "27_损坏.xlsx", folder / "28_不是表格.xlsx"]
    stamp = time.time() - 600
    for n, p in enumerate(sorted(files)):
        os.utime(p, (stamp + n, stamp + n))  # old enough to be taken at once; a fixed order
    return sorted(files)


def _new_env(runner: CliRunner, folder: Path, unit_workbook: Path) -> Env:
    result = runner.invoke(main, ["init", str(folder)])
    assert result.exit_code == 0, result.output
    return make_env(folder / "config.toml", unit_workbook)


def _drop(env: Env, files: list[Path]) -> None:
    for p in files:
        target = env.inbox / p.name
        shutil.copy2(p, target)


def _all_received_files(env: Env) -> list[Path]:
    out = [p for p in env.inbox.iterdir() if p.is_file()]
    # Hidden .attempts counters beside a file are bookkeeping, not received files.
    out += [p for p in (env.state / "processing").iterdir() if p.is_file() and not p.name.startswith(".")]
    out += [p for p in (env.state / "archive").rglob("*") if p.is_file()]
    out += [p for p in (env.state / "quarantine").iterdir() if p.is_file() and not p.name.endswith(".reason.txt")]
    return out


def _assert_consistent(env: Env, expected: Counter[str]) -> None:
    """What must hold at any moment, also right after a kill."""
    found = Counter(_sha(p) for p in _all_received_files(env))
    assert found == expected, "a received file was lost or copied"
    assert len([p for p in (env.state / "processing").iterdir() if not p.name.startswith(".")]) <= 1
    with Session(env.engine) as s:
        subs = s.scalars(select(Submission)).all()
        stored = dict(s.execute(select(RecordVersion.submission_id, func.count()).group_by(RecordVersion.submission_id)).all())
        finding_counts = dict(s.execute(select(Finding.submission_id, func.count()).group_by(Finding.submission_id)).all())
    for sub in subs:
        assert sub.status in ("accepted", "partial", "rejected", "unreadable")
        assert stored.get(sub.id, 0) == sub.rows_stored, f"submission {sub.id} half-stored"
        assert finding_counts.get(sub.id, 0) == sub.errors + sub.warnings
    assert len({s.sha256 for s in subs}) == len(subs)


def _final_state(env: Env) -> dict[str, object]:
    with Session(env.engine) as s:
        subs = s.scalars(select(Submission)).all()
        per_file = sorted((x.sha256, x.status, x.rows, x.rows_stored, x.errors, x.warnings) for x in subs)
        pending = s.scalar(select(func.count()).select_from(RecordVersion).where(RecordVersion.review_state == "pending"))
        teachers = sorted(s.scalars(select(Teacher.id_number)).all())
        twice = s.execute(
            select(RecordVersion.teacher_id, RecordVersion.category, RecordVersion.seq, func.count())
            .where(RecordVersion.review_state == "pending")
            .group_by(RecordVersion.teacher_id, RecordVersion.category, RecordVersion.seq)
            .having(func.count() > 1)
        ).all()
        for sub in subs:
            assert Path(sub.archived_path).is_file(), sub.archived_path
    assert twice == []
    return {"files": per_file, "pending": pending, "teachers": teachers}


def _run_killed_at(env: Env, log: Path, point: str) -> int:
    """Run `tmis run --once` with the kill point armed (crash_hooks); its return code (-SIGKILL when it died)."""
    environ = dict(os.environ, CRASH_KILL_AT=point,
                   PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
    with log.open("a", encoding="utf-8") as err:
        err.write(f"--- killed at {point}\n")
        err.flush()
        done = subprocess.run([*HOOKED_RUN, str(env.config_path)], stdout=err, stderr=err, env=environ, timeout=600)
    return done.returncode


def _kill_plan(rng: random.Random) -> list[str]:
    """Ten kill points, each kind at least twice, in an order drawn from the seed. n ≥ 2: the first event of
    a run may belong to the file the previous run left in processing/, and that file must get through (a
    file interrupted three times is quarantined, which an uninterrupted run would not do)."""
    # A file stores one chunk per sheet it fills (up to 14): a chunk point of 2 or 3 would die in the leftover
    # file again, so chunk points count far enough to die inside a later file, between two of its chunks.
    plan = [f"{point}:{rng.choice((16, 24) if point == 'chunk' else (2, 3))}"
            for point in crash_hooks.POINTS for _ in range(2)]
    rng.shuffle(plan)
    return plan


@pytest.mark.parametrize("validation", ["one-process", "child"])
def test_sigkill_at_any_moment_processes_every_file_exactly_once(
        runner: CliRunner, tmp_path: Path, unit_workbook: Path, validation: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``child``: the killed runs validate every file in a forked child (processor/forked.py) while storing."""
    seed = int(os.environ.get("CRASH_TEST_SEED", "20261124"))
    rng = random.Random(seed)
    reference = _new_env(runner, tmp_path / "参照实例", unit_workbook)
    files = _make_files(reference, tmp_path / "files", rng)
    expected = Counter(_sha(p) for p in files)

    # The uninterrupted run.
    _drop(reference, files)
    done = subprocess.run([*RUN, str(reference.config_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    # 26 distinct workbooks, 2 re-sent copies, 2 unreadable files (the accepted/partial split is the rules' business)
    assert line.startswith("处理完成：共 30 个文件（接收 ") and line.endswith("退回 0，无法识别 2，重复 2）。"), line
    want = _final_state(reference)

    # The same files, killed again and again.
    if validation == "child":
        monkeypatch.setenv("TMIS_INTAKE_PARALLEL_MIN_MB", "0")
    env = _new_env(runner, tmp_path / "崩溃实例", unit_workbook)
    _drop(env, files)
    log = tmp_path / "runs.log"
    for point in _kill_plan(rng):
        code = _run_killed_at(env, log, point)
        assert code == -signal.SIGKILL, f"seed {seed}: the run armed to die at {point} ended with {code}"
        _assert_consistent(env, expected)
    done = subprocess.run([*RUN, str(env.config_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    _assert_consistent(env, expected)
    got = _final_state(env)
    assert [p.name for p in env.inbox.iterdir()] == []
    assert list((env.state / "processing").iterdir()) == []
    assert got == want, f"seed {seed}: the killed runs did not end like the uninterrupted one"
    assert len(got["files"]) == len(expected)  # type: ignore[arg-type]
    reference.engine.dispose()
    env.engine.dispose()
