"""The training-credit part of `tmis demo`: the county whose schools have effective teachers files a training plan,
its provider returns the result sheet generated for the project, the county confirms it on its signed sheet — all
dropped into the inbox as people would — and the teachers have the credits in their accounts."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from processor.store.models import CreditEntry, Officer, Teacher, TrainingProject, Unit


@dataclass
class CreditsDemo:
    county: str = ""
    project: str = ""
    teachers: list[str] = field(default_factory=list)
    credited: int = 0
    example: str = ""


def fill_rows(src: Path, out: Path, sheet: str, rows: list[dict[str, Any]]) -> Path:
    """Fill the data sheet of a template by header label (a leading * ignored), one dict per row, as a person
    types them (the demo and the tests)."""
    from openpyxl import load_workbook

    wb = load_workbook(src)
    ws = wb[sheet]
    cols = {str(c.value).lstrip("*"): c.column for c in ws[1] if c.value}
    for i, row in enumerate(rows, start=2):
        for label, value in row.items():
            ws.cell(i, cols[label], value)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def run_credits_demo(config: Any, engine: Any, pack: Any, intake: Any, work: Path) -> CreditsDemo | None:
    """Plan → result sheet → the county's confirmation → credits, for up to three effective teachers."""
    from processor.credits.plan import write_result_template
    from processor.sidepacks import pack_for_kind
    from processor.workbook.template import write_template
    from processor.workflows.demo import fill_sheet

    with Session(engine) as session:
        school = session.execute(select(Teacher.unit_code, func.count()).where(Teacher.status == "active")
                                 .group_by(Teacher.unit_code).order_by(func.count().desc(), Teacher.unit_code)).first()
        if school is None:
            return None
        teachers = session.scalars(select(Teacher).where(Teacher.status == "active", Teacher.unit_code == school[0])
                                   .order_by(Teacher.id).limit(3)).all()
        county = session.get(Unit, session.get(Unit, school[0]).parent_code)
        officer = session.scalars(select(Officer.name).where(Officer.unit_code == county.code,
                                                              Officer.role == "manager")).first()
        if officer is None:
            return None
        rows = [{"身份证件号": t.id_number, "姓名": t.name, "获得学时": 40, "是否合格": "是"} for t in teachers]
        out = CreditsDemo(county=f"{county.name}（{county.code}）", teachers=[t.name for t in teachers],
                          example=teachers[0].id_number)
    year = date.today().year
    plan = write_template(work / "培训计划表.xlsx", pack_for_kind("training-plan"), "training-plan", county.code,
                          county.name)
    code = f"{county.code}-{year}-01"
    filled = fill_rows(plan, work / f"培训计划_{county.name}.xlsx", "培训项目", [
        {"项目编号": code, "项目名称": f"{year}年{county.name}中小学教师信息技术应用能力提升培训", "培训级别": "县级",
         "培训机构": f"{county.name}教师发展中心", "学时": 40, "开始日期": f"{year}-03-02", "结束日期": f"{year}-03-20"}])
    shutil.move(str(filled), str(config.inbox / filled.name))
    intake.run_once()
    with Session(engine) as session:
        project = session.scalars(select(TrainingProject).where(TrainingProject.project_code == code)).first()
    if project is None:
        return out
    out.project = f"第 {project.id} 号 {project.name}"
    result, _title, _owner = write_result_template(config, project.id, str(work / "培训结果表.xlsx"))
    filled = fill_rows(result, work / f"培训结果_{code}.xlsx", "培训结果", rows)
    shutil.move(str(filled), str(config.inbox / filled.name))
    intake.run_once()
    sheets = sorted((config.outbox / county.code).glob("学分确认确认单_*.xlsx"), key=lambda p: p.stat().st_mtime_ns)
    if not sheets:
        return out
    back = fill_sheet(sheets[-1], work / f"学分确认单_{county.name}_已填.xlsx", confirmer=officer, every=("确认", ""))
    shutil.move(str(back), str(config.inbox / back.name))
    intake.run_once()
    with Session(engine) as session:
        out.credited = session.scalar(select(func.count()).select_from(CreditEntry)
                                      .where(CreditEntry.project_id == project.id)) or 0
    return out


def summary_lines(demo: CreditsDemo | None, config_path: Path) -> list[str]:
    """The lines `tmis demo` prints about the training credits."""
    if demo is None or not demo.project:
        return []
    return ["", f"培训学分：{demo.county}报送培训计划（{demo.project}），培训机构交回培训结果，县里在学分确认单上确认后，"
                f"{demo.credited} 名教师（{'、'.join(demo.teachers)}）的学分计入学分银行。",
            f"  tmis credits show {demo.example} --config {config_path}     查看一名教师的学分账户及每笔学分的来历"]
