"""Benchmark of the credit bank: a generated city (10 counties × 100 schools × N teachers per school) with five
confirmed credit entries per teacher written straight into a SQLite store, then, each in a child process timed
with os.wait4 (wall seconds, peak RSS): `tmis report credits` for the city over a five-year cycle, the sample draw
of `tmis audit sample` (20 schools × 10 teachers) and `tmis credits show` of one teacher.

    .venv/bin/python bench/credits.py --per-school 50 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "credits"
sys.path.insert(0, str(ROOT))

from processor.store.db import make_engine, upgrade  # noqa: E402

TMIS = [str(Path(sys.executable).with_name("tmis"))]
LEVELS = ("national", "province", "city", "county", "school", "self")


def generate(directory: Path, per_school: int) -> tuple[Path, str]:
    """A tmis instance with the city and its credits; returns (config path, one identity number)."""
    from sqlalchemy import insert

    from processor.store.models import CreditEntry, Submission, Teacher, TrainingProject, Unit

    if directory.exists():
        import shutil

        shutil.rmtree(directory)
    subprocess.run([*TMIS, "init", str(directory)], check=True, capture_output=True, cwd=ROOT)
    config = directory / "config.toml"
    url = f"sqlite:///{directory / 'var' / 'tmis.db'}"
    upgrade(url)
    engine = make_engine(url)
    rng = random.Random(7)
    now = datetime.now(UTC)
    units = [{"code": "360000", "name": "江西省", "level": "province", "parent_code": None},
             {"code": "360100", "name": "南昌市", "level": "city", "parent_code": "360000"}]
    schools = []
    for k in range(1, 11):
        county = f"3601{k:02d}"
        units.append({"code": county, "name": f"第{k}县", "level": "county", "parent_code": "360100"})
        for s in range(1, 101):
            code = f"{county}{s:04d}"
            units.append({"code": code, "name": f"{county}第{s}学校", "level": "school", "parent_code": county})
            schools.append(code)
    with engine.begin() as conn:
        conn.execute(insert(Unit), units)
        conn.execute(insert(Submission), [{"id": 1, "sha256": "0" * 64, "original_name": "bench.xlsx", "kind": "training-plan",
                                           "status": "accepted", "received_at": now}])
        projects = [{"id": i + 1, "unit_code": "360100", "project_code": f"P{i}", "name": f"项目{i}",
                     "level": LEVELS[i % 6], "provider": "bench", "hours": 40, "start_date": f"{2021 + i % 5}-03-01",
                     "end_date": f"{2021 + i % 5}-03-20", "confirm_unit": "360100", "remarks": "",
                     "plan_submission_id": 1, "plan_row": i + 2, "created_at": now, "updated_at": now}
                    for i in range(30)]
        conn.execute(insert(TrainingProject), projects)
        teachers, tid = [], 0
        for code in schools:
            for _ in range(per_school):
                tid += 1
                teachers.append({"id": tid, "id_type": "1", "id_number": f"B{tid:017d}",
                                 "name": f"教师{tid}", "unit_code": code, "status": "active",
                                 "created_at": now, "updated_at": now})
        for i in range(0, len(teachers), 20000):
            conn.execute(insert(Teacher), teachers[i:i + 20000])
        # entries point at a result row; the bench keeps one shared result and row (the bank is what is read)
        from processor.store.models import TrainingResult, TrainingResultRow

        conn.execute(insert(TrainingResult), [{"id": 1, "project_id": 1, "submission_id": 1, "status": "confirmed",
                                               "confirm_unit": "360100", "confirmation": "", "confirmed_by": "",
                                               "rows": 1, "received_at": now}])
        conn.execute(insert(TrainingResultRow), [{"id": 1, "result_id": 1, "row": 2, "teacher_id": 1, "name": "x",
                                                  "hours": 40, "passed": True, "credits_milli": 40000, "reason": ""}])
        entries = []
        for t in teachers:
            for p in rng.sample(projects, 5):
                entries.append({"teacher_id": t["id"], "year": int(p["end_date"][:4]), "level": p["level"],
                                "hours": 40, "credits_milli": rng.choice((24000, 40000, 48000)), "project_id": p["id"],
                                "result_id": 1, "result_row_id": 1, "plan_submission_id": 1,
                                "result_submission_id": 1, "confirmation": "XF-bench", "confirm_unit": "360100",
                                "confirmed_by": "bench", "confirmed_at": now, "rule_province": "360000",
                                "rule_version": "2026.1"})
                if len(entries) >= 50000:
                    conn.execute(insert(CreditEntry), entries)
                    entries = []
        if entries:
            conn.execute(insert(CreditEntry), entries)
    engine.dispose()
    text = config.read_text(encoding="utf-8").replace('url = ""', f'url = "{url}"', 1)
    config.write_text(text, encoding="utf-8")
    return config, teachers[0]["id_number"]


def timed(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a child."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-school", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    config, number = generate(OUT / "instance", args.per_school)
    tmis = TMIS
    draw = ("from processor.config import load_config; from processor.store.db import open_store; "
            "from sqlalchemy.orm import Session; from processor.sampling.draw import draw; "
            f"c = load_config('{config}', required=True); e = open_store(c); "
            "s = Session(e); d = draw(s, '360100', 20, 10, 'bench'); assert len(d['schools']) == 20")
    cases = {
        "report credits (city, 2021-2025)": [*tmis, "report", "credits", "--unit", "360100", "--period", "2021-2025",
                                             "--config", str(config)],
        "sample draw (20 schools x 10 teachers)": [sys.executable, "-c", draw],
        "credits show (one teacher)": [*tmis, "credits", "show", number, "--config", str(config)],
    }
    teachers = 1000 * args.per_school
    print(f"city of 1,000 schools, {teachers:,} teachers, {teachers * 5:,} credit entries (SQLite)")
    for name, cmd in cases.items():
        runs = [timed(cmd) for _ in range(args.repeat)]
        walls = [w for w, _ in runs]
        print(f"| {name} | {statistics.median(walls):.1f} s ({min(walls):.1f}–{max(walls):.1f}) | "
              f"{max(r for _, r in runs):.0f} MB |")


if __name__ == "__main__":
    main()
