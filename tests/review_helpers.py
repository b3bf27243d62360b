"""Helpers of the review-chain tests: an instance whose county, city and province review, sheets filled as
an officer fills them (openpyxl), files sent through the real pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import JIANGXI_OFFICERS, JIANGXI_UNITS, write_unit_workbook
from openpyxl import load_workbook
from pipeline_helpers import SCHOOL_A, Env, make_env, people, workbook

from processor.pipeline import process_file
from processor.review.sheet import DECISION, FIELDS, REASON, SCHOOL_CODE, SUMMARY, issue_sheets

KEY = "test-signing-key-0123456789abcdef"
CITY_OFFICER = ("360100", "赵敏", "信息管理员", "zhaomin@ncjy.gov.cn", "13907910009")
COUNTY_VIEWER = ("360102", "孙丽", "信息查询员", "sunli@dhq.edu.cn", "")
COUNTY_SYSADMIN = ("360102", "周强", "系统管理员", "zhouq@dhq.edu.cn", "")
OTHER_COUNTY_OFFICER = ("360103", "钱伟", "信息管理员", "qianw@xhq.edu.cn", "")
OFFICERS = [*JIANGXI_OFFICERS, CITY_OFFICER, COUNTY_VIEWER, COUNTY_SYSADMIN, OTHER_COUNTY_OFFICER]
LEVELS = "county,city,province"


def review_env(config_path: Path, tmp_path: Path, levels: str = LEVELS) -> Env:
    units = write_unit_workbook(tmp_path / "单位_审核.xlsx", JIANGXI_UNITS, OFFICERS)
    env = make_env(config_path, units)
    return env.reload(TMIS_REVIEW_LEVELS=levels)


def send(env: Env, path: Path, **kw: Any) -> Any:
    """Process one file through the pipeline, as `tmis run --once` does."""
    return process_file(path, env.config, env.pack, env.engine, **kw)


def school_file(env: Env, tmp_path: Path, n: int = 3, seed: int = 5, school: tuple[str, str] = SCHOOL_A,
                name: str = "教师信息.xlsx") -> tuple[Path, list[Any]]:
    persons = people(n, seed=seed, school=school)
    path = tmp_path / "drop" / f"{school[0]}_{name}"
    workbook(env, path, persons, school=school)
    return path, persons


def issue(env: Env, unit: str | None = None) -> list[Any]:
    return issue_sheets(env.engine, env.config, env.pack, unit=unit)


def columns(ws: Any, header_row: int = 1) -> dict[str, int]:
    return {str(c.value): c.column for c in ws[header_row] if c.value is not None}


def fill(src: Path, out: Path, *, reviewer: str | None = "王磊", day: str | None = "today",
         rows: dict[tuple[str, str], tuple[str, str, str]] | None = None,
         schools: dict[str, tuple[str, str]] | None = None, every: tuple[str, str] | None = None) -> Path:
    """Fill a return sheet as an officer would: 审核人/审核日期, decisions by (sheet, 身份证件号) or for a
    whole school in 汇总, or ``every`` listed row; saved with openpyxl."""
    from datetime import date

    wb = load_workbook(src)
    summary = wb[SUMMARY]
    for row in summary.iter_rows(min_row=1, max_row=12):
        for cell in row:
            if cell.value in ("审核人：", "审核人") and reviewer is not None:
                summary.cell(row=cell.row, column=cell.column + 1, value=reviewer)
            if cell.value in ("审核日期：", "审核日期") and day is not None:
                summary.cell(row=cell.row, column=cell.column + 1,
                             value=date.today().isoformat() if day == "today" else day)
    header = next(r for r in range(1, 30) if summary.cell(row=r, column=1).value == SCHOOL_CODE)
    cols = columns(summary, header)
    for code, (decision, reason) in (schools or {}).items():
        for r in range(header + 1, summary.max_row + 1):
            if summary.cell(row=r, column=cols[SCHOOL_CODE]).value == code:
                summary.cell(row=r, column=cols[DECISION], value=decision)
                summary.cell(row=r, column=cols[REASON], value=reason or None)
    for ws in wb.worksheets:
        if ws.title == SUMMARY or ws.sheet_state != "visible":
            continue
        cols = columns(ws)
        for r in range(2, ws.max_row + 1):
            number = ws.cell(row=r, column=cols["身份证件号"]).value
            decision = (rows or {}).get((ws.title, number)) or (every + ("",) if every else None)
            if decision is None:
                continue
            ws.cell(row=r, column=cols[DECISION], value=decision[0])
            ws.cell(row=r, column=cols[REASON], value=decision[1] or None)
            ws.cell(row=r, column=cols[FIELDS], value=decision[2] or None)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out
