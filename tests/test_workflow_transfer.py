"""Transfers (调动) end to end across two counties of two cities: the receiving school files the form tmis
generated, four units confirm in turn on signed confirmation sheets dropped into the inbox, then the archive
moves, the teacher gets the receiving school's next number and the records enter review there."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pipeline_helpers import SCHOOL_A, SCHOOL_D, Env
from sqlalchemy import select
from sqlalchemy.orm import Session
from workflow_helpers import (
    drop,
    effective_teachers,
    env_with_teachers,
    fill_form,
    fill_sheet,
    last_outcome,
    open_sheets,
    run_once,
    teacher_json,
    template,
)

from processor.cli import main
from processor.store.models import AuditEntry, RecordVersion, Teacher, TeacherNumber, WorkflowRequest


@pytest.fixture
def env(store_instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    """On SQLite and on PostgreSQL."""
    e = env_with_teachers(store_instance, tmp_path, monkeypatch, n=2, seed=51)
    effective_teachers(e, tmp_path / "d", n=2, seed=52, school=SCHOOL_D)  # the receiving school has numbers 0001, 0002
    yield e
    e.engine.dispose()


def file_transfer(env: Env, tmp_path: Path, person: object, *, from_school: str = SCHOOL_A[0],
                  name: str = "调动申请.xlsx") -> dict:
    form = template(env, "transfer", SCHOOL_D[0], tmp_path / "forms" / name)
    filled = fill_form(form, tmp_path / "filled" / name, [
        {"身份证件号": person.id_number, "姓名": person.name, "调出学校代码": from_school, "调动日期": "2026-12-01",
         "调动原因": "夫妻团聚"}], filer="吴刚")
    drop(env, filled)
    run_once(env)
    return last_outcome(env)


def confirm_at(env: Env, tmp_path: Path, unit: str, officer: str, verdict: tuple[str, str] = ("同意", "")) -> dict:
    sheet = open_sheets(env, unit)[-1]
    drop(env, fill_sheet(sheet, tmp_path / "back" / f"{unit}_{sheet.name}", confirmer=officer, every=verdict))
    run_once(env)
    return last_outcome(env)


def test_a_transfer_across_two_counties_is_confirmed_four_times_and_moves_the_archive(env: Env, tmp_path: Path) -> None:
    person = env.persons[0]
    with Session(env.engine) as s:
        before = s.scalars(select(Teacher).where(Teacher.id_number == person.id_number)).one()
        old_number = before.teacher_number
        effective_before = s.scalars(select(RecordVersion).where(RecordVersion.teacher_id == before.id,
                                                                 RecordVersion.review_state == "effective")).all()
    assert old_number.startswith("36010200000001")
    filed = file_transfer(env, tmp_path, person)
    assert filed["status"] == "accepted"
    (req,) = filed["requests"]
    assert [s["unit"] for s in req["steps"]] == ["360222", "3601020001", "360102"]
    for unit, officer in (("360222", "郑洁"), ("3601020001", "张伟")):
        back = confirm_at(env, tmp_path, unit, officer)
        assert (back["status"], back["confirmed"], back["applied"]) == ("applied", [req["id"]], [])
        with Session(env.engine) as s:
            assert s.scalar(select(Teacher.unit_code).where(Teacher.id_number == person.id_number)) == SCHOOL_A[0]
    last = confirm_at(env, tmp_path, "360102", "王磊")
    assert last["applied"] == [req["id"]]
    with Session(env.engine) as s:
        teacher = s.scalars(select(Teacher).where(Teacher.id_number == person.id_number)).one()
        assert (teacher.unit_code, teacher.status, teacher.teacher_number) == (SCHOOL_D[0], "active",
                                                                              "360222000000010003")
        numbers = sorted(s.scalars(select(TeacherNumber.number).where(TeacherNumber.teacher_id == teacher.id)))
        assert numbers == sorted([old_number, "360222000000010003"])  # the old number stays taken
        moved = s.scalars(select(RecordVersion).where(RecordVersion.teacher_id == teacher.id,
                                                      RecordVersion.unit_code == SCHOOL_D[0])).all()
        assert sorted(v.category for v in moved) == sorted(v.category for v in effective_before)
        assert {(v.review_state, v.review_level, v.review_unit) for v in moved} == {("pending", "county", "360222")}
        assert s.scalar(select(WorkflowRequest.state)) == "applied"
    shown = teacher_json(env, person.id_number)
    (r,) = shown["requests"]
    assert [(h["action"], h["unit"], h["by"]) for h in r["history"]] == [
        ("filed", "3602220001", "吴刚"), ("confirmed", "360222", "郑洁"), ("confirmed", "3601020001", "张伟"),
        ("confirmed", "360102", "王磊"), ("applied", "360102", "")]
    assert r["result"]["teacher_number"] == "360222000000010003"
    assert {"id_number", "name", "unit", "teacher_number", "versions"} <= set(shown)
    with Session(env.engine) as s:
        actions = [a for a in s.scalars(select(AuditEntry.action).where(AuditEntry.object_id == req["id"])
                                        .order_by(AuditEntry.id))]
    assert actions == ["workflow.file", "workflow.confirm", "workflow.confirm", "workflow.confirm", "workflow.apply"]
    verified = CliRunner().invoke(main, ["audit", "verify", "--config", str(env.config_path)])
    assert verified.exit_code == 0, verified.output


def test_request_show_and_list_print_the_chain_and_each_step(env: Env, tmp_path: Path) -> None:
    import json

    (req,) = file_transfer(env, tmp_path, env.persons[0])["requests"]
    confirm_at(env, tmp_path, "360222", "郑洁")
    shown = CliRunner().invoke(main, ["request", "show", req["id"], "--config", str(env.config_path)])
    assert shown.exit_code == 0, shown.output
    assert "第 2 步：南昌市第一中学（3601020001）调出学校" in shown.output
    assert "360222 同意 郑洁" in shown.output
    listed = CliRunner().invoke(main, ["request", "list", "--unit", "3601020001", "--state", "open", "--format", "json",
                                       "--config", str(env.config_path)])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)["requests"]
    assert (row["id"], row["waiting_at"], row["step"], row["teacher"]["id_number"]) == (
        req["id"], "3601020001", 1, env.persons[0].id_number)


def test_a_refused_transfer_step_ends_the_request_without_moving_anything(env: Env, tmp_path: Path) -> None:
    person = env.persons[0]
    (req,) = file_transfer(env, tmp_path, person)["requests"]
    back = confirm_at(env, tmp_path, "360222", "郑洁", ("不同意", "编制已满"))
    assert back["rejected"] == [req["id"]]
    with Session(env.engine) as s:
        assert s.scalar(select(Teacher.unit_code).where(Teacher.id_number == person.id_number)) == SCHOOL_A[0]
        assert s.scalar(select(WorkflowRequest.state)) == "rejected"
    (notice,) = (env.outbox / SCHOOL_D[0]).glob("申请办理结果_*.txt")
    assert f"调动申请 {req['id']} {env.persons[0].name}（{env.persons[0].id_number}）：未同意。意见：编制已满" in \
        notice.read_text(encoding="utf-8")


def test_a_transfer_of_a_teacher_with_an_open_transfer_is_refused(env: Env, tmp_path: Path) -> None:
    person = env.persons[0]
    assert file_transfer(env, tmp_path, person)["status"] == "accepted"
    second = file_transfer(env, tmp_path, person, name="调动申请_再次.xlsx")
    assert second["status"] == "rejected"
    (hit,) = [f for f in second["findings"] if f["rule"] == "WF-OPEN-REQUEST"]
    assert hit["sheet"] == "调动申请" and hit["column"] == "A" and "已有一项办理中的调动申请" in hit["message"]
    with Session(env.engine) as s:
        assert len(s.scalars(select(WorkflowRequest)).all()) == 1


def test_a_transfer_of_a_teacher_not_at_the_sending_school_is_refused(env: Env, tmp_path: Path) -> None:
    person = env.persons[0]
    out = file_transfer(env, tmp_path, person, from_school="3601030001")
    assert out["status"] == "rejected"
    (hit,) = [f for f in out["findings"] if f["rule"] == "WF-TEACHER-ELSEWHERE"]
    assert "南昌市第一中学" in hit["message"] and hit["row"] == 9
    with Session(env.engine) as s:
        assert s.scalars(select(WorkflowRequest)).all() == []


def test_a_transfer_of_a_teacher_on_long_absence_is_refused(env: Env, tmp_path: Path) -> None:
    person = env.persons[1]
    form = template(env, "status-change", SCHOOL_A[0], tmp_path / "forms" / "变动申请表.xlsx")
    drop(env, fill_form(form, tmp_path / "filled" / "离岗.xlsx", [
        {"身份证件号": person.id_number, "姓名": person.name, "变动类型": "长期离岗", "变动日期": "2026-10-08",
         "变动原因": "因病长期休养"}], filer="张伟"))
    run_once(env)
    confirm_at(env, tmp_path, "360102", "王磊")
    out = file_transfer(env, tmp_path, person)
    assert out["status"] == "rejected"
    (hit,) = [f for f in out["findings"] if f["rule"] == "WF-TEACHER-STATE"]
    assert "状态是“长期离岗”，不是在岗教师，不能调动或交流" in hit["message"]


def test_the_transfer_form_of_a_county_is_refused_with_the_reason(env: Env, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["template", "transfer", "--unit", "360222", "--out", str(tmp_path / "x.xlsx"),
                                       "--config", str(env.config_path)])
    assert result.exit_code != 0
    assert "浮梁县（360222）是县级单位，不能提出调动申请" in result.output
    assert not (tmp_path / "x.xlsx").exists()
