"""Confirming training results (学分确认), request kind ``credit-confirm`` on the workflows mechanism.

An accepted result sheet opens one request per teacher who passed, waiting at the project's confirming unit (the
owner; the province for national projects; the school's authority for school-based training and self-study), and
issues that unit's signed confirmation sheet (确认单) in the same transaction. Each row the officer marks 确认
enters the credits in the teacher's account, traceable to plan, project, result sheet and the confirmation;
不予确认 (with the reason) enters nothing. Once no request of a result sheet is open, the result is settled."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from processor.credits.bank import from_milli, number
from processor.credits.plan import LEVEL_NAMES
from processor.credits.rule import CreditRule
from processor.store.models import (
    CreditEntry,
    TrainingProject,
    TrainingResult,
    TrainingResultRow,
    Unit,
    WorkflowRequest,
    WorkflowStep,
)
from processor.workflows import confirm as sheets
from processor.workflows import state
from processor.workflows.registry import (
    CONFIRM,
    REJECT,
    AfterSheet,
    ApplyContext,
    Input,
    RequestKind,
    Step,
    register,
)

KIND = "credit-confirm"


def request_confirmation(session: Session, config: Any, result: TrainingResult, project: TrainingProject,
                         rule: CreditRule) -> list[Any]:
    """Open a request per passed row of ``result`` and issue the confirming unit's sheet; returns the sheets."""
    kind = KIND_DEF
    rows = session.scalars(select(TrainingResultRow).where(TrainingResultRow.result_id == result.id,
                                                           TrainingResultRow.passed.is_(True))
                           .order_by(TrainingResultRow.row)).all()
    for row in rows:
        state.open_request(session, config, kind, unit_code=project.unit_code, teacher_id=row.teacher_id,
                           data={"result": result.id, "row": row.id, "project": project.id,
                                 "project_name": project.name, "level": project.level, "hours": row.hours,
                                 "credits": number(from_milli(row.credits_milli)), "rule": rule.version,
                                 "province": rule.province},
                           filed_by=project.provider or "培训机构", submission_id=result.submission_id)
    if not rows:
        result.status = "confirmed"
        return []
    return sheets.issue_waiting(session, config, unit=result.confirm_unit)


def _steps(session: Session, config: Any, req: Any) -> list[Step]:
    project = session.get(TrainingProject, req.data["project"])
    unit = session.get(Unit, project.confirm_unit) if project else None
    return [Step(project.confirm_unit, f"学分确认单位（{unit.name if unit else project.confirm_unit}）")] \
        if project else []


def _blocker(session: Session, req: Any) -> str | None:
    taken = session.scalar(select(CreditEntry.id).where(CreditEntry.project_id == req.data["project"],
                                                        CreditEntry.teacher_id == req.teacher_id))
    return "该教师本项目的学分已经计入（另一份培训结果已确认）" if taken else None


def _apply(ctx: ApplyContext) -> dict[str, Any]:
    s, data = ctx.session, ctx.request.data
    row = s.get(TrainingResultRow, data["row"])
    result = s.get(TrainingResult, data["result"])
    project = s.get(TrainingProject, data["project"])
    last = ctx.confirmations[-1]
    row.decision = "confirm"
    entry = CreditEntry(teacher_id=ctx.request.teacher_id, year=int(project.end_date[:4]), level=project.level,
                        hours=row.hours, credits_milli=row.credits_milli, project_id=project.id, result_id=result.id,
                        result_row_id=row.id, plan_submission_id=project.plan_submission_id,
                        result_submission_id=result.submission_id, confirmation=ctx.request.id,
                        confirm_unit=last["unit"], confirmed_by=last["by"], confirmed_at=ctx.now,
                        rule_province=str(data.get("province", "")), rule_version=str(data.get("rule", "")))
    s.add(entry)
    s.flush()
    return {"entry": entry.id, "credits": data["credits"], "hours": row.hours, "year": entry.year,
            "project": project.name}


def _after_sheet(done: AfterSheet) -> None:
    """Rows not confirmed keep the reason; a result sheet with nothing open any more is settled."""
    s = done.session
    results: set[int] = set()
    for req_id in done.rejected:
        req = done.requests[req_id]
        row = s.get(TrainingResultRow, req.data["row"])
        row.decision = "refuse"
        row.reason = s.scalar(select(WorkflowStep.note).where(WorkflowStep.request_id == req_id,
                                                              WorkflowStep.action == "rejected")) or ""
        results.add(req.data["result"])
    results |= {done.requests[r].data["result"] for r in done.applied}
    for result_id in sorted(results):
        result = s.get(TrainingResult, result_id)
        still_open = s.scalar(select(func.count()).select_from(WorkflowRequest).where(
            WorkflowRequest.kind == KIND, WorkflowRequest.state == "open",
            WorkflowRequest.data["result"].as_integer() == result_id)) or 0
        if still_open:
            continue
        confirmed = s.scalar(select(func.count()).select_from(TrainingResultRow).where(
            TrainingResultRow.result_id == result_id, TrainingResultRow.decision == "confirm")) or 0
        result.status = "confirmed" if confirmed else "refused"
        result.confirmation, result.confirmed_by, result.confirmed_at = done.sheet_id, done.confirmer, done.now


def _level(req: Any) -> str:
    return LEVEL_NAMES.get(req.data.get("level"), "")


KIND_DEF = register(RequestKind(
    kind=KIND, title="学分确认", prefix="XF", fields=(), check=lambda _ctx: None, steps=_steps, apply=_apply,
    blocker=_blocker,
    columns=(("培训项目", lambda r: f"第 {r.data['project']} 号 {r.data.get('project_name', '')}"),
             ("培训级别", _level), ("获得学时", lambda r: str(r.data.get("hours", ""))),
             ("折算学分", lambda r: str(r.data.get("credits", "")))),
    inputs=(Input("result", "确认结果", (("确认", CONFIRM), ("不予确认", REJECT)), 12), Input("note", "意见", (), 40)),
    filer_levels=(), after_sheet=_after_sheet,
    instructions="培训机构交来的培训结果：每位合格教师一行。确认后学分计入教师的学分账户；不予确认须写明意见。"))
