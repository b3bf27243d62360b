"""Training credits end to end with real files: the province's conversion rule as data (and a bad rule file named
with its line), a training plan filed by a county, the result sheet tmis generates for one project filled by the
provider, the county's signed confirmation, the credit bank (`tmis credits show`) and the credit report; plus
the refusals (wrong unit, replayed, tampered project, wrong state) that change nothing."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from credits_helpers import (
    SCHOOL_A,
    SCHOOL_B,
    Env,
    cli,
    effective_env,
    fill_template,
    report_json,
    send,
    template,
)
from external import poppler
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from workflow_helpers import KEY, fill_sheet

from processor.credits.rule import load_rule
from processor.errors import RulePackError
from processor.store.models import CreditEntry, TrainingProject, TrainingResult, WorkflowRequest

RULE = Path(__file__).resolve().parents[1] / "rules" / "credits" / "360000.toml"
PLAN_ROWS = [
    {"项目编号": "DH-2026-01", "项目名称": "东湖区初中语文教师培训", "培训级别": "4-县级", "培训机构": "东湖区教师进修学校",
     "学时": 40, "开始日期": "2026-03-02", "结束日期": "2026-03-20"},
    {"项目编号": "DH-2026-02", "项目名称": "南昌一中校本研修", "培训级别": "校本", "培训机构": "南昌市第一中学",
     "学时": 50, "开始日期": "2026-04-01", "结束日期": "2026-06-30", "承办学校代码": SCHOOL_A[0]},
]


@pytest.fixture
def env(instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("TMIS_SIGNING_KEY", KEY)
    e = effective_env(instance, tmp_path)
    yield e
    e.engine.dispose()


def _plan(env: Env, tmp_path: Path, rows: list[dict[str, Any]] = PLAN_ROWS, unit: str = "360102",
          name: str = "培训计划.xlsx") -> Any:
    src = template(env, "training-plan", tmp_path / "模板" / f"计划_{unit}.xlsx", "--unit", unit)
    return send(env, fill_template(src, tmp_path / "交回" / name, "培训项目", rows))


def _project(env: Env, code: str) -> TrainingProject:
    with Session(env.engine) as s:
        return s.scalars(select(TrainingProject).where(TrainingProject.project_code == code)).one()


def _result_rows(env: Env, *specs: tuple[str, int, int, str]) -> list[dict[str, Any]]:
    """(school code, person index, hours, 是否合格) → rows as the provider types them."""
    return [{"身份证件号": env.persons[school][i].id_number, "姓名": env.persons[school][i].name, "获得学时": hours,
             "是否合格": passed} for school, i, hours, passed in specs]


def _results(env: Env, tmp_path: Path, project: int, rows: list[dict[str, Any]], name: str = "培训结果.xlsx") -> Any:
    src = template(env, "training-result", tmp_path / "模板" / f"结果_{project}.xlsx", "--project", str(project))
    return send(env, fill_template(src, tmp_path / "交回" / name, "培训结果", rows))


def _sheet(env: Env, unit: str = "360102") -> Path:
    return sorted((env.outbox / unit).glob("学分确认确认单_*.xlsx"), key=lambda p: p.stat().st_mtime_ns)[-1]


def _credits(env: Env, number: str) -> dict[str, Any]:
    result = cli(env, "credits", "show", number, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _snapshot(env: Env) -> tuple[Any, ...]:
    with Session(env.engine) as s:
        return (s.scalar(select(func.count()).select_from(CreditEntry)),
                sorted((r.id, r.status) for r in s.scalars(select(TrainingResult))),
                sorted((r.id, r.state, r.step) for r in s.scalars(select(WorkflowRequest))))


# ------------------------------------------------------------------------------------------- the rule
def test_the_shipped_rule_converts_hours_per_level_and_caps_per_project() -> None:
    rule = load_rule(RULE)
    assert rule.credits("county", 40) == Decimal("40.0")
    assert rule.credits("national", 100) == Decimal("120.0")
    assert rule.credits("national", 200) == Decimal("150")  # max_per_project
    assert rule.credits("school", 50) == Decimal("40.0")
    assert rule.required_credits == Decimal(360) and rule.cycle_years == 5


def test_caps_per_year_and_per_cycle_apply_when_credits_are_counted() -> None:
    rule = load_rule(RULE)
    entries = [("school", 2021, Decimal(40)), ("school", 2022, Decimal(25)), ("school", 2023, Decimal(30)),
               ("school", 2024, Decimal(30)), ("school", 2025, Decimal(30)), ("county", 2022, Decimal(40))]
    counted = rule.counted(entries, 5)
    assert counted["by_level"] == {"school": Decimal(120), "county": Decimal(40)}  # 30+25+30+30+30 = 145 → cycle cap 120
    assert counted["counted"] == Decimal(160) and counted["raw"] == Decimal(195)


def test_a_bad_rule_file_is_named_with_its_line_and_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "360000.toml"
    bad.write_text(RULE.read_text(encoding="utf-8").replace('confirmed_by = "school_authority"\n',
                                                              'confirmed_by = "county"\n', 1), encoding="utf-8")
    line = next(i for i, text in enumerate(bad.read_text(encoding="utf-8").splitlines(), start=1)
                if text == 'confirmed_by = "county"')
    with pytest.raises(RulePackError) as caught:
        load_rule(bad)
    assert str(caught.value) == (f"{bad}：第 {line} 行：[levels.school] 的 confirmed_by “county”无效。"
                                 "可用：owner、province、school_authority。")


def test_rules_check_accepts_the_rule_and_refuses_a_missing_level(runner: Any, tmp_path: Path) -> None:
    from processor.cli import main

    ok = runner.invoke(main, ["rules", "check", str(RULE)])
    assert ok.exit_code == 0, ok.output
    assert "学分换算规则有效：360000.toml" in ok.output
    text = RULE.read_text(encoding="utf-8")
    start = text.index("[levels.self]")
    (tmp_path / "360000.toml").write_text(text[:start] + text[text.index("[registration]"):], encoding="utf-8")
    bad = runner.invoke(main, ["rules", "check", str(tmp_path / "360000.toml")])
    assert bad.exit_code == 2
    assert "缺少级别 self 的换算" in bad.output


# ------------------------------------------------------------------------------------------- the plan
def test_a_plan_is_checked_with_findings_on_the_right_cell(env: Env, tmp_path: Path) -> None:
    rows = [dict(PLAN_ROWS[0]),
            {**PLAN_ROWS[0], "项目编号": "DH-2026-09", "培训级别": "省级"},
            {**PLAN_ROWS[1], "结束日期": "2026-03-30"},
            {**PLAN_ROWS[1], "项目编号": "DH-2026-10", "承办学校代码": "3601030001"},
            {**PLAN_ROWS[0], "项目编号": "DH-2026-01"}]
    out = _plan(env, tmp_path, rows, name="培训计划_有错.xlsx")
    assert out.status == "rejected"
    found = {(f["rule"], f"{f['column']}{f['row']}") for f in report_json(out)["findings"]}
    assert found == {("TRAIN-PLAN-LEVEL", "C3"), ("TRAIN-PLAN-DATES", "G4"), ("TRAIN-PLAN-SCHOOL-OUTSIDE", "H5"),
                     ("TRAIN-PLAN-DUPLICATE", "A6")}
    assert env.count(TrainingProject) == 0
    marked = load_workbook(out.report_path)["培训项目"]["C3"].comment.text
    assert "县级单位不能申报省级项目" in marked


def test_a_good_plan_keeps_its_projects_with_the_unit_that_confirms(env: Env, tmp_path: Path) -> None:
    out = _plan(env, tmp_path)
    assert out.status == "accepted", report_json(out)["findings"]
    result = cli(env, "credits", "projects", "--unit", "360102", "--format", "json")
    projects = json.loads(result.stdout)["projects"]
    assert [(p["code"], p["level"], p["hours"], p["confirm_unit"], p["school"]) for p in projects] == [
        ("DH-2026-01", "county", 40, "360102", None), ("DH-2026-02", "school", 50, "360102", SCHOOL_A[0])]


# --------------------------------------------------------------------------------- plan → result → credits
def test_a_project_from_plan_to_credits_through_the_signed_confirmation(env: Env, tmp_path: Path) -> None:
    assert _plan(env, tmp_path).status == "accepted"
    project = _project(env, "DH-2026-01")
    out = _results(env, tmp_path, project.id, _result_rows(env, (SCHOOL_A[0], 0, 40, "是"), (SCHOOL_A[0], 1, 36, "1-是"),
                                                             (SCHOOL_B[0], 0, 20, "否")))
    assert out.status == "accepted", report_json(out)["findings"]
    a0, a1 = env.persons[SCHOOL_A[0]][0].id_number, env.persons[SCHOOL_A[0]][1].id_number
    assert _credits(env, a0)["entries"] == []  # nothing before the owner confirmed
    sheet = _sheet(env)
    rows = [c.value for c in load_workbook(sheet)["确认单"]["C"] if c.value]
    assert env.persons[SCHOOL_A[0]][0].name in rows and env.persons[SCHOOL_B[0]][0].name not in rows  # passed only
    back = send(env, fill_sheet(sheet, tmp_path / "确认" / sheet.name, confirmer="王磊", every=("确认", "")))
    assert back.status == "applied", back.message
    account = _credits(env, a1)
    assert account["total"] == 36
    (entry,) = account["entries"]
    assert (entry["year"], entry["level"], entry["hours"], entry["credits"]) == (2026, "county", 36, 36)
    assert entry["project"]["code"] == "DH-2026-01" and entry["plan"]["file"] == "培训计划.xlsx"
    assert entry["result"]["file"] == "培训结果.xlsx"
    assert (entry["confirmation"]["unit"], entry["confirmation"]["by"]) == ("360102", "王磊")
    assert entry["confirmation"]["request"].startswith("XF-") and entry["rule"] == "360000 2026.1"
    with Session(env.engine) as s:
        assert s.scalars(select(TrainingResult.status)).all() == ["confirmed"]
    text = cli(env, "credits", "show", a0)
    assert "40 学时 → 40 学分" in text.output and "王磊" in text.output


def test_school_based_training_is_converted_by_its_level_and_confirmed_by_the_schools_authority(
        env: Env, tmp_path: Path) -> None:
    assert _plan(env, tmp_path).status == "accepted"
    project = _project(env, "DH-2026-02")
    out = _results(env, tmp_path, project.id, _result_rows(env, (SCHOOL_A[0], 2, 50, "是")))
    assert out.status == "accepted", report_json(out)["findings"]
    sheet = _sheet(env, "360102")
    assert send(env, fill_sheet(sheet, tmp_path / "确认" / sheet.name, confirmer="王磊", every=("确认", ""))).status == "applied"
    (entry,) = _credits(env, env.persons[SCHOOL_A[0]][2].id_number)["entries"]
    assert (entry["level"], entry["credits"], entry["confirmation"]["unit"]) == ("school", 40, "360102")


def test_a_row_not_confirmed_enters_no_credits_and_keeps_the_reason(env: Env, tmp_path: Path) -> None:
    assert _plan(env, tmp_path).status == "accepted"
    project = _project(env, "DH-2026-01")
    _results(env, tmp_path, project.id, _result_rows(env, (SCHOOL_A[0], 0, 40, "是"), (SCHOOL_A[0], 1, 40, "是")))
    sheet = _sheet(env)
    wb = load_workbook(sheet)
    ws = wb["确认单"]
    header = next(r for r in range(1, 30) if ws.cell(r, 1).value == "申请编号")
    second = ws.cell(header + 2, 1).value
    filled = fill_sheet(sheet, tmp_path / "确认" / sheet.name, confirmer="王磊", every=("确认", ""),
                        decisions={second: ("不予确认", "考勤不足，未完成全部课程")})
    assert send(env, filled).status == "applied"
    assert _credits(env, env.persons[SCHOOL_A[0]][0].id_number)["total"] == 40
    assert _credits(env, env.persons[SCHOOL_A[0]][1].id_number)["entries"] == []
    from processor.store.models import TrainingResultRow

    with Session(env.engine) as s:
        assert sorted((r.decision, r.reason) for r in s.scalars(select(TrainingResultRow))) == [
            ("confirm", ""), ("refuse", "考勤不足，未完成全部课程")]


# ------------------------------------------------------------------------------------- result sheet checks
def test_a_result_sheet_is_checked_against_the_project_and_the_archive(env: Env, tmp_path: Path) -> None:
    assert _plan(env, tmp_path).status == "accepted"
    project = _project(env, "DH-2026-02")  # school-based: only 南昌一中's teachers
    rows = [*_result_rows(env, (SCHOOL_A[0], 0, 51, "是"), (SCHOOL_B[0], 0, 20, "是"), (SCHOOL_A[0], 1, 10, "是")),
            {"身份证件号": "11010519491231002X", "姓名": "不在档", "获得学时": 10, "是否合格": "是"},
            {**_result_rows(env, (SCHOOL_A[0], 1, 10, "是"))[0], "姓名": "王小二"}]
    out = _results(env, tmp_path, project.id, rows, name="培训结果_有错.xlsx")
    assert out.status == "rejected"
    found = {(f["rule"], f"{f['column']}{f['row']}") for f in report_json(out)["findings"]}
    assert found == {("RESULT-HOURS-ABOVE", "C2"), ("RESULT-TEACHER-OUTSIDE", "A3"), ("RESULT-TEACHER-UNKNOWN", "A5"),
                     ("TRAIN-RESULT-DUPLICATE", "A6"), ("RESULT-NAME-MISMATCH", "B6")}
    assert env.count(TrainingResult) == 0 and env.count(WorkflowRequest) == 0


def test_a_result_sheet_moved_to_another_project_is_refused(env: Env, tmp_path: Path) -> None:
    assert _plan(env, tmp_path).status == "accepted"
    project = _project(env, "DH-2026-01")
    src = template(env, "training-result", tmp_path / "模板" / "结果.xlsx", "--project", str(project.id))
    wb = load_workbook(src)
    for row in wb["_tmis"].iter_rows():
        if row[0].value == "training_project_id":
            row[1].value = str(_project(env, "DH-2026-02").id)
    wb.save(src)
    out = send(env, fill_template(src, tmp_path / "交回" / "结果_改项目.xlsx", "培训结果",
                                  _result_rows(env, (SCHOOL_A[0], 0, 40, "是"))))
    assert out.status == "rejected"
    assert [f["rule"] for f in report_json(out)["findings"]] == ["RESULT-SIGNATURE"]
    assert env.count(TrainingResult) == 0


def test_a_teacher_already_credited_for_the_project_is_refused_on_a_second_result(env: Env, tmp_path: Path) -> None:
    assert _plan(env, tmp_path).status == "accepted"
    project = _project(env, "DH-2026-01")
    assert _results(env, tmp_path, project.id, _result_rows(env, (SCHOOL_A[0], 0, 40, "是"))).status == "accepted"
    again = _results(env, tmp_path, project.id, _result_rows(env, (SCHOOL_A[0], 0, 38, "是")), name="补报结果.xlsx")
    assert again.status == "rejected"
    (finding,) = report_json(again)["findings"]
    assert (finding["rule"], finding["column"], finding["row"]) == ("RESULT-ALREADY", "A", 2)


def test_a_plan_cannot_change_a_project_that_has_results(env: Env, tmp_path: Path) -> None:
    assert _plan(env, tmp_path).status == "accepted"
    project = _project(env, "DH-2026-01")
    assert _results(env, tmp_path, project.id, _result_rows(env, (SCHOOL_A[0], 0, 40, "是"))).status == "accepted"
    out = _plan(env, tmp_path, [{**PLAN_ROWS[0], "学时": 60}], name="培训计划_改学时.xlsx")
    assert out.status == "rejected"
    assert [f["rule"] for f in report_json(out)["findings"]] == ["TRAIN-PLAN-HAS-RESULTS"]
    assert _project(env, "DH-2026-01").hours == 40


# ------------------------------------------------------------------------------------- confirmation refusals
def _awaiting(env: Env, tmp_path: Path) -> Path:
    assert _plan(env, tmp_path).status == "accepted"
    project = _project(env, "DH-2026-01")
    assert _results(env, tmp_path, project.id, _result_rows(env, (SCHOOL_A[0], 0, 40, "是"))).status == "accepted"
    return _sheet(env)


def test_a_confirmation_by_an_officer_of_another_unit_is_refused_and_changes_nothing(env: Env, tmp_path: Path) -> None:
    sheet = _awaiting(env, tmp_path)
    before = _snapshot(env)
    out = send(env, fill_sheet(sheet, tmp_path / "确认" / sheet.name, confirmer="陈静", every=("确认", "")))
    assert out.status == "refused"
    assert "WF-CONFIRMER-UNIT" in {f["rule"] for f in report_json(out)["findings"]}
    assert _snapshot(env) == before


def test_a_replayed_confirmation_is_refused_and_enters_nothing_twice(env: Env, tmp_path: Path) -> None:
    sheet = _awaiting(env, tmp_path)
    filled = fill_sheet(sheet, tmp_path / "确认" / sheet.name, confirmer="王磊", every=("确认", ""))
    replay = tmp_path / "确认" / f"再次_{sheet.name}"
    load_workbook(filled).save(replay)  # the officer saves it once more: other bytes, the same signed sheet
    assert send(env, filled).status == "applied"
    before = _snapshot(env)
    out = send(env, replay)
    assert out.status == "refused"
    assert "WF-REPLAY" in {f["rule"] for f in report_json(out)["findings"]}
    assert _snapshot(env) == before and before[0] == 1


def test_a_confirmation_for_a_teacher_credited_meanwhile_is_refused(env: Env, tmp_path: Path) -> None:
    sheet = _awaiting(env, tmp_path)
    with Session(env.engine) as s, s.begin():  # the wrong state: the teacher's credits for the project exist
        req = s.scalars(select(WorkflowRequest).where(WorkflowRequest.kind == "credit-confirm")).one()
        from processor.store.models import TrainingResultRow

        row = s.get(TrainingResultRow, req.data["row"])
        p = s.get(TrainingProject, req.data["project"])
        s.add(CreditEntry(teacher_id=req.teacher_id, year=2026, level="county", hours=40, credits_milli=40000,
                          project_id=p.id, result_id=row.result_id, result_row_id=row.id, plan_submission_id=0,
                          result_submission_id=0, confirmation="manual", confirm_unit="360102", confirmed_by="王磊",
                          rule_province="360000", rule_version="2026.1"))
    before = _snapshot(env)
    out = send(env, fill_sheet(sheet, tmp_path / "确认" / sheet.name, confirmer="王磊", every=("确认", "")))
    assert out.status == "refused"
    (hit,) = [f for f in report_json(out)["findings"] if f["rule"] == "WF-TEACHER-STATE"]
    assert "学分已经计入" in hit["message"]
    assert _snapshot(env) == before


# ------------------------------------------------------------------------------------------- the report
def test_the_credit_report_lists_who_is_below_the_requirement(env: Env, tmp_path: Path) -> None:
    assert _plan(env, tmp_path).status == "accepted"
    project = _project(env, "DH-2026-01")
    _results(env, tmp_path, project.id, _result_rows(env, (SCHOOL_A[0], 0, 40, "是")))
    sheet = _sheet(env)
    send(env, fill_sheet(sheet, tmp_path / "确认" / sheet.name, confirmer="王磊", every=("确认", "")))
    result = cli(env, "report", "credits", "--unit", "360102", "--period", "2026-2026", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["required"], data["teachers"], data["below_count"]) == (72, 6, 6)  # 360 × 1/5 years
    credited = env.persons[SCHOOL_A[0]][0].id_number
    (row,) = [b for b in data["below"] if b["id_number"] == credited]
    assert (row["credits"], row["short"]) == (40, 32)
    assert {(s["unit"], s["teachers"], s["below"], s["average"]) for s in data["schools"]} == {
        (SCHOOL_A[0], 3, 3, 13.3), (SCHOOL_B[0], 3, 3, 0)}
    whole = json.loads(cli(env, "report", "credits", "--unit", "360102", "--period", "2022-2026",
                           "--format", "json").stdout)
    assert (whole["required"], whole["below_count"]) == (360, 6)
    xlsx, pdf = (Path(p) for p in data["files"])
    ws = load_workbook(xlsx)["学分不足名单"]
    assert ws.cell(1, 1).value == "东湖区教师培训学分情况（2026—2026 年）"
    assert pdf.read_bytes().startswith(b"%PDF")


def test_the_credit_report_pdf_embeds_the_chinese_font(env: Env, tmp_path: Path) -> None:
    result = cli(env, "report", "credits", "--unit", "360102", "--period", "2021-2025", "--format", "json")
    assert result.exit_code == 0, result.output
    pdf = Path(json.loads(result.stdout)["files"][1])
    text = "".join(poppler(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split())
    assert "学分不足名单" in text and "要求360学分" in text
    fonts = poppler(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "WenQuanYi" in fonts and " yes " in fonts


def test_a_bad_period_is_refused_with_the_fix(env: Env) -> None:
    result = cli(env, "report", "credits", "--unit", "360102", "--period", "2025")
    assert result.exit_code == 2
    assert "期间“2025”的格式不对" in result.output and "--period 2021-2025" in result.output


def test_plan_to_credits_on_both_databases(store_instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMIS_SIGNING_KEY", KEY)
    env = effective_env(store_instance, tmp_path, schools=(SCHOOL_A,), n=2)
    try:
        assert _plan(env, tmp_path).status == "accepted"
        project = _project(env, "DH-2026-01")
        assert _results(env, tmp_path, project.id, _result_rows(env, (SCHOOL_A[0], 0, 40, "是"),
                                                                (SCHOOL_A[0], 1, 30, "是"))).status == "accepted"
        sheet = _sheet(env)
        assert send(env, fill_sheet(sheet, tmp_path / "确认" / sheet.name, confirmer="王磊",
                                    every=("确认", ""))).status == "applied"
        assert [_credits(env, p.id_number)["total"] for p in env.persons[SCHOOL_A[0]]] == [40, 30]
        with Session(env.engine) as s:
            assert s.scalars(select(TrainingResult.status)).all() == ["confirmed"]
    finally:
        env.engine.dispose()


def test_a_plan_resent_whole_with_a_new_project_keeps_the_projects_with_results(env: Env, tmp_path: Path) -> None:
    assert _plan(env, tmp_path).status == "accepted"
    project = _project(env, "DH-2026-01")
    assert _results(env, tmp_path, project.id, _result_rows(env, (SCHOOL_A[0], 0, 40, "是"))).status == "accepted"
    added = {**PLAN_ROWS[0], "项目编号": "DH-2026-03", "项目名称": "东湖区班主任培训", "学时": 24}
    out = _plan(env, tmp_path, [*PLAN_ROWS, added], name="培训计划_增补.xlsx")
    assert out.status == "accepted", report_json(out)["findings"]
    with Session(env.engine) as s:
        kept = {p.project_code: (p.hours, p.plan_row) for p in s.scalars(select(TrainingProject))}
    assert kept == {"DH-2026-01": (40, 2), "DH-2026-02": (50, 3), "DH-2026-03": (24, 4)}
    assert _project(env, "DH-2026-01").plan_submission_id != _project(env, "DH-2026-03").plan_submission_id
