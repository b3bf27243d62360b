"""Status changes (变动管理) end to end: a school files a 变动申请 on the form tmis generated, its county confirms
on the signed confirmation sheet, the teacher's status changes with its history, and a teacher who left is out
of the active counts but never deleted."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_helpers import SCHOOL_A, Env
from sqlalchemy import select
from sqlalchemy.orm import Session
from workflow_helpers import (
    drop,
    env_with_teachers,
    fill_form,
    fill_sheet,
    last_outcome,
    open_sheets,
    run_once,
    teacher_json,
    template,
)

from processor.store.models import StatusChange, Teacher, WorkflowRequest


@pytest.fixture
def env(instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    e = env_with_teachers(instance, tmp_path, monkeypatch, n=3, seed=41)
    yield e
    e.engine.dispose()


def _file_leave(env: Env, tmp_path: Path, person: object, change: str = "离职") -> dict:
    form = template(env, "status-change", SCHOOL_A[0], tmp_path / "forms" / "变动申请表.xlsx")
    filled = fill_form(form, tmp_path / "filled" / "变动申请_离职.xlsx", [
        {"身份证件号": person.id_number, "姓名": person.name, "变动类型": change, "变动日期": "2026-11-20",
         "变动原因": "调往外省工作"}], filer="张伟")
    drop(env, filled)
    run_once(env)
    return last_outcome(env)


def test_a_status_change_is_applied_when_the_county_confirms(env: Env, tmp_path: Path) -> None:
    person = env.persons[0]
    filed = _file_leave(env, tmp_path, person)
    assert filed["status"] == "accepted"
    (request,) = filed["requests"]
    assert request["waiting_at"] == "360102"
    with Session(env.engine) as s:
        assert s.scalar(select(Teacher.status).where(Teacher.id_number == person.id_number)) == "active"
    (sheet,) = open_sheets(env, "360102")
    drop(env, fill_sheet(sheet, tmp_path / "back" / sheet.name, confirmer="王磊", every=("同意", "")))
    run_once(env)
    back = last_outcome(env)
    assert (back["status"], back["applied"]) == ("applied", [request["id"]])
    shown = teacher_json(env, person.id_number)
    assert shown["status"] == "left"
    (req,) = shown["requests"]
    assert (req["kind"], req["state"], [h["action"] for h in req["history"]]) == (
        "status-change", "applied", ["filed", "confirmed", "applied"])
    assert [h["by"] for h in req["history"][:2]] == ["张伟", "王磊"]
    with Session(env.engine) as s:
        (change,) = s.scalars(select(StatusChange)).all()
        assert (change.old_status, change.new_status, change.effective_date, change.reason) == (
            "active", "left", "2026-11-20", "调往外省工作")
        assert s.scalar(select(WorkflowRequest.state)) == "applied"


def _monthly(env: Env) -> dict:
    import json
    from datetime import date

    from click.testing import CliRunner

    from processor.cli import main

    result = CliRunner().invoke(main, ["report", "monthly", "--month", date.today().strftime("%Y-%m"), "--unit",
                                       "360100", "--format", "json", "--config", str(env.config_path)])
    assert result.exit_code == 0, result.output
    return next(r for r in json.loads(result.output)["rows"] if r["unit"] == "360102")


def _summary_teachers(env: Env) -> int:
    import json
    from datetime import date

    from click.testing import CliRunner

    from processor.cli import main

    result = CliRunner().invoke(main, ["report", "summary", "--month", date.today().strftime("%Y-%m"), "--unit",
                                       "360102", "--format", "json", "--config", str(env.config_path)])
    assert result.exit_code == 0, result.output
    return int(json.loads(result.output)["teachers"])


def test_a_teacher_who_left_is_out_of_the_counts_but_kept(env: Env, tmp_path: Path) -> None:
    assert (_monthly(env)["teachers_effective"], _summary_teachers(env)) == (3, 3)
    person = env.persons[1]
    _file_leave(env, tmp_path, person)
    (sheet,) = open_sheets(env, "360102")
    drop(env, fill_sheet(sheet, tmp_path / "back" / sheet.name, confirmer="王磊", every=("同意", "")))
    run_once(env)
    assert (_monthly(env)["teachers_effective"], _summary_teachers(env)) == (2, 2)
    shown = teacher_json(env, person.id_number)  # never deleted: the record and its versions are all there
    assert (shown["status"], shown["unit"]) == ("left", SCHOOL_A[0])
    assert {v["state"] for v in shown["versions"]} == {"effective"}


def test_a_status_change_the_teacher_is_not_in_is_refused(env: Env, tmp_path: Path) -> None:
    out = _file_leave(env, tmp_path, env.persons[0], change="返岗")
    assert out["status"] == "rejected"
    (hit,) = [f for f in out["findings"] if f["rule"] == "WF-TEACHER-STATE"]
    assert (hit["sheet"], hit["row"], hit["column"]) == ("变动申请", 9, "C")
    assert "该教师目前为“在岗”，不能办理“返岗”" in hit["message"]
    with Session(env.engine) as s:
        assert s.scalars(select(WorkflowRequest)).all() == []


def test_a_form_filed_by_a_viewer_is_refused(env: Env, tmp_path: Path) -> None:
    form = template(env, "status-change", SCHOOL_A[0], tmp_path / "forms" / "变动申请表.xlsx")
    person = env.persons[0]
    drop(env, fill_form(form, tmp_path / "filled" / "查询员填报.xlsx", [
        {"身份证件号": person.id_number, "姓名": person.name, "变动类型": "退休", "变动日期": "2026-11-20",
         "变动原因": "到龄退休"}], filer="李娜"))
    run_once(env)
    out = last_outcome(env)
    assert out["status"] == "rejected"
    (hit,) = [f for f in out["findings"] if f["rule"] == "WF-FILER-VIEWER"]
    assert (hit["sheet"], hit["row"], hit["column"]) == ("变动申请", 5, "B")


def test_tmis_check_runs_the_form_checks_without_storing(env: Env, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from processor.cli import main

    form = template(env, "status-change", SCHOOL_A[0], tmp_path / "forms" / "变动申请表.xlsx")
    filled = fill_form(form, tmp_path / "filled" / "待检查.xlsx", [
        {"身份证件号": env.persons[0].id_number, "姓名": env.persons[0].name, "变动类型": "退休",
         "变动日期": "2026-13-01", "变动原因": "到龄退休"}], filer="张伟")
    result = CliRunner().invoke(main, ["check", str(filled), "--format", "json", "--config", str(env.config_path)])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert (report["kind"], report["unit"], report["rows"], report["errors"]) == ("status-change", SCHOOL_A[0], 1, 1)
    (hit,) = report["findings"]
    assert (hit["rule"], hit["sheet"], hit["row"], hit["column"], hit["value"]) == (
        "WF-VALUE", "变动申请", 9, "D", "2026-13-01")
    with Session(env.engine) as s:
        assert s.scalars(select(WorkflowRequest)).all() == []


def test_teacher_show_prints_each_step_of_a_request(env: Env, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from processor.cli import main

    person = env.persons[0]
    (request,) = _file_leave(env, tmp_path, person)["requests"]
    result = CliRunner().invoke(main, ["teacher", "show", person.id_number, "--config", str(env.config_path)])
    assert result.exit_code == 0, result.output
    assert f"变动申请 {request['id']} [办理中，待 360102 确认]" in result.output
    assert f"{SCHOOL_A[0]} 提出申请 张伟" in result.output
