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

from processor.store.models import StatusChange, Teacher, WorkflowRequest


@pytest.fixture
def env(instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("TMIS_SIGNING_KEY", KEY)
    e = workflow_env(instance, tmp_path)
    e.persons = effective_teachers(e, tmp_path, n=3, seed=41)  # type: ignore[attr-defined]
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
