"""Periodic registration of teacher qualifications end to end: the province's rule, credits from a national project
confirmed by the province, the annual assessment and ethics register filed by the county, the due list with what
the archive says for each condition, the signed decision sheet and the decisions written into 教师资格 as a new
effective version; refusals (a deferral without its reason, a record changed meanwhile) change nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from credits_helpers import (
    SCHOOL_A,
    Env,
    cli,
    effective_env,
    fill_inputs,
    fill_template,
    report_json,
    send,
    sheet_of,
    template,
)
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session
from workflow_helpers import KEY, fill_sheet

from processor.store.models import RecordVersion, RegistrationDecision, TrainingProject, WorkflowRequest

RULE = Path(__file__).resolve().parents[1] / "rules" / "credits" / "360000.toml"


@pytest.fixture
def env(instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("TMIS_SIGNING_KEY", KEY)
    rules = tmp_path / "学分规则"
    rules.mkdir()
    # the province asks 120 credits per cycle here (a province sets its own figure in its rule file)
    (rules / "360000.toml").write_text(RULE.read_text(encoding="utf-8").replace(
        "required_credits = 360", "required_credits = 120"), encoding="utf-8")
    monkeypatch.setenv("TMIS_CREDITS_RULES", str(rules))
    e = effective_env(instance, tmp_path)
    e.reload()
    yield e
    e.engine.dispose()


def _due(env: Env) -> dict[str, Any]:
    result = cli(env, "registration", "list", "--unit", "360102", "--cycle", "2021", "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _setup(env: Env, tmp_path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Credits (one national project, confirmed by the province) and the assessment register for the due teachers."""
    teachers = _due(env)["teachers"]
    assert len(teachers) >= 3, teachers
    ok, short, breach = teachers[0], teachers[1], teachers[2]
    plan = template(env, "training-plan", tmp_path / "模板" / "省计划.xlsx", "--unit", "360000")
    out = send(env, fill_template(plan, tmp_path / "交回" / "省级培训计划.xlsx", "培训项目", [
        {"项目编号": "GP-2023-07", "项目名称": "国培计划（2023）骨干教师能力提升", "培训级别": "国家级",
         "培训机构": "江西师范大学", "学时": 100, "开始日期": "2023-07-10", "结束日期": "2023-08-20"}]))
    assert out.status == "accepted", report_json(out)["findings"]
    with Session(env.engine) as s:
        project = s.scalars(select(TrainingProject)).one()
    src = template(env, "training-result", tmp_path / "模板" / "国培结果.xlsx", "--project", str(project.id))
    rows = [{"身份证件号": t["id_number"], "姓名": t["name"], "获得学时": h, "是否合格": "是"}
            for t, h in ((ok, 100), (short, 50), (breach, 100))]
    assert send(env, fill_template(src, tmp_path / "交回" / "国培结果.xlsx", "培训结果", rows)).status == "accepted"
    sheet = sheet_of(env, "360000", "学分确认")
    assert send(env, fill_sheet(sheet, tmp_path / "确认" / sheet.name, confirmer="陈静",
                                every=("确认", ""))).status == "applied"
    register = template(env, "assessment", tmp_path / "模板" / "考核.xlsx", "--unit", "360102")
    src = fill_template(register, tmp_path / "交回" / "考核登记.xlsx", "年度考核", [
        {"身份证件号": t["id_number"], "姓名": t["name"], "考核年度": y, "考核结果": "合格"}
        for t in (ok, short, breach) for y in range(2021, 2026)])
    filled = fill_template(src, src, "师德考核", [
        {"身份证件号": breach["id_number"], "姓名": breach["name"], "考核年度": 2024, "师德考核结论": "不合格",
         "违反师德行为": "2024 年有偿补课，受到警告处分"}])
    assert send(env, filled).status == "accepted"
    return _due(env), [ok, short, breach]


def test_the_due_list_shows_what_the_archive_says_for_each_condition(env: Env, tmp_path: Path) -> None:
    data, (ok, short, breach) = _setup(env, tmp_path)
    by = {t["id_number"]: t for t in data["teachers"]}
    assert (data["years"], data["required"]) == ([2021, 2025], 120)
    assert (by[ok["id_number"]]["credits"], by[ok["id_number"]]["credits_ok"]) == (120, True)
    assert by[ok["id_number"]]["suggestion"] == "合格"
    assert (by[short["id_number"]]["credits"], by[short["id_number"]]["suggestion"]) == (60, "暂缓注册")
    assert by[breach["id_number"]]["ethics_ok"] is False
    assert by[breach["id_number"]]["ethics_text"] == "2024 年师德考核不合格：2024 年有偿补课，受到警告处分"
    assert by[breach["id_number"]]["suggestion"] == "不予注册"
    others = [t for t in data["teachers"] if t["id_number"] not in {ok["id_number"], short["id_number"],
                                                                     breach["id_number"]}]
    assert all(t["assessment_missing"] == [2021, 2022, 2023, 2024, 2025] for t in others)
    ws = load_workbook(data["file"])["定期注册名单"]
    assert ws.cell(1, 1).value == "东湖区教师资格定期注册名单（2021—2025 年注册周期）"
    names = {ws.cell(r, 2).value for r in range(5, ws.max_row + 1)}
    assert {ok["name"], short["name"], breach["name"]} <= names


def test_only_certificates_issued_before_the_cycle_are_due(env: Env) -> None:
    data = _due(env)
    with Session(env.engine) as s:
        held = {v.teacher_id: v.data for v in s.scalars(select(RecordVersion).where(
            RecordVersion.category == "qualification", RecordVersion.review_state == "effective"))}
    expected = {tid for tid, d in held.items() if d.get("certificate_type") not in (None, "0")
                and int(str(d.get("issue_date"))[:4]) < 2021}
    assert {t["teacher_id"] for t in data["teachers"]} == expected
    assert data["due"] == len(expected) > 0


def test_decisions_come_back_signed_into_the_qualification_record(env: Env, tmp_path: Path) -> None:
    _data, (ok, short, breach) = _setup(env, tmp_path)
    result = cli(env, "registration", "issue", "--unit", "360102", "--cycle", "2021", "--format", "json")
    assert result.exit_code == 0, result.output
    issued = json.loads(result.stdout)
    assert len(issued["opened"]) == issued["due"]
    sheet = Path(issued["sheets"][0]["path"])
    filled = fill_inputs(sheet, tmp_path / "注册" / sheet.name, confirmer="王磊", rows={
        ok["id_number"]: {"注册结论": "合格"},
        short["id_number"]: {"注册结论": "暂缓注册", "意见": "周期内学分不足 120"},
        breach["id_number"]: {"注册结论": "不予注册", "意见": "师德考核不合格"}})
    out = send(env, filled)
    assert out.status == "applied", report_json(out)["findings"]
    with Session(env.engine) as s:
        decided = {d.teacher_id: (d.decision, d.reason, d.decided_by) for d in s.scalars(select(RegistrationDecision))}
        assert sorted(decided.values()) == [("1", "", "王磊"), ("2", "周期内学分不足 120", "王磊"),
                                            ("3", "师德考核不合格", "王磊")]
        versions = s.scalars(select(RecordVersion).where(RecordVersion.teacher_id == ok["teacher_id"],
                                                         RecordVersion.category == "qualification")
                             .order_by(RecordVersion.id)).all()
    assert [v.review_state for v in versions] == ["superseded", "effective"]
    assert versions[1].data["periodic_registration_result"] == "1"
    assert versions[1].data["certificate_number"] == versions[0].data["certificate_number"]
    shown = json.loads(cli(env, "teacher", "show", ok["id_number"], "--format", "json").stdout)
    assert shown["effective"]["教师资格"][0]["periodic_registration_result"] == "1"
    assert any(r["kind"] == "registration" and r["state"] == "applied" for r in shown["requests"])
    after = {t["id_number"]: t["decision"] for t in _due(env)["teachers"]}
    assert (after[ok["id_number"]], after[short["id_number"]], after[breach["id_number"]]) == (
        "合格", "暂缓注册", "不予注册")


def _snapshot(env: Env) -> tuple[Any, ...]:
    with Session(env.engine) as s:
        return (sorted((v.id, v.review_state) for v in s.scalars(select(RecordVersion))),
                len(s.scalars(select(RegistrationDecision)).all()),
                sorted((r.id, r.state) for r in s.scalars(select(WorkflowRequest))))


def test_a_deferral_without_its_reason_is_refused_and_changes_nothing(env: Env, tmp_path: Path) -> None:
    issued = json.loads(cli(env, "registration", "issue", "--unit", "360102", "--cycle", "2021",
                            "--format", "json").stdout)
    sheet = Path(issued["sheets"][0]["path"])
    first = _due(env)["teachers"][0]["id_number"]
    before = _snapshot(env)
    out = send(env, fill_inputs(sheet, tmp_path / "注册" / sheet.name, confirmer="王磊",
                                rows={first: {"注册结论": "暂缓注册"}}))
    assert out.status == "refused"
    (hit,) = [f for f in report_json(out)["findings"] if f["rule"] == "WF-INPUT"]
    assert "注册结论为“暂缓注册”，但没有写明原因" in hit["message"]
    assert _snapshot(env) == before


def test_a_decision_on_a_record_changed_meanwhile_is_refused(env: Env, tmp_path: Path) -> None:
    issued = json.loads(cli(env, "registration", "issue", "--unit", "360102", "--cycle", "2021",
                            "--format", "json").stdout)
    sheet = Path(issued["sheets"][0]["path"])
    target = _due(env)["teachers"][0]
    with Session(env.engine) as s, s.begin():  # a correction of the certificate became effective since
        old = s.get(RecordVersion, target["version"])
        old.review_state = "superseded"
        s.add(RecordVersion(teacher_id=old.teacher_id, category="qualification", seq=old.seq, unit_code=old.unit_code,
                            submission_id=old.submission_id, data={**old.data, "issuing_authority": "南昌市教育局"},
                            review_state="effective", review_level="effective"))
    before = _snapshot(env)
    out = send(env, fill_inputs(sheet, tmp_path / "注册" / sheet.name, confirmer="王磊",
                                rows={target["id_number"]: {"注册结论": "合格"}}))
    assert out.status == "refused"
    (hit,) = [f for f in report_json(out)["findings"] if f["rule"] == "WF-TEACHER-STATE"]
    assert "已有新的生效版本" in hit["message"]
    assert _snapshot(env) == before


def test_a_cycle_given_wrongly_is_refused_with_the_fix(env: Env) -> None:
    result = cli(env, "registration", "list", "--unit", "360102", "--cycle", "21")
    assert result.exit_code == 2
    assert "注册周期“21”的格式不对" in result.output


def test_the_assessment_register_refuses_a_teacher_of_another_unit(env: Env, tmp_path: Path) -> None:
    other = env.persons[SCHOOL_A[0]][0]
    register = template(env, "assessment", tmp_path / "模板" / "考核_西湖.xlsx", "--unit", "360103")
    out = send(env, fill_template(register, tmp_path / "交回" / "考核_西湖.xlsx", "年度考核", [
        {"身份证件号": other.id_number, "姓名": other.name, "考核年度": 2025, "考核结果": "优秀"}]))
    assert out.status == "rejected"
    (hit,) = report_json(out)["findings"]
    assert (hit["rule"], hit["column"], hit["row"]) == ("ASSESS-TEACHER-OUTSIDE", "A", 2)


def test_registration_issue_and_decision_on_both_databases(store_instance: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMIS_SIGNING_KEY", KEY)
    env = effective_env(store_instance, tmp_path, n=2)
    try:
        data = _due(env)
        first = data["teachers"][0]
        issued = json.loads(cli(env, "registration", "issue", "--unit", "360102", "--cycle", "2021",
                                "--format", "json").stdout)
        again = json.loads(cli(env, "registration", "issue", "--unit", "360102", "--cycle", "2021",
                               "--format", "json").stdout)
        assert again["opened"] == [] and len(issued["opened"]) == data["due"]  # nothing opened twice
        sheet = Path(issued["sheets"][0]["path"])
        out = send(env, fill_inputs(sheet, tmp_path / "注册" / sheet.name, confirmer="王磊",
                                    rows={first["id_number"]: {"注册结论": "暂缓注册", "意见": "周期内学分不足"}}))
        assert out.status == "applied", report_json(out)["findings"]
        assert {t["id_number"]: t["decision"] for t in _due(env)["teachers"]}[first["id_number"]] == "暂缓注册"
    finally:
        env.engine.dispose()
