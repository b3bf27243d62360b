"""Rotation (交流轮岗) end to end, both kinds: without a change of personnel relation (the sending school's
county confirms; the teacher stays on the sending school's roll as 交流轮岗中 and the 交流轮岗 category gets a
record; 返岗 brings the teacher back into the counts) and with a change of personnel relation (the transfer
chain started by the sending school: its county, the receiving school, the receiving school's county)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_helpers import SCHOOL_A, SCHOOL_C, Env
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_workflow_transfer import confirm_at
from workflow_helpers import (
    drop,
    env_with_teachers,
    fill_form,
    last_outcome,
    run_once,
    teacher_json,
    template,
)

from processor.store.models import RecordVersion, StatusChange, Teacher


@pytest.fixture
def env(instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    e = env_with_teachers(instance, tmp_path, monkeypatch, n=2, seed=71)
    yield e
    e.engine.dispose()


def file_rotation(env: Env, tmp_path: Path, person: object, mode: str, end: str | None = "2027-07-31") -> dict:
    form = template(env, "rotation", SCHOOL_A[0], tmp_path / "forms" / f"交流轮岗申请_{mode}.xlsx")
    row = {"身份证件号": person.id_number, "姓名": person.name, "交流方式": mode, "接收学校代码": SCHOOL_C[0],
           "交流轮岗类型": "县域内校际交流", "开始日期": "2026-09-01"}
    if end:
        row["结束日期"] = end
    drop(env, fill_form(form, tmp_path / "filled" / f"交流轮岗_{mode}.xlsx", [row], filer="张伟"))
    run_once(env)
    return last_outcome(env)


def _teacher(env: Env, id_number: str) -> Teacher:
    with Session(env.engine) as s:
        return s.scalars(select(Teacher).where(Teacher.id_number == id_number)).one()


def test_a_rotation_without_change_of_relation_keeps_the_teacher_on_the_roll(env: Env, tmp_path: Path) -> None:
    person = env.persons[0]
    filed = file_rotation(env, tmp_path, person, "不转人事关系")
    (req,) = filed["requests"]
    assert [s["unit"] for s in req["steps"]] == ["360102"]
    assert confirm_at(env, tmp_path, "360102", "王磊")["applied"] == [req["id"]]
    teacher = _teacher(env, person.id_number)
    assert (teacher.unit_code, teacher.status) == (SCHOOL_A[0], "rotating")
    with Session(env.engine) as s:
        (record,) = s.scalars(select(RecordVersion).where(RecordVersion.teacher_id == teacher.id,
                                                          RecordVersion.category == "rotation",
                                                          RecordVersion.review_state == "pending")).all()
        assert record.data == {"name": person.name, "id_number": person.id_number, "rotation_type": "4",
                               "transfers_personnel_relation": "0", "start_month": "2026-09",
                               "end_month": "2027-07", "origin_unit_name": "南昌市第一中学",
                               "rotation_unit_name": "南昌市西湖区朝阳小学"}
        assert (record.unit_code, record.review_unit) == (SCHOOL_A[0], "360102")
    assert teacher_json(env, person.id_number)["requests"][0]["state"] == "applied"


def test_a_rotation_without_change_of_relation_needs_an_end_date(env: Env, tmp_path: Path) -> None:
    out = file_rotation(env, tmp_path, env.persons[0], "不转人事关系", end=None)
    assert out["status"] == "rejected"
    (hit,) = [f for f in out["findings"] if f["rule"] == "WF-REQUIRED"]
    assert (hit["sheet"], hit["row"], hit["field"]) == ("交流轮岗申请", 9, "end")


def test_a_rotation_that_ends_returns_the_teacher(env: Env, tmp_path: Path) -> None:
    from test_workflow_status import _monthly

    person = env.persons[0]
    assert _monthly(env)["teachers_effective"] == 2
    file_rotation(env, tmp_path, person, "不转人事关系")
    confirm_at(env, tmp_path, "360102", "王磊")
    assert _monthly(env)["teachers_effective"] == 1  # away on rotation: on the roll, not in the active count
    form = template(env, "status-change", SCHOOL_A[0], tmp_path / "forms" / "返岗.xlsx")
    drop(env, fill_form(form, tmp_path / "filled" / "返岗申请.xlsx", [
        {"身份证件号": person.id_number, "姓名": person.name, "变动类型": "返岗", "变动日期": "2027-07-31",
         "变动原因": "交流轮岗期满"}], filer="张伟"))
    run_once(env)
    assert last_outcome(env)["status"] == "accepted"
    confirm_at(env, tmp_path, "360102", "王磊")
    assert _teacher(env, person.id_number).status == "active"
    assert _monthly(env)["teachers_effective"] == 2
    with Session(env.engine) as s:
        history = [(c.old_status, c.new_status, c.change) for c in s.scalars(select(StatusChange).order_by(StatusChange.id))]
    assert history == [("active", "rotating", "rotation"), ("rotating", "active", "return")]


def test_a_rotation_with_change_of_relation_follows_the_transfer_chain(env: Env, tmp_path: Path) -> None:
    person = env.persons[0]
    (req,) = file_rotation(env, tmp_path, person, "转人事关系")["requests"]
    assert [s["unit"] for s in req["steps"]] == ["360102", SCHOOL_C[0], "360103"]
    confirm_at(env, tmp_path, "360102", "王磊")
    confirm_at(env, tmp_path, SCHOOL_C[0], "周红")
    assert _teacher(env, person.id_number).unit_code == SCHOOL_A[0]
    assert confirm_at(env, tmp_path, "360103", "钱伟")["applied"] == [req["id"]]
    teacher = _teacher(env, person.id_number)
    assert (teacher.unit_code, teacher.status, teacher.teacher_number) == (SCHOOL_C[0], "active", "360103000000010001")
    with Session(env.engine) as s:
        (record,) = s.scalars(select(RecordVersion).where(RecordVersion.teacher_id == teacher.id,
                                                          RecordVersion.category == "rotation",
                                                          RecordVersion.unit_code == SCHOOL_C[0],
                                                          RecordVersion.data["transfers_personnel_relation"]
                                                          .as_string() == "1")).all()
        assert (record.review_state, record.review_unit) == ("pending", "360103")
