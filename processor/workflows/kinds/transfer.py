"""Transfers (调动), kind ``transfer``: started by the receiving school, confirmed in turn by the receiving
school's authority, the sending school and the sending school's authority, each on a signed confirmation sheet
to that unit's officers. On the last confirmation the archive moves: the teacher is on the receiving school's
roll with its next teacher number (highest + 1, [numbering]), and every effective record enters review again as
a new record of the receiving school. A transfer of someone not active at the sending school, or with an open
transfer or rotation, is refused with the reason."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from processor.store.models import Teacher
from processor.workflows.kinds.common import (
    ID_FIELD,
    NAME_FIELD,
    STATUS_NAMES,
    authority,
    check_school,
    find_teacher,
    move_archive,
    open_of,
    unit_label,
)
from processor.workflows.registry import ApplyContext, Field, Filed, RequestKind, RowCheck, Step, register

KIND = "transfer"
MOVING = ("transfer", "rotation")  # kinds that move or lend a teacher: one open at a time


def _relation_change(req: Any) -> bool:
    return req.kind == KIND or req.data.get("mode") == "with"


def check_move(ctx: RowCheck, teacher: Teacher, *, sending: str) -> bool:
    """Shared by transfers and rotations: the teacher is active at the sending school and not already moving."""
    if teacher.status != "active":
        ctx.error("id_number", "WF-TEACHER-STATE",
                  f"{teacher.name}在{unit_label(ctx.session, sending)}的状态是“{STATUS_NAMES.get(teacher.status, teacher.status)}”，"
                  "不是在岗教师，不能调动或交流", "长期离岗的教师请先办理返岗；已离职、退休的教师不能调动。")
        return False
    other = open_of(ctx.session, teacher.id, MOVING)
    if other is not None:
        ctx.error("id_number", "WF-OPEN-REQUEST",
                  f"{teacher.name}已有一项办理中的{'调动' if other.kind == KIND else '交流轮岗'}申请 {other.id}",
                  "一名教师同时只能有一项调动或交流轮岗申请；请等该申请办结（或被不同意）后再申请。")
        return False
    return True


def check(ctx: RowCheck) -> Filed | None:
    sending = check_school(ctx, "from_school", other_than=ctx.unit.code)
    if sending is None:
        return None
    teacher = find_teacher(ctx, at_unit=sending.code)
    if teacher is None or not check_move(ctx, teacher, sending=sending.code):
        return None
    return Filed(teacher.id, {"from_school": sending.code, "to_school": ctx.unit.code, "date": ctx.values.get("date"),
                              "reason": ctx.values.get("reason"), "note": ctx.values.get("note") or ""})


def steps(session: Session, config: Any, req: Any) -> list[Step]:
    """Receiving authority, sending school, sending authority."""
    to, frm = req.data["to_school"], req.data["from_school"]
    return [Step(authority(session, to).unit, "调入学校主管部门"), Step(frm, "调出学校"),
            Step(authority(session, frm).unit, "调出学校主管部门")]


def blocker(session: Session, req: Any) -> str | None:
    """The teacher must still be active at the sending school."""
    teacher = session.get(Teacher, req.teacher_id)
    frm = req.data["from_school"]
    if teacher is None:
        return "系统中已没有该教师"
    if teacher.unit_code != frm:
        return f"该教师已不在调出学校{unit_label(session, frm)}（现登记在{unit_label(session, teacher.unit_code)}）"
    if teacher.status != "active":
        return f"该教师目前为“{STATUS_NAMES.get(teacher.status, teacher.status)}”，不是在岗教师"
    return None


def apply(ctx: ApplyContext) -> dict[str, Any]:
    return move_archive(ctx.session, ctx.config, ctx.pack, ctx.teacher, ctx.request.data["to_school"],
                        submission_id=ctx.submission_id, now=ctx.now)


KIND_DEF = register(RequestKind(
    kind=KIND, title="调动申请", prefix="DD",
    fields=(ID_FIELD, NAME_FIELD,
            Field("from_school", "调出学校代码", "unit", width=14, hint="调出学校的 10 位学校标识码"),
            Field("date", "调动日期", "date", width=12, hint="到本校报到的日期，按 YYYY-MM-DD 填写"),
            Field("reason", "调动原因", width=30),
            Field("note", "备注", required=False, width=24)),
    check=check, steps=steps, apply=apply, blocker=blocker,
    columns=(("调出学校", lambda r: r.data.get("from_school", "")), ("调入学校", lambda r: r.data.get("to_school", "")),
             ("调动日期", lambda r: r.data.get("date") or ""), ("调动原因", lambda r: r.data.get("reason") or "")),
    instructions=("由调入学校填写：每行一名调入本校的教师，填写其身份证件号、姓名、调出学校的学校标识码、调动日期和原因。"
                  "报送后依次由本校主管部门、调出学校、调出学校主管部门确认；全部确认后教师档案转入本校，"
                  "按本校编号规则分配新的教师编号，档案作为新记录进入审核。"),
))
