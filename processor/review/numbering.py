"""Teacher numbers ([numbering]): handed out when a teacher's 基本信息 first becomes effective, never reused.

Jiangxi scheme (shared/domain.md): 6-digit GB/T 2260 division code + 8-digit unit number + 4-digit sequence,
the sequence continuing from the highest number the unit ever had. Here the division is the school's parent
(its county, or the city / province a school sits directly under) and the unit number is the part of the
10-digit school code after the division code, zero-padded to 8 digits (3601020001 under 360102 → 00000001),
or the code's last 8 digits when it does not start with the division code; a unit number already held by
another school of the division gives way to the division's highest + 1. Both the unit numbers and every
number handed out are kept in tables of their own, so a number stays taken even if its teacher later gets
another one (transfer).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from processor.errors import TmisError
from processor.store.models import NumberingUnit, Teacher, TeacherNumber, Unit

SEQUENCE_DIGITS = 4


class NumberingError(TmisError):
    """No teacher number can be given (the unit's 9999 numbers are used up, the school has no division)."""


def _unit_number(session: Session, school: Unit) -> tuple[str, str]:
    held = session.get(NumberingUnit, school.code)
    if held is not None:
        return held.division, held.unit_number
    division = school.parent_code or ""
    if len(division) != 6:
        raise NumberingError(f"学校 {school.name}（{school.code}）没有 6 位行政区划代码的上级单位，无法编制教师编号",
                             hint="请在单位名录中为该校填写所属县（区）或市的代码后重新导入。")
    tail = school.code[6:] if school.code.startswith(division) else school.code[-8:]
    candidate = tail.rjust(8, "0")[-8:]
    taken = session.scalar(select(NumberingUnit.unit_code).where(NumberingUnit.division == division,
                                                                 NumberingUnit.unit_number == candidate))
    if taken is not None:
        highest = session.scalar(select(func.max(NumberingUnit.unit_number)).where(NumberingUnit.division == division))
        candidate = str(int(highest or 0) + 1).rjust(8, "0")
    session.add(NumberingUnit(unit_code=school.code, division=division, unit_number=candidate))
    session.flush()
    return division, candidate


class Numberer:
    """Hands out teacher numbers in one transaction, keeping each school's prefix and next sequence."""

    def __init__(self, session: Session, scheme: str = "jiangxi") -> None:
        if scheme != "jiangxi":  # config validation allows only this one today
            raise NumberingError(f"未知的教师编号方案 {scheme}")
        self.session = session
        self._next: dict[str, tuple[str, int]] = {}  # school code → (prefix, next sequence)
        self.assigned = 0

    def _start(self, school_code: str) -> tuple[str, int]:
        school = self.session.get(Unit, school_code)
        if school is None:
            raise NumberingError(f"单位 {school_code} 不在单位名录中，无法编制教师编号")
        division, unit_number = _unit_number(self.session, school)
        prefix = division + unit_number
        highest = self.session.scalar(select(func.max(TeacherNumber.number)).where(TeacherNumber.prefix == prefix))
        return prefix, (int(highest[-SEQUENCE_DIGITS:]) + 1 if highest else 1)

    def _next_number(self, unit_code: str) -> tuple[str, str]:
        prefix, sequence = self._next.get(unit_code) or self._start(unit_code)
        if sequence >= 10 ** SEQUENCE_DIGITS:
            raise NumberingError(f"单位 {unit_code} 的教师编号已用完（{prefix}9999）",
                                 hint="请联系省级管理员为该校另行分配单位编号。")
        self._next[unit_code] = (prefix, sequence + 1)
        self.assigned += 1
        return prefix, f"{prefix}{sequence:0{SEQUENCE_DIGITS}d}"

    def assign(self, teacher: Teacher) -> str:
        """The teacher's number: its own when it has one, else the next of its school."""
        if teacher.teacher_number:
            return teacher.teacher_number
        prefix, number = self._next_number(teacher.unit_code)
        self.session.add(TeacherNumber(number=number, prefix=prefix, teacher_id=teacher.id,
                                       unit_code=teacher.unit_code, assigned_at=datetime.now(UTC)))
        teacher.teacher_number = number
        return number

    def activate(self, teacher_ids: list[int]) -> None:
        """Give each teacher without a number the next of its school (in school, then id order) and make it
        active: plain rows and bulk statements (processor/store/bulk.py), no ORM object per teacher."""
        from processor.store import bulk
        from processor.store.spans import id_clauses

        self.session.flush()
        rows: list[tuple[int, str, str | None, str]] = []
        for where in id_clauses(Teacher.id, teacher_ids):
            rows.extend(tuple(r) for r in self.session.execute(
                select(Teacher.id, Teacher.unit_code, Teacher.teacher_number, Teacher.status).where(where)))
        rows.sort(key=lambda r: (r[1], r[0]))
        now = datetime.now(UTC)
        numbers: list[dict[str, object]] = []
        changes: list[dict[str, object]] = []
        for tid, unit_code, number, status in rows:
            change: dict[str, object] = {"id": tid, "updated_at": now}
            if status == "pending":  # a status set by a workflow (长期离岗, 交流轮岗中 …) stays
                change["status"] = "active"
            if not number:
                prefix, number = self._next_number(unit_code)
                numbers.append({"number": number, "prefix": prefix, "teacher_id": tid, "unit_code": unit_code,
                                "assigned_at": now})
                change["teacher_number"] = number
            changes.append(change)
        bulk.insert_rows(self.session, TeacherNumber, numbers)
        bulk.update_by_id(self.session, Teacher, changes)
        # ORM copies of these teachers loaded earlier in the session must not write old values back.
        for obj in list(self.session.identity_map.values()):
            if isinstance(obj, Teacher):
                self.session.expire(obj)
