"""The annual assessment and ethics register (kind ``assessment``, rules/assessment): a school or its authority
files each teacher's yearly 年度考核 result and 师德考核 conclusion; the latest filing for a (teacher, year) wins.
Periodic registration reads them as the archive's evidence."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.credits.plan import is_below
from processor.findings import Finding
from processor.sidepacks import Intake, cell_finding, label, pack_for_kind, take_in
from processor.store.models import AssessmentRecord, Submission, Teacher, Unit

KIND = "assessment"
SHEETS = {"annual": ("assessment_result", "annual"), "ethics": ("ethics_result", "ethics")}


def _teacher(session: Session, number: str) -> Teacher | None:
    return session.scalars(select(Teacher).where(Teacher.id_number == number)).first()


def _check(session: Session, wb: Any, records: dict[str, list[Any]], unit: Unit | None) -> list[Finding]:
    if unit is None:
        return []
    out: list[Finding] = []
    for sheet_id in SHEETS:
        for r in records.get(sheet_id, []):
            number = str(r.values.get("id_number") or "")
            teacher = _teacher(session, number)
            if teacher is None:
                out.append(cell_finding(wb, sheet_id, r.excel_row, "id_number", number, "ASSESS-TEACHER-UNKNOWN",
                                        f"身份证件号为“{number}”的教师不在本系统的教师档案中",
                                        "请核对身份证件号；尚未建档的教师须先由学校报送基本信息。"))
            elif not is_below(session, teacher.unit_code, unit.code):
                out.append(cell_finding(wb, sheet_id, r.excel_row, "id_number", number, "ASSESS-TEACHER-OUTSIDE",
                                        f"{teacher.name}不是{unit.name}或其下属学校的教师",
                                        "只能登记本单位（及下属学校）教师的考核结果；请核对身份证件号。"))
    return out


def _store(session: Session, sub: Submission, records: dict[str, list[Any]], unit: Unit) -> int:
    pack = pack_for_kind(KIND)
    assert pack is not None
    n = 0
    for sheet_id, (table, kind) in SHEETS.items():
        for r in records.get(sheet_id, []):
            v = r.values
            teacher = _teacher(session, str(v["id_number"]))
            assert teacher is not None
            year = int(v["year"])
            row = session.scalar(select(AssessmentRecord).where(
                AssessmentRecord.teacher_id == teacher.id, AssessmentRecord.kind == kind, AssessmentRecord.year == year))
            if row is None:
                row = AssessmentRecord(teacher_id=teacher.id, kind=kind, year=year)
                session.add(row)
            row.result = label(pack, table, v.get("result"))
            row.breach = str(v.get("breach") or "")
            row.remarks = str(v.get("remarks") or "")
            row.unit_code, row.submission_id = unit.code, sub.id
            n += 1
    return n


def handle(job: Any) -> Any:
    """A filled assessment register from the inbox."""
    return take_in(job, Intake(KIND, check=_check, store=_store, audit_action="assessment.receive"))
