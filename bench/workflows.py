"""Benchmark of the workflows: a school of 500 teachers files one 变动申请表 with a row for each (长期离岗), and its
county takes the one confirmation sheet back fully decided: time and peak RSS of both through the pipeline.

    .venv/bin/python bench/workflows.py --repeat 3

Setup (not timed, cached in bench/out/workflows/seed-N/): a fresh instance, a county with one school and its
officers, the school's file of N sample teachers sent through processor.pipeline.process_file and passed by
the county on its return sheet (so the teachers are active). Each repeat copies the seeded instance, then measures in
child processes (peak RSS from os.wait4):
  1. file   — process_file on the filled form: signature, filer, every cell, each row against the store,
              N requests opened (steps, audit), the county's confirmation sheet written;
  2. fill   — not timed: every row 同意 (openpyxl, as an officer's spreadsheet would);
  3. confirm — process_file on the filled sheet: verify every listed row, N steps recorded and applied
              (status and history), receipt and notices.
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

OUT = BENCH_DIR / "out" / "workflows"
COUNTY, SCHOOL = ("360102", "东湖区"), ("3601020001", "东湖区第一中学")
KEY = "bench-signing-key-0123456789abcdef"
ENV = {"TMIS_SIGNING_KEY": KEY}


def _units_workbook(path: Path) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "单位"
    ws.append(["代码", "名称", "上级代码"])
    ws.append(["360000", "江西省", ""])
    ws.append(["360100", "南昌市", "360000"])
    ws.append([COUNTY[0], COUNTY[1], "360100"])
    ws.append([SCHOOL[0], SCHOOL[1], COUNTY[0]])
    people = wb.create_sheet("人员")
    people.append(["单位代码", "姓名", "角色", "邮箱", "手机"])
    people.append([COUNTY[0], "王磊", "信息管理员", "wanglei@dhq.edu.cn", ""])
    people.append([SCHOOL[0], "张伟", "信息管理员", "zhangwei@dhyz.edu.cn", ""])
    wb.save(path)
    return path


def seed(teachers: int) -> Path:
    """The seeded instance (cached): config.toml path."""
    base = OUT / f"seed-{teachers}"
    config = base / "config.toml"
    if (base / "seeded").exists():
        return config
    if base.exists():
        shutil.rmtree(base)
    subprocess.run([tmis_exe(), "init", str(base)], check=True, capture_output=True)
    subprocess.run([tmis_exe(), "units", "import", str(_units_workbook(base / "units.xlsx")), "--config", str(config)],
                   check=True, capture_output=True)
    os.environ.update(ENV)
    from processor import samples
    from processor.config import load_config
    from processor.pipeline import process_file
    from processor.rulepack.loader import load_pack_from_config
    from processor.store.db import make_engine
    from processor.workflows import forms, registry
    from processor.workflows.demo import fill_form

    cfg = load_config(config, required=True)
    pack = load_pack_from_config(cfg)
    engine = make_engine(cfg.database_url)
    persons = samples.generate_people(teachers, seed=7, school=samples.SchoolInfo(code=SCHOOL[0], name=SCHOOL[1]))
    path = base / "drop" / "teachers.xlsx"
    samples.write_workbook(path, persons, pack=pack, kind="teachers", unit_code=SCHOOL[0], unit_name=SCHOOL[1],
                           mistakes=[], seed=1)
    out = process_file(path, cfg, pack, engine)
    print(f"seed: {out.status} {out.stored} rows", flush=True)
    from review import fill_all

    from processor.review.sheet import issue_sheets

    (sheet,) = issue_sheets(engine, cfg, pack, unit=COUNTY[0])
    fill_all(sheet.path, base / "return_sheet.xlsx")
    print(f"seed: return sheet {process_file(base / 'return_sheet.xlsx', cfg, pack, engine).status}", flush=True)
    form = forms.write_form(base / "form.xlsx", registry.get("status-change"), SCHOOL[0], SCHOOL[1], pack=pack,
                            instance="bench")
    rows = [{"身份证件号": p.id_number, "姓名": p.name, "变动类型": "长期离岗", "变动日期": "2026-12-01",
             "变动原因": "因病长期休养"} for p in persons]
    fill_form(form, base / "变动申请_全校.xlsx", rows, filer="张伟")
    engine.dispose()
    (base / "seeded").write_text("ok", encoding="utf-8")
    return config


def child(task: str, config_path: Path, file: Path) -> dict[str, Any]:
    os.environ.update(ENV)
    from processor.config import load_config
    from processor.pipeline import process_file
    from processor.rulepack.loader import load_pack_from_config
    from processor.store.db import make_engine

    cfg = load_config(config_path, required=True)
    pack = load_pack_from_config(cfg)
    engine = make_engine(cfg.database_url)
    t0 = time.perf_counter()
    out = process_file(file, cfg, pack, engine)
    seconds = time.perf_counter() - t0
    data = json.loads(Path(out.report_path).with_suffix(".json").read_text(encoding="utf-8"))
    sheet = next(iter(data.get("issued") or []), {}).get("path", "")
    return {"seconds": seconds, "status": out.status, "rows": out.rows, "sheet": sheet,
            "applied": len(data.get("applied") or [])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--teachers", type=int, default=500)
    parser.add_argument("--child", choices=["run", "fill"])
    parser.add_argument("--config", type=Path)
    parser.add_argument("--file", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child == "fill":
        from processor.workflows.demo import fill_sheet

        fill_sheet(args.file, args.out, confirmer="王磊", every=("同意", ""))
        print("{}")
        return 0
    if args.child:
        print(json.dumps(child(args.child, args.config, args.file), ensure_ascii=False))
        return 0
    seeded = seed(args.teachers)
    results: dict[str, list[tuple[float, float]]] = {"file": [], "confirm": []}
    me = [sys.executable, str(Path(__file__).resolve())]
    for n in range(args.repeat):
        work = OUT / "run"
        if work.exists():
            shutil.rmtree(work)
        shutil.copytree(seeded.parent, work, ignore=shutil.ignore_patterns("drop", "outbox"))
        config = work / "config.toml"
        filed = measure([*me, "--child", "run", "--config", str(config), "--file", str(work / "变动申请_全校.xlsx")],
                        env=ENV)
        assert filed.code == 0 and filed.data["status"] == "accepted", filed.data
        back = work / "filled_sheet.xlsx"
        filling = measure([*me, "--child", "fill", "--file", filed.data["sheet"], "--out", str(back)], env=ENV)
        assert filling.code == 0, filling.data
        confirmed = measure([*me, "--child", "run", "--config", str(config), "--file", str(back)], env=ENV)
        assert confirmed.code == 0 and confirmed.data["applied"] == args.teachers, confirmed.data
        results["file"].append((filed.data["seconds"], filed.rss_mb))
        results["confirm"].append((confirmed.data["seconds"], confirmed.rss_mb))
        print(f"run {n + 1}: file {filed.data['seconds']:.1f}s {filed.rss_mb:.0f} MB, "
              f"confirm {confirmed.data['seconds']:.1f}s {confirmed.rss_mb:.0f} MB", flush=True)
    title = f"one form of {args.teachers} 变动申请 rows, one confirmation sheet, {args.repeat} runs (median)"
    print(median_table(title, results, OUT / "results.md"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
