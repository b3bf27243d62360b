"""Load test of the scale-out: a generated province dropped into the inbox at once, drained by 1, 2 and 4
`tmis run` workers on the PostgreSQL at 127.0.0.1:5432; optionally one worker SIGKILLed halfway.

    python bench/scaleout.py [--teachers 1000000] [--files 10000] [--workers 1,2,4] [--kill 2]

Files: one seed school workbook of ``teachers / files`` teachers (official template, 基本信息 and 联系方式,
written once with processor.samples), replicated per school by rewriting the zip's XML: the school's code
and name in the hidden metadata, and every identity number (a fresh sequence number with the same area-valid
prefix, birth date and sex digit, so the cross-field checks still hold). Each school of a generated tree
(11 cities, 100 counties, ``files`` schools) sends one file. Files are cached in bench/out/province_<n>/.

Per run: a new database (tmis init, db upgrade, units import), the workers started and registered, then the
files hard-linked into the inbox in one go. Measured: time from the drop to the last file done (drain), files/s,
rows/s (every row of every file). ``--kill N``: one more run with N workers, in which a worker holding a job is
SIGKILLed when half of the files are done. After each run the proof queries below must all hold (exactly once), else the
script exits 1. Results: bench/out/scaleout.md (and printed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
OUT = BENCH_DIR / "out"
sys.path.insert(0, str(ROOT))

ADMIN_DSN = os.environ.get("TMIS_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
SEED_SCHOOL = ("2136010001", "南昌市东湖区第一小学")
ID_RE = re.compile(rb"(?<![0-9])[0-9]{17}[0-9X](?![0-9X])")
WORKER_ENV = {"TMIS_WORKERS_HEARTBEAT_SECONDS": "2", "TMIS_WORKERS_STALLED_SECONDS": "15",
              "TMIS_WORKERS_POLL_SECONDS": "2", "TMIS_INTAKE_STABLE_SECONDS": "0", "TMIS_INTAKE_RESCAN_SECONDS": "5",
              "TMIS_REVIEW_ISSUE_TIME": "", "TMIS_REPORTS_SCHEDULE": "false", "TMIS_LOGGING_LEVEL": "WARNING"}

# The proof that every file was processed exactly once and every person stored once: each query returns one
# row of booleans that must all be true.
PROOF = {
    "every dropped file has one job row, done": (
        "SELECT count(*) = :files, count(DISTINCT key) = :files, bool_and(state = 'done') FROM file_jobs"),
    "every job finished exactly once in the queue": (
        "SELECT count(*) = :files, bool_and(status = 'succeeded') FROM procrastinate_jobs WHERE task_name = 'tmis.file'"),
    "one submission per file, distinct content, each archived under its own name": (
        "SELECT count(*) = :files, count(DISTINCT sha256) = :files, count(DISTINCT archived_path) = :files "
        "FROM submissions"),
    "each submission received once (one audit entry each)": (
        "SELECT count(*) = :files, count(DISTINCT object_id) = :files FROM audit_log WHERE action = 'submission.receive'"),
    "nothing half-stored: stored rows = record versions of each submission": (
        "SELECT count(*) = 0 FROM submissions s WHERE s.rows_stored <> "
        "(SELECT count(*) FROM record_versions v WHERE v.submission_id = s.id)"),
    "every person stored once": (
        "SELECT count(*) = :teachers, count(DISTINCT (id_type, id_number)) = :teachers FROM teachers"),
    "no record version twice": (
        "SELECT count(*) = 0 FROM (SELECT teacher_id, category, seq FROM record_versions "
        "GROUP BY teacher_id, category, seq HAVING count(*) > 1) t"),
}


def tmis_exe() -> str:
    exe = Path(sys.executable).with_name("tmis")
    return str(exe) if exe.exists() else "tmis"


# ------------------------------------------------------------------------------------------ files
def province_units(files: int) -> list[tuple[str, str, str]]:
    units = [("360000", "江西省", "")]
    counties = []
    for c in range(11):
        city = f"36{c + 1:02d}00"
        units.append((city, f"第{c + 1}市", "360000"))
        for k in range(10 if c < 10 else 0):
            county = f"36{c + 1:02d}{k + 1:02d}"
            units.append((county, f"第{c + 1}市第{k + 1}县", city))
            counties.append(county)
    for i in range(files):
        code = SEED_SCHOOL[0] if i == 0 else f"21{i:08d}"
        units.append((code, f"模拟第{i + 1}小学", counties[i % len(counties)]))
    return units


def seed_workbook(path: Path, teachers: int) -> None:
    from processor import samples
    from processor.config import load_config
    from processor.rulepack.loader import load_pack_from_config

    pack = load_pack_from_config(load_config(ROOT / "config.toml", environ={}))
    info = samples.SchoolInfo(code=SEED_SCHOOL[0], name=SEED_SCHOOL[1])
    persons = samples.generate_people(teachers, seed=20261201, school=info, detail=False)
    samples.write_workbook(path, persons, pack=pack, kind="teachers", unit_code=SEED_SCHOOL[0],
                           unit_name=SEED_SCHOOL[1], mistakes=[], seed=1, only=["basic", "contact"])


class Numbers:
    """Fresh identity numbers keeping a number's birth date and sex digit, with an area code valid then."""

    def __init__(self, taken: set[str]) -> None:
        # Every Jiangxi address code of the division history (36xxxx), not only the sample counties: a province
        # replicates each seed person 10,000 times, and 500 numbers per (birth date, sex, area) with the few
        # sample codes valid for a late birth year ran out.
        self.areas = [f"36{i:04d}" for i in range(1, 10_000)]
        self.taken = taken  # the seed's own numbers (the first school keeps them)
        self.valid: dict[int, list[str]] = {}
        self.next: dict[tuple[str, int], int] = {}

    def fresh(self, old: str) -> str:
        from processor.idnumber import area_status
        from processor.samples import id_check_digit

        birth, parity = old[6:14], int(old[14:17]) % 2
        year = int(birth[:4])
        if year not in self.valid:  # known to the validator and not abolished before the birth year
            self.valid[year] = [a for a in self.areas if (st := area_status(a, year)).known and st.abolished is None]
        areas = self.valid[year]
        while True:
            j = self.next.get((birth, parity), 0)
            self.next[(birth, parity)] = j + 1
            if j // 500 >= len(areas):
                raise SystemExit("scaleout bench: out of identity numbers for one birth date; use fewer files")
            first17 = f"{areas[j // 500]}{birth}{parity + 2 * (j % 500):03d}"
            number = first17 + id_check_digit(first17)
            if number not in self.taken:
                self.taken.add(number)
                return number


def make_files(teachers: int, files: int) -> tuple[Path, list[Path], int]:
    """bench/out/province_<files>x<per school>/ with one file per school; (folder, files, teachers per file)."""
    per_school = teachers // files
    folder = OUT / f"province_{files}x{per_school}_v3"
    done = folder / "done.json"
    if done.exists():
        info = json.loads(done.read_text(encoding="utf-8"))
        return folder, sorted(folder.glob("*.xlsx")), int(info["teachers_per_file"])
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    seed = folder / "_seed.xlsx.src"
    seed_workbook(seed, per_school)
    zin = zipfile.ZipFile(seed)
    parts = {i.filename: zin.read(i.filename) for i in zin.infolist()}
    seed_ids = sorted({m.group(0).decode() for body in parts.values() for m in ID_RE.finditer(body)})
    numbers = Numbers(set(seed_ids))
    units = province_units(files)
    schools = [u for u in units if len(u[0]) == 10]
    code_b, name_b = SEED_SCHOOL[0].encode(), SEED_SCHOOL[1].encode("utf-8")
    out = []
    for i, (code, name, _) in enumerate(schools):
        mapping = {old.encode(): numbers.fresh(old).encode() for old in seed_ids} if i else {}
        path = folder / f"{code}_{name}_教师信息.xlsx"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
            for part, body in parts.items():
                if part.endswith(".xml") or part.endswith(".rels"):
                    body = body.replace(code_b, code.encode()).replace(name_b, name.encode("utf-8"))
                    if mapping:
                        body = ID_RE.sub(lambda m, ids=mapping: ids.get(m.group(0), m.group(0)), body)
                zout.writestr(part, body)
        out.append(path)
    from processor.config import load_config
    from processor.readers import Limits, read_workbook
    from processor.rulepack.loader import load_pack_from_config

    wb = read_workbook(out[-1], load_pack_from_config(load_config(ROOT / "config.toml", environ={})), Limits(),
                       name=out[-1].name)
    assert wb.unit_code == schools[-1][0], (wb.unit_code, schools[-1][0])
    rows = sum(sum(1 for _ in b.iter_rows()) for b in wb.blocks)
    (folder / "units.csv").write_text("代码,名称,上级代码\n" + "".join(f"{c},{n},{p}\n" for c, n, p in units),
                                      encoding="utf-8")
    done.write_text(json.dumps({"files": files, "teachers_per_file": per_school, "rows_per_file": rows,
                                "seconds": round(time.perf_counter() - t0, 1)}), encoding="utf-8")
    return folder, out, per_school


# ------------------------------------------------------------------------------------------ runs
def pg(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql)


def new_instance(base: Path, database: str, units_csv: Path) -> Path:
    from psycopg.conninfo import conninfo_to_dict

    pg(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    pg(f'CREATE DATABASE "{database}"')
    params = conninfo_to_dict(ADMIN_DSN)
    url = f"postgresql+psycopg://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:" \
          f"{params.get('port', '5432')}/{database}"
    if base.exists():
        shutil.rmtree(base)
    subprocess.run([tmis_exe(), "init", str(base)], check=True, capture_output=True)
    config = base / "config.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r'(?m)^url = ""$', f'url = "{url}"', text, count=1), encoding="utf-8")
    subprocess.run([tmis_exe(), "db", "upgrade", "--config", str(config)], check=True, capture_output=True)
    subprocess.run([tmis_exe(), "units", "import", str(units_csv), "--config", str(config)], check=True,
                   capture_output=True)
    return config


def query(config: Path, sql: str, **params: Any) -> list[tuple]:
    from sqlalchemy import text

    from processor.config import load_config
    from processor.store.db import make_engine

    engine = make_engine(load_config(config, environ={}).database_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def run(n_workers: int, files: list[Path], per_school: int, units_csv: Path, kill: bool) -> dict[str, Any]:
    base = OUT / f"scaleout_{n_workers}{'_kill' if kill else ''}"
    config = new_instance(base, f"tmis_bench_scaleout_{n_workers}{'_kill' if kill else ''}", units_csv)
    inbox = base / "inbox"
    env = dict(os.environ, **WORKER_ENV)
    workers = []
    for k in range(n_workers):
        log = (base / f"w{k + 1}.log").open("w", encoding="utf-8")
        workers.append(subprocess.Popen([tmis_exe(), "run", "--config", str(config)], stdout=log,
                                        stderr=subprocess.STDOUT, env=dict(env, TMIS_WORKERS_NAME=f"w{k + 1}")))
    deadline = time.monotonic() + 300
    while query(config, "SELECT count(*) FROM workers WHERE state = 'running'") != [(n_workers,)]:
        if time.monotonic() > deadline:
            raise SystemExit("workers did not start")
        time.sleep(0.5)
    t0 = time.perf_counter()
    for p in files:
        os.link(p, inbox / p.name)
    dropped = time.perf_counter() - t0
    killed = None
    while True:
        [(done,)] = query(config, "SELECT count(*) FROM file_jobs WHERE state = 'done'")
        if done == len(files):
            break
        if kill and killed is None and done >= len(files) // 2:
            holding = query(config, "SELECT worker FROM file_jobs WHERE state = 'running' ORDER BY started_at LIMIT 1")
            if holding:
                victim = int(holding[0][0][1:]) - 1
                workers[victim].send_signal(signal.SIGKILL)
                killed = {"worker": holding[0][0], "at_done": done, "at_seconds": round(time.perf_counter() - t0, 1)}
        time.sleep(0.5)
    drain = time.perf_counter() - t0
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    for w in workers:
        w.wait(timeout=600)
    [(rows,)] = query(config, "SELECT sum(rows) FROM submissions")
    teachers = per_school * len(files)
    proof = {}
    for name, sql in PROOF.items():
        [row] = query(config, sql, files=len(files), teachers=teachers)
        proof[name] = all(row)
    proof["inbox and processing/ empty"] = not any(inbox.iterdir()) and not any(
        p for p in (base / "var" / "processing").iterdir() if not p.name.startswith("."))
    retried = query(config, "SELECT count(*) FROM file_jobs WHERE attempts > 1")[0][0]
    return {"workers": n_workers, "files": len(files), "rows": int(rows), "teachers": teachers,
            "drop_seconds": round(dropped, 2), "drain_seconds": round(drain, 1),
            "files_per_s": round(len(files) / drain, 2), "rows_per_s": round(rows / drain, 1),
            "killed": killed, "retried_jobs": retried, "proof": proof,
            "exit_codes": [w.returncode for w in workers]}


def render(results: list[dict[str, Any]], args: Any) -> str:
    lines = [f"# Scale-out load test ({args.teachers:,} teachers in {args.files:,} school files)", "",
             f"Machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the end; PostgreSQL at 127.0.0.1:5432.",
             "", "| workers | drain (s) | files/s | rows/s | killed | jobs retried | proof |",
             "| ---: | ---: | ---: | ---: | --- | ---: | --- |"]
    for r in results:
        k = r["killed"]
        killed = f"{k['worker']} at {k['at_done']} files ({k['at_seconds']} s)" if k else "—"
        ok = "all hold" if all(r["proof"].values()) else "FAILED: " + ", ".join(n for n, v in r["proof"].items() if not v)
        lines.append(f"| {r['workers']} | {r['drain_seconds']} | {r['files_per_s']} | {r['rows_per_s']} | {killed} | "
                     f"{r['retried_jobs']} | {ok} |")
    lines += ["", "Proof queries (each must be true):", ""]
    lines += [f"- {name}: `{sql}`" for name, sql in PROOF.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teachers", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--workers", default="1,2,4", help='worker counts, one run each ("" for the --kill run only)')
    ap.add_argument("--kill", type=int, default=0, help="one more run with this many workers, one SIGKILLed halfway")
    args = ap.parse_args(argv)
    random.seed(0)
    OUT.mkdir(exist_ok=True)
    folder, files, per_school = make_files(args.teachers, args.files)
    results = []
    plan = [(int(x), False) for x in args.workers.split(",") if x.strip()] + ([(args.kill, True)] if args.kill else [])
    for n, kill in plan:
        r = run(n, files, per_school, folder / "units.csv", kill=kill)
        print(json.dumps(r, ensure_ascii=False), flush=True)
        results.append(r)
    text = render(results, args)
    (OUT / "scaleout.md").write_text(text, encoding="utf-8")
    print(text)
    return 0 if all(all(r["proof"].values()) for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
