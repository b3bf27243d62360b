"""Rotation (交流轮岗), kind ``rotation``, started by the sending school:
- without a change of personnel relation (不转人事关系): confirmed by the sending school's authority; the teacher
  stays on the sending school's roll as 交流轮岗中 (out of its active counts while away), and the 交流轮岗 category
  gets a record with the dates and the receiving school (reviewed like a school's own filing). The rotation
  ends with a status change 返岗, which returns the teacher to the counts.
- with a change of personnel relation (转人事关系): the transfer chain — the sending school's authority, the
  receiving school, the receiving school's authority — and then the archive moves as for a transfer (new number,
  records into review at the receiving school), with the 交流轮岗 record there."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from processor.store.models import StatusChange, Unit
from processor.workflows.kinds import transfer
from processor.workflows.kinds.common import (
    ID_FIELD,
    NAME_FIELD,
    add_record,
    authority,
    check_school,
    find_teacher,
    move_archive,
)
from processor.workflows.registry import ApplyContext, Field, Filed, RequestKind, RowCheck, Step, register

KIND = "rotation"
MODES = (("without", "不转人事关系"), ("with", "转人事关系"))
CATEGORY = "rotation"  # the 交流轮岗 sheet of the core pack


def check(ctx: RowCheck) -> Filed | None:
    receiving = check_school(ctx, "to_school", other_than=ctx.unit.code)
    teacher = find_teacher(ctx, at_unit=ctx.unit.code)
    if receiving is None or teacher is None or not transfer.check_move(ctx, teacher, sending=ctx.unit.code):
        return None
    start, end, mode = ctx.values.get("start"), ctx.values.get("end"), ctx.values.get("mode")
    if mode == "without" and not end:
        ctx.error("end", "WF-REQUIRED", "不转人事关系的交流轮岗没有填写结束日期",
                  "请填写计划结束日期（交流结束后由本校提出“返岗”变动申请）。")
        return None
    if start and end and end < start:
        ctx.error("end", "WF-VALUE", f"结束日期 {end} 早于开始日期 {start}", "请核对开始和结束日期。")
        return None
    return Filed(teacher.id, {"mode": mode, "from_school": ctx.unit.code, "to_school": receiving.code,
                              "rotation_type": ctx.values.get("rotation_type"), "start": start, "end": end,
                              "reason": ctx.values.get("reason") or ""})


def steps(session: Session, config: Any, req: Any) -> list[Step]:
    frm, to = req.data["from_school"], req.data["to_school"]
    first = Step(authority(session, frm).unit, "派出学校主管部门")
    if req.data["mode"] == "without":
        return [first]
    return [first, Step(to, "接收学校"), Step(authority(session, to).unit, "接收学校主管部门")]


def _record(ctx: ApplyContext, unit_code: str) -> int:
    data = ctx.request.data
    names = {u.code: u.name for u in ctx.session.query(Unit).filter(Unit.code.in_([data["from_school"], data["to_school"]]))}
    record = {"name": ctx.teacher.name, "id_number": ctx.teacher.id_number, "rotation_type": data["rotation_type"],
              "transfers_personnel_relation": "1" if data["mode"] == "with" else "0",
              "start_month": (data.get("start") or "")[:7] or None, "end_month": (data.get("end") or "")[:7] or None,
              "origin_unit_name": names.get(data["from_school"], ""), "rotation_unit_name": names.get(data["to_school"], "")}
    return add_record(ctx.session, ctx.config, ctx.pack, ctx.teacher, CATEGORY, {k: v for k, v in record.items() if v},
                      unit_code=unit_code, submission_id=ctx.submission_id, now=ctx.now)


def apply(ctx: ApplyContext) -> dict[str, Any]:
    data, teacher = ctx.request.data, ctx.teacher
    if data["mode"] == "with":
        result = move_archive(ctx.session, ctx.config, ctx.pack, teacher, data["to_school"],
                              submission_id=ctx.submission_id, now=ctx.now)
        result["rotation_version"] = _record(ctx, data["to_school"])
        return result
    old = teacher.status
    teacher.status = "rotating"
    ctx.session.add(StatusChange(teacher_id=teacher.id, unit_code=teacher.unit_code, old_status=old, new_status="rotating",
                                 change="rotation", effective_date=data.get("start") or "",
                                 reason=f"交流轮岗到 {data['to_school']}，至 {data.get('end') or ''}", request_id=ctx.request.id,
                                 at=ctx.now))
    return {"old_status": old, "new_status": "rotating", "to": data["to_school"], "end": data.get("end"),
            "rotation_version": _record(ctx, teacher.unit_code)}


KIND_DEF = register(RequestKind(
    kind=KIND, title="交流轮岗申请", prefix="JL",
    fields=(ID_FIELD, NAME_FIELD,
            Field("mode", "交流方式", "choice", options=MODES, width=14),
            Field("to_school", "接收学校代码", "unit", width=14, hint="接收学校的 10 位学校标识码"),
            Field("rotation_type", "交流轮岗类型", "choice", table="rotation_type", exclude=("0",), width=24),
            Field("start", "开始日期", "date", width=12),
            Field("end", "结束日期", "date", required=False, width=12, hint="不转人事关系的必填（计划结束日期）"),
            Field("reason", "备注", required=False, width=24)),
    check=check, steps=steps, apply=apply, blocker=transfer.blocker,
    columns=(("交流方式", lambda r: dict(MODES).get(r.data.get("mode"), "")),
             ("接收学校", lambda r: r.data.get("to_school", "")),
             ("起止日期", lambda r: f"{r.data.get('start') or ''} 至 {r.data.get('end') or ''}")),
    instructions=("由派出学校填写：每行一名本校教师。不转人事关系的，由本校主管部门确认后生效，教师仍在本校名册上（交流轮岗中），"
                  "交流结束后提出“返岗”变动申请；转人事关系的，依次由本校主管部门、接收学校、接收学校主管部门确认，"
                  "然后档案转入接收学校。两种都会在交流轮岗信息中增加一条记录。"),
))
