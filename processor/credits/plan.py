"""Training plans and result sheets: the inbox handlers of kinds ``training-plan`` (an authority, or a school for
school-based training and self-study, files its projects) and ``training-result`` (the provider's results for one
project, on the template tmis generated for that project), and that template.

A plan's projects are kept per (unit, project code): a re-sent plan updates a project until results exist for it.
An accepted result sheet waits for the confirmation of the unit the province's rule names (the owner, the
province for national projects, the school's authority for school-based training and self-study); credits enter
the bank only when that unit's signed confirmation comes back (processor/credits/confirm.py)."""

from __future__ import annotations

from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.credits.rule import LEVEL_CODES, CreditRule, province_of, rule_for
from processor.errors import RulePackError, TmisError
from processor.findings import ERROR, WARNING, Finding
from processor.sidepacks import Intake, cell_finding, pack_for_kind, take_in
from processor.store.models import (
    Submission,
    Teacher,
    TrainingProject,
    TrainingResult,
    TrainingResultRow,
    Unit,
)

PLAN, RESULT = "training-plan", "training-result"
# which levels an authority of each level may own (校本 / 自主研修: a school, or an authority for its schools)
OWN_LEVELS = {"province": ("national", "province"), "city": ("city",), "county": ("county",)}
SCHOOL_LEVELS = ("school", "self")
LEVEL_NAMES = {"national": "国家级", "province": "省级", "city": "市级", "county": "县级", "school": "校本",
               "self": "自主研修"}
UNIT_LEVEL_NAMES = {"nation": "中央", "province": "省级", "city": "市级", "county": "县级", "school": "学校"}


class CreditsError(TmisError):
    """A credits command cannot do what was asked (unknown project, no key): one line, exit code 2."""

    exit_code = 2


def is_below(session: Session, code: str, root: str) -> bool:
    """Whether unit ``code`` is ``root`` or lies below it."""
    seen = 0
    while code and seen < 10:
        if code == root:
            return True
        parent = session.scalar(select(Unit.parent_code).where(Unit.code == code))
        code, seen = parent or "", seen + 1
    return False


def confirm_unit_for(session: Session, rule: CreditRule, level: str, owner: str, school: str | None) -> str:
    """The unit that confirms a project's results: the owner, the province, or the school's authority."""
    how = rule.levels[level].confirmed_by
    if how == "province":
        return province_of(session, owner) or owner
    if how == "school_authority" and school:
        parent = session.scalar(select(Unit.parent_code).where(Unit.code == school))
        return parent or owner
    return owner


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value or "")


# ------------------------------------------------------------------------------------------------ the plan
def _plan_check(config: Any, session: Session, wb: Any, records: dict[str, list[Any]],
                unit: Unit | None) -> list[Finding]:
    if unit is None:
        return []
    out: list[Finding] = []
    try:
        rule_for(config, province_of(session, unit.code) or "")
    except RulePackError as exc:
        return [Finding(None, None, None, None, unit.code, "CREDITS-NO-RULE", ERROR, str(exc.message),
                        exc.hint or "请联系系统管理员配置本省的学分换算规则。")]
    for r in records.get("plan", []):
        v = r.values
        level = LEVEL_CODES.get(str(v.get("level") or ""))
        if level is None:
            continue
        if level in SCHOOL_LEVELS:
            school = str(v.get("school") or "").strip()
            target = session.get(Unit, school) if school else None
            if target is None or target.level != "school":
                out.append(cell_finding(wb, "plan", r.excel_row, "school", school, "TRAIN-PLAN-SCHOOL-UNKNOWN",
                                        f"承办学校代码“{school}”不是本系统中的学校",
                                        "请填写承办学校的 10 位学校标识码（tmis units list --level school 可查）。"))
            elif not is_below(session, school, unit.code):
                out.append(cell_finding(wb, "plan", r.excel_row, "school", school, "TRAIN-PLAN-SCHOOL-OUTSIDE",
                                        f"承办学校 {target.name}（{school}）不在{unit.name}的管辖范围内",
                                        "只能为本单位或下属学校申报校本培训和自主研修。"))
        elif unit.level not in OWN_LEVELS or level not in OWN_LEVELS[unit.level]:
            allowed = "、".join(LEVEL_NAMES[x] for x in OWN_LEVELS.get(unit.level, SCHOOL_LEVELS))
            out.append(cell_finding(wb, "plan", r.excel_row, "level", v.get("level"), "TRAIN-PLAN-LEVEL",
                                    f"{UNIT_LEVEL_NAMES.get(unit.level, unit.level)}单位不能申报{LEVEL_NAMES[level]}项目",
                                    f"{unit.name}可以申报的培训级别：{allowed}。国家级项目由省级单位申报，按本省规则折算学分。"))
        code = str(v.get("project_code") or "")
        existing = session.scalar(select(TrainingProject).where(TrainingProject.unit_code == unit.code,
                                                                TrainingProject.project_code == code))
        if existing is not None and _has_results(session, existing) and _changed(existing, v, level):
            out.append(cell_finding(wb, "plan", r.excel_row, "project_code", code, "TRAIN-PLAN-HAS-RESULTS",
                                    f"项目“{code}”（第 {existing.id} 号项目）已收到培训结果，不能再修改",
                                    "已有培训结果的项目保持原样（照原样列出或删除本行均可），新的项目请另编一个项目编号。"))
    return out


def _has_results(session: Session, project: TrainingProject) -> bool:
    return session.scalar(select(TrainingResult.id).where(TrainingResult.project_id == project.id,
                                                          TrainingResult.status != "refused").limit(1)) is not None


def _changed(project: TrainingProject, v: dict[str, Any], level: str | None) -> bool:
    """Whether a plan row says something else about a kept project (a plan re-sent whole, with new projects
    added, repeats the old ones unchanged)."""
    return (project.name, project.level, project.provider, project.hours, project.start_date, project.end_date,
            project.school_code or None) != (str(v.get("project_name") or ""), level, str(v.get("provider") or ""),
                                             int(v.get("hours") or 0), _iso(v.get("start_date")),
                                             _iso(v.get("end_date")), str(v.get("school") or "").strip() or None)


def _plan_store(config: Any, session: Session, sub: Submission, records: dict[str, list[Any]], unit: Unit) -> int:
    rule = rule_for(config, province_of(session, unit.code) or "")
    n = 0
    for r in records.get("plan", []):
        v = r.values
        level = LEVEL_CODES[str(v["level"])]
        school = str(v.get("school") or "").strip() or None
        code = str(v["project_code"])
        confirmer = confirm_unit_for(session, rule, level, unit.code, school)
        project = session.scalar(select(TrainingProject).where(TrainingProject.unit_code == unit.code,
                                                               TrainingProject.project_code == code))
        if project is None:
            project = TrainingProject(unit_code=unit.code, project_code=code)
            session.add(project)
        elif _has_results(session, project):
            continue  # unchanged (checked): the project keeps the plan it was first filed with
        project.confirm_unit = confirmer
        project.name = str(v["project_name"])
        project.level = level
        project.provider = str(v.get("provider") or "")
        project.hours = int(v["hours"])
        project.start_date, project.end_date = _iso(v["start_date"]), _iso(v["end_date"])
        project.school_code = school
        project.remarks = str(v.get("remarks") or "")
        project.plan_submission_id, project.plan_row = sub.id, r.excel_row
        n += 1
    session.flush()
    return n


def handle_plan(job: Any) -> Any:
    """A filled training plan from the inbox: each valid project is kept (or updated) under the filing unit."""
    return take_in(job, Intake(PLAN, check=partial(_plan_check, job.config), store=partial(_plan_store, job.config),
                               audit_action="training.plan"))


# --------------------------------------------------------------------------------------- the result template
def _project(session: Session, project_id: int) -> TrainingProject:
    project = session.get(TrainingProject, project_id)
    if project is None:
        raise CreditsError(f"没有编号为 {project_id} 的培训项目",
                           hint="请用 tmis credits projects --unit 立项单位代码 查看项目编号。")
    return project


def project_claim(project: TrainingProject) -> dict[str, str]:
    """What a result template says about its project (signed, so that a sheet cannot be moved to another project)."""
    return {"kind": RESULT, "project_id": str(project.id), "unit_code": project.unit_code,
            "project_code": project.project_code, "hours": str(project.hours)}


def write_result_template(config: Any, project_id: int, out: str) -> tuple[Path, str, str]:
    """The result sheet of one project for its provider: (path written, project title, owner name)."""
    from processor.cli.template import _output_path
    from processor.feedback import safe_filename
    from processor.signing import sign, signing_key
    from processor.store.db import open_store
    from processor.workbook.template import write_template

    key = signing_key()
    engine = open_store(config)
    try:
        with Session(engine) as session:
            project = _project(session, project_id)
            owner = session.get(Unit, project.unit_code)
            claim = project_claim(project)
            owner_name = owner.name if owner else project.unit_code
            title = f"{project.name}（{LEVEL_NAMES[project.level]}，{project.hours} 学时）"
            notes = [f"培训项目：第 {project.id} 号 {project.project_code} {project.name}",
                     f"培训级别：{LEVEL_NAMES[project.level]}；学时：{project.hours}；培训机构：{project.provider}；"
                     f"时间：{project.start_date} 至 {project.end_date}",
                     "每位参训教师填一行：获得学时不能超过项目学时；是否合格填 是 / 否。填好后交回立项单位，"
                     "经确认后计入教师的学分。"]
    finally:
        engine.dispose()
    name = f"培训结果_{safe_filename(project.project_code, 30)}_{safe_filename(project.name, 40)}.xlsx"
    path = _output_path(out, name)
    pack = pack_for_kind(RESULT)
    extra = {**{f"training_{k}": v for k, v in claim.items() if k != "kind"},
             "training_signature": sign(claim, key)}
    written = write_template(path, pack, RESULT, claim["unit_code"], owner_name, extra_meta=extra, notes=notes)
    return written, title, owner_name


# ------------------------------------------------------------------------------------------ result sheets
def _result_project(session: Session, meta: dict[str, Any]) -> tuple[TrainingProject | None, Finding | None]:
    from processor.signing import SigningKeyMissing, signing_key, verify

    try:
        key = signing_key()
    except SigningKeyMissing as exc:
        return None, Finding(None, None, None, None, None, "RESULT-NO-KEY", ERROR, str(exc.message),
                             "请系统管理员设置 TMIS_SIGNING_KEY 后，把本文件重新放回收件目录。")
    claim = {"kind": RESULT, **{k: str(meta.get(f"training_{k}", "")) for k in
                                ("project_id", "unit_code", "project_code", "hours")}}
    bad = Finding(None, None, None, None, claim["project_id"] or None, "RESULT-SIGNATURE", ERROR,
                  "培训结果表的项目信息缺失或被改动，无法确认是哪个培训项目的结果",
                  "请使用立项单位为本项目生成的培训结果表（tmis template training-result --project 项目编号）重新填写。")
    if not verify(claim, str(meta.get("training_signature", "")), key) or not claim["project_id"].isdigit():
        return None, bad
    project = session.get(TrainingProject, int(claim["project_id"]))
    if project is None or project.unit_code != claim["unit_code"] or str(project.hours) != claim["hours"]:
        return None, Finding(None, None, None, None, claim["project_id"], "RESULT-PROJECT-CHANGED", ERROR,
                             f"第 {claim['project_id']} 号培训项目已不存在或其学时已改动，本结果表已作废",
                             "请向立项单位索取本项目新的培训结果表，按新表重新填写。")
    return project, None


def _result_check(session: Session, wb: Any, records: dict[str, list[Any]], unit: Unit | None) -> list[Finding]:
    project, problem = _result_project(session, wb.meta or {})
    if problem is not None:
        return [problem]
    assert project is not None
    out: list[Finding] = []
    scope = project.school_code or project.unit_code
    already = {tid: rid for tid, rid in session.execute(
        select(TrainingResultRow.teacher_id, TrainingResult.id).join(TrainingResult)
        .where(TrainingResult.project_id == project.id, TrainingResult.status != "refused"))}
    for r in records.get("result", []):
        v = r.values
        number = str(v.get("id_number") or "")
        teacher = session.scalars(select(Teacher).where(Teacher.id_number == number)).first()
        if teacher is None:
            out.append(cell_finding(wb, "result", r.excel_row, "id_number", number, "RESULT-TEACHER-UNKNOWN",
                                    f"身份证件号为“{number}”的教师不在本系统的教师档案中",
                                    "请核对身份证件号；尚未建档的教师须先由学校报送基本信息。"))
            continue
        if not is_below(session, teacher.unit_code, scope):
            where = session.get(Unit, scope)
            out.append(cell_finding(wb, "result", r.excel_row, "id_number", number, "RESULT-TEACHER-OUTSIDE",
                                    f"{teacher.name}不在本项目的范围（{where.name if where else scope}）内的学校",
                                    "只能填写本项目立项单位（校本、自主研修为承办学校）所辖学校的教师；请核对身份证件号。"))
            continue
        if teacher.id in already:
            out.append(cell_finding(wb, "result", r.excel_row, "id_number", number, "RESULT-ALREADY",
                                    f"{teacher.name}已在本项目的第 {already[teacher.id]} 号培训结果中",
                                    "同一教师在一个项目中只计一次：请删除本行。"))
        name = str(v.get("name") or "")
        if name and name != teacher.name:
            out.append(cell_finding(wb, "result", r.excel_row, "name", name, "RESULT-NAME-MISMATCH",
                                    f"姓名“{name}”与档案中该身份证件号的姓名“{teacher.name}”不一致",
                                    "请核对姓名和身份证件号是否属于同一位教师。", WARNING))
        hours = v.get("hours")
        if hours is not None and int(hours) > project.hours:
            out.append(cell_finding(wb, "result", r.excel_row, "hours", hours, "RESULT-HOURS-ABOVE",
                                    f"获得学时 {hours} 超过本项目的学时 {project.hours}",
                                    f"获得学时不能超过 {project.hours}，请核对。"))
    return out


def _result_store(config: Any, meta: dict[str, Any], session: Session, sub: Submission,
                  records: dict[str, list[Any]], unit: Unit) -> int:
    from processor.credits.confirm import request_confirmation

    project, _ = _result_project(session, meta)
    assert project is not None
    rule = rule_for(config, province_of(session, project.unit_code) or "")
    result = TrainingResult(project_id=project.id, submission_id=sub.id, status="awaiting",
                            confirm_unit=project.confirm_unit, rows=len(records.get("result", [])),
                            received_at=sub.received_at)
    session.add(result)
    session.flush()
    for r in records.get("result", []):
        v = r.values
        teacher = session.scalars(select(Teacher).where(Teacher.id_number == str(v["id_number"]))).first()
        passed = str(v.get("passed")) == "1"
        hours = int(v.get("hours") or 0)
        credits = rule.credits(project.level, hours) if passed else 0
        session.add(TrainingResultRow(result_id=result.id, row=r.excel_row, teacher_id=teacher.id,  # type: ignore[union-attr]
                                      name=teacher.name, hours=hours, passed=passed,  # type: ignore[union-attr]
                                      credits_milli=int(credits * 1000)))
    session.flush()
    request_confirmation(session, config, result, project, rule)
    return result.rows


def handle_result(job: Any) -> Any:
    """A provider's filled result sheet: checked against the project and the archive; accepted, it waits for the
    confirming unit's signed sheet (issued in the same transaction)."""
    return take_in(job, Intake(RESULT, check=_result_check, store=partial(_result_store, job.config, job.wb.meta or {}),
                               audit_action="training.result"))
