"""Requests in the store: open one, record each step, move it on, apply it at the end — each change in the
caller's transaction, each written to ``wf_steps`` and to the audit log (processor/audit.py)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from processor import signing
from processor.audit import audit
from processor.store.models import Teacher, Unit, WorkflowRequest, WorkflowStep
from processor.workflows import registry
from processor.workflows.registry import ApplyContext, RequestKind, Step

ACTOR = "workflow"
STATE_NAMES = {"open": "办理中", "applied": "已办结", "rejected": "未同意", "withdrawn": "已撤回"}
ACTION_NAMES = {"filed": "提出申请", "confirmed": "同意", "rejected": "不同意", "applied": "已办结"}


def new_request_id(kind: RequestKind, now: datetime) -> str:
    return f"{kind.prefix}-{now.astimezone():%Y%m%d}-{uuid.uuid4().hex[:6]}"


def request_hash(req: WorkflowRequest) -> str:
    """What a confirmation sheet lists of a request: it changes whenever the request moves on."""
    return signing.digest({"id": req.id, "kind": req.kind, "unit": req.unit_code, "teacher": req.teacher_id,
                           "data": req.data, "steps": req.steps, "step": req.step, "state": req.state})


def open_request(session: Session, config: Any, kind: RequestKind, *, unit_code: str, teacher_id: int | None,
                 data: dict[str, Any], filed_by: str, submission_id: int | None = None,
                 now: datetime | None = None) -> WorkflowRequest:
    """Open a request of ``kind`` filed by ``unit_code``: its steps are fixed now; it waits at the first one.
    A kind without steps (none configured) is applied at once."""
    now = now or datetime.now(UTC)
    req = WorkflowRequest(id=new_request_id(kind, now), kind=kind.kind, unit_code=unit_code, teacher_id=teacher_id,
                          data=dict(data), steps=[], step=0, state="open", filed_by=filed_by,
                          submission_id=submission_id, result={}, created_at=now, updated_at=now)
    steps = kind.steps(session, config, req)
    req.steps = [s.to_json() for s in steps]
    req.waiting_unit = steps[0].unit if steps else None
    session.add(req)
    session.flush()
    _step(session, req, -1, unit_code, "filed", filed_by, submission_id=submission_id, now=now)
    audit(session, f"officer:{unit_code}:{filed_by}", "workflow.file", "request", req.id,
          {"kind": kind.kind, "unit": unit_code, "teacher": teacher_id, "data": data, "steps": req.steps,
           "submission": submission_id})
    return req


def _step(session: Session, req: WorkflowRequest, step: int, unit: str, action: str, by: str, *, note: str = "",
          values: dict[str, Any] | None = None, sheet_id: str | None = None, submission_id: int | None = None,
          now: datetime) -> WorkflowStep:
    row = WorkflowStep(request_id=req.id, step=step, unit_code=unit, action=action, by=by, note=note,
                       values=dict(values or {}), sheet_id=sheet_id, submission_id=submission_id, at=now)
    session.add(row)
    return row


def current_step(req: WorkflowRequest) -> Step | None:
    if req.state != "open" or req.step >= len(req.steps):
        return None
    s = req.steps[req.step]
    return Step(s["unit"], s["role"])


def confirm(session: Session, config: Any, pack: Any, req: WorkflowRequest, *, by: str, values: dict[str, Any],
            note: str, sheet_id: str | None, submission_id: int | None, now: datetime) -> bool:
    """The waiting unit confirmed: the request moves to the next step, or is applied after the last one.
    Returns True when it was applied."""
    step = current_step(req)
    assert step is not None, req.id
    _step(session, req, req.step, step.unit, "confirmed", by, note=note, values=values, sheet_id=sheet_id,
          submission_id=submission_id, now=now)
    audit(session, f"officer:{step.unit}:{by}", "workflow.confirm", "request", req.id,
          {"kind": req.kind, "step": req.step, "unit": step.unit, "role": step.role, "note": note, "values": values,
           "sheet": sheet_id, "submission": submission_id})
    req.step += 1
    req.updated_at = now
    if req.step < len(req.steps):
        req.waiting_unit = req.steps[req.step]["unit"]
        return False
    apply(session, config, pack, req, now=now, submission_id=submission_id)
    return True


def apply(session: Session, config: Any, pack: Any, req: WorkflowRequest, *, now: datetime,
          submission_id: int | None) -> dict[str, Any]:
    """Apply a request whose every step confirmed (the kind's ``apply``), record and audit it."""
    kind = registry.get(req.kind)
    with session.no_autoflush:  # a flush per request made a sheet of 500 twice as slow
        steps = list(session.scalars(select(WorkflowStep).where(WorkflowStep.request_id == req.id,
                                                                WorkflowStep.action == "confirmed")))
    steps += [o for o in session.new if isinstance(o, WorkflowStep) and o.request_id == req.id
              and o.action == "confirmed" and o not in steps]
    confirmations = [{"unit": s.unit_code, "by": s.by, "values": s.values, "note": s.note, "at": s.at}
                     for s in sorted(steps, key=lambda s: s.step)]
    teacher = session.get(Teacher, req.teacher_id) if req.teacher_id else None
    result = kind.apply(ApplyContext(session, config, pack, req, teacher, confirmations, now, submission_id))
    req.state, req.waiting_unit, req.result, req.closed_at, req.updated_at = "applied", None, result, now, now
    last = req.steps[-1]["unit"] if req.steps else req.unit_code
    _step(session, req, len(req.steps), last, "applied", "", values=result, submission_id=submission_id, now=now)
    audit(session, ACTOR, "workflow.apply", "request", req.id, {"kind": req.kind, "result": result})
    return result


def reject(session: Session, req: WorkflowRequest, *, by: str, note: str, values: dict[str, Any],
           sheet_id: str | None, submission_id: int | None, now: datetime) -> None:
    """The waiting unit did not agree: the request ends rejected, nothing is applied."""
    step = current_step(req)
    assert step is not None, req.id
    _step(session, req, req.step, step.unit, "rejected", by, note=note, values=values, sheet_id=sheet_id,
          submission_id=submission_id, now=now)
    audit(session, f"officer:{step.unit}:{by}", "workflow.reject", "request", req.id,
          {"kind": req.kind, "step": req.step, "unit": step.unit, "role": step.role, "note": note,
           "sheet": sheet_id, "submission": submission_id})
    req.state, req.waiting_unit, req.closed_at, req.updated_at = "rejected", None, now, now


def open_requests(session: Session, kind: str, teacher_id: int) -> list[WorkflowRequest]:
    """The teacher's open requests of ``kind``."""
    return list(session.scalars(select(WorkflowRequest).where(WorkflowRequest.kind == kind,
                                                              WorkflowRequest.teacher_id == teacher_id,
                                                              WorkflowRequest.state == "open")))


def _iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).astimezone().isoformat(timespec="seconds")


def requests_of(session: Session, teacher_id: int) -> list[dict[str, Any]]:
    """The ``"requests"`` of ``tmis teacher show``: every request about the teacher with every step."""
    reqs = session.scalars(select(WorkflowRequest).where(WorkflowRequest.teacher_id == teacher_id)
                           .order_by(WorkflowRequest.created_at, WorkflowRequest.id)).all()
    if not reqs:
        return []
    steps: dict[str, list[WorkflowStep]] = defaultdict(list)
    for s in session.scalars(select(WorkflowStep).where(WorkflowStep.request_id.in_([r.id for r in reqs]))
                             .order_by(WorkflowStep.id)):
        steps[s.request_id].append(s)
    codes = {r.unit_code for r in reqs} | {s["unit"] for r in reqs for s in r.steps}
    names = dict(session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(sorted(codes)))).all())
    out = []
    for r in reqs:
        try:
            title = registry.get(r.kind).title
        except registry.UnknownKind:
            title = r.kind
        out.append({
            "id": r.id, "kind": r.kind, "title": title, "state": r.state, "unit": r.unit_code,
            "unit_name": names.get(r.unit_code, ""), "filed_by": r.filed_by, "data": r.data,
            "step": r.step if r.state == "open" else None, "waiting_at": r.waiting_unit,
            "chain": [{"unit": s["unit"], "name": names.get(s["unit"], ""), "role": s["role"]} for s in r.steps],
            "history": [{"step": s.step, "unit": s.unit_code, "action": s.action, "by": s.by, "at": _iso(s.at),
                         "note": s.note, "sheet": s.sheet_id} for s in steps[r.id]],
            "result": r.result, "created_at": _iso(r.created_at), "closed_at": _iso(r.closed_at)})
    return out
