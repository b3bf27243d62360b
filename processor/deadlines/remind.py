"""Reminders before a deadline, from the `tmis run` schedule: on each ``[deadlines] remind_days`` day before a
deadline (from ``remind_hour`` local time), every school behind it gets a reminder saying what it still has to
do, and every county with such schools gets their list; all through the outgoing mail queue, in one transaction
with a ``deadline_reminders`` row, so each reminder goes exactly once per unit, deadline and reminder day
(a restart, a second worker, or a check every minute queue nothing twice).

A service that was down on a reminder day sends that reminder when it is back, as long as the deadline has
not passed and no later reminder day has come (with [14, 3]: the 14-day reminder until 3 days before)."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from processor.audit import audit
from processor.deadlines.behind import behind
from processor.deadlines.calendar import Deadline, calendar
from processor.store.models import DeadlineReminder, Unit

log = logging.getLogger(__name__)
ACTOR = "schedule"


def remind_days(config: Any) -> list[int]:
    return sorted({int(x) for x in config.get("deadlines", "remind_days")})


def due_reminders(config: Any, today: date) -> list[tuple[Deadline, int]]:
    """(deadline, reminder day) pairs due today: for each deadline still to come, the nearest reminder day at
    or before it in time (the smallest ``remind_days`` value not below the days left)."""
    days = remind_days(config)
    out = []
    for d in calendar(config, today):
        left = d.days_left(today)
        if left < 0:
            continue
        reached = [r for r in days if r >= left]
        if reached:
            out.append((d, reached[0]))
    return out


def _roots(engine: Engine, config: Any) -> list[str]:
    """The unit whose schools are reminded ([reports] unit, [instance] province, the one province), else every
    top unit of the tree."""
    from processor.reports.schedule import report_unit

    code = report_unit(config, engine)
    if code:
        return [code]
    with Session(engine) as session:
        return list(session.scalars(select(Unit.code).where(Unit.parent_code.is_(None)).order_by(Unit.code)))


def _send(session: Session, config: Any, roots: list[str], d: Deadline, days_before: int,
          now: datetime) -> tuple[int, int]:
    """Queue the reminders of one deadline and reminder day; returns (units reminded, messages queued)."""
    from processor.mail.outgoing import enqueue_to_officers

    today = now.astimezone().date()
    base = {"deadline_name": d.name, "due": d.due.isoformat(), "days_before": days_before,
            "remind_days": "、".join(map(str, remind_days(config))),
            "checked_at": now.astimezone().strftime("%Y-%m-%d %H:%M")}
    units = messages = 0
    for root in roots:
        found = behind(session.connection(), root, d, at=now, today=today, limit=10**9)
        base["days_text"] = found["days_text"]
        by_county: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for school in found["schools"]:
            ids = enqueue_to_officers(
                session, config, school["unit"], subject=f"提醒：{d.name}截止日 {d.due.isoformat()}（{base['days_text']}）",
                template="deadline_reminder", kind="deadline-reminder", attachments=[],
                dedup=f"deadline:{d.key}:{days_before}:{school['unit']}",
                context={**base, "unit_code": school["unit"], "reason": school["reason"],
                         "submitted": school["submitted"], "pending": school["pending"],
                         "returned": school["returned"]})
            units += 1 if ids else 0
            messages += len(ids)
            if school["parent_code"]:
                by_county[school["parent_code"]].append(school)
        for county, schools in sorted(by_county.items()):
            ids = enqueue_to_officers(
                session, config, county, subject=f"{d.name}截止日 {d.due.isoformat()}：{len(schools)} 所学校尚未完成",
                template="deadline_county", kind="deadline-county", attachments=[],
                dedup=f"deadline:{d.key}:{days_before}:{county}",
                context={**base, "unit_code": county, "schools": schools,
                         "not_submitted": sum(1 for s in schools if not s["submitted"]),
                         "not_effective": sum(1 for s in schools if s["pending"] or s["returned"])})
            units += 1 if ids else 0
            messages += len(ids)
    return units, messages


def run_if_due(engine: Engine, config: Any, now: datetime | None = None) -> list[dict[str, Any]] | None:
    """Queue the reminders due now (mail enabled, after ``remind_hour``, not done before); returns what was
    done, or None when nothing was due."""
    if not config.get("mail", "enabled") or not remind_days(config):
        return None
    now = now or datetime.now(UTC)
    local = now.astimezone()
    if local.hour < int(config.get("deadlines", "remind_hour")):
        return None
    done: list[dict[str, Any]] = []
    roots: list[str] | None = None
    for d, days_before in due_reminders(config, local.date()):
        with Session(engine) as session:
            if session.scalar(select(DeadlineReminder.id).where(DeadlineReminder.deadline == d.key,
                                                                 DeadlineReminder.days_before == days_before)):
                continue
        roots = roots if roots is not None else _roots(engine, config)
        try:
            with Session(engine) as session, session.begin():
                marker = DeadlineReminder(deadline=d.key, days_before=days_before, at=now)
                session.add(marker)
                session.flush()  # another worker that got here first: IntegrityError, nothing queued twice
                marker.units, marker.messages = _send(session, config, roots, d, days_before, now)
                audit(session, ACTOR, "deadline.remind", "deadline", d.key,
                      {"days_before": days_before, "units": marker.units, "messages": marker.messages})
                done.append({"deadline": d.key, "days_before": days_before, "units": marker.units,
                             "messages": marker.messages})
        except IntegrityError:
            continue
        log.info("deadline %s: reminder %d days before queued to %d units (%d messages)", d.key, days_before,
                 done[-1]["units"], done[-1]["messages"])
    return done or None
