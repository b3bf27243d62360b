"""Accountability look-ups: a teacher's record and every version's history; what waits where, for how long."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from processor.errors import InputError
from processor.store.models import RecordVersion, ReturnSheet, Review, Submission, Teacher, Unit


def _iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return ts.astimezone().isoformat(timespec="seconds")


def teacher_record(session: Session, pack: Any, id_number: str) -> dict[str, Any]:
    """The JSON of ``tmis teacher show``: the effective record and each version's history."""
    number = id_number.strip().upper()
    teachers = session.scalars(select(Teacher).where(Teacher.id_number == number).order_by(Teacher.id)).all()
    if not teachers:
        raise InputError(f"系统中没有身份证件号为 {number} 的教师", hint="请核对身份证件号（18 位，末位可能是 X）。")
    teacher = next((t for t in teachers if t.id_type == "1"), teachers[0])
    titles = {s.id: s.name for s in pack.ordered_sheets()}
    order = {s.id: i for i, s in enumerate(pack.ordered_sheets())}
    versions = session.scalars(select(RecordVersion).where(RecordVersion.teacher_id == teacher.id)
                               .order_by(RecordVersion.id)).all()
    ids = [v.id for v in versions]
    reviews: dict[int, list[Review]] = defaultdict(list)
    for r in session.scalars(select(Review).where(Review.version_id.in_(ids)).order_by(Review.id)) if ids else []:
        reviews[r.version_id].append(r)
    subs = {s.id: s for s in session.scalars(select(Submission).where(
        Submission.id.in_(sorted({v.submission_id for v in versions}))))} if versions else {}
    out_versions = []
    effective: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for v in sorted(versions, key=lambda v: (order.get(v.category, 999), v.seq, v.id)):
        sub = subs.get(v.submission_id)
        history = [{"level": "school", "unit": v.unit_code, "decision": "submitted",
                    "by": (sub.sender or sub.channel) if sub else "", "at": _iso(v.created_at),
                    "file": sub.original_name if sub else "", "sheet": None}]
        for r in reviews.get(v.id, []):
            history.append({"level": r.level, "unit": r.unit_code, "decision": r.decision, "by": r.reviewer,
                            "at": _iso(r.at), "reason": r.reason, "fields": r.problem_fields, "sheet": r.sheet_id})
        out_versions.append({
            "category": titles.get(v.category, v.category), "sheet": v.category, "seq": v.seq, "version": v.id,
            "state": v.review_state, "level": v.review_level if v.review_state == "pending" else None,
            "waiting_at": v.review_unit if v.review_state == "pending" else None, "history": history})
        if v.review_state == "effective":
            effective[titles.get(v.category, v.category)].append(v.data)
    from processor.workflows.state import requests_of

    return {"id_number": teacher.id_number, "name": teacher.name, "unit": teacher.unit_code,
            "teacher_number": teacher.teacher_number, "status": teacher.status, "effective": dict(effective),
            "versions": out_versions, "requests": requests_of(session, teacher.id)}


def subtree(session: Session, code: str) -> set[str]:
    """The unit and every unit below it."""
    if session.get(Unit, code) is None:
        raise InputError(f"单位代码 {code} 不在单位名录中", hint="可用 tmis units list 查看单位代码。")
    children: dict[str | None, list[str]] = defaultdict(list)
    for c, parent in session.execute(select(Unit.code, Unit.parent_code)):
        children[parent].append(c)
    out, todo = set(), [code]
    while todo:
        c = todo.pop()
        if c not in out:
            out.add(c)
            todo.extend(children.get(c, []))
    return out


def review_status(session: Session, unit: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The JSON of ``tmis review status``: per reviewing unit, what waits, since when, which sheets are out."""
    now = now or datetime.now(UTC)
    scope = subtree(session, unit) if unit else None
    waiting = session.execute(
        select(RecordVersion.review_unit, RecordVersion.review_level, func.count(),
               func.min(func.coalesce(RecordVersion.level_since, RecordVersion.created_at)))
        .where(RecordVersion.review_state == "pending", RecordVersion.review_level != "school",
               RecordVersion.review_unit.is_not(None))
        .group_by(RecordVersion.review_unit, RecordVersion.review_level)).all()
    sheets: dict[str, list[ReturnSheet]] = defaultdict(list)
    for s in session.scalars(select(ReturnSheet).where(ReturnSheet.status == "open").order_by(ReturnSheet.issued_at)):
        expires = s.expires_at if s.expires_at.tzinfo else s.expires_at.replace(tzinfo=UTC)
        if expires >= now:
            sheets[s.unit_code].append(s)
    rows: dict[str, dict[str, Any]] = {}
    for code, level, count, oldest in waiting:
        oldest = oldest if oldest is None or oldest.tzinfo else oldest.replace(tzinfo=UTC)
        rows[code] = {"unit": code, "level": level, "pending": int(count),
                      "oldest_days": (now - oldest).days if oldest else 0}
    for code, open_sheets in sheets.items():
        if code not in rows:
            level = open_sheets[0].level
            rows[code] = {"unit": code, "level": level, "pending": 0, "oldest_days": 0}
    names = dict(session.execute(select(Unit.code, Unit.name).where(or_(Unit.code.in_(sorted(rows))))).all()) \
        if rows else {}
    out = []
    for code in sorted(rows):
        if scope is not None and code not in scope:
            continue
        row = rows[code]
        row["name"] = names.get(code, "")
        row["open_sheets"] = len(sheets.get(code, []))
        row["sheets"] = [{"id": s.id, "issued_at": _iso(s.issued_at), "expires_at": _iso(s.expires_at),
                          "versions": s.versions, "path": s.path} for s in sheets.get(code, [])]
        out.append(row)
    return {"units": out}
