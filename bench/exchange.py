"""Benchmark of exchange: import of a big GB18030 legacy CSV into SQLite, and export of the same.

    .venv/bin/python bench/exchange.py --rows 1000000 --repeat 1

Generates (not timed) a legacy-2011 CSV of --rows teachers spread over --schools schools: 20,000 generated
teachers (processor.samples) replicated with fresh identity numbers (birth date moved a few days earlier,
出生年月 following it), written in GB18030 with CRLF. Then, each in a child process of its own (peak RSS from
os.wait4): `tmis exchange import` into a fresh SQLite instance, and `tmis exchange export` of everything.
The import uses a copy of the legacy-2011 profile with authoritative = true, so that the export has effective
records to write. Results go to bench/out/exchange.md."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

from processor import samples  # noqa: E402
from processor.config import load_config  # noqa: E402
from processor.exchange.exporter import _flat_writers, flat_row, open_csv  # noqa: E402
from processor.exchange.profile import load_profile  # noqa: E402
from processor.exchange.samples import person_records  # noqa: E402
from processor.rulepack.loader import load_pack_from_config  # noqa: E402

TMIS = [sys.executable, "-c", "from processor.cli import main; main()"]
BASE = 20_000


def _profiles(folder: Path) -> Path:
    target = folder / "profiles" / "legacy-2011"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ROOT / "rules" / "exchange" / "legacy-2011", target)
    toml = target / "profile.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("authoritative = false", "authoritative = true"),
                    encoding="utf-8")
    return folder / "profiles"


def _units(path: Path, schools: int) -> list[tuple[str, str]]:
    rows = [("360000", "江西省", ""), ("360100", "南昌市", "360000"), ("360102", "东湖区", "360100")]
    out = [(f"36010200{i:02d}" if i < 100 else f"3601020{i:03d}", f"南昌市第{i + 1}学校") for i in range(schools)]
    with path.open("w", encoding="utf-8") as fh:
        fh.write("代码,名称,上级代码\n")
        for code, name, parent in rows:
            fh.write(f"{code},{name},{parent}\n")
        for code, name in out:
            fh.write(f"{code},{name},360102\n")
    return out


def generate(path: Path, rows: int, schools: list[tuple[str, str]], profile: object, pack: object) -> None:
    """The legacy CSV: BASE generated teachers, replicated with fresh identity numbers."""
    rng = random.Random(5)
    people = samples.generate_people(min(rows, BASE), seed=11, school=samples.SchoolInfo(*schools[0]), detail=True)
    renderer = samples.Renderer(pack, rng)
    sheets = profile.target_sheets()  # type: ignore[attr-defined]
    writers = _flat_writers(profile, pack)  # type: ignore[arg-type]
    base_rows = []
    for p in people:
        records = {sid: r[0] for sid, r in person_records(p, pack, renderer, sheets).items()}  # type: ignore[arg-type]
        base_rows.append((records, p))
    header = [c.header for c, _ in writers]
    id_col, birth_col, school_col, name_col = (header.index(h) for h in ("身份证号", "出生年月", "学校代码", "学校名称"))
    taken: set[str] = set()
    fh, writer = open_csv(path, profile)  # type: ignore[arg-type]
    with fh:
        writer.writerow(header)
        for i in range(rows):
            records, person = base_rows[i % len(base_rows)]
            school = schools[(i * len(schools)) // rows]
            row = flat_row(writers, records, school, None, profile)  # type: ignore[arg-type]
            if i >= len(base_rows):
                birth = person.birth_date - timedelta(days=1 + (i // len(base_rows)) % 300)
                seq = rng.randrange(1 if person.sex == "1" else 0, 1000, 2)
                number = samples.make_id_number(person.id_number[:6], birth, seq)
                while number in taken:
                    seq = (seq + 2) % 1000
                    number = samples.make_id_number(person.id_number[:6], birth, seq)
                row[id_col] = number
                row[birth_col] = f"{birth.year:04d}{birth.month:02d}"
            taken.add(row[id_col])
            row[school_col], row[name_col] = school
            writer.writerow(row)


def to_xls(source: Path, target: Path, profile: object, rows: int) -> None:
    """The first ``rows`` lines of the legacy CSV as a BIFF8 .xls (one sheet, at most 65,535 data rows),
    written by the exporter's own .xls writer, as a legacy system that exports .xls would hand it over."""
    import csv

    from processor.exchange.exporter import XlsParts

    parts = XlsParts(target)
    with source.open(encoding=profile.encoding, newline="") as fh:  # type: ignore[attr-defined]
        reader = csv.reader(fh, delimiter=profile.delimiter)  # type: ignore[attr-defined]
        header = next(reader)
        _ctx, writer = parts.sheet_writer("教师", header)
        for i, row in enumerate(reader):
            if i >= rows:
                break
            writer.writerow(row)
    parts.close()


LAST_CPU = [0.0]  # CPU seconds (user + system) of the last child: less sensitive to a loaded machine than wall time
LAST_TREE_MB = [0]  # peak memory of the child and its own children together (the import's validating process)


def _tree_pss_mb(pid: int) -> int:
    """Memory (MB) of ``pid`` and its descendants together: the sum of their PSS (a page two processes share
    after fork counts half in each, so the sum is what the tree really holds); 0 when gone."""
    from run import memory_kb, process_tree

    return sum(memory_kb(p)[1] for p in process_tree(pid)) >> 10


def _child(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (MB) and standard output of one child process (its CPU seconds in ``LAST_CPU``).

    The peak RSS is the kernel's (``os.wait4``: the largest of the process and its children); the peak of
    the process tree's summed PSS, sampled twice a second, goes to ``LAST_TREE_MB``."""
    import threading

    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    LAST_TREE_MB[0] = 0
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            LAST_TREE_MB[0] = max(LAST_TREE_MB[0], _tree_pss_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = proc.stdout.read().decode("utf-8")
    stop.set()
    sampler.join()
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    LAST_CPU[0] = usage.ru_utime + usage.ru_stime
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{args[3:6]} failed ({status}): {out[-500:]}")
    return seconds, usage.ru_maxrss // 1024, out


def _server(url: str) -> object:
    from sqlalchemy import create_engine

    return create_engine(url, isolation_level="AUTOCOMMIT")


def _fresh_postgres(url: str, name: str) -> str:
    """An empty database ``name`` on the server of ``url``; its URL."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    engine = _server(url)
    with engine.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()  # type: ignore[attr-defined]
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _drop_postgres(url: str, name: str) -> None:
    from sqlalchemy import text

    engine = _server(url)
    with engine.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()  # type: ignore[attr-defined]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--schools", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--xls", type=int, default=0,
                    help="also import the first N rows as a legacy .xls (N ≤ 65,535) through a format = xls profile")
    ap.add_argument("--xls-export", action="store_true", help="also export everything to an .xls profile")
    ap.add_argument("--tag", default="", help="suffix of the instance folders (two runs side by side)")
    ap.add_argument("--postgres", default="",
                    help="a PostgreSQL server URL (postgresql+psycopg://user@host:port/db): each run gets a fresh "
                         "database of its own there, named tmis_bench_exchange<tag>, dropped afterwards")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    work = OUT / f"exchange_{args.rows}"
    work.mkdir(exist_ok=True)
    profiles = _profiles(work)
    units = work / "单位.csv"
    schools = _units(units, args.schools)
    config = load_config(ROOT / "config.toml")
    pack = load_pack_from_config(config)
    profile = load_profile(profiles / "legacy-2011", pack)
    source = work / "旧系统导出.csv"
    if not source.exists():
        t = time.monotonic()
        generate(source, args.rows, schools, profile, pack)
        print(f"generated {args.rows} rows in {time.monotonic() - t:.0f}s ({source.stat().st_size >> 20} MB)")
    xls_source = work / f"旧系统导出_{args.xls}.xls"
    if args.xls or args.xls_export:
        xls_profiles = work / "profiles-xls"
        shutil.rmtree(xls_profiles, ignore_errors=True)
        shutil.copytree(profiles, xls_profiles)
        toml = xls_profiles / "legacy-2011" / "profile.toml"
        toml.write_text(toml.read_text(encoding="utf-8").replace('format = "csv"', 'format = "xls"'), encoding="utf-8")
    if args.xls and not xls_source.exists():
        t = time.monotonic()
        to_xls(source, xls_source, profile, args.xls)
        print(f"wrote {args.xls} rows as .xls in {time.monotonic() - t:.0f}s ({xls_source.stat().st_size >> 20} MB)")
    results: dict[str, list[tuple[float, int, float, int]]] = {"import": [], "export": []}
    if args.xls:
        results["import .xls"] = []
    if args.xls_export:
        results["export .xls"] = []
    summary: dict[str, object] = {}
    for n in range(args.repeat):
        inst = work / f"inst{n}{args.tag}"
        if inst.exists():
            shutil.rmtree(inst)
        subprocess.run([*TMIS, "init", str(inst)], check=True, capture_output=True)
        cfg = inst / "config.toml"
        cfg.write_text(cfg.read_text(encoding="utf-8").replace('profiles = ""', f'profiles = "{profiles}"'),
                       encoding="utf-8")
        if args.postgres:
            url = _fresh_postgres(args.postgres, f"tmis_bench_exchange{args.tag}")
            cfg.write_text(cfg.read_text(encoding="utf-8").replace('\nurl = ""', f'\nurl = "{url}"', 1),
                           encoding="utf-8")
            subprocess.run([*TMIS, "db", "upgrade", "--config", str(cfg)], check=True, capture_output=True)
        subprocess.run([*TMIS, "units", "import", str(units), "--config", str(cfg)], check=True, capture_output=True)
        env = dict(os.environ, TMIS_CONFIG=str(cfg), TMIS_LOGGING_LEVEL="WARNING")
        seconds, rss, out = _child([*TMIS, "exchange", "import", str(source), "--profile", "legacy-2011",
                                    "--format", "json"], env)
        summary["import"] = {k: v for k, v in json.loads(out).items() if k not in ("findings",)}
        results["import"].append((seconds, rss, LAST_CPU[0], LAST_TREE_MB[0]))
        print(f"run {n + 1} import: {seconds:.1f} s, CPU {LAST_CPU[0]:.1f} s, {rss} MB, all processes {LAST_TREE_MB[0]} MB, "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
        seconds, rss, out = _child([*TMIS, "exchange", "export", "--profile", "legacy-2011", "--out",
                                    str(inst / "导出.csv"), "--format", "json"], env)
        summary["export"] = json.loads(out)
        results["export"].append((seconds, rss, LAST_CPU[0], LAST_TREE_MB[0]))
        print(f"run {n + 1} export: {seconds:.1f} s, CPU {LAST_CPU[0]:.1f} s, {rss} MB, load {os.getloadavg()[0]:.1f}",
              flush=True)
        if args.xls or args.xls_export:
            xcfg = inst / "config-xls.toml"
            xcfg.write_text(cfg.read_text(encoding="utf-8").replace(str(profiles), str(work / "profiles-xls")),
                            encoding="utf-8")
            xenv = dict(env, TMIS_CONFIG=str(xcfg))
        if args.xls_export:
            seconds, rss, out = _child([*TMIS, "exchange", "export", "--profile", "legacy-2011", "--out",
                                        str(inst / "导出.xls"), "--format", "json"], xenv)
            summary["export .xls"] = json.loads(out)
            results["export .xls"].append((seconds, rss, LAST_CPU[0], LAST_TREE_MB[0]))
        if args.xls:
            # Into a second, empty store: the same people must not meet their own copies from the CSV import.
            xinst = work / f"inst{n}{args.tag}-xls"
            shutil.rmtree(xinst, ignore_errors=True)
            subprocess.run([*TMIS, "init", str(xinst)], check=True, capture_output=True)
            ycfg = xinst / "config.toml"
            ycfg.write_text(ycfg.read_text(encoding="utf-8").replace(
                'profiles = ""', f'profiles = "{work / "profiles-xls"}"'), encoding="utf-8")
            subprocess.run([*TMIS, "units", "import", str(units), "--config", str(ycfg)], check=True,
                           capture_output=True)
            seconds, rss, out = _child([*TMIS, "exchange", "import", str(xls_source), "--profile", "legacy-2011",
                                        "--format", "json"], dict(env, TMIS_CONFIG=str(ycfg)))
            summary["import .xls"] = {k: v for k, v in json.loads(out).items() if k not in ("findings",)}
            results["import .xls"].append((seconds, rss, LAST_CPU[0], LAST_TREE_MB[0]))
            shutil.rmtree(xinst, ignore_errors=True)
        shutil.rmtree(inst / "var" / "archive", ignore_errors=True)
        if args.postgres:
            _drop_postgres(args.postgres, f"tmis_bench_exchange{args.tag}")
    store = "PostgreSQL" if args.postgres else "SQLite"
    lines = [f"# exchange benchmark: {args.rows:,} rows, {args.schools} schools, {store}, {args.repeat} run(s)", "",
             "| step | median s | rows/s | CPU s (user+sys) | peak RSS MB | peak PSS, all processes MB | runs (s) | CPU runs (s) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for step, runs in results.items():
        med = statistics.median(s for s, _, _, _ in runs)
        cpu = statistics.median(c for _, _, c, _ in runs)
        rss = max(r for _, r, _, _ in runs)
        tree = max(t for _, _, _, t in runs)
        n_rows = args.xls if step == "import .xls" else args.rows
        lines.append(f"| {step} | {med:.1f} | {n_rows / med:,.0f} | {cpu:.1f} | {rss:,} | {tree:,} | "
                     f"{', '.join(f'{s:.1f}' for s, _, _, _ in runs)} | {', '.join(f'{c:.1f}' for _, _, c, _ in runs)} |")
    imp = summary["import"]
    lines += ["", f"import: stored {imp['stored']:,} versions, errors {imp['errors']}, warnings {imp['warnings']}, "  # type: ignore[index]
              f"chunks {imp['chunks']}; export: {summary['export']['rows']:,} rows"]  # type: ignore[index]
    if args.xls:
        x = summary["import .xls"]
        lines.append(f"import .xls ({args.xls:,} rows): stored {x['stored']:,} versions, errors {x['errors']}")  # type: ignore[index]
    if args.xls_export:
        x = summary["export .xls"]
        lines.append(f"export .xls: {x['rows']:,} rows in {1 + len(x['more_files'])} file(s)")  # type: ignore[index]
    lines.append(f"load average when done: {os.getloadavg()[0]:.1f} (2 cores)")
    text = "\n".join(lines) + "\n"
    suffix = "_pg" if args.postgres else ""
    (OUT / f"exchange_{args.rows}{suffix}{args.tag}.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
