"""Benchmark: the school's report when the school added a column of formulas of its own.

    python bench/formula_column.py [--sizes 2000,5000] [--repeat 3] [--timeout 1800]

Makes an official `teachers` workbook of N teachers (基本信息 only, a few injected errors) and adds a
column 年龄 with a formula in every data row (=LEN(A2)-style, with the value Excel would have cached beside
it, as a saved Excel file has), plus the same workbook without that column. Then times, each in a child
process of its own, `read_workbook` + `Validator.validate` + `feedback.write_report` (the annotated
workbook). Generation is not timed; files are cached in bench/out/. Prints medians.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
OUT = BENCH_DIR / "out"
sys.path.insert(0, str(ROOT))

SCHOOL = ("2136010001", "南昌市东湖区第一小学")
SHEET = "基本信息"
MIX = [("id_checksum", 5), ("unknown_code", 5), ("missing_required", 5)]


def _paths(n: int) -> tuple[Path, Path]:
    return OUT / f"formulas_plain_{n}.xlsx", OUT / f"formulas_{n}.xlsx"


def generate(n: int) -> None:
    """formulas_plain_<n>.xlsx (the template filled) and formulas_<n>.xlsx (the same plus a formula column)."""
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    from processor import samples
    from processor.paths import CORE_RULES_DIR
    from processor.rulepack import load_pack
    from processor.workbook.extlst import sheet_parts

    OUT.mkdir(parents=True, exist_ok=True)
    plain, formulas = _paths(n)
    pack = load_pack(CORE_RULES_DIR)
    people = samples.generate_people(n, seed=7, school_code=SCHOOL[0], detail=False)
    samples.write_workbook(plain, people, pack=pack, unit_code=SCHOOL[0], unit_name=SCHOOL[1], mistakes=MIX,
                           seed=7, only=["basic"])
    wb = load_workbook(plain)
    ws = wb[SHEET]
    col = ws.max_column + 1
    letter = get_column_letter(col)
    ws.cell(row=1, column=col, value="年龄")
    for row in range(2, n + 2):
        ws.cell(row=row, column=col, value=f"=LEN(A{row})")
    wb.save(formulas)
    # openpyxl writes no cached value; put in the one Excel would have saved (the length of the name).
    with zipfile.ZipFile(formulas) as zf:
        parts = {name: zf.read(name) for name in zf.namelist()}
        part = sheet_parts(zf)[SHEET]
    lengths = {row: len(str(ws.cell(row=row, column=1).value or "")) for row in range(2, n + 2)}
    parts[part] = re.sub(rb"<f>LEN\(A(\d+)\)</f>(<v\s*/>|<v></v>)?",
                         lambda m: b"<f>LEN(A%s)</f><v>%d</v>" % (m.group(1), lengths[int(m.group(1))]), parts[part])
    with zipfile.ZipFile(formulas, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    print(f"{letter} column of {n} formulas → {formulas.name}", flush=True)


def measure(path: Path) -> float:
    """Seconds for read + validate + report of one file (run in a child process)."""
    import tempfile
    from datetime import UTC, date, datetime

    from processor.engine import Validator
    from processor.feedback import ReportContext, SheetStat, write_report
    from processor.paths import CORE_RULES_DIR
    from processor.readers import read_workbook
    from processor.rulepack import load_pack

    pack = load_pack(CORE_RULES_DIR)
    validator = Validator(pack, today=date(2026, 11, 1))
    t0 = time.perf_counter()
    data = read_workbook(path, pack)
    result = validator.validate(data, keep_rows=False)
    rows = sum(1 for _ in data.blocks[0].iter_rows())
    ctx = ReportContext(original_name=path.name, received_at=datetime.now(UTC), sha256="0" * 64,
                        unit_code=SCHOOL[0], unit_name=SCHOOL[1], rows=rows, sheets=[SheetStat(SHEET, rows)])
    with tempfile.TemporaryDirectory() as out:
        files = write_report(ctx, result.findings, outbox=Path(out), wb_data=data, source=path)
        assert files.annotated
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,5000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a run is given up")
    parser.add_argument("--child", nargs=2, metavar=("TASK", "ARG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        task, arg = args.child
        if task == "generate":
            generate(int(arg))
        else:
            print(f"{measure(Path(arg)):.3f}")
        return
    for n in (int(s) for s in args.sizes.split(",")):
        plain, formulas = _paths(n)
        if not formulas.exists():
            subprocess.run([sys.executable, __file__, "--child", "generate", str(n)], check=True)
        for label, path in (("without the column", plain), ("with a formula column", formulas)):
            times = []
            for _ in range(args.repeat):
                try:
                    done = subprocess.run([sys.executable, __file__, "--child", "measure", str(path)], check=True,
                                          capture_output=True, text=True, timeout=args.timeout)
                except subprocess.TimeoutExpired:
                    times.append(float("inf"))
                    break
                times.append(float(done.stdout.strip().splitlines()[-1]))
            shown = ", ".join(f"> {args.timeout:.0f} (stopped)" if t == float("inf") else f"{t:.1f}" for t in times)
            print(f"{n:>6} rows {label:<22} median {statistics.median(times):8.1f} s   runs: {shown}", flush=True)


if __name__ == "__main__":
    main()
