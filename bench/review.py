"""Benchmark of the review chain: a county of 100 schools with 10,000 teachers pending (all 14 categories of
processor.samples), time and peak RSS to issue its return sheet and to take it back fully decided.

    .venv/bin/python bench/review.py --repeat 3

Setup (not timed, cached in bench/out/review/seed/): a fresh instance, the county's unit tree with its
officers, 100 school files of 100 sample teachers each sent through processor.pipeline.process_file.
Each repeat copies the seeded instance, then measures in child processes (peak RSS from os.wait4):
  1. issue  — processor.review.sheet.issue_sheets for the county (the whole return sheet written);
  2. fill   — not timed: every school decided 通过 in 汇总 (openpyxl, as an officer's spreadsheet would);
  3. apply  — processor.pipeline.process_file on the filled sheet: read, verify every listed cell,
              apply in one transaction, receipt (the whole take-back an officer's file goes through).
Targets (issue 9): each under 30 s and 1 GB on the 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

from run import measure, median_table, tmis_exe  # noqa: E402 - the shared measuring helper of bench/run.py

OUT = BENCH_DIR / "out" / "review"
COUNTY = ("360102", "东湖区")
SCHOOLS = 100
TEACHERS_PER_SCHOOL = 100
KEY = "bench-signing-key-0123456789abcdef"
ENV = {"TMIS_SIGNING_KEY": KEY, "TMIS_INTAKE_MAX_FILE_MB": "1024", "TMIS_INTAKE_MAX_UNCOMPRESSED_MB": "8192"}


def _units_workbook(path: Path, schools: int) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "单位"
    ws.append(["代码", "名称", "上级代码"])
    ws.append(["360000", "江西省", ""])
    ws.append(["360100", "南昌市", "360000"])
    ws.append([COUNTY[0], COUNTY[1], "360100"])
    for i in range(1, schools + 1):
        ws.append([f"{COUNTY[0]}{i:04d}", f"东湖区第{i}学校", COUNTY[0]])
    people = wb.create_sheet("人员")
    people.append(["单位代码", "姓名", "角色", "邮箱", "手机"])
    people.append([COUNTY[0], "王磊", "信息管理员", "wanglei@dhq.edu.cn", ""])
    wb.save(path)
    return path


def seed(schools: int, per_school: int) -> Path:
    """The seeded instance (cached): config.toml path."""
    base = OUT / f"seed-{schools}x{per_school}"
    config = base / "config.toml"
    if (base / "seeded").exists():
        return config
    if base.exists():
        shutil.rmtree(base)
    subprocess.run([tmis_exe(), "init", str(base)], check=True, capture_output=True)
    subprocess.run([tmis_exe(), "units", "import", str(_units_workbook(base / "units.xlsx", schools)),
                    "--config", str(config)], check=True, capture_output=True)
    os.environ.update(ENV)
    from processor import samples
    from processor.config import load_config
    from processor.pipeline import process_file
    from processor.rulepack.loader import load_pack_from_config
    from processor.store.db import make_engine

    cfg = load_config(config, required=True)
    pack = load_pack_from_config(cfg)
    engine = make_engine(cfg.database_url)
    taken: set[str] = set()
    t0 = time.perf_counter()
    for i in range(1, schools + 1):
        code, name = f"{COUNTY[0]}{i:04d}", f"东湖区第{i}学校"
        persons = samples.generate_people(per_school, seed=1000 + i, school=samples.SchoolInfo(code=code, name=name),
                                          taken_ids=taken)
        taken.update(p.id_number for p in persons)
        path = base / "drop" / f"{code}.xlsx"
        samples.write_workbook(path, persons, pack=pack, kind="teachers", unit_code=code, unit_name=name,
                               mistakes=[], seed=i)
        out = process_file(path, cfg, pack, engine)
        print(f"seed {i}/{schools}: {out.status} {out.stored} rows ({time.perf_counter() - t0:.0f}s)", flush=True)
    engine.dispose()
    (base / "seeded").write_text("ok", encoding="utf-8")
    return config


def child(task: str, config_path: Path, file: Path | None) -> dict[str, Any]:
    os.environ.update(ENV)
    from processor.config import load_config
    from processor.rulepack.loader import load_pack_from_config
    from processor.store.db import make_engine

    cfg = load_config(config_path, required=True)
    pack = load_pack_from_config(cfg)
    engine = make_engine(cfg.database_url)
    t0 = time.perf_counter()
    if task == "issue":
        from processor.review.sheet import issue_sheets

        (sheet,) = issue_sheets(engine, cfg, pack, unit=COUNTY[0])
        return {"seconds": time.perf_counter() - t0, "versions": sheet.versions, "path": str(sheet.path),
                "bytes": sheet.path.stat().st_size}
    if task == "apply":
        from processor.pipeline import process_file

        out = process_file(file, cfg, pack, engine)
        return {"seconds": time.perf_counter() - t0, "status": out.status, "decided": out.stored,
                "message": out.message}
    raise SystemExit(f"unknown task {task}")


def fill_all(src: Path, out: Path) -> None:
    """Every school decided 通过 in 汇总 (covers every row), as an officer saves it (openpyxl)."""
    from datetime import date

    from openpyxl import load_workbook

    wb = load_workbook(src)
    ws = wb["汇总"]
    for row in ws.iter_rows():
        for cell in row:
            if cell.value == "审核人：":
                ws.cell(row=cell.row, column=cell.column + 1, value="王磊")
            if cell.value == "审核日期：":
                ws.cell(row=cell.row, column=cell.column + 1, value=date.today().isoformat())
    header = next(r for r in range(1, 30) if ws.cell(row=r, column=1).value == "学校代码")
    for r in range(header + 1, ws.max_row + 1):
        if ws.cell(row=r, column=1).value:
            ws.cell(row=r, column=3, value="通过")
    wb.save(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--schools", type=int, default=SCHOOLS)
    parser.add_argument("--per-school", type=int, default=TEACHERS_PER_SCHOOL)
    parser.add_argument("--child", choices=["issue", "fill", "apply"])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--file", type=Path)
    args = parser.parse_args()
    if args.child == "fill":
        t0 = time.perf_counter()
        fill_all(args.file, args.out)
        print(json.dumps({"seconds": time.perf_counter() - t0}))
        return 0
    if args.child:
        print(json.dumps(child(args.child, args.config, args.file), ensure_ascii=False))
        return 0
    seeded = seed(args.schools, args.per_school)
    results: dict[str, list[tuple[float, float]]] = {"issue": [], "apply": []}
    info: dict[str, Any] = {}
    for n in range(args.repeat):
        work = OUT / "run"
        if work.exists():
            shutil.rmtree(work)
        shutil.copytree(seeded.parent, work, ignore=shutil.ignore_patterns("drop", "outbox"))
        config = work / "config.toml"
        me = [sys.executable, str(Path(__file__).resolve())]
        issued = measure([*me, "--child", "issue", "--config", str(config)], env=ENV)
        assert issued.code == 0, issued.data
        filled = work / "filled" / "东湖区回执.xlsx"
        filled.parent.mkdir(parents=True, exist_ok=True)
        # In a child too: a Linux child's peak RSS counts from its parent's size at fork, so the parent
        # stays small (openpyxl needs about 2 GB to load and save this sheet).
        filling = measure([*me, "--child", "fill", "--file", issued.data["path"], "--out", str(filled)], env=ENV)
        assert filling.code == 0, filling.data
        applied = measure([*me, "--child", "apply", "--config", str(config), "--file", str(filled)], env=ENV)
        assert applied.code == 0 and applied.data["status"] == "applied", applied.data
        results["issue"].append((issued.data["seconds"], issued.rss_mb))
        results["apply"].append((applied.data["seconds"], applied.rss_mb))
        info = {"versions": issued.data["versions"], "sheet_mb": issued.data["bytes"] / 1e6,
                "decided": applied.data["decided"]}
        print(f"run {n + 1}: issue {issued.data['seconds']:.1f}s {issued.rss_mb:.0f} MB, "
              f"(fill with openpyxl {filling.data['seconds']:.0f}s {filling.rss_mb:.0f} MB, not a target), "
              f"apply {applied.data['seconds']:.1f}s {applied.rss_mb:.0f} MB", flush=True)
    title = (f"county of {args.schools} schools, {args.schools * args.per_school} teachers, "
             f"{info['versions']} versions pending ({info['sheet_mb']:.1f} MB sheet), {args.repeat} runs (median)")
    print(median_table(title, results, OUT / "results.md"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
