"""Daily mail: each county's officers get a digest of their schools (files received, accepted, rows with
errors, schools not heard from yet, and the schools behind the last and the next update deadline with the days
left or late); the configured administrator gets the list of quarantined mail.
Queued with a dedup key per recipient and day, so running it twice (a restart) queues nothing twice."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.deadlines.behind import shown_behind
from processor.mail import outgoing
from processor.store.models import Finding, MailIn, Officer, Submission, Unit
from processor.units import subtree_codes


def _local(ts: datetime) -> str:
    ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return ts.astimezone().strftime("%Y-%m-%d %H:%M")


def county_figures(session: Session, county: str, since: datetime, until: datetime) -> dict[str, Any]:
    """The digest's figures for one county: per school and in total, and the schools never heard from."""
    schools = list(session.scalars(select(Unit).where(Unit.code.in_(subtree_codes(county)), Unit.level == "school")
                                   .order_by(Unit.code)))
    codes = [s.code for s in schools]
    subs = list(session.scalars(select(Submission).where(Submission.unit_code.in_(codes),
                                                         Submission.received_at >= since,
                                                         Submission.received_at < until))) if codes else []
    error_rows: dict[int, int] = {}
    if subs:
        rows = session.execute(
            select(Finding.submission_id, Finding.sheet, Finding.row).distinct()
            .where(Finding.submission_id.in_([s.id for s in subs]), Finding.severity == "error",
                   Finding.row.is_not(None)))
        for sid, _sheet, _row in rows:
            error_rows[sid] = error_rows.get(sid, 0) + 1
    ever = set(session.scalars(select(Submission.unit_code).distinct().where(Submission.unit_code.in_(codes)))) \
        if codes else set()
    per = {s.code: {"code": s.code, "name": s.name, "received": 0, "accepted": 0, "error_rows": 0} for s in schools}
    totals = {"received": 0, "accepted": 0, "partial": 0, "rejected": 0, "unreadable": 0, "error_rows": 0}
    for sub in subs:
        line = per[sub.unit_code]
        line["received"] += 1
        totals["received"] += 1
        if sub.status in totals:
            totals[sub.status] += 1
        if sub.status == "accepted":
            line["accepted"] += 1
        line["error_rows"] += error_rows.get(sub.id, 0)
        totals["error_rows"] += error_rows.get(sub.id, 0)
    silent = [per[c] for c in codes if c not in ever]
    return {"schools": list(per.values()), "totals": totals, "silent": silent}


def queue_county_digests(config: Any, engine: Any, day: date | None = None,
                         now: datetime | None = None) -> list[int]:
    """Queue today's digest for every officer (with an address) of every county; returns the message ids."""
    now = now or datetime.now(UTC)
    day = day or now.astimezone().date()
    since = now - timedelta(days=1)
    ids = []
    with Session(engine) as session, session.begin():
        counties = list(session.scalars(select(Unit).where(Unit.level == "county").order_by(Unit.code)))
        for county in counties:
            officers = [o for o in session.scalars(select(Officer).where(Officer.unit_code == county.code)
                                                   .order_by(Officer.id)) if o.email]
            if not officers:
                continue
            figures = county_figures(session, county.code, since, now)
            figures["deadlines"] = shown_behind(session.connection(), config, county.code, at=now)
            for officer in officers:
                context = {"instance_name": config.get("instance", "name"), "officer_name": officer.name,
                           "county_name": county.name, "county_code": county.code, "day": day.isoformat(),
                           "since": _local(since), "until": _local(now),
                           "from_address": config.get("mail", "from_address"), **figures}
                row = outgoing.enqueue(session, to=officer.email, subject=f"{county.name} {day.isoformat()} 报送汇总",
                                       template="digest", context=context, kind="digest",
                                       dedup_key=f"digest:{county.code}:{officer.email.lower()}:{day.isoformat()}",
                                       state_dir=config.state_dir)
                ids.append(row.id)
    return ids


def queue_quarantine_list(config: Any, engine: Any, day: date | None = None) -> int | None:
    """Queue the list of quarantined mail not listed before to ``[mail] admin_address`` (None: nothing to say)."""
    admin = config.get("mail", "admin_address")
    if not admin:
        return None
    day = day or datetime.now().date()
    with Session(engine) as session, session.begin():
        rows = list(session.scalars(select(MailIn).where(MailIn.state == "quarantined", MailIn.listed_at.is_(None))
                                    .order_by(MailIn.id)))
        if not rows:
            return None
        items = [{"id": r.id, "received_at": _local(r.received_at), "sender": r.sender, "subject": r.subject,
                  "reason": r.reason} for r in rows]
        out = outgoing.enqueue(session, to=admin, subject=f"{day.isoformat()} 隔离邮件清单（{len(items)} 封）",
                               template="quarantine_list", kind="quarantine_list",
                               context={"instance_name": config.get("instance", "name"), "items": items,
                                        "from_address": config.get("mail", "from_address")},
                               dedup_key=f"quarantine-list:{day.isoformat()}:{rows[-1].id}", state_dir=config.state_dir)
        stamp = datetime.now(UTC)
        for r in rows:
            r.listed_at = stamp
        return out.id


def run_daily(config: Any, engine: Any, day: date | None = None) -> dict[str, Any]:
    """Both daily mailings; returns what was queued."""
    return {"digests": queue_county_digests(config, engine, day), "quarantine_list": queue_quarantine_list(config, engine, day)}
