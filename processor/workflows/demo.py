"""The workflow part of `tmis demo`: a school of another county files a transfer (调动申请) of an active teacher,
and the three units of the chain confirm it in turn on their confirmation sheets, dropped into the inbox as
officers would; the teacher then has the receiving school's next number. Also the form and sheet filling the
tests use (openpyxl, as a person fills them)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.store.models import ConfirmSheet, Officer, Teacher, Unit, WorkflowRequest


def fill_form(src: Path, out: Path, rows: list[dict[str, Any]], *, filer: str | None, day: str | None = "today") -> Path:
    """Fill a request form: 填报人, 填报日期 (``"today"``) and one row per request, by header label."""
    from openpyxl import load_workbook

    wb = load_workbook(src)
    ws = wb.worksheets[0]
    header = next(r for r in range(1, 30) if str(ws.cell(r, 1).value or "").lstrip("*") == "身份证件号")
    cols = {str(c.value).lstrip("*"): c.column for c in ws[header] if c.value}
    _fill_labels(ws, header, {"填报人：": filer, "填报日期：": date.today().isoformat() if day == "today" else day})
    for i, row in enumerate(rows, start=header + 1):
        for label, value in row.items():
            ws.cell(i, cols[label], value)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def fill_sheet(src: Path, out: Path, *, confirmer: str | None, decisions: dict[str, tuple[str, str]] | None = None,
               every: tuple[str, str] | None = None, day: str | None = "today") -> Path:
    """Fill a confirmation sheet: 确认人, 确认日期, and 确认结果 / 意见 by 申请编号 (or ``every`` row)."""
    from openpyxl import load_workbook

    wb = load_workbook(src)
    ws = wb["确认单"]
    header = next(r for r in range(1, 30) if ws.cell(r, 1).value == "申请编号")
    cols = {str(c.value): c.column for c in ws[header] if c.value}
    _fill_labels(ws, header, {"确认人：": confirmer, "确认日期：": date.today().isoformat() if day == "today" else day})
    for r in range(header + 1, ws.max_row + 1):
        req = ws.cell(r, 1).value
        decision = (decisions or {}).get(req) or every
        if not req or decision is None:
            continue
        ws.cell(r, cols["确认结果"], decision[0])
        ws.cell(r, cols["意见"], decision[1] or None)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def _fill_labels(ws: Any, header: int, values: dict[str, str | None]) -> None:
    for r in range(1, header):
        value = values.get(ws.cell(r, 1).value)
        if value is not None:
            ws.cell(r, 2, value)


@dataclass
class TransferDemo:
    """What the transfer did."""

    request: str = ""
    teacher: str = ""
    from_school: str = ""
    to_school: str = ""
    old_number: str = ""
    new_number: str = ""
    steps: list[str] = field(default_factory=list)
    state: str = ""


def _manager(session: Session, unit: str) -> str | None:
    return session.scalars(select(Officer.name).where(Officer.unit_code == unit, Officer.role == "manager")
                           .order_by(Officer.id)).first()


def run_transfer_demo(config: Any, engine: Any, pack: Any, intake: Any, work: Path) -> TransferDemo | None:
    """One transfer across two counties, confirmed by the three units of its chain."""
    from processor.workflows import forms, registry

    with Session(engine) as session:
        teacher = session.scalars(select(Teacher).where(Teacher.status == "active", Teacher.teacher_number.is_not(None))
                                  .order_by(Teacher.id)).first()
        if teacher is None:
            return None
        sending = session.get(Unit, teacher.unit_code)
        receiving = session.scalars(select(Unit).where(Unit.level == "school", Unit.parent_code != sending.parent_code,
                                                       Unit.code.in_(select(Officer.unit_code)))
                                    .order_by(Unit.code)).first()
        if receiving is None:
            return None
        filer = _manager(session, receiving.code)
        out = TransferDemo(teacher=f"{teacher.name}（{teacher.id_number}）", from_school=f"{sending.name}（{sending.code}）",
                           to_school=f"{receiving.name}（{receiving.code}）", old_number=teacher.teacher_number or "")
        row = {"身份证件号": teacher.id_number, "姓名": teacher.name, "调出学校代码": sending.code,
               "调动日期": date.today().isoformat(), "调动原因": "夫妻两地分居，申请调入配偶所在地学校"}
        teacher_id = teacher.id
    kind = registry.get("transfer")
    form = forms.write_form(work / "调动申请表.xlsx", kind, receiving.code, receiving.name, pack=pack,
                            instance=config.get("instance", "name"))
    filled = fill_form(form, work / f"调动申请_{receiving.name}.xlsx", [row], filer=filer)
    shutil.move(str(filled), str(config.inbox / filled.name))
    intake.run_once()
    for _ in range(3):
        with Session(engine) as session:
            req = session.scalars(select(WorkflowRequest).where(WorkflowRequest.teacher_id == teacher_id)
                                  .order_by(WorkflowRequest.created_at.desc())).first()
            if req is None or req.state != "open":
                break
            sheet = session.scalars(select(ConfirmSheet).where(ConfirmSheet.unit_code == req.waiting_unit,
                                                               ConfirmSheet.status == "open")
                                    .order_by(ConfirmSheet.issued_at.desc())).first()
            unit = session.get(Unit, req.waiting_unit)
            officer = _manager(session, req.waiting_unit or "")
            out.request = req.id
        if sheet is None or officer is None:
            break
        back = fill_sheet(Path(sheet.path), work / f"确认单_{unit.name}_已填.xlsx", confirmer=officer, every=("同意", ""))
        shutil.move(str(back), str(config.inbox / back.name))
        intake.run_once()
        out.steps.append(f"{unit.name}（{officer}）")
    with Session(engine) as session:
        teacher = session.get(Teacher, teacher_id)
        req = session.get(WorkflowRequest, out.request) if out.request else None
        out.new_number = teacher.teacher_number or ""
        out.state = req.state if req else ""
    return out


def summary_lines(demo: TransferDemo | None, config_path: Path) -> list[str]:
    """The lines `tmis demo` prints about the transfer."""
    if demo is None or not demo.request:
        return []
    lines = ["", f"调动：{demo.to_school}提出调入{demo.from_school}的教师{demo.teacher}（申请 {demo.request}），"
                 f"依次由{'、'.join(demo.steps)}在确认单上同意。"]
    if demo.state == "applied":
        lines.append(f"  档案已转入调入学校：教师编号 {demo.old_number} → {demo.new_number}，记录作为新记录进入调入学校的审核。")
    lines.append(f"  tmis request show {demo.request} --config {config_path}     查看申请的每一步")
    return lines
