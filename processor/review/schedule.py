"""The daily issue of return sheets inside `tmis run` (``[review] issue_time``, default 07:00 local time).

A run is due when today's issue time has passed and no scheduled run was recorded for today (the audit
entry ``review.scheduled``, whose object is the day it issued for), so a service started at 09:00 issues at
once, and a restart does not issue twice. Without TMIS_SIGNING_KEY the service refuses to start the
schedule and says why in one line (``missing_key_reason``) but still processes the inbox: schools' files
must not wait for a key that only the review needs. ``tmis run --once`` only processes what waits in the inbox and never issues, so it works
without a key (a returned sheet that arrives without a key is quarantined for the operator, see
takeback.py, and processed once it is put back into the inbox).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from processor import signing
from processor.audit import audit
from processor.store.models import AuditEntry

log = logging.getLogger(__name__)

ACTION = "review.scheduled"


def issue_slot(config: Any, now: datetime) -> datetime | None:
    """Today's issue time (aware, local), or None when the schedule is off."""
    raw = str(config.get("review", "issue_time") or "")
    if not raw:
        return None
    hours, minutes = (int(x) for x in raw.split(":"))
    local = now.astimezone()
    return datetime.combine(local.date(), time(hours, minutes), tzinfo=local.tzinfo)


def missing_key_reason(config: Any) -> str | None:
    """The one-line reason the schedule cannot start (on, but no TMIS_SIGNING_KEY), else None."""
    if issue_slot(config, datetime.now(UTC)) is None:
        return None
    try:
        signing.signing_key()
    except signing.SigningKeyMissing as exc:
        return (f"未启动审核回执单的定时签发：{exc.message}；收件处理照常进行。"
                "如暂不需要定时签发，可在 config.toml 的 [review] 中设置 issue_time = \"\"。")
    return None


def due(session: Session, config: Any, now: datetime) -> bool:
    slot = issue_slot(config, now)
    if slot is None or now < slot:
        return False
    last = session.execute(select(AuditEntry.at, AuditEntry.object_id).where(AuditEntry.action == ACTION)
                           .order_by(AuditEntry.id.desc()).limit(1)).first()
    if last is None:
        return True
    at, day = last
    if day:  # the day whose issue that run was (a run given its moment records that day, not the clock's)
        return day < slot_day(slot)
    at = at if at.tzinfo else at.replace(tzinfo=UTC)  # recorded before the day was kept
    return at < slot


def slot_day(slot: datetime) -> str:
    return f"{slot:%Y-%m-%d}"


def run_if_due(engine: Engine, config: Any, pack: Any, now: datetime | None = None) -> list[Any] | None:
    """Issue the sheets when the schedule is due; None when it was not."""
    from processor.review.sheet import issue_sheets

    now = now or datetime.now(UTC)
    with Session(engine) as session:
        if not due(session, config, now):
            return None
    sheets = issue_sheets(engine, config, pack, now=now, actor="schedule")
    from processor.workflows.confirm import issue_waiting

    with Session(engine) as session, session.begin():
        # workflow requests whose confirmation sheet expired get a fresh one the same morning
        confirm_sheets = issue_waiting(session, config, now=now)
        slot = issue_slot(config, now)
        audit(session, "schedule", ACTION, "return_sheet", slot_day(slot) if slot else "",
              {"sheets": [s.sheet_id for s in sheets], "confirm_sheets": [s.sheet_id for s in confirm_sheets]})
    for s in sheets:
        log.info("return sheet %s issued to %s (%d versions): %s", s.sheet_id, s.unit_code, s.versions, s.path)
    return sheets


class Scheduler(threading.Thread):
    """Checks every ``interval`` seconds whether the daily issue is due, until ``stop`` is set."""

    def __init__(self, engine: Engine, config: Any, pack: Any, stop: threading.Event, interval: float = 30.0) -> None:
        super().__init__(name="tmis-review-schedule", daemon=True)
        self.engine, self.config, self.pack, self.stop, self.interval = engine, config, pack, stop, interval

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                run_if_due(self.engine, self.config, self.pack)
            except Exception:  # noqa: BLE001 - the schedule must survive a bad moment (database restarting)
                log.exception("scheduled issue of return sheets failed; retrying later")
            self.stop.wait(self.interval)
