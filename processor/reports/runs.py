"""Making a report: compute its figures in one read transaction, record them (with the last audit entry and
the query time) as a ReportRun, render the files into outbox/<unit code>/; and rendering a run again."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from processor.audit import audit
from processor.feedback import safe_filename
from processor.reports.figures import ReportError, last_audit_id, period_of, unit_row
from processor.store.models import ReportRun

# kind → module with compute(conn, config, pack, unit, period, queried_at) -> figures and render(figures, folder)
KINDS = {"monthly": "processor.reports.monthly", "summary": "processor.reports.summary",
         "bulletin": "processor.reports.bulletin", "roster": "processor.reports.roster",
         "credits": "processor.credits.report"}
TITLES = {"monthly": "月报表", "summary": "工作总结", "bulletin": "通报", "roster": "联合工作组名单", "credits": "学分报表"}


def _module(kind: str) -> Any:
    return importlib.import_module(KINDS[kind])


def base_name(figures: dict[str, Any]) -> str:
    """<title>_<unit name>_<month>_<run id> (without suffix)."""
    parts = [TITLES[figures["kind"]], safe_filename(figures["name"], 40)]
    if figures.get("month"):
        parts.append(figures["month"])
    parts.append(f"第{figures['run']}号")
    return "_".join(parts)


def make_report(kind: str, config: Any, engine: Engine, pack: Any, unit: str, month: str | None, *,
                actor: str, scheduled: bool = False, now: datetime | None = None) -> tuple[dict[str, Any], list[Path]]:
    """Compute, record and render one report; returns (figures, files)."""
    if kind not in KINDS:
        raise ReportError(f"未知的报表种类“{kind}”", hint=f"可用：{'、'.join(KINDS)}。")
    queried_at = now or datetime.now(UTC)
    module = _module(kind)
    if hasattr(module, "period"):  # a report over another kind of period (credits: YYYY-YYYY)
        period = module.period(month) if month else None
    else:
        period = period_of(month, deadline_day=int(config.get("reports", "monthly_day")), now=queried_at) \
            if month else None
    # One repeatable read of the store: every figure of the report sees the same state.
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        code, name, level = unit_row(conn, unit)
        audit_id = last_audit_id(conn)
        figures = module.compute(conn, config, pack, code, period, queried_at)
    figures.update({"kind": kind, "unit": code, "name": name, "level": level,
                    "month": period.month if period else "", "queried_at": queried_at.isoformat(),
                    "audit_id": audit_id, "instance": config.get("instance", "name")})
    with Session(engine) as session, session.begin():
        run = ReportRun(kind=kind, unit_code=code, period=figures["month"], audit_id=audit_id,
                        queried_at=queried_at, scheduled=scheduled, figures={}, files={})
        session.add(run)
        session.flush()
        figures["run"] = run.id
        run_id = run.id
    files = module.render(figures, Path(config.outbox) / code)
    if hasattr(module, "after"):
        figures["forms"] = [str(p) for p in module.after(figures, config)]
    with Session(engine) as session, session.begin():
        run = session.get(ReportRun, run_id)
        run.figures = figures
        run.files = {"files": [str(p) for p in files]}
        audit(session, actor, f"report.{kind}", "report_run", str(run_id),
              {"unit": code, "month": figures["month"], "files": [str(p) for p in files], "audit_id": audit_id})
        if scheduled and config.get("mail", "enabled"):
            _mail(session, config, figures, files)
    return figures, files


def _mail(session: Session, config: Any, figures: dict[str, Any], files: list[Path]) -> None:
    """A scheduled report goes by mail (in the transaction that records it, so exactly once) to the deciding
    officers of its unit, and each monthly form to those of the form's unit. Reports made by hand are not
    mailed: the command prints the paths."""
    from processor.mail.outgoing import enqueue_to_officers

    run, kind = figures["run"], figures["kind"]
    enqueue_to_officers(session, config, figures["unit"], subject=f"{TITLES[kind]}：{figures['name']} {figures['month']}",
                        template="report", kind=f"report-{kind}", dedup=f"report:{run}",
                        attachments=[(p, p.name) for p in files],
                        context={"title": TITLES[kind], "month": figures["month"], "run": run,
                                 "audit_id": figures["audit_id"], "files": [p.name for p in files]})
    units = [row["unit"] for row in figures.get("rows", []) if row.get("level") != "school"]
    for unit_code, form in zip(units, (Path(f) for f in figures.get("forms") or []), strict=False):
        enqueue_to_officers(session, config, unit_code, subject=f"月报填报表：{figures['month']}（请填写后交回）",
                            template="monthly_form", kind="monthly-form", dedup=f"monthly-form:{run}:{unit_code}",
                            attachments=[(form, form.name)],
                            context={"month": figures["month"], "file_name": form.name})


def rerender(config: Any, engine: Engine, run_id: int) -> tuple[dict[str, Any], list[Path]]:
    """Render a recorded report again from its stored figures (the same numbers, whatever changed since)."""
    with Session(engine) as session:
        run = session.get(ReportRun, run_id)
        if run is None or not run.figures:
            known = session.scalars(select(ReportRun.id).order_by(ReportRun.id.desc()).limit(5)).all()
            raise ReportError(f"没有编号为 {run_id} 的报表记录",
                              hint=f"最近的报表编号：{'、'.join(map(str, known)) or '（尚无）'}。")
        figures = dict(run.figures)
    files = _module(figures["kind"]).render(figures, Path(config.outbox) / figures["unit"])
    return figures, files
