"""The credit bank (学分银行): each teacher's credit entries, every one traceable to its plan, project, result sheet
and confirmation; the account as ``tmis credits show`` prints it; credits counted over a period under the caps."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.credits.plan import LEVEL_NAMES, CreditsError
from processor.credits.rule import CreditRule
from processor.errors import InputError
from processor.store.models import CreditEntry, Submission, Teacher, TrainingProject, Unit

# Teachers no longer on any roll (离职/调出, 退休, 去世): out of credit reports and registration lists.
GONE = ("left", "retired", "deceased")


def milli(value: Decimal | int | float) -> int:
    return int((Decimal(str(value)) * 1000).to_integral_value())


def from_milli(value: int | None) -> Decimal:
    return (Decimal(value or 0) / 1000).normalize() if value else Decimal(0)


def number(value: Decimal) -> float | int:
    """A credit amount for JSON: an int when whole."""
    return int(value) if value == value.to_integral_value() else float(value)


def parse_period(text: str) -> tuple[int, int]:
    """'2021-2025' → (2021, 2025); CreditsError with the fix otherwise."""
    m = re.fullmatch(r"\s*(\d{4})\s*[-–—~～至]\s*(\d{4})\s*", text or "")
    if not m or int(m.group(1)) > int(m.group(2)) or int(m.group(2)) - int(m.group(1)) > 19:
        raise CreditsError(f"期间“{text}”的格式不对", hint="请写成 起始年-结束年，例如 --period 2021-2025。")
    return int(m.group(1)), int(m.group(2))


def _iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return ts.astimezone().isoformat(timespec="seconds")


def find_teacher(session: Session, id_number: str) -> Teacher:
    number = id_number.strip().upper()
    teachers = session.scalars(select(Teacher).where(Teacher.id_number == number).order_by(Teacher.id)).all()
    if not teachers:
        raise InputError(f"系统中没有身份证件号为 {number} 的教师", hint="请核对身份证件号（18 位，末位可能是 X）。")
    return next((t for t in teachers if t.id_type == "1"), teachers[0])


def entries_of(session: Session, teacher_id: int) -> list[dict[str, Any]]:
    """Every entry of a teacher's account, oldest first, with where it came from."""
    rows = session.execute(
        select(CreditEntry, TrainingProject).join(TrainingProject, TrainingProject.id == CreditEntry.project_id)
        .where(CreditEntry.teacher_id == teacher_id).order_by(CreditEntry.year, CreditEntry.id)).all()
    subs = {s.id: s.original_name for s in session.scalars(select(Submission).where(Submission.id.in_(
        {e.plan_submission_id for e, _ in rows} | {e.result_submission_id for e, _ in rows})))} if rows else {}
    units = {u.code: u.name for u in session.scalars(select(Unit).where(Unit.code.in_(
        {p.unit_code for _, p in rows} | {e.confirm_unit for e, _ in rows})))} if rows else {}
    return [{"entry": e.id, "year": e.year, "level": e.level, "level_name": LEVEL_NAMES.get(e.level, e.level),
             "hours": e.hours, "credits": number(from_milli(e.credits_milli)),
             "project": {"id": p.id, "code": p.project_code, "name": p.name, "owner": p.unit_code,
                         "owner_name": units.get(p.unit_code, ""), "provider": p.provider,
                         "start": p.start_date, "end": p.end_date},
             "plan": {"submission": e.plan_submission_id, "file": subs.get(e.plan_submission_id, "")},
             "result": {"id": e.result_id, "submission": e.result_submission_id,
                        "file": subs.get(e.result_submission_id, "")},
             "confirmation": {"request": e.confirmation, "unit": e.confirm_unit,
                              "unit_name": units.get(e.confirm_unit, ""), "by": e.confirmed_by,
                              "at": _iso(e.confirmed_at)},
             "rule": f"{e.rule_province} {e.rule_version}"} for e, p in rows]


def account(session: Session, id_number: str) -> dict[str, Any]:
    """The JSON of ``tmis credits show``: the teacher, every entry, totals per year and level."""
    teacher = find_teacher(session, id_number)
    entries = entries_of(session, teacher.id)
    by_year: dict[int, Decimal] = defaultdict(Decimal)
    by_level: dict[str, Decimal] = defaultdict(Decimal)
    for e in entries:
        by_year[e["year"]] += Decimal(str(e["credits"]))
        by_level[e["level_name"]] += Decimal(str(e["credits"]))
    total = sum(by_year.values(), Decimal(0))
    return {"id_number": teacher.id_number, "name": teacher.name, "unit": teacher.unit_code,
            "teacher_number": teacher.teacher_number, "total": number(total),
            "by_year": {str(y): number(v) for y, v in sorted(by_year.items())},
            "by_level": {k: number(v) for k, v in by_level.items()}, "entries": entries}


def counted_credits(session: Session, rule: CreditRule, teacher_ids: list[int], first: int, last: int
                    ) -> dict[int, dict[str, Any]]:
    """Per teacher: the credits that count in years ``first``..``last`` under the rule's caps."""
    per: dict[int, list[tuple[str, int, Decimal]]] = defaultdict(list)
    for start in range(0, len(teacher_ids), 900):
        chunk = teacher_ids[start:start + 900]
        for tid, level, year, amount in session.execute(
                select(CreditEntry.teacher_id, CreditEntry.level, CreditEntry.year, CreditEntry.credits_milli)
                .where(CreditEntry.teacher_id.in_(chunk), CreditEntry.year >= first, CreditEntry.year <= last)):
            per[tid].append((level, year, from_milli(amount)))
    years = last - first + 1
    return {tid: rule.counted(items, years) for tid, items in per.items()}
