"""The review part of `tmis demo`: one county issues its return sheet, its officer decides a few records
(a whole school passed in 汇总, one record returned with a reason and 问题字段, the rest left blank) and sends
the sheet back through the inbox, as an officer would."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from processor.store.models import Officer, RecordVersion, Unit

DEMO_KEY = "tmis-demo-signing-key-not-for-production"


@dataclass
class ReviewDemo:
    """What the county did: its sheet, the filled copy sent back, what became of it."""

    county: str = ""
    county_name: str = ""
    officer: str = ""
    sheet: Path | None = None
    outcome: Any = None
    notes: list[str] = field(default_factory=list)


def _fill(src: Path, out: Path, officer: str, school: str, returned: tuple[str, str] | None) -> None:
    from openpyxl import load_workbook

    from processor.review import sheet as rs

    wb = load_workbook(src)
    ws = wb[rs.SUMMARY]
    for row in ws.iter_rows(min_row=1, max_row=rs.SUMMARY_HEADER_ROW):
        for cell in row:
            if cell.value == f"{rs.REVIEWER}：":
                ws.cell(row=cell.row, column=cell.column + 1, value=officer)
            if cell.value == f"{rs.REVIEW_DATE}：":
                ws.cell(row=cell.row, column=cell.column + 1, value=date.today().isoformat())
    for r in range(rs.SUMMARY_HEADER_ROW + 1, ws.max_row + 1):
        if ws.cell(row=r, column=1).value == school:
            ws.cell(row=r, column=3, value=rs.PASS)
    if returned is not None:
        detail = wb["基本信息"]
        cols = {c.value: c.column for c in detail[1]}
        for r in range(2, detail.max_row + 1):
            if detail.cell(row=r, column=cols["身份证件号"]).value == returned[0]:
                detail.cell(row=r, column=cols[rs.DECISION], value=rs.RETURN)
                detail.cell(row=r, column=cols[rs.REASON], value="出生日期与人事档案记载不一致，请核对身份证件")
                detail.cell(row=r, column=cols[rs.FIELDS], value="出生日期")
                break
    wb.save(out)


def run_review_demo(config: Any, engine: Any, pack: Any, intake: Any, work: Path) -> ReviewDemo:
    """Issue the sheet of the county with most pending records, fill it, send it back, run the inbox."""
    from processor.review.sheet import issue_sheets

    out = ReviewDemo()
    if not os.environ.get("TMIS_SIGNING_KEY"):
        os.environ["TMIS_SIGNING_KEY"] = DEMO_KEY
        out.notes.append("演示使用了一个临时签名密钥（环境变量 TMIS_SIGNING_KEY 未设置）；正式使用时请设置自己的密钥。")
    with Session(engine) as session:
        busiest = session.execute(
            select(RecordVersion.review_unit, func.count()).where(RecordVersion.review_state == "pending",
                                                                  RecordVersion.review_level == "county")
            .group_by(RecordVersion.review_unit).order_by(func.count().desc(), RecordVersion.review_unit)).first()
        if busiest is None:
            return out
        county = session.get(Unit, busiest[0])
        officer = session.scalars(select(Officer.name).where(Officer.unit_code == county.code,
                                                              Officer.role == "manager")).first()
        schools = sorted(session.scalars(select(RecordVersion.unit_code).where(
            RecordVersion.review_unit == county.code, RecordVersion.review_state == "pending").distinct()))
        person = session.execute(select(RecordVersion.data).where(
            RecordVersion.review_unit == county.code, RecordVersion.category == "basic",
            RecordVersion.unit_code == schools[-1], RecordVersion.review_state == "pending").limit(1)).scalar()
    out.county, out.county_name, out.officer = county.code, county.name, officer or ""
    sheets = issue_sheets(engine, config, pack, unit=county.code, actor="demo")
    if not sheets or not officer:
        return out
    out.sheet = sheets[0].path
    filled = work / f"{county.name}审核回执单_已填.xlsx"
    returned = (str(person["id_number"]), "") if person and len(schools) > 1 else None
    _fill(out.sheet, filled, officer, schools[0], returned)
    shutil.move(str(filled), str(config.inbox / filled.name))
    summary = intake.run_once()
    out.outcome = next((o for o in summary.outcomes if o.original_name == filled.name), None)
    return out


def summary_lines(demo: ReviewDemo, config_path: Path) -> list[str]:
    """The lines `tmis demo` prints about the review."""
    if demo.sheet is None:
        return []
    lines = ["", f"逐级审核：{demo.county_name}（{demo.county}）签发了审核回执单 {demo.sheet}；"
                 f"信息管理员{demo.officer}在汇总表中通过了一所学校，退回了另一所学校的一条基本信息（写明原因和问题字段），"
                 "其余留空，再把回执单放回收件目录。"]
    if demo.outcome is not None:
        lines.append(f"  回执单处理结果：{demo.outcome.message}；给审核单位的回执：{demo.outcome.report_path}")
    lines.append(f"  tmis review status --config {config_path}     查看各审核单位待审情况")
    lines.extend(f"说明：{n}" for n in demo.notes)
    return lines
