"""The schools behind a deadline, aggregated in SQL: a school is behind when it has sent no teacher file that
was stored (accepted or partly accepted) since the deadline's period opened, or when records of its teachers are
not effective yet — their current 基本信息 still in review (teacher_facts) or returned to be corrected."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, distinct, exists, func, or_, select

from processor.deadlines.calendar import Deadline
from processor.reports.figures import _as_utc, _teacher_file, tree
from processor.store.models import RecordVersion, Submission, TeacherFact, Unit

STORED = ("accepted", "partial")
LIMIT = 1000  # schools listed (all are counted)


def reason(row: dict[str, Any]) -> str:
    """What the school still has to do, in one Chinese phrase."""
    parts = []
    if not row["submitted"]:
        parts.append("本期尚未报送")
    if row["pending"]:
        parts.append(f"{row['pending']} 人的记录审核中、尚未生效")
    if row["returned"]:
        parts.append(f"{row['returned']} 人的记录被退回待修改")
    return "；".join(parts)


def behind(conn: Connection, root: str, deadline: Deadline, *, at: datetime, today: date,
           limit: int = LIMIT) -> dict[str, Any]:
    """The schools below ``root`` behind ``deadline`` (files counted up to ``at``), per unit directly below
    ``root`` and listed (at most ``limit``: those that have not submitted first, then by code)."""
    t = tree(root)
    u, s, tf, rv = Unit.__table__, Submission.__table__, TeacherFact.__table__, RecordVersion.__table__
    school = and_(u.c.code == t.c.code, u.c.level == "school")
    schools = select(t.c.code).select_from(t.join(u, school))
    sent = select(s.c.unit_code.label("code"), func.min(s.c.received_at).label("first")).where(
        _teacher_file(), s.c.status.in_(STORED), s.c.received_at >= deadline.opens_at(), s.c.received_at < at,
        s.c.unit_code.in_(schools)).group_by(s.c.unit_code).subquery("sent")
    pending = select(tf.c.unit_code.label("code"), func.count().label("n")).where(
        tf.c.state == "pending", tf.c.unit_code.in_(schools)).group_by(tf.c.unit_code).subquery("pend")
    returned = select(rv.c.unit_code.label("code"), func.count(distinct(rv.c.teacher_id)).label("n")).where(
        rv.c.category == "basic", rv.c.review_state == "returned", rv.c.unit_code.in_(schools),
        ~exists().where(tf.c.teacher_id == rv.c.teacher_id)).group_by(rv.c.unit_code).subquery("ret")
    parent = Unit.__table__.alias("parent")
    stmt = (select(t.c.top, u.c.code, u.c.name, u.c.parent_code, parent.c.name, sent.c.first, pending.c.n,
                   returned.c.n)
            .select_from(t.join(u, school).join(parent, parent.c.code == u.c.parent_code, isouter=True)
                         .outerjoin(sent, sent.c.code == u.c.code).outerjoin(pending, pending.c.code == u.c.code)
                         .outerjoin(returned, returned.c.code == u.c.code))
            .where(or_(sent.c.first.is_(None), pending.c.n > 0, returned.c.n > 0))
            .order_by(sent.c.first.is_not(None), u.c.code))
    rows = []
    by_top: dict[str, dict[str, int]] = {}
    for top, code, name, parent_code, parent_name, first, n_pending, n_returned in conn.execute(stmt):
        row = {"unit": code, "name": name, "parent_code": parent_code, "parent": parent_name or "", "top": top,
               "submitted": first is not None,
               "first_arrival": _as_utc(first).isoformat() if first else None,
               "pending": int(n_pending or 0), "returned": int(n_returned or 0)}
        row["reason"] = reason(row)
        counts = by_top.setdefault(top, {"behind": 0, "not_submitted": 0, "not_effective": 0})
        counts["behind"] += 1
        counts["not_submitted"] += 0 if row["submitted"] else 1
        counts["not_effective"] += 1 if row["pending"] or row["returned"] else 0
        rows.append(row)
    entry = deadline.as_dict(today)
    return {**entry, "days_text": days_text(entry), "behind": len(rows),
            "not_submitted": sum(c["not_submitted"] for c in by_top.values()),
            "not_effective": sum(c["not_effective"] for c in by_top.values()),
            "by_unit": dict(sorted(by_top.items())), "schools": rows[:limit], "listed": min(len(rows), limit)}


def days_text(entry: dict[str, Any]) -> str:
    """“还有 N 天” / “今天截止” / “已逾期 N 天” for a deadline entry made by ``behind``."""
    if entry["passed"]:
        return f"已逾期 {entry['days_late']} 天"
    return "今天截止" if entry["days_left"] == 0 else f"还有 {entry['days_left']} 天"


def shown_behind(conn: Connection, config: Any, root: str, *, at: datetime, limit: int = LIMIT) -> list[dict[str, Any]]:
    """``behind`` for each deadline a digest or report shows at ``at``: the last one passed and the next one."""
    from processor.deadlines.calendar import shown

    today = at.astimezone().date()
    return [behind(conn, root, d, at=at, today=today, limit=limit) for d in shown(config, today)]
