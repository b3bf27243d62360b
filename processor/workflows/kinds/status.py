"""Status changes (变动管理), kind ``status-change``: long absence, leaving, retirement, death and return, with
date and reason, filed by the school and confirmed by its authority at the levels of
``[workflows] status_change_levels`` (default the county; a county whose personnel section also reviews adds
nothing here — its officers confirm on the county's sheet). Applying it sets the teacher's status and keeps
the change in ``teacher_status_history``; a teacher who left is out of the active counts, never deleted."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from processor.store.models import StatusChange, Teacher
from processor.workflows.kinds.common import (
    ID_FIELD,
    NAME_FIELD,
    STATUS_NAMES,
    ancestor_at,
    find_teacher,
    open_of,
)
from processor.workflows.registry import ApplyContext, Field, Filed, RequestKind, RowCheck, Step, register

KIND = "status-change"
CHANGES = (("absence", "长期离岗"), ("leave", "离职"), ("retire", "退休"), ("death", "去世"), ("return", "返岗"))
NEW_STATUS = {"absence": "absent", "leave": "left", "retire": "retired", "death": "deceased", "return": "active"}
# the statuses each change may start from
FROM = {"absence": ("active",), "leave": ("active", "absent"), "retire": ("active", "absent"),
        "death": ("active", "absent", "rotating"), "return": ("absent", "rotating")}


def _allowed(change: str, status: str) -> str | None:
    if status in FROM[change]:
        return None
    label = dict(CHANGES)[change]
    return (f"该教师目前为“{STATUS_NAMES.get(status, status)}”，不能办理“{label}”"
            f"（只有{'、'.join(STATUS_NAMES[s] for s in FROM[change])}的教师可以）")


def check(ctx: RowCheck) -> Filed | None:
    teacher = find_teacher(ctx, at_unit=ctx.unit.code)
    change = ctx.values.get("change")
    if teacher is None or not change:
        return None
    why = _allowed(change, teacher.status)
    if why:
        ctx.error("change", "WF-TEACHER-STATE", why, "请核对变动类型；返岗只适用于长期离岗或交流轮岗中的教师。")
        return None
    if open_of(ctx.session, teacher.id, (KIND,)) is not None:
        ctx.error("id_number", "WF-OPEN-REQUEST", f"{teacher.name}已有一项办理中的变动申请",
                  "请等该申请办结（或被上级不同意）后再提出新的变动申请。")
        return None
    return Filed(teacher.id, {"change": change, "date": ctx.values.get("date"), "reason": ctx.values.get("reason"),
                              "note": ctx.values.get("note") or ""})


def steps(session: Session, config: Any, req: Any) -> list[Step]:
    out = []
    for level in config.get("workflows", "status_change_levels"):
        unit = ancestor_at(session, req.unit_code, level)
        if unit is not None:
            out.append(Step(unit.code, f"主管部门（{unit.name}）"))
    return out


def blocker(session: Session, req: Any) -> str | None:
    teacher = session.get(Teacher, req.teacher_id)
    if teacher is None:
        return "系统中已没有该教师"
    if teacher.unit_code != req.unit_code:
        return f"该教师已不在申请学校（现登记在 {teacher.unit_code}）"
    return _allowed(req.data["change"], teacher.status)


def apply(ctx: ApplyContext) -> dict[str, Any]:
    teacher = ctx.teacher
    change = ctx.request.data["change"]
    old, new = teacher.status, NEW_STATUS[change]
    teacher.status = new
    ctx.session.add(StatusChange(teacher_id=teacher.id, unit_code=teacher.unit_code, old_status=old, new_status=new,
                                 change=change, effective_date=ctx.request.data.get("date") or "",
                                 reason=ctx.request.data.get("reason") or "", request_id=ctx.request.id, at=ctx.now))
    return {"old_status": old, "new_status": new, "status": STATUS_NAMES[new], "date": ctx.request.data.get("date")}


KIND_DEF = register(RequestKind(
    kind=KIND, title="变动申请", prefix="BD",
    fields=(ID_FIELD, NAME_FIELD,
            Field("change", "变动类型", "choice", options=CHANGES, width=12),
            Field("date", "变动日期", "date", width=12, hint="变动生效的日期，按 YYYY-MM-DD 填写，例如 2026-09-01"),
            Field("reason", "变动原因", width=30, hint="写明原因，例如 因病长期休养、调往外省、到龄退休"),
            Field("note", "备注", required=False, width=24)),
    check=check, steps=steps, apply=apply, blocker=blocker,
    columns=(("变动类型", lambda r: dict(CHANGES).get(r.data.get("change"), "")),
             ("变动日期", lambda r: r.data.get("date") or ""),
             ("变动原因", lambda r: r.data.get("reason") or "")),
    instructions=("每行填写一名本校教师的变动：长期离岗、离职、退休、去世，或长期离岗、交流轮岗结束后的返岗。写明变动日期和原因。"
                  "报送后由主管部门确认，确认后生效；教师记录不会被删除，变动情况留有记录。"),
))
