"""Benchmark: calamine read vs `tmis check` vs `tmis run --once` ingest vs a frictionless Table Schema.

    python bench/run.py [--sizes 10000,100000,1000000] [--repeat 3]

Generates basic-information workbooks (about 1 % of rows carry an injected error; generation is not
timed; files are cached in bench/out/), then measures each step in a child process of its own so that
its peak RSS can be read from the kernel (os.wait4). Writes bench/out/results.md and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
OUT = BENCH_DIR / "out"
sys.path.insert(0, str(ROOT))

SCHOOL = ("2136010001", "南昌市东湖区第一小学", "360102", "东湖区", "360100", "南昌市")
SHEET = "基本信息"
SEED = 20260101
FILE_FORMAT = "5"  # bump when the generated files change
# Sizes above this are made by replicating the generated workbook of REPLICATE_FROM rows (see replicate()).
REPLICATE_ABOVE = 200_000
REPLICATE_FROM = 20_000
# About 1 % of rows carry an error the engine must report; another ~0.7 % carry valid-but-messy input.
MIX = {
    "id_checksum": 0.002, "id_as_float": 0.002, "birth_mismatch": 0.001, "sex_mismatch": 0.001,
    "unknown_code": 0.001, "missing_required": 0.001, "school_before_work": 0.001, "month_ambiguous": 0.0005,
    "bianzhi_form": 0.0005, "date_serial": 0.002, "month_text": 0.002, "fullwidth": 0.001, "code_forms": 0.002,
}
# Big files need the ceilings raised (default max_file_mb = 50).
LIMIT_ENV = {"TMIS_INTAKE_MAX_FILE_MB": "1024", "TMIS_INTAKE_MAX_UNCOMPRESSED_MB": "8192",
             "TMIS_INTAKE_MAX_CELLS": "100000000", "TMIS_CHECK_MAX_FINDINGS": "100000"}
TARGETS = (
    "check of 100k rows within 3× the calamine read time",
    "check ≥ 10× faster than frictionless (rows/s)",
    "1M rows checked with peak RSS < 2 GB",
    "ingest (`tmis run --once`) within 2× the check time",
)


# ------------------------------------------------------------------------------------------ files


def _paths(n: int) -> tuple[Path, Path, Path]:
    return OUT / f"basic_{n}.xlsx", OUT / f"basic_{n}.csv", OUT / f"basic_{n}.json"


def ensure_files(n: int) -> dict[str, Any]:
    """The cached workbook (and its CSV export) of n rows, generated in a child process when missing or stale.

    Generating in a child keeps this process small: on Linux a child's peak RSS (ru_maxrss) starts from
    its parent's at fork, so a big parent would inflate every measurement."""
    xlsx, csv_path, side = _paths(n)
    if xlsx.exists() and side.exists():
        info = json.loads(side.read_text(encoding="utf-8"))
        if info.get("format") == FILE_FORMAT and info.get("rows") == n and (not info.get("csv") or csv_path.exists()):
            return info
    if n > REPLICATE_ABOVE and REPLICATE_FROM:
        ensure_files(REPLICATE_FROM)
        print(f"replicating {REPLICATE_FROM:,} rows to {n:,} → {xlsx.name} (not timed) …", flush=True)
        task = "replicate"
    else:
        print(f"generating {n:,} rows → {xlsx.name} (not timed) …", flush=True)
        task = "generate"
    subprocess.run([sys.executable, str(BENCH_DIR / "run.py"), "--child", task, "--limit", str(n)],
                   check=True, stdout=subprocess.DEVNULL)
    return json.loads(side.read_text(encoding="utf-8"))


def generate(n: int) -> dict[str, Any]:
    """Write basic_<n>.xlsx (about 1 % error rows), its CSV export and the sidecar JSON."""
    from bench.frictionless_schema import export_csv
    from processor import samples
    from processor.paths import CORE_RULES_DIR
    from processor.rulepack import load_pack

    OUT.mkdir(parents=True, exist_ok=True)
    xlsx, csv_path, side = _paths(n)
    pack = load_pack(CORE_RULES_DIR)
    t0 = time.perf_counter()
    school = samples.SchoolInfo(code=SCHOOL[0], name=SCHOOL[1], county=SCHOOL[3], county_code=SCHOOL[2],
                                city=SCHOOL[5])
    people = samples.generate_people(n, seed=SEED, school=school, detail=False)
    injected = samples.write_workbook(xlsx, people, pack=pack, kind="teachers", unit_code=SCHOOL[0],
                                      unit_name=SCHOOL[1], mistakes=MIX, seed=SEED, only=["basic"],
                                      code_style="code-name")
    export_csv(xlsx, SHEET, csv_path)
    info = {
        "format": FILE_FORMAT, "rows": n, "xlsx": str(xlsx), "csv": str(csv_path),
        "xlsx_mb": round(xlsx.stat().st_size / 2**20, 1), "csv_mb": round(csv_path.stat().st_size / 2**20, 1),
        "injected_errors": sum(1 for i in injected if i.rule and i.severity == "error"),
        "injected_warnings": sum(1 for i in injected if i.rule and i.severity == "warning"),
        "injected_harmless": sum(1 for i in injected if not i.rule),
        "error_rows": sorted({i.row for i in injected if i.rule and i.severity == "error"}),
        "harmless_rows": sorted({i.row for i in injected if not i.rule}),
        "generation_seconds": round(time.perf_counter() - t0, 1),
    }
    side.write_text(json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8")
    return info


def replicate(n: int) -> dict[str, Any]:
    """basic_<n>.xlsx made from basic_<REPLICATE_FROM>.xlsx by repeating its data rows, written as sheet XML.

    openpyxl writes about 15 000 cells/s, so generating a million rows with processor.samples takes half an
    hour; this takes about a minute. The 基本信息 sheet is rewritten the way Excel writes it (shared strings,
    a dimension); the other parts (template sheets, hidden metadata, styles) are copied. Every 18-character
    identity number gets a fresh sequence number (same area-valid prefix, birth date and sex digit) so that
    copies are not duplicates; a wrong check digit stays wrong. Numbers stay numbers, so an identity number
    typed as a number (an injected error) repeats across copies — those rows are error rows anyway.
    The injected error and valid-but-messy rows of the seed repeat with it; no CSV export is made."""
    import re
    import zipfile
    from xml.etree.ElementTree import iterparse
    from xml.sax.saxutils import escape

    from processor.samples import _area_valid_for, id_check_digit

    seed_xlsx, _, seed_side = _paths(REPLICATE_FROM)
    seed_info = json.loads(seed_side.read_text(encoding="utf-8"))
    xlsx, csv_path, side = _paths(n)
    ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    id_re = re.compile(r"^\d{17}[\dX]$")
    t0 = time.perf_counter()
    zin = zipfile.ZipFile(seed_xlsx)
    names = zin.namelist()
    rid = re.search(r'<sheet [^>]*name="' + SHEET + r'"[^>]*r:id="([^"]+)"', zin.read("xl/workbook.xml").decode("utf-8"))
    rels = zin.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    target = re.search(r'<Relationship [^>]*Target="([^"]+)"[^>]*Id="' + rid.group(1) + '"', rels) or re.search(
        r'<Relationship [^>]*Id="' + rid.group(1) + '"[^>]*Target="([^"]+)"', rels)
    sheet_part = target.group(1).lstrip("/") if target.group(1).startswith("/") else "xl/" + target.group(1)
    seed_sst: list[str] = []
    if "xl/sharedStrings.xml" in names:
        for _, el in iterparse(zin.open("xl/sharedStrings.xml")):
            if el.tag == ns + "si":
                seed_sst.append("".join(x.text or "" for x in el.iter(ns + "t")))
                el.clear()
    raw = zin.read(sheet_part).decode("utf-8")
    prefix = raw[: raw.index("<sheetData>")]
    tail = raw[raw.index("</sheetData>") + len("</sheetData>"):]
    rows: list[list[tuple[str, str | None, str | None, str | None]]] = []
    for _, el in iterparse(zin.open(sheet_part)):
        if el.tag == ns + "row":
            cells = []
            for c in el.findall(ns + "c"):
                col = re.match(r"[A-Z]+", c.get("r", "")).group(0)
                t, style = c.get("t"), c.get("s")
                v = c.find(ns + "v")
                if t == "inlineStr":
                    cells.append((col, style, "s", "".join(x.text or "" for x in c.iter(ns + "t"))))
                elif t == "s":
                    cells.append((col, style, "s", seed_sst[int(v.text)]))
                else:
                    cells.append((col, style, t, v.text if v is not None else None))
            rows.append(cells)
            el.clear()
    header, data = rows[0], rows[1:]
    id_col = next(col for col, _, _, v in header if v and "身份证件号" in v)
    areas = sorted({v[:6] for r in data for col, _, t, v in r if col == id_col and t == "s" and id_re.match(v or "")})
    valid_areas: dict[int, list[str]] = {}
    slots: dict[tuple[str, int], int] = {}
    sst: dict[str, int] = {}

    def si(text: str) -> int:
        i = sst.get(text)
        if i is None:
            i = sst[text] = len(sst)
        return i

    def new_id(old: str) -> str:
        birth, parity = old[6:14], int(old[14:17]) % 2
        j = slots.get((birth, parity), 0)
        slots[(birth, parity)] = j + 1
        year = int(birth[:4])
        if year not in valid_areas:
            valid_areas[year] = [a for a in areas if _area_valid_for(a, year)]
        cand = valid_areas[year] or [old[:6]]
        if j // 500 >= len(cand):
            raise SystemExit("replicate: out of identity-number sequence numbers")
        first17 = f"{cand[j // 500]}{birth}{parity + 2 * (j % 500):03d}"
        digit = id_check_digit(first17)
        if old[17] != id_check_digit(old[:17]):  # an injected bad check digit stays bad
            digit = "0" if digit != "0" else "1"
        return first17 + digit

    def row_xml(r: int, cells: list[tuple[str, str | None, str | None, str | None]], fresh: bool) -> str:
        parts = [f'<row r="{r}">']
        for col, style, t, v in cells:
            sa = f' s="{style}"' if style else ""
            if t == "s":
                if fresh and col == id_col and id_re.match(v or ""):
                    v = new_id(v)
                parts.append(f'<c r="{col}{r}"{sa} t="s"><v>{si(v or "")}</v></c>')
            elif v is None:
                parts.append(f'<c r="{col}{r}"{sa}/>')
            else:
                ta = f' t="{t}"' if t else ""
                parts.append(f'<c r="{col}{r}"{sa}{ta}><v>{escape(v)}</v></c>')
        parts.append("</row>")
        return "".join(parts)

    stamp = (2026, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(xlsx, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename in (sheet_part, "xl/sharedStrings.xml"):
                continue
            body = zin.read(info.filename)
            if info.filename == "[Content_Types].xml" and b"sharedStrings" not in body:
                body = body.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
            if info.filename == "xl/_rels/workbook.xml.rels" and b"sharedStrings" not in body:
                body = body.replace(b"</Relationships>", b'<Relationship Id="rIdSST" Type="http://schemas.openxmlformats'
                                    b'.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
                                    b"</Relationships>")
            zout.writestr(info.filename, body, zipfile.ZIP_DEFLATED)
        part = zipfile.ZipInfo(sheet_part, stamp)
        part.compress_type = zipfile.ZIP_DEFLATED
        with zout.open(part, "w", force_zip64=True) as fh:
            head = re.sub(r"<dimension [^>]*/>", "", prefix)
            head = head.replace("<sheetViews>", f'<dimension ref="A1:{header[-1][0]}{n + 1}"/><sheetViews>', 1)
            fh.write(head.encode("utf-8") + b"<sheetData>" + row_xml(1, header, False).encode("utf-8"))
            buf = []
            for i in range(n):
                buf.append(row_xml(i + 2, data[i % len(data)], True))
                if len(buf) >= 2000:
                    fh.write("".join(buf).encode("utf-8"))
                    buf = []
            fh.write("".join(buf).encode("utf-8") + b"</sheetData>" + tail.encode("utf-8"))
        part = zipfile.ZipInfo("xl/sharedStrings.xml", stamp)
        part.compress_type = zipfile.ZIP_DEFLATED
        with zout.open(part, "w", force_zip64=True) as fh:
            fh.write(f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="http://schemas.'
                     f'openxmlformats.org/spreadsheetml/2006/main" count="{len(sst)}" uniqueCount="{len(sst)}">'
                     .encode())
            strings = list(sst)
            for k in range(0, len(strings), 5000):
                fh.write("".join(f"<si><t>{escape(x)}</t></si>" if x == x.strip() else
                                 f'<si><t xml:space="preserve">{escape(x)}</t></si>' for x in strings[k:k + 5000])
                         .encode("utf-8"))
            fh.write(b"</sst>")
    m = len(data)

    def spread(seed_rows: list[int]) -> list[int]:  # sheet rows of the seed → sheet rows of the copy
        return sorted(r + k * m for r in seed_rows for k in range((n - (r - 2)) // m + (1 if (n - (r - 2)) % m else 0)))

    error_rows, harmless_rows = spread(seed_info["error_rows"]), spread(seed_info["harmless_rows"])
    scale = n / m
    info = {
        "format": FILE_FORMAT, "rows": n, "xlsx": str(xlsx), "csv": None, "replicated_from": m,
        "xlsx_mb": round(xlsx.stat().st_size / 2**20, 1), "csv_mb": None,
        "injected_errors": round(seed_info["injected_errors"] * scale),
        "injected_warnings": round(seed_info["injected_warnings"] * scale),
        "injected_harmless": round(seed_info["injected_harmless"] * scale),
        "error_rows": error_rows, "harmless_rows": harmless_rows,
        "generation_seconds": round(time.perf_counter() - t0, 1),
    }
    side.write_text(json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8")
    return {k: v for k, v in info.items() if not k.endswith("_rows")}


# ------------------------------------------------------------------------------------------ child tasks


def child(task: str, path: Path, limit: int | None, config_path: Path | None) -> dict[str, Any]:
    """Run one measurement in this (child) process; returns what to print as JSON."""
    if task == "generate":
        return generate(int(limit or 0))
    if task == "replicate":
        return replicate(int(limit or 0))
    if task == "phases":
        return phases(path, config_path)
    if task == "calamine":
        from python_calamine import CalamineWorkbook

        t0 = time.perf_counter()
        wb = CalamineWorkbook.from_path(str(path))
        rows = sum(1 for _ in wb.get_sheet_by_name(SHEET).iter_rows()) - 1
        return {"seconds": time.perf_counter() - t0, "rows": rows}
    if task == "check":
        from processor.config import load_config
        from processor.engine import Validator
        from processor.readers import Limits, read_workbook
        from processor.rulepack.loader import load_pack_from_config

        config = load_config(config_path, required=True)
        t0 = time.perf_counter()
        pack = load_pack_from_config(config)
        validator = Validator(pack, today=config.today, max_findings=int(config.get("check", "max_findings")))
        t1 = time.perf_counter()
        wb = read_workbook(path, pack, Limits.from_config(config))
        result = validator.validate(wb, keep_rows=False)
        t2 = time.perf_counter()
        return {"seconds": t2 - t1, "setup_seconds": t1 - t0, "rows": result.total_rows,
                "errors": result.errors, "warnings": result.warnings}
    if task in ("frictionless-xlsx", "frictionless-csv"):
        from bench.frictionless_schema import validate
        from processor.paths import CORE_RULES_DIR
        from processor.rulepack import load_pack

        pack = load_pack(CORE_RULES_DIR)
        t0 = time.perf_counter()
        out = validate(path, pack, sheet_name=SHEET, limit_rows=limit)
        return {"seconds": time.perf_counter() - t0, **out}
    raise SystemExit(f"unknown task {task}")


def phases(path: Path, config_path: Path | None) -> dict[str, Any]:
    """`tmis run --once` on one file in this process, with timers around its phases.

    processor.pipeline.process_file runs as the service runs it (the file claimed into processing/);
    read_workbook, Validator.validate, ingest, save_findings and write_report are wrapped with timers.
    *store* is everything that is neither reading, validating nor the school's report: the submission
    row, ingest (record versions, teachers), the findings, the audit entry, the commit and the archive move."""
    import processor.pipeline as pipeline
    import processor.readers as readers
    from processor.config import load_config
    from processor.intake import Intake

    config = load_config(config_path, required=True)
    intake = Intake(config)  # opens the store and compiles the pack: not timed, as in a running service
    times: dict[str, float] = {}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                times[name] = times.get(name, 0.0) + time.perf_counter() - t
        return wrapper

    readers.read_workbook = timed("read", readers.read_workbook)  # imported by name inside the pipeline
    make_validator = pipeline._validator

    def validator(*a: Any, **k: Any) -> Any:
        v = make_validator(*a, **k)
        v.validate = timed("validate", v.validate)
        return v

    pipeline._validator = validator
    pipeline.ingest = timed("ingest", pipeline.ingest)
    pipeline.save_findings = timed("save_findings", pipeline.save_findings)
    pipeline.write_report = timed("report", pipeline.write_report)
    claimed = intake.dirs.processing / path.name
    shutil.copyfile(path, claimed)
    t0 = time.perf_counter()
    out = pipeline.process_file(claimed, config, intake.pack, intake.engine, original_name=path.name)
    total = time.perf_counter() - t0
    rest = total - times.get("read", 0) - times.get("validate", 0) - times.get("report", 0)
    return {"seconds": total, "status": out.status, "stored": out.stored, "errors": out.errors,
            "read": times.get("read", 0.0), "validate": times.get("validate", 0.0), "store": rest,
            "ingest": times.get("ingest", 0.0), "save_findings": times.get("save_findings", 0.0),
            "report": times.get("report", 0.0),
            "report_file": out.report_path.suffix if out.report_path else None}


# ------------------------------------------------------------------------------------------ measuring


@dataclass
class Run:
    wall: float
    rss_mb: float
    code: int
    data: dict[str, Any] = field(default_factory=dict)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in kB; PSS shares each page among the processes that map it."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def measure(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run a command as a child; wall time and the child's own peak RSS (os.wait4), its stdout as JSON."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env={**os.environ, **(env or {})},
                                cwd=str(cwd) if cwd else None)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
        err.seek(0)
        errtext = err.read().decode("utf-8", "replace")
    data: dict[str, Any] = {}
    for line in reversed(text.strip().splitlines()):
        try:
            data = json.loads(line)
            break
        except json.JSONDecodeError:
            continue
    if not data and text.strip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = {}
    if proc.returncode != 0:
        data["stderr"] = errtext[-2000:]
    return Run(wall=wall, rss_mb=usage.ru_maxrss / 1024, code=proc.returncode, data=data)


def child_cmd(task: str, path: Path, *, limit: int | None = None, config: Path | None = None) -> list[str]:
    cmd = [sys.executable, str(BENCH_DIR / "run.py"), "--child", task, "--file", str(path)]
    if limit:
        cmd += ["--limit", str(limit)]
    if config:
        cmd += ["--config", str(config)]
    return cmd


def median_table(title: str, results: dict[str, list[tuple[float, float]]], out: Path) -> str:
    """A markdown table of each step's median seconds and peak RSS over its runs, written to ``out``."""
    lines = [title, "| step | seconds | peak RSS |", "| --- | ---: | ---: |"]
    for step, runs in results.items():
        lines.append(f"| {step} | {statistics.median(r[0] for r in runs):.1f} | "
                     f"{statistics.median(r[1] for r in runs):.0f} MB |")
    text = "\n".join(lines)
    out.write_text(text + "\n", encoding="utf-8")
    return text


def tmis_exe() -> str:
    exe = Path(sys.executable).with_name("tmis")
    return str(exe) if exe.exists() else "tmis"


def make_instance(base: Path) -> Path:
    """A fresh instance (tmis init + the school's units), not timed; returns its config.toml."""
    if base.exists():
        shutil.rmtree(base)
    subprocess.run([tmis_exe(), "init", str(base)], check=True, capture_output=True)
    units = base / "units.csv"
    units.write_text("代码,名称,上级代码\n360000,江西省,\n360100,南昌市,360000\n360102,东湖区,360100\n"
                     f"{SCHOOL[0]},{SCHOOL[1]},360102\n", encoding="utf-8")
    subprocess.run([tmis_exe(), "units", "import", str(units), "--config", str(base / "config.toml")],
                   check=True, capture_output=True, env={**os.environ, **LIMIT_ENV})
    return base / "config.toml"


# ------------------------------------------------------------------------------------------ report


@dataclass
class Row:
    size: int
    name: str
    runs: list[Run]
    rows_done: int
    note: str = ""
    extrapolate: float = 1.0  # full-size time = measured × extrapolate
    inner: bool = True  # time measured inside the child (else the child's wall time)

    @property
    def seconds(self) -> float:
        times = [r.data.get("seconds", r.wall) if self.inner else r.wall for r in self.runs]
        return statistics.median(times) * self.extrapolate

    @property
    def wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def rss(self) -> float:
        return max(r.rss_mb for r in self.runs)

    @property
    def rate(self) -> float:
        return self.size / self.seconds if self.seconds else 0.0


def fmt_s(x: float) -> str:
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def render(rows: list[Row], files: dict[int, dict[str, Any]], args: Any) -> str:
    lines = ["# tmis benchmark", ""]
    lines.append(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                 f"{platform.system()} {platform.release()}. Repeats: {args.repeat} (medians; frictionless "
                 f"{args.frictionless_repeat}). Date: {time.strftime('%Y-%m-%d %H:%M')}.")
    lines.append("")
    lines.append("| rows | file | injected errors / warnings / harmless | generation (not timed) |")
    lines.append("| ---: | --- | --- | ---: |")
    for n, info in sorted(files.items()):
        made = f"; replicated from {info['replicated_from']:,} rows" if info.get("replicated_from") else ""
        csv_note = f"CSV {info['csv_mb']} MB" if info.get("csv_mb") is not None else "no CSV"
        lines.append(f"| {n:,} | {Path(info['xlsx']).name} ({info['xlsx_mb']} MB; {csv_note}{made}) | "
                     f"{info['injected_errors']} / {info['injected_warnings']} / {info['injected_harmless']} | "
                     f"{info['generation_seconds']} s |")
    lines.append("")
    lines.append("| rows | measurement | time (s, median) | rows/s | peak RSS (MB) | notes |")
    lines.append("| ---: | --- | ---: | ---: | ---: | --- |")
    for r in rows:
        lines.append(f"| {r.size:,} | {r.name} | {fmt_s(r.seconds)} | {r.rate:,.0f} | {r.rss:,.0f} | {r.note} |")
    lines.append("")
    lines.append("## Targets")
    lines.append("")
    for n in sorted(files):
        get = {r.name: r for r in rows if r.size == n}
        cal, chk, ing = get.get("calamine read"), get.get("tmis check (in-process)"), get.get("tmis run --once (ingest)")
        fr = [r for name, r in get.items() if name.startswith("frictionless")]
        parts = []
        if cal and chk:
            parts.append(f"check / calamine = {chk.seconds / cal.seconds:.1f}× (target ≤ 3×)")
        if chk and fr:
            ratios = ", ".join(f"{chk.rate / r.rate:.1f}× vs {r.name}" for r in fr)
            parts.append(f"check speed / frictionless = {ratios} (target ≥ 10×)")
        if chk and ing:
            cli = get.get("tmis check (CLI)")
            base = cli.seconds if cli else chk.seconds
            parts.append(f"ingest / check{' CLI' if cli else ''} = {ing.seconds / base:.1f}× (target ≤ 2×)")
        store, ph = get.get("ingest (store only)"), get.get("run --once phases (in-process)")
        if chk and store and ph:
            parts.append(f"in-process: store only / check = {store.seconds / chk.seconds:.2f}×, whole pipeline / "
                         f"check = {ph.seconds / chk.seconds:.1f}×")
        if chk:
            cli = get.get("tmis check (CLI)")
            rss = max(chk.rss, cli.rss if cli else 0)
            parts.append(f"check peak RSS {rss:,.0f} MB" + (" (target < 2 GB)" if n >= 1_000_000 else ""))
        lines.append(f"- **{n:,} rows**: " + "; ".join(parts))
    lines.append("")
    lines.append("## How it is measured")
    lines.append("")
    lines.extend([
        "- Every measurement runs in a child process of its own; peak RSS is the child's `ru_maxrss` "
        "from `os.wait4`, so one step's memory never hides in another's.",
        "- *calamine read*: python-calamine opens the workbook and iterates every row of 基本信息 "
        "(time inside the child, interpreter start excluded).",
        "- *tmis check (in-process)*: `read_workbook` + `Validator.validate` — what `tmis check` does, "
        "timed inside the child; loading the rule pack and compiling the rules is excluded (`setup` in "
        "the notes). *tmis check (CLI)*: the `tmis check FILE --format json` command, wall time "
        "including interpreter start, imports and JSON output.",
        "- *tmis run --once (ingest)*: a fresh SQLite instance (`tmis init` + `tmis units import`, not "
        "timed), the file copied into inbox/, then the `tmis run --once` command, wall time: read, validate, "
        "store every valid row, write the school's report, archive.",
        "- *run --once phases (in-process)*: `processor.pipeline.process_file` on a fresh SQLite instance "
        "in a child, with timers wrapped around read_workbook, Validator.validate, ingest, save_findings and "
        "write_report; *ingest (store only)* is the pipeline minus reading, validating and the school's report "
        "(submission row, record versions, findings, audit, commit, archive). Files of up to 20 000 rows get "
        "the school's own workbook back annotated with openpyxl; bigger ones a findings list.",
        "- Sizes above 200 000 rows are made by replicating the 20 000-row workbook as sheet XML (fresh "
        "identity numbers, the same injected mistakes); there is no CSV export of them.",
        "- *frictionless*: the same checks as far as a Table Schema can say them "
        "(bench/frictionless_schema.py: required, enum of every accepted code spelling, identity-number "
        "and YYYY-MM patterns, dates, lengths). It cannot check GB 11643 checksums, birth date and sex "
        "against the identity number, date order, conditional requirements or duplicates, so it does "
        "*less* work than tmis. It reads the xlsx with its own openpyxl-based loader, and separately a "
        "UTF-8 CSV export of the same sheet (export not timed). Where a row cap applies, the time is "
        "measured on the first N rows and extrapolated linearly to the full size (noted in the row).",
        "- The machine is shared with other work; treat differences under ~15 % as noise.",
    ])
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,100000,1000000", help="row counts, comma-separated")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    p.add_argument("--frictionless-repeat", type=int, default=1, help="runs per frictionless measurement")
    p.add_argument("--frictionless-cap-xlsx", type=int, default=20_000,
                   help="rows frictionless reads from the xlsx (extrapolated above)")
    p.add_argument("--frictionless-cap-csv", type=int, default=200_000,
                   help="rows frictionless reads from the CSV (extrapolated above)")
    p.add_argument("--skip", default="", help="measurements to skip: calamine,check,cli,ingest,phases,frictionless")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    p.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.file, args.limit, args.config), ensure_ascii=False))
        return 0
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    files = {n: ensure_files(n) for n in sizes}
    rows: list[Row] = []
    work = Path(tempfile.mkdtemp(prefix="tmis-bench-"))
    try:
        check_cfg = make_instance(work / "check")
        for n in sizes:
            info = files[n]
            xlsx, csv_path = Path(info["xlsx"]), Path(info["csv"]) if info.get("csv") else None

            def rep(cmd: list[str], times: int = args.repeat, **kw: Any) -> list[Run]:
                runs = []
                for _ in range(times):
                    run = measure(cmd, **kw)
                    if run.code not in (0, 1):
                        raise SystemExit(f"{' '.join(cmd)} failed ({run.code}): {run.data.get('stderr', '')}")
                    runs.append(run)
                return runs

            if "calamine" not in skip:
                runs = rep(child_cmd("calamine", xlsx))
                rows.append(Row(n, "calamine read", runs, runs[0].data["rows"]))
                print(f"{n:>9,} calamine   {rows[-1].seconds:8.2f} s  {rows[-1].rss:7.0f} MB", flush=True)
            if "check" not in skip:
                runs = rep(child_cmd("check", xlsx, config=check_cfg), env=LIMIT_ENV)
                d = runs[0].data
                rows.append(Row(n, "tmis check (in-process)", runs, d["rows"],
                                note=f"{d['errors']} errors ({len(info['error_rows'])} injected error rows, "
                                     f"{len(info['harmless_rows'])} valid-but-messy rows), {d['warnings']} "
                                     f"warnings; setup {statistics.median(r.data['setup_seconds'] for r in runs):.2f} s"))
                print(f"{n:>9,} check      {rows[-1].seconds:8.2f} s  {rows[-1].rss:7.0f} MB", flush=True)
            if "cli" not in skip:
                runs = rep([tmis_exe(), "check", str(xlsx), "--format", "json", "--config", str(check_cfg)],
                           env=LIMIT_ENV)
                rows.append(Row(n, "tmis check (CLI)", runs, n, inner=False,
                                note=f"exit {runs[0].code}, {runs[0].data.get('errors', '?')} errors"))
                print(f"{n:>9,} check CLI  {rows[-1].seconds:8.2f} s  {rows[-1].rss:7.0f} MB", flush=True)
            if "ingest" not in skip:
                runs = []
                for k in range(args.repeat):
                    cfg = make_instance(work / f"ingest{k}")
                    shutil.copyfile(xlsx, cfg.parent / "inbox" / xlsx.name)
                    old = time.time() - 3600  # an old mtime: --once takes the file at once
                    os.utime(cfg.parent / "inbox" / xlsx.name, (old, old))
                    run = measure([tmis_exe(), "run", "--once", "--config", str(cfg)], env=LIMIT_ENV)
                    if run.code != 0:
                        raise SystemExit(f"tmis run --once failed: {run.data.get('stderr', '')}")
                    run.data["stored"] = _stored_rows(cfg)
                    runs.append(run)
                    shutil.rmtree(cfg.parent, ignore_errors=True)
                rows.append(Row(n, "tmis run --once (ingest)", runs, n, inner=False,
                                note=f"{runs[0].data['stored']} record versions stored"))
                print(f"{n:>9,} ingest     {rows[-1].seconds:8.2f} s  {rows[-1].rss:7.0f} MB", flush=True)
            if "phases" not in skip:
                runs = []
                for k in range(args.repeat):
                    cfg = make_instance(work / f"phases{k}")
                    run = measure(child_cmd("phases", xlsx, config=cfg), env=LIMIT_ENV)
                    if run.code != 0 or "store" not in run.data:
                        raise SystemExit(f"phases failed: {run.data.get('stderr', '')}")
                    runs.append(run)
                    shutil.rmtree(cfg.parent, ignore_errors=True)

                def med(key: str, runs: list[Run] = runs) -> float:
                    return statistics.median(r.data[key] for r in runs)

                rows.append(Row(n, "run --once phases (in-process)", runs, n, note=(
                    f"read {med('read'):.2f} s + validate {med('validate'):.2f} s + store {med('store'):.2f} s "
                    f"+ school's report {med('report'):.2f} s ({runs[0].data['report_file']}); "
                    f"{runs[0].data['stored']} rows stored")))
                print(f"{n:>9,} phases     {rows[-1].seconds:8.2f} s  {rows[-1].rss:7.0f} MB  {rows[-1].note}", flush=True)
                store = [Run(r.wall, r.rss_mb, r.code, {**r.data, "seconds": r.data["store"]}) for r in runs]
                rows.append(Row(n, "ingest (store only)", store, n, note=(
                    f"of the phases above: submission, ingest() {med('ingest'):.2f} s, findings "
                    f"{med('save_findings'):.2f} s, audit, commit, archive; RSS is the whole pipeline's")))
            if "frictionless" not in skip:
                for task, path, cap in (("frictionless-xlsx", xlsx, args.frictionless_cap_xlsx),
                                        ("frictionless-csv", csv_path, args.frictionless_cap_csv)):
                    if path is None:
                        print(f"{n:>9,} {task:<18} skipped: no CSV export of a replicated file", flush=True)
                        continue
                    limit = cap if cap and n > cap else None
                    runs = rep(child_cmd(task, path, limit=limit), times=args.frictionless_repeat)
                    done = limit or n
                    flagged = set(runs[0].data.get("error_rows", []))
                    want = {r for r in info["error_rows"] if r <= done + 1}
                    messy = {r for r in info["harmless_rows"] if r <= done + 1}
                    note = (f"{runs[0].data.get('errors', '?')} errors in {done:,} rows: caught "
                            f"{len(want & flagged)} of {len(want)} injected error rows, flagged "
                            f"{len(messy & flagged)} of {len(messy)} valid-but-messy rows")
                    if limit:
                        note += f"; measured on the first {limit:,} rows, time extrapolated ×{n / limit:g}"
                    label = "frictionless (xlsx, own loader)" if task.endswith("xlsx") else "frictionless (CSV export)"
                    rows.append(Row(n, label, runs, done, note=note, extrapolate=n / done))
                    print(f"{n:>9,} {task:<18} {rows[-1].seconds:8.2f} s  {rows[-1].rss:7.0f} MB", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = _merge_previous(rows)
    _save_rows(rows)
    for size in {r.size for r in rows} - set(files):
        files[size] = json.loads(_paths(size)[2].read_text(encoding="utf-8"))
    text = render(rows, files, args)
    (OUT / "results.md").write_text(text, encoding="utf-8")
    print()
    print(text)
    return 0


def _save_rows(rows: list[Row]) -> None:
    data = [{"size": r.size, "name": r.name, "rows_done": r.rows_done, "note": r.note, "extrapolate": r.extrapolate,
             "inner": r.inner, "runs": [{"wall": x.wall, "rss_mb": x.rss_mb, "code": x.code,
                                         "data": {k: v for k, v in x.data.items() if k != "error_rows"}}
                                        for x in r.runs]} for r in rows]
    (OUT / "results.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def _merge_previous(rows: list[Row]) -> list[Row]:
    """Measurements of this run, plus the previous runs' for (size, measurement) pairs not measured now
    (a run with --skip or other --sizes re-measures some steps and keeps the others)."""
    path = OUT / "results.json"
    if not path.exists():
        return rows
    done = {(r.size, r.name) for r in rows}
    kept = list(rows)
    for d in json.loads(path.read_text(encoding="utf-8")):
        if (d["size"], d["name"]) not in done and _paths(d["size"])[2].exists():
            runs = [Run(x["wall"], x["rss_mb"], x["code"], x["data"]) for x in d["runs"]]
            kept.append(Row(d["size"], d["name"], runs, d["rows_done"], d["note"], d["extrapolate"], d["inner"]))
    order = ["calamine read", "tmis check (in-process)", "tmis check (CLI)", "tmis run --once (ingest)",
             "run --once phases (in-process)", "ingest (store only)",
             "frictionless (xlsx, own loader)", "frictionless (CSV export)"]
    return sorted(kept, key=lambda r: (r.size, order.index(r.name) if r.name in order else 99))


def _stored_rows(config_path: Path) -> int:
    """Record versions in the instance's database after the run."""
    import sqlite3

    db = config_path.parent / "var" / "tmis.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        try:
            return int(con.execute("select count(*) from record_versions").fetchone()[0])
        except sqlite3.Error:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
