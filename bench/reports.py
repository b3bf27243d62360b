"""Benchmark of the reports: a generated province of about 1,000,000 teachers written straight into the store
(SQLite and PostgreSQL), then `tmis report monthly` and `tmis report summary` for the whole province, each in a
child process timed with /usr/bin/time (wall seconds, peak RSS, and the CPU seconds of the report process: on a
machine shared with other work the wall time swings with the load; the CPU time much less, though PostgreSQL's
own work is in the server's processes, not in it).

    .venv/bin/python bench/reports.py --teachers 1000000 --repeat 3
    .venv/bin/python bench/reports.py --teachers 1000000 --backend postgresql --pg postgresql+psycopg://postgres@127.0.0.1:5432/test

The province is shaped like Jiangxi: 11 cities, 10 counties each, 100 schools per county (11,000 schools, about
90 teachers each); every teacher has a 基本信息 and a 学习经历 version with report facts, 60 % a 专业技术职务 and
80 % a 教育教学 version; 1 % of the 基本信息 rows of the files had an error (not stored, with a finding). Each
teacher's current facts (teacher_facts) are then filled from the versions in one INSERT … SELECT, the same query
that ingest and review run for the teachers they touch."""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "reports"
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from processor.reports.facts import FACT_COLUMNS, current_facts  # noqa: E402
from processor.store.db import make_engine, upgrade  # noqa: E402
from processor.store.models import TeacherFact  # noqa: E402

ORDER = ("submissions", "teachers", "record_versions", "report_facts", "intake_persons", "findings")
COURSES = ["202", "203", "204", "205", "301", "302", "303"]
EDUCATION = ["11", "14", "21", "21", "21", "31", "41"]


def _rows(n_teachers: int, seed: int = 7):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    cities = [f"36{c:02d}00" for c in range(1, 12)]
    units = [("360000", "江西省", "province", None)]
    schools = []
    for city in cities:
        units.append((city, f"第{city[2:4]}市", "city", "360000"))
        for k in range(1, 11):
            county = f"{city[:4]}{k:02d}"
            units.append((county, f"{city[2:4]}市第{k}县", "county", city))
            for s in range(1, 101):
                code = f"{county}{s:04d}"
                units.append((code, f"{county}县第{s}学校", "school", county))
                schools.append(code)
    per_school = n_teachers // len(schools)
    return rng, units, schools, per_school


def generate(url: str, n_teachers: int) -> dict[str, int]:
    """Fill an upgraded, empty store; returns row counts."""
    upgrade(url)
    engine = make_engine(url)
    rng, units, schools, per_school = _rows(n_teachers)
    now = datetime.now(UTC)
    start = now - timedelta(days=20)
    pg = engine.dialect.name == "postgresql"
    raw = engine.raw_connection()
    cur = raw.cursor()
    if not pg:  # tmis's SQLite connections are in autocommit mode: one transaction for the whole load
        cur.execute("PRAGMA synchronous = OFF")
        cur.execute("BEGIN")

    buffers: dict[str, tuple[list[str], list[tuple]]] = {}

    def put(table: str, cols: list[str], rows: list[tuple], *, flush: bool = False) -> None:
        entry = buffers.setdefault(table, (cols, []))
        entry[1].extend(rows)
        if not flush:
            return
        rows = entry[1][:]
        entry[1].clear()
        if not rows:
            return
        if pg:
            with cur.copy(f"COPY {table} ({', '.join(chr(34) + c + chr(34) for c in cols)}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
        else:
            cur.executemany(f"INSERT INTO {table} ({', '.join(chr(34) + c + chr(34) for c in cols)}) VALUES ({', '.join('?' * len(cols))})", rows)

    put("units", ["code", "name", "level", "parent_code", "created_at", "updated_at"],
        [(c, n, lv, p, now, now) for c, n, lv, p in units], flush=True)
    counts = {"units": len(units), "schools": len(schools), "teachers": 0, "versions": 0, "findings": 0}
    tid = vid = 0
    for s_i, school in enumerate(schools):
        sub_id = s_i + 1
        received = start + timedelta(minutes=s_i)
        if rng.random() < 0.03:  # 3 % of the schools have sent nothing yet
            continue
        put("submissions", ["id", "sha256", "original_name", "archived_path", "channel", "sender", "kind", "unit_code",
                            "template_version", "status", "rows", "rows_stored", "errors", "warnings", "report_path",
                            "message", "received_at", "processed_at"],
            [(sub_id, f"{sub_id:064x}", f"{school}.xlsx", "", "inbox", "", "teachers", school, "2026.1", "partial",
              per_school, per_school, 0, 0, "", "", received, received)])
        teachers, versions, facts, persons, findings = [], [], [], [], []
        for j in range(per_school):
            number = f"36{s_i:08d}{j:04d}{rng.randint(0, 9)}"[:18].ljust(18, "0")
            bad = rng.random() < 0.01
            persons.append((sub_id, school, received, number, not bad))
            if bad:
                findings.append((sub_id, "基本信息", j + 3, "E", "id_number", number, "ID-CHECKSUM", "error", "校验位错误", ""))
                continue
            tid += 1
            teachers.append((tid, "1", number, f"教师{tid}", school, "pending", now, now))
            sex, year = rng.choice("12"), rng.randint(1965, 2001)
            state = "effective" if rng.random() < 0.3 else "pending"
            level = "school" if state == "pending" and rng.random() < 0.5 else "county"
            for category, fact in (("basic", (sex, year, "01" if rng.random() < 0.9 else "03",
                                             "在编" if rng.random() < 0.85 else "1", None, None, None)),
                                   ("study", (None, None, None, None, rng.choice(EDUCATION), None, None)),
                                   ("title", (None, None, None, None, None, rng.choice("1234"), None)),
                                   ("teaching", (None, None, None, None, None, None, rng.choice(COURSES)))):
                if category == "title" and rng.random() > 0.6 or category == "teaching" and rng.random() > 0.8:
                    continue
                vid += 1
                versions.append((vid, tid, category, 1, school, sub_id, "", j + 3, json.dumps({"name": f"教师{tid}"}),
                                 state, level if state == "pending" else "school", received))
                facts.append((vid, tid, school, category, *fact))
        put("teachers", ["id", "id_type", "id_number", "name", "unit_code", "status", "created_at", "updated_at"], teachers)
        put("record_versions", ["id", "teacher_id", "category", "seq", "unit_code", "submission_id", "source_sheet",
                                "source_row", "data", "review_state", "review_level", "created_at"], versions)
        put("report_facts", ["version_id", "teacher_id", "unit_code", "category", "sex", "birth_year", "ethnicity",
                             "employment", "education", "title", "subject"], facts)
        put("intake_persons", ["submission_id", "unit_code", "received_at", "id_number", "accepted"], persons)
        put("findings", ["submission_id", "sheet", "row", "column", "field", "value", "rule", "severity", "message",
                         "hint"], findings)
        if len(buffers["record_versions"][1]) > 200_000:  # flush in foreign-key order
            for table in ORDER:
                if table in buffers:
                    put(table, buffers[table][0], [], flush=True)
        counts["teachers"] += len(teachers)
        counts["versions"] += len(versions)
        counts["findings"] += len(findings)
    for table in ORDER:
        if table in buffers:
            put(table, buffers[table][0], [], flush=True)
    raw.commit()
    t0 = time.monotonic()  # each teacher's current facts, as ingest and review keep them (and migration 0006 fills)
    with engine.begin() as conn:
        conn.execute(insert(TeacherFact.__table__).from_select(FACT_COLUMNS, current_facts()))
    counts["teacher_facts_seconds"] = round(time.monotonic() - t0)
    if pg:
        for table in ("teachers", "record_versions", "submissions"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
        cur.execute("ANALYZE")
    else:
        cur.execute("ANALYZE")
    raw.commit()
    raw.close()
    engine.dispose()
    return counts


def instance(url: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "inst" / "config.toml").exists():
        subprocess.run([str(Path(sys.executable).with_name("tmis")), "init", str(folder / "inst")], check=True,
                       capture_output=True)
    config = folder / "inst" / "config.toml"
    body = config.read_text(encoding="utf-8").replace('url = ""', f'url = "{url}"', 1)
    config.write_text(body, encoding="utf-8")
    return config


def measure(config: Path, kind: str, month: str) -> tuple[float, int, float]:
    """(wall seconds, peak RSS in MB, CPU seconds user + system) of one report in a child process."""
    tmis = Path(sys.executable).with_name("tmis")
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M %U %S", str(tmis), "report", kind, "--month", month, "--unit",
                          "360000", "--config", str(config)], capture_output=True, text=True, check=True)
    seconds, kb, user, system = out.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kb) // 1024, float(user) + float(system)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--teachers", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/tmis_bench_reports")
    args = ap.parse_args()
    folder = OUT / f"{args.backend}-{args.teachers}"
    if args.backend == "sqlite":
        url = f"sqlite:///{folder / 'tmis.db'}"
        fresh = not (folder / "tmis.db").exists()
    else:
        url = args.pg
        fresh = True
    if fresh:
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        counts = generate(url, args.teachers)
        print(f"generated {counts} in {time.monotonic() - t0:.0f} s", flush=True)
    config = instance(url, folder)
    month = datetime.now().strftime("%Y-%m")
    for kind in ("monthly", "summary"):
        runs = [measure(config, kind, month) for _ in range(args.repeat)]
        secs = [r[0] for r in runs]
        cpu = statistics.median(r[2] for r in runs)
        print(f"{args.backend} {kind}: median {statistics.median(secs):.1f} s (runs {', '.join(f'{s:.1f}' for s in secs)}),"
              f" CPU of the report process {cpu:.1f} s (median), peak RSS {max(r[1] for r in runs)} MB", flush=True)


if __name__ == "__main__":
    main()
