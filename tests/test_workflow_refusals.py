"""Confirmation sheets that must not be taken are refused with a Chinese reason naming the file, sheet and cell,
and change nothing: a confirmation out of order, by the wrong unit, replayed, for a teacher in the wrong state,
with a forged signature, 不同意 without 意见, or mailed from a stranger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from pipeline_helpers import SCHOOL_A, SCHOOL_D, Env
from review_helpers import send
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from test_workflow_transfer import confirm_at, file_transfer
from workflow_helpers import (
    drop,
    env_with_teachers,
    fill_form,
    fill_sheet,
    last_outcome,
    open_sheets,
    run_once,
    template,
)

from processor.cli import main
from processor.store.models import (
    AuditEntry,
    ConfirmSheet,
    RecordVersion,
    Teacher,
    WorkflowRequest,
    WorkflowStep,
)


@pytest.fixture
def env(store_instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    """On SQLite and on PostgreSQL (the row locks of a take-back are PostgreSQL's)."""
    e = env_with_teachers(store_instance, tmp_path, monkeypatch, n=2, seed=61)
    yield e
    e.engine.dispose()


def _snapshot(env: Env) -> tuple[Any, ...]:
    with Session(env.engine) as s:
        requests = sorted((r.id, r.state, r.step, r.waiting_unit) for r in s.scalars(select(WorkflowRequest)))
        steps = s.scalar(select(func.count()).select_from(WorkflowStep))
        sheets = sorted((c.id, c.status) for c in s.scalars(select(ConfirmSheet)))
        teachers = sorted((t.id_number, t.unit_code, t.status, t.teacher_number) for t in s.scalars(select(Teacher)))
        versions = s.scalar(select(func.count()).select_from(RecordVersion))
    return requests, steps, sheets, teachers, versions


def _refused(env: Env, path: Path, rule: str) -> dict[str, Any]:
    before = _snapshot(env)
    drop(env, path)
    run_once(env)
    out = last_outcome(env)
    assert out["status"] == "refused", out
    hits = [f for f in out["findings"] if f["rule"] == rule]
    assert hits, out["findings"]
    assert path.name in hits[0]["message"]
    assert _snapshot(env) == before  # nothing changed
    with Session(env.engine) as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert (last.action, rule in last.detail["rules"]) == ("workflow.refuse", True)
    return hits[0]


def test_a_confirmation_out_of_order_is_refused(env: Env, tmp_path: Path) -> None:
    (req,) = file_transfer(env, tmp_path, env.persons[0])["requests"]
    (first,) = open_sheets(env, "360222")
    result = CliRunner().invoke(main, ["request", "issue", "--unit", "360222", "--again",
                                       "--config", str(env.config_path)])  # a second copy of the sheet
    assert result.exit_code == 0, result.output
    second = Path(result.output.strip())
    drop(env, fill_sheet(second, tmp_path / "back" / "第二份.xlsx", confirmer="郑洁", every=("同意", "")))
    run_once(env)
    assert last_outcome(env)["confirmed"] == [req["id"]]  # the request now waits at the sending school
    hit = _refused(env, fill_sheet(first, tmp_path / "back" / "第一份.xlsx", confirmer="郑洁", every=("同意", "")),
                   "WF-OUT-OF-ORDER")
    assert (hit["sheet"], hit["row"], hit["column"]) == ("确认单", 12, "A")
    assert "本确认单列出的是第 1 步，申请现在在第 2 步，应由南昌市第一中学（调出学校）确认" in hit["message"]


def test_a_confirmation_by_an_officer_of_another_unit_is_refused(env: Env, tmp_path: Path) -> None:
    file_transfer(env, tmp_path, env.persons[0])
    (sheet,) = open_sheets(env, "360222")
    hit = _refused(env, fill_sheet(sheet, tmp_path / "back" / "别的单位.xlsx", confirmer="王磊", every=("同意", "")),
                   "WF-CONFIRMER-UNIT")
    assert (hit["sheet"], hit["row"], hit["column"], hit["value"]) == ("确认单", 7, "B", "王磊")
    assert "王磊 不是浮梁县的信息管理员或系统管理员（系统中登记为东湖区的信息管理员）" in hit["message"]


def test_a_confirmation_by_a_viewer_of_the_unit_is_refused(env: Env, tmp_path: Path) -> None:
    (req,) = file_transfer(env, tmp_path, env.persons[0])["requests"]
    confirm_at(env, tmp_path, "360222", "郑洁")
    (sheet,) = open_sheets(env, SCHOOL_A[0])
    hit = _refused(env, fill_sheet(sheet, tmp_path / "back" / "查询员.xlsx", confirmer="李娜", every=("同意", "")),
                   "WF-CONFIRMER-VIEWER")
    assert "信息查询员，只能查询，不能确认" in hit["message"]


def test_a_replayed_confirmation_sheet_is_refused(env: Env, tmp_path: Path) -> None:
    file_transfer(env, tmp_path, env.persons[0])
    (sheet,) = open_sheets(env, "360222")
    drop(env, fill_sheet(sheet, tmp_path / "back" / "确认.xlsx", confirmer="郑洁", every=("同意", "")))
    run_once(env)
    assert last_outcome(env)["status"] == "applied"
    again = fill_sheet(sheet, tmp_path / "back" / "再发一次.xlsx", confirmer="郑洁", every=("同意", "同意调入"))
    hit = _refused(env, again, "WF-REPLAY")
    assert "已于" in hit["message"] and "处理过，不能重复使用" in hit["message"]


def test_a_confirmation_for_a_teacher_no_longer_active_at_the_sending_school_is_refused(env: Env, tmp_path: Path) -> None:
    person = env.persons[0]
    file_transfer(env, tmp_path, person)
    (transfer_sheet,) = open_sheets(env, "360222")
    # meanwhile the sending school files the teacher's leaving, and its county confirms it
    form = template(env, "status-change", SCHOOL_A[0], tmp_path / "forms" / "变动申请表.xlsx")
    drop(env, fill_form(form, tmp_path / "filled" / "离职.xlsx", [
        {"身份证件号": person.id_number, "姓名": person.name, "变动类型": "离职", "变动日期": "2026-11-30",
         "变动原因": "辞职"}], filer="张伟"))
    run_once(env)
    assert last_outcome(env)["status"] == "accepted"
    status_sheet = next(p for p in open_sheets(env, "360102") if p.name.startswith("变动申请"))
    drop(env, fill_sheet(status_sheet, tmp_path / "back" / "离职确认.xlsx", confirmer="王磊", every=("同意", "")))
    run_once(env)
    assert last_outcome(env)["status"] == "applied"
    hit = _refused(env, fill_sheet(transfer_sheet, tmp_path / "back" / "调动确认.xlsx", confirmer="郑洁",
                                   every=("同意", "")), "WF-TEACHER-STATE")
    assert (hit["sheet"], hit["row"]) == ("确认单", 12)
    assert "该教师目前为“离职”，不是在岗教师" in hit["message"]


def test_a_forged_confirmation_sheet_is_refused(env: Env, tmp_path: Path) -> None:
    file_transfer(env, tmp_path, env.persons[0])
    (sheet,) = open_sheets(env, "360222")
    filled = fill_sheet(sheet, tmp_path / "back" / "伪造.xlsx", confirmer="郑洁", every=("同意", ""))
    wb = load_workbook(filled)
    for row in wb["_tmis"].iter_rows():
        if row[0].value == "expires_at":
            row[1].value = "2099-12-31T00:00:00+08:00"
    wb.save(filled)
    hit = _refused(env, filled, "WF-SIGNATURE")
    assert "签名不符" in hit["message"]


def test_an_edited_request_cell_is_refused_by_its_cell(env: Env, tmp_path: Path) -> None:
    file_transfer(env, tmp_path, env.persons[0])
    (sheet,) = open_sheets(env, "360222")
    filled = fill_sheet(sheet, tmp_path / "back" / "改内容.xlsx", confirmer="郑洁", every=("同意", ""))
    wb = load_workbook(filled)
    ws = wb["确认单"]
    ws.protection.sheet = False
    ws["E12"] = SCHOOL_D[0]  # 调出学校 retyped
    wb.save(filled)
    hit = _refused(env, filled, "WF-EDITED")
    assert (hit["row"], hit["column"], hit["value"]) == (12, "E", SCHOOL_D[0])


def test_a_refusal_without_an_opinion_is_refused(env: Env, tmp_path: Path) -> None:
    file_transfer(env, tmp_path, env.persons[0])
    (sheet,) = open_sheets(env, "360222")
    hit = _refused(env, fill_sheet(sheet, tmp_path / "back" / "无意见.xlsx", confirmer="郑洁", every=("不同意", "")),
                   "WF-REASON-MISSING")
    assert "没有填写不同意的意见" in hit["message"]


def test_a_mailed_confirmation_from_a_stranger_is_refused(env: Env, tmp_path: Path) -> None:
    file_transfer(env, tmp_path, env.persons[0])
    (sheet,) = open_sheets(env, "360222")
    filled = fill_sheet(sheet, tmp_path / "back" / "陌生人.xlsx", confirmer="郑洁", every=("同意", ""))
    before = _snapshot(env)
    out = send(env, filled, channel="mail", sender="someone@example.com")
    assert out.status == "refused"
    assert _snapshot(env) == before
    report = json.loads(out.report_path.with_suffix(".json").read_text(encoding="utf-8"))
    (hit,) = [f for f in report["findings"] if f["rule"] == "WF-SENDER"]
    assert "确认单来自 someone@example.com，不是浮梁县登记的人员邮箱" in hit["message"]


def test_an_expired_confirmation_sheet_is_refused_and_the_daily_issue_sends_a_new_one(env: Env, tmp_path: Path) -> None:
    from datetime import UTC, datetime, time, timedelta

    from sqlalchemy import update

    from processor.review.schedule import run_if_due

    (req,) = file_transfer(env, tmp_path, env.persons[0])["requests"]
    (sheet,) = open_sheets(env, "360222")
    # the daily issue runs at 23:00 today; the sheet expired before both that moment and now (a CI run after
    # 23:00 must not see a sheet that expires between the two)
    evening = datetime.combine(datetime.now().astimezone().date(), time(23, 0)).astimezone()
    expired = min(datetime.now(UTC), evening.astimezone(UTC)) - timedelta(minutes=1)
    with Session(env.engine) as s, s.begin():  # thirty days pass
        s.execute(update(ConfirmSheet).values(expires_at=expired))
    hit = _refused(env, fill_sheet(sheet, tmp_path / "back" / "过期.xlsx", confirmer="郑洁", every=("同意", "")),
                   "WF-EXPIRED")
    assert "过期" in hit["message"]
    run_if_due(env.engine, env.config, env.pack, now=evening)
    with Session(env.engine) as s:
        statuses = sorted(c.status for c in s.scalars(select(ConfirmSheet)))
    assert statuses == ["expired", "open"]
    fresh = open_sheets(env, "360222")[-1]
    assert fresh != sheet
    drop(env, fill_sheet(fresh, tmp_path / "back" / "新确认单.xlsx", confirmer="郑洁", every=("同意", "")))
    run_once(env)
    assert last_outcome(env)["confirmed"] == [req["id"]]
