"""Benchmark: one big school file, `tmis check` against `tmis run --once` (issue 12, item 5).

    python bench/bigfile.py [--rows 1000000] [--repeat 3]

Uses the basic-information workbook of `bench/run.py` (generated or replicated into bench/out/ once, not
timed). Each repeat runs, each in a child process of its own: `tmis check FILE --format json`, then
`tmis run --once` on a fresh SQLite instance (tmis init and the unit import not timed) with the file in its
inbox. Measured per child: wall seconds, CPU seconds (user + system, from os.wait4: on a shared machine they
move much less than the wall time) and the peak of the summed RSS of the process and its children.
Prints and writes bench/out/bigfile_<rows>.md: medians,
the run/check ratios (target ≤ 1.5×, peak memory < 1 GB) and the rows stored.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import run as base  # noqa: E402  (bench/run.py: files, instances, the tmis executable)


@dataclass
class Sample:
    wall: float
    cpu: float
    rss_mb: float
    pss_mb: float
    code: int
    stderr: str
    split: list[int]  # PSS MB of each process of the tree at the peak (the process first)


def timed(cmd: list[str], env: dict[str, str]) -> Sample:
    """Run ``cmd`` as a child: wall time, its CPU time (its own and its children's, os.wait4) and the peak of
    the summed RSS and PSS of its process tree (sampled every 0.2 s: a validating child's memory counts too;
    RSS counts the pages the two share after the fork twice, PSS shares them out)."""
    peak = [0, 0]  # summed RSS, summed PSS
    split: list[int] = []  # PSS MB of each process at the PSS peak
    done = threading.Event()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)

        def sample() -> None:
            while not done.wait(0.2):
                both = [base.memory_kb(p) for p in base.process_tree(proc.pid)]
                peak[0] = max(peak[0], sum(r for r, _ in both))
                if sum(p for _, p in both) > peak[1]:
                    peak[1] = sum(p for _, p in both)
                    split[:] = [p // 1024 for _, p in both]

        watcher = threading.Thread(target=sample, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        done.set()
        watcher.join()
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    return Sample(wall, usage.ru_utime + usage.ru_stime, max(peak[0], usage.ru_maxrss) / 1024,
                  (peak[1] or usage.ru_maxrss) / 1024, os.waitstatus_to_exitcode(status), text[-2000:], split)


def stored_rows(instance: Path) -> int:
    db = instance / "var" / "tmis.db"
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COALESCE(SUM(rows_stored), 0) FROM submissions").fetchone()[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-check", action="store_true", help="only `tmis run --once`")
    args = ap.parse_args(argv)

    info = base.ensure_files(args.rows)
    xlsx = Path(info["xlsx"])
    env = {**os.environ, **base.LIMIT_ENV}
    exe = base.tmis_exe()
    checks: list[Sample] = []
    runs: list[Sample] = []
    stored = 0
    for i in range(args.repeat):
        if not args.skip_check:
            s = timed([exe, "check", str(xlsx), "--format", "json"], env)
            if s.code not in (0, 1):
                raise SystemExit(f"tmis check failed ({s.code}): {s.stderr}")
            checks.append(s)
            print(f"[{i + 1}] check   wall {s.wall:7.1f} s  cpu {s.cpu:7.1f} s  rss {s.rss_mb:6.0f} MB  pss {s.pss_mb:6.0f} MB  "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
        instance = base.OUT / f"bigfile_{args.rows}"
        config = base.make_instance(instance)
        shutil.copy(xlsx, instance / "inbox" / xlsx.name)
        s = timed([exe, "run", "--once", "--config", str(config)], env)
        if s.code != 0:
            raise SystemExit(f"tmis run --once failed ({s.code}): {s.stderr}")
        runs.append(s)
        stored = stored_rows(instance)
        print(f"[{i + 1}] run     wall {s.wall:7.1f} s  cpu {s.cpu:7.1f} s  rss {s.rss_mb:6.0f} MB  pss {s.pss_mb:6.0f} MB  "
              f"stored {stored:,}  load {os.getloadavg()[0]:.1f}  (PSS at the peak: {' + '.join(map(str, s.split))} MB)",
              flush=True)

    def med(xs: list[Sample], attr: str) -> float:
        return statistics.median(getattr(x, attr) for x in xs) if xs else float("nan")

    lines = [f"{args.rows:,} rows, {len(runs)} run(s), medians; {os.cpu_count()} cores; load at the end "
             f"{os.getloadavg()[0]:.1f}", "",
             "| step | wall s | CPU s | peak RSS MB (summed) | peak PSS MB (summed) |",
             "| --- | ---: | ---: | ---: | ---: |"]
    if checks:
        lines.append(f"| `tmis check` | {med(checks, 'wall'):.1f} | {med(checks, 'cpu'):.1f} | "
                     f"{max(c.rss_mb for c in checks):.0f} | {max(c.pss_mb for c in checks):.0f} |")
    lines.append(f"| `tmis run --once` | {med(runs, 'wall'):.1f} | {med(runs, 'cpu'):.1f} | "
                 f"{max(r.rss_mb for r in runs):.0f} | {max(r.pss_mb for r in runs):.0f} |")
    if checks:
        lines += ["", f"run / check: {med(runs, 'wall') / med(checks, 'wall'):.2f}× wall, "
                      f"{med(runs, 'cpu') / med(checks, 'cpu'):.2f}× CPU (target ≤ 1.5×); rows stored {stored:,}"]
    text = "\n".join(lines)
    (base.OUT / f"bigfile_{args.rows}.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
