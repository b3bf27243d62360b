"""The monthly report on a schedule: on or after `[reports] monthly_day`, `tmis run` makes the month's report
exactly once per period (a unique row in scheduled_reports decides which worker does it)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from processor.store.models import ScheduledReport, Unit

log = logging.getLogger(__name__)
ACTOR = "scheduler"


def report_unit(config: Any, engine: Engine) -> str | None:
    """[reports] unit, else [instance] province, else the one top unit of the tree below the nation."""
    code = config.get("reports", "unit") or config.get("instance", "province")
    if code:
        return str(code)
    with Session(engine) as session:
        tops = session.scalars(select(Unit.code).where(Unit.level == "province").order_by(Unit.code)).all()
    return tops[0] if len(tops) == 1 else None


def run_due(config: Any, engine: Engine, pack: Any, now: datetime | None = None) -> int | None:
    """Make this month's monthly report when it is due and not yet made; returns its run id, or None."""
    from processor.reports.runs import make_report

    if not config.get("reports", "schedule"):
        return None
    now = (now or datetime.now()).astimezone()
    if now.day < int(config.get("reports", "monthly_day")):
        return None
    unit = report_unit(config, engine)
    if unit is None:
        return None
    period = f"{now:%Y-%m}"
    try:
        with Session(engine) as session, session.begin():
            session.add(ScheduledReport(kind="monthly", unit_code=unit, period=period))
    except IntegrityError:
        return None  # made already (by this or another worker)
    try:
        figures, files = make_report("monthly", config, engine, pack, unit, period, actor=ACTOR, scheduled=True)
    except Exception:
        with Session(engine) as session, session.begin():  # let the next check try again
            session.execute(delete(ScheduledReport).where(ScheduledReport.kind == "monthly",
                                                          ScheduledReport.unit_code == unit,
                                                          ScheduledReport.period == period))
        raise
    with Session(engine) as session, session.begin():
        session.execute(update(ScheduledReport).where(ScheduledReport.kind == "monthly", ScheduledReport.unit_code == unit,
                                                      ScheduledReport.period == period).values(run_id=figures["run"]))
    log.info("scheduled monthly report %s for %s: %s", period, unit, ", ".join(map(str, files)))
    if figures.get("forms_not_issued"):
        log.warning("monthly forms of %s not issued: TMIS_SIGNING_KEY is not set", period)
    return int(figures["run"])
