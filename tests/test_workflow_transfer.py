"""Transfers (调动) end to end across two counties of two cities: the receiving school files the form tmis
generated, four units confirm in turn on signed confirmation sheets dropped into the inbox, then the archive
moves, the teacher gets the receiving school's next number and the records enter review there."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_helpers import SCHOOL_A, SCHOOL_D, Env
from sqlalchemy import select
from sqlalchemy.orm import Session
from workflow_helpers import (
    KEY,
    drop,
    effective_teachers,
    fill_form,
    fill_sheet,
    last_outcome,
    open_sheets,
    run_once,
    teacher_json,
    template,
    workflow_env,
)

from processor.store.models import RecordVersion, Teacher, TeacherNumber, WorkflowRequest


@pytest.fixture
def env(store_instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    """On SQLite and on PostgreSQL."""
    monkeypatch.setenv("TMIS_SIGNING_KEY", KEY)
    e = workflow_env(store_instance, tmp_path)
    e.persons = effective_teachers(e, tmp_path / "a", n=2, seed=51)  # type: ignore[attr-defined]
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


def test_a_refused_transfer_step_ends_the_request_without_moving_anything(env: Env, tmp_path: Path) -> None:
    person = env.persons[0]
    (req,) = file_transfer(env, tmp_path, person)["requests"]
    back = confirm_at(env, tmp_path, "360222", "郑洁", ("不同意", "编制已满"))
    assert back["rejected"] == [req["id"]]
    with Session(env.engine) as s:
        assert s.scalar(select(Teacher.unit_code).where(Teacher.id_number == person.id_number)) == SCHOOL_A[0]
        assert s.scalar(select(WorkflowRequest.state)) == "rejected"
    notice = (env.outbox / SCHOOL_D[0]).glob(f"调动申请_未同意_{req['id']}.txt")
    assert "编制已满" in next(notice).read_text(encoding="utf-8")


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
