"""What the shipped kinds share: the teacher columns of a form, finding the teacher, the authority of a school,
and moving a teacher's archive to another school (transfer, rotation with a change of personnel relation)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from processor.reports.facts import record_facts
from processor.review.intake import entry_step
from processor.review.numbering import Numberer
from processor.store.models import LEVEL_NAMES, RecordVersion, Teacher, Unit, WorkflowRequest
from processor.workflows.registry import Field, RowCheck, Step

# Teacher.status: pending (not yet effective), active (在岗), absent (长期离岗, still on the roll), rotating
# (交流轮岗 without a change of personnel relation, still on the roll), left (离职/调出), retired, deceased.
STATUS_NAMES = {"pending": "待审核", "active": "在岗", "absent": "长期离岗", "rotating": "交流轮岗中",
                "left": "离职", "retired": "退休", "deceased": "去世"}
ON_ROLL = ("active", "absent", "rotating")  # on the school's roll (一人一号: another school cannot take them)

ID_FIELD = Field("id_number", "身份证件号", "id_number", width=22, hint="教师的身份证件号（按文本填写，18 位）")
NAME_FIELD = Field("name", "姓名", width=10, hint="与系统中该教师的姓名一致")


def unit_label(session: Session, code: str) -> str:
    unit = session.get(Unit, code)
    return f"{unit.name}（{code}）" if unit else code


def find_teacher(ctx: RowCheck, *, at_unit: str | None = None) -> Teacher | None:
    """The teacher of the row's 身份证件号, whose 姓名 matches; at ``at_unit`` when given (errors on the row)."""
    number = ctx.values.get("id_number")
    if not number:
        return None
    teacher = ctx.session.scalars(select(Teacher).where(Teacher.id_number == number)
                                  .order_by(Teacher.id_type != "1", Teacher.id)).first()
    if teacher is None:
        ctx.error("id_number", "WF-TEACHER-UNKNOWN", f"系统中没有身份证件号为 {number} 的教师",
                  "请核对身份证件号；新教师请先按教师信息采集表报送并审核生效。")
        return None
    name = ctx.values.get("name")
    if name and name != teacher.name:
        ctx.error("name", "WF-TEACHER-NAME", f"姓名“{name}”与系统中该身份证件号的教师姓名“{teacher.name}”不一致",
                  "请核对姓名和身份证件号是否填在了同一行。")
        return None
    if at_unit is not None and teacher.unit_code != at_unit:
        ctx.error("id_number", "WF-TEACHER-ELSEWHERE",
                  f"{teacher.name}（{number}）不是{unit_label(ctx.session, at_unit)}的教师，"
                  f"系统中登记在{unit_label(ctx.session, teacher.unit_code)}",
                  "只能为本单位在册的教师提出申请；如属调动，请由调入学校提出调动申请。")
        return None
    return teacher


def authority(session: Session, school_code: str) -> Step:
    """The school's authority (主管教育行政部门): the unit directly above it."""
    school = session.get(Unit, school_code)
    parent = session.get(Unit, school.parent_code) if school is not None and school.parent_code else None
    if parent is None:
        raise ValueError(f"school {school_code} has no parent unit")
    return Step(parent.code, f"{LEVEL_NAMES.get(parent.level, parent.level)}主管部门")


def ancestor_at(session: Session, code: str, level: str) -> Unit | None:
    unit = session.get(Unit, code)
    seen: set[str] = set()
    while unit is not None and unit.parent_code and unit.code not in seen:
        seen.add(unit.code)
        unit = session.get(Unit, unit.parent_code)
        if unit is not None and unit.level == level:
            return unit
    return None


def check_school(ctx: RowCheck, code_field: str, *, other_than: str) -> Unit | None:
    """The school named in ``code_field``: a known school with an authority, not ``other_than``."""
    code = ctx.values.get(code_field)
    if not code:
        return None
    unit = ctx.session.get(Unit, code)
    if unit is None or unit.level != "school":
        ctx.error(code_field, "WF-SCHOOL-UNKNOWN", f"学校代码 {code} 不是单位名录中的学校",
                  "请填写对方学校的 10 位学校标识码（可用 tmis units list 查看）。")
        return None
    if unit.code == other_than:
        ctx.error(code_field, "WF-SCHOOL-SAME", f"学校代码 {code} 就是本校", "请填写对方学校的学校标识码。")
        return None
    if not unit.parent_code:
        ctx.error(code_field, "WF-SCHOOL-UNKNOWN", f"学校 {unit.name}（{code}）在单位名录中没有上级单位",
                  "请先在单位名录中为该校填写所属县（区）后再申请。")
        return None
    return unit


def move_archive(session: Session, config: Any, pack: Any, teacher: Teacher, to_school: str, *, submission_id: int,
                 now: datetime) -> dict[str, Any]:
    """The archive moves to ``to_school``: the teacher is on its roll with its next teacher number (highest + 1,
    [numbering]; the old number stays taken), and every effective record is copied as a new version at the
    receiving school that enters review as a new record (processor/review/intake.py entry_step)."""
    old_unit, old_number = teacher.unit_code, teacher.teacher_number
    teacher.unit_code, teacher.status = to_school, "active"
    teacher.teacher_number = None
    session.flush()
    number = Numberer(session, config.get("numbering", "scheme")).assign(teacher)
    step = entry_step(session, config, to_school)
    effective = session.scalars(select(RecordVersion).where(RecordVersion.teacher_id == teacher.id,
                                                            RecordVersion.review_state == "effective")
                                .order_by(RecordVersion.category, RecordVersion.seq)).all()
    rows = [{"teacher_id": teacher.id, "category": v.category, "seq": v.seq, "unit_code": to_school,
             "submission_id": submission_id, "source_sheet": v.source_sheet, "source_row": v.source_row,
             "data": dict(v.data or {}), "review_state": "pending",
             "review_level": step.level if step else "school", "review_unit": step.unit_code if step else None,
             "level_since": now} for v in effective]
    ids: list[int] = []
    if rows:
        ids = list(session.execute(insert(RecordVersion).returning(RecordVersion.id, sort_by_parameter_order=True),
                                   rows).scalars())
        record_facts(session, ids, rows)
    if rows and step is None:
        from processor.review.intake import settle_unreviewed

        settle_unreviewed(session, config, pack, submission_id)
    return {"from": old_unit, "to": to_school, "old_number": old_number or "", "teacher_number": number,
            "versions": len(ids), "review_at": step.unit_code if step else None}


def open_of(session: Session, teacher_id: int, kinds: tuple[str, ...], pred: Any = None) -> WorkflowRequest | None:
    """An open request of one of ``kinds`` about the teacher (``pred(request)`` narrows it)."""
    for req in session.scalars(select(WorkflowRequest).where(WorkflowRequest.teacher_id == teacher_id,
                                                             WorkflowRequest.kind.in_(kinds),
                                                             WorkflowRequest.state == "open")):
        if pred is None or pred(req):
            return req
    return None


def add_record(session: Session, config: Any, pack: Any, teacher: Teacher, category: str, data: dict[str, Any], *,
               unit_code: str, submission_id: int, now: datetime, replace_none: bool = True) -> int:
    """A new record of ``category`` for the teacher (the next seq; a lone 0-无 row's place when
    ``replace_none``), pending review at the school's first step like a school's own filing. Returns its id."""
    versions = session.execute(select(RecordVersion.seq, RecordVersion.data).where(
        RecordVersion.teacher_id == teacher.id, RecordVersion.category == category,
        RecordVersion.review_state.in_(("pending", "effective")))).all()
    seqs = {seq for seq, _d in versions}
    type_field = next((f.code for f in pack.sheets[category].input_fields if f.table), None) if category in pack.sheets else None
    only_none = bool(versions) and type_field is not None and all(
        str((d or {}).get(type_field)) in ("0", "00") for _s, d in versions)
    seq = 1 if not versions or (replace_none and only_none) else max(seqs) + 1
    step = entry_step(session, config, unit_code)
    row = {"teacher_id": teacher.id, "category": category, "seq": seq, "unit_code": unit_code,
           "submission_id": submission_id, "source_sheet": pack.sheets[category].name if category in pack.sheets else "",
           "source_row": 0, "data": data, "review_state": "pending",
           "review_level": step.level if step else "school", "review_unit": step.unit_code if step else None,
           "level_since": now}
    (vid,) = session.execute(insert(RecordVersion).returning(RecordVersion.id, sort_by_parameter_order=True),
                             [row]).scalars()
    record_facts(session, [vid], [row])
    if step is None:
        from processor.review.intake import settle_unreviewed

        settle_unreviewed(session, config, pack, submission_id)
    return int(vid)
