"""Registration decisions (注册决定), request kind ``registration`` on the workflows mechanism.

`tmis registration issue --unit CODE --cycle YYYY` opens one request per due certificate not yet decided for the
cycle (and on no open request), waiting at the unit, and issues its signed sheet: the conditions as the archive
shows them (read only) and the 注册结论 to choose (合格 / 暂缓注册 / 不予注册, the last two with the reason). On
the sheet's return every decided row writes a new version of that 教师资格 record — the same fields with 定期注册日期
and 定期注册结论 — made effective through the review chain's own step (it supersedes the old version), and a
RegistrationDecision row that names the request, the officer and the credits the archive showed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from processor.credits.bank import milli
from processor.registration.due import QUALIFICATION, RESULT_CODES, due
from processor.reports.facts import record_facts
from processor.review.decide import VersionRef, make_effective
from processor.store.models import RecordVersion, RegistrationDecision, Teacher, Unit, WorkflowRequest
from processor.workflows import confirm as sheets
from processor.workflows import state
from processor.workflows.registry import CONFIRM, ApplyContext, Input, RequestKind, Step, register

KIND = "registration"


def issue(session: Session, config: Any, pack: Any, unit: str, cycle: str | int, *, filed_by: str) -> dict[str, Any]:
    """Open the requests of the due certificates of ``unit`` in ``cycle`` and issue the decision sheet."""
    data = due(session, config, pack, unit, cycle)
    taken = {(r.teacher_id, r.data.get("seq")) for r in session.scalars(select(WorkflowRequest).where(
        WorkflowRequest.kind == KIND, WorkflowRequest.state == "open",
        WorkflowRequest.data["cycle"].as_integer() == data["cycle"]))}
    opened = []
    for t in data["teachers"]:
        if t["decision"] is not None or (t["teacher_id"], t["seq"]) in taken:
            continue
        keep = {k: t[k] for k in ("seq", "version", "certificate_type", "certificate_number", "credits", "required",
                                  "assessment_text", "ethics_text", "suggestion", "school_name")}
        req = state.open_request(session, config, KIND_DEF, unit_code=unit, teacher_id=t["teacher_id"],
                                 data={"cycle": data["cycle"], "years": data["years"], **keep}, filed_by=filed_by)
        opened.append(req.id)
    issued = sheets.issue_waiting(session, config, unit=unit) if opened else []
    return {"unit": unit, "cycle": data["cycle"], "due": data["due"], "opened": opened,
            "sheets": [{"sheet_id": s.sheet_id, "path": str(s.path), "requests": len(s.requests)} for s in issued]}


def _steps(session: Session, config: Any, req: Any) -> list[Step]:
    unit = session.get(Unit, req.unit_code)
    return [Step(req.unit_code, f"注册机构（{unit.name if unit else req.unit_code}）")]


def _blocker(session: Session, req: Any) -> str | None:
    teacher = session.get(Teacher, req.teacher_id)
    if teacher is None:
        return "系统中已没有该教师"
    if teacher.status == "left":
        return f"{teacher.name}已离职"
    current = session.scalar(select(RecordVersion.id).where(
        RecordVersion.teacher_id == req.teacher_id, RecordVersion.category == QUALIFICATION,
        RecordVersion.seq == req.data["seq"], RecordVersion.review_state == "effective"))
    if current != req.data["version"]:
        return "该教师资格记录在签发后已有新的生效版本，请重新生成注册决定单"
    return None


def _input_check(values: dict[str, str]) -> tuple[str, str, str] | None:
    if values.get("decision") in ("暂缓注册", "不予注册") and not values.get("note"):
        return ("note", f"注册结论为“{values['decision']}”，但没有写明原因",
                "暂缓注册、不予注册须写明原因（例如 学分不足、年度考核不合格），教师和学校才知道怎么办。")
    return None


def _apply(ctx: ApplyContext) -> dict[str, Any]:
    s, data, last = ctx.session, ctx.request.data, ctx.confirmations[-1]
    decision = str(last["values"].get("decision", ""))
    code = RESULT_CODES[decision]
    at = last["at"] if isinstance(last["at"], datetime) else ctx.now
    day = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone().date().isoformat()
    old = s.get(RecordVersion, data["version"])
    row = {"teacher_id": old.teacher_id, "category": QUALIFICATION, "seq": old.seq, "unit_code": old.unit_code,
           "submission_id": ctx.submission_id, "source_sheet": old.source_sheet, "source_row": old.source_row,
           "data": {**old.data, "periodic_registration_date": day, "periodic_registration_result": code},
           "review_state": "pending", "review_level": "school", "review_unit": None, "level_since": ctx.now}
    (vid,) = s.execute(insert(RecordVersion).returning(RecordVersion.id), [row]).scalars()
    record_facts(s, [vid], [row])
    make_effective(s, [VersionRef(vid, old.teacher_id, QUALIFICATION, old.seq, old.unit_code, "registration")],
                   person_sheet=(getattr(ctx.pack, "settings", {}) or {}).get("person_sheet", "basic"),
                   scheme=ctx.config.get("numbering", "scheme"), now=ctx.now)
    s.add(RegistrationDecision(teacher_id=old.teacher_id, cycle=int(data["cycle"]), seq=old.seq,
                               unit_code=last["unit"], decision=code, reason=last.get("note") or "",
                               decided_by=last["by"], confirmation=ctx.request.id, version_id=vid,
                               credits_milli=milli(data.get("credits") or 0), at=ctx.now))
    return {"decision": decision, "date": day, "version": vid, "superseded": old.id}


KIND_DEF = register(RequestKind(
    kind=KIND, title="定期注册", prefix="ZC", fields=(), check=lambda _ctx: None, steps=_steps, apply=_apply,
    blocker=_blocker, input_check=_input_check,
    columns=(("学校", lambda r: r.data.get("school_name", "")),
             ("教师资格证", lambda r: f"{r.data.get('certificate_type', '')} {r.data.get('certificate_number', '')}"),
             ("周期内学分/要求", lambda r: f"{r.data.get('credits')} / {r.data.get('required')}"),
             ("年度考核", lambda r: r.data.get("assessment_text", "")),
             ("师德", lambda r: r.data.get("ethics_text", "")),
             ("建议结论", lambda r: r.data.get("suggestion", ""))),
    inputs=(Input("decision", "注册结论", (("合格", CONFIRM), ("暂缓注册", CONFIRM), ("不予注册", CONFIRM)), 12),
            Input("note", "意见", (), 40)),
    filer_levels=(),
    instructions="教师资格定期注册：逐人选择注册结论；暂缓注册、不予注册须写明原因。确认后结论写入该教师的教师资格记录。"))
