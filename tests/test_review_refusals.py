"""Return sheets that fail a check are refused with a Chinese reason naming file, sheet and cell, and change
nothing: forged signature, edited data cell, replayed, expired, decided by a 信息查询员 or by an officer of
another unit, 退回 without a reason, unknown 问题字段, mailed from a stranger."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from pipeline_helpers import Env
from review_helpers import KEY, columns, fill, issue, review_env, school_file, send
from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.review.sheet import issue_sheets
from processor.store.models import RecordVersion, ReturnSheet, Review


@pytest.fixture
def env(instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("TMIS_SIGNING_KEY", KEY)
    e = review_env(instance, tmp_path, levels="county")
    path, persons = school_file(e, tmp_path, n=2, seed=31)
    assert send(e, path).status == "accepted"
    e.persons = persons  # type: ignore[attr-defined]
    yield e
    e.engine.dispose()


def _snapshot(env: Env) -> tuple[Any, ...]:
    with Session(env.engine) as s:
        versions = sorted((v.id, v.review_state, v.review_level, v.review_unit) for v in s.scalars(select(RecordVersion)))
        sheets = sorted((r.id, r.status) for r in s.scalars(select(ReturnSheet)))
        reviews = len(s.scalars(select(Review)).all())
    return versions, sheets, reviews


def _refused(env: Env, path: Path, before: tuple[Any, ...], rule: str, **kw: Any) -> dict[str, Any]:
    out = send(env, path, **kw)
    assert out.status == "refused", out.message
    report = json.loads(out.report_path.with_suffix(".json").read_text(encoding="utf-8"))
    assert report["status"] == "refused"
    hits = [f for f in report["findings"] if f["rule"] == rule]
    assert hits, report["findings"]
    assert path.name in hits[0]["message"]
    assert _snapshot(env) == before  # nothing changed
    assert out.archived_path.exists()
    return hits[0]


def test_forged_signature_is_refused(env: Env, tmp_path: Path) -> None:
    (sheet,) = issue(env)
    filled = fill(sheet.path, tmp_path / "in" / "伪造.xlsx", every=("通过", ""))
    wb = load_workbook(filled)
    meta = wb["_tmis"]
    for row in meta.iter_rows():
        if row[0].value == "expires_at":  # someone extends the validity by hand
            row[1].value = "2099-12-31T00:00:00+08:00"
    wb.save(filled)
    hit = _refused(env, filled, _snapshot(env), "REVIEW-SIGNATURE")
    assert "签名不符" in hit["message"]


def test_edited_data_cell_is_refused_by_sheet_and_cell(env: Env, tmp_path: Path) -> None:
    (sheet,) = issue(env)
    filled = fill(sheet.path, tmp_path / "in" / "改数据.xlsx", every=("通过", ""))
    wb = load_workbook(filled)
    ws = wb["基本信息"]
    cols = columns(ws)
    original = ws.cell(row=2, column=cols["姓名"]).value
    ws.protection.sheet = False  # an officer who lifts the protection and retypes a name
    ws.cell(row=2, column=cols["姓名"]).value = "张三丰"
    wb.save(filled)
    hit = _refused(env, filled, _snapshot(env), "REVIEW-EDITED")
    assert (hit["sheet"], hit["row"], hit["column"], hit["field"], hit["value"]) == (
        "基本信息", 2, ws.cell(row=1, column=cols["姓名"]).column_letter, "name", "张三丰")
    assert f"签发时为“{original}”" in hit["message"]


def test_replayed_sheet_is_refused(env: Env, tmp_path: Path) -> None:
    (sheet,) = issue(env)
    first = env.persons[0].id_number  # type: ignore[attr-defined]
    once = fill(sheet.path, tmp_path / "in" / "第一次.xlsx", rows={("基本信息", first): ("通过", "", "")})
    assert send(env, once).status == "applied"
    again = fill(sheet.path, tmp_path / "in" / "第二次.xlsx", every=("通过", ""))
    hit = _refused(env, again, _snapshot(env), "REVIEW-REPLAY")
    assert "不能重复使用" in hit["message"]


def test_expired_sheet_is_refused(env: Env, tmp_path: Path) -> None:
    (sheet,) = issue_sheets(env.engine, env.config, env.pack, now=datetime.now(UTC) - timedelta(days=31))
    filled = fill(sheet.path, tmp_path / "in" / "过期.xlsx", every=("通过", ""))
    hit = _refused(env, filled, _snapshot(env), "REVIEW-EXPIRED")
    assert "过期" in hit["message"]
    (fresh,) = issue(env)  # the expired sheet's versions go onto the next sheet
    assert fresh.versions == sheet.versions and fresh.sheet_id != sheet.sheet_id


def test_decision_by_an_information_viewer_is_refused(env: Env, tmp_path: Path) -> None:
    (sheet,) = issue(env)
    filled = fill(sheet.path, tmp_path / "in" / "查询员.xlsx", reviewer="孙丽", every=("通过", ""))
    hit = _refused(env, filled, _snapshot(env), "REVIEW-REVIEWER-VIEWER")
    assert (hit["sheet"], hit["column"]) == ("汇总", "B")
    assert "信息查询员，只能查询，不能审核" in hit["message"]


def test_decision_by_an_officer_of_another_unit_is_refused(env: Env, tmp_path: Path) -> None:
    (sheet,) = issue(env)
    filled = fill(sheet.path, tmp_path / "in" / "外单位.xlsx", reviewer="钱伟", every=("通过", ""))
    hit = _refused(env, filled, _snapshot(env), "REVIEW-REVIEWER-UNIT")
    assert "不是东湖区的信息管理员或系统管理员" in hit["message"] and "西湖区的信息管理员" in hit["message"]


def test_return_without_a_reason_is_refused(env: Env, tmp_path: Path) -> None:
    (sheet,) = issue(env)
    first = env.persons[0].id_number  # type: ignore[attr-defined]
    filled = fill(sheet.path, tmp_path / "in" / "无原因.xlsx", rows={("基本信息", first): ("退回", "", "")})
    ws = load_workbook(filled)["基本信息"]
    reason_column = ws.cell(row=1, column=columns(ws)["退回原因"]).column_letter
    hit = _refused(env, filled, _snapshot(env), "REVIEW-REASON-MISSING")
    assert (hit["sheet"], hit["column"]) == ("基本信息", reason_column)
    assert "没有填写退回原因" in hit["message"]


def test_unknown_problem_field_is_refused(env: Env, tmp_path: Path) -> None:
    (sheet,) = issue(env)
    first = env.persons[0].id_number  # type: ignore[attr-defined]
    filled = fill(sheet.path, tmp_path / "in" / "字段.xlsx", rows={("基本信息", first): ("退回", "请核实", "出生日期、工资")})
    hit = _refused(env, filled, _snapshot(env), "REVIEW-FIELD-UNKNOWN")
    assert "“工资”不是本表的字段" in hit["message"]


def test_sheet_mailed_by_someone_outside_the_unit_is_refused(env: Env, tmp_path: Path) -> None:
    (sheet,) = issue(env)
    filled = fill(sheet.path, tmp_path / "in" / "邮件.xlsx", every=("通过", ""))
    hit = _refused(env, filled, _snapshot(env), "REVIEW-SENDER", channel="mail", sender="某人 <someone@example.com>")
    assert "someone@example.com" in hit["message"]


def test_sheet_mailed_by_an_officer_of_the_unit_is_applied(env: Env, tmp_path: Path) -> None:
    (sheet,) = issue(env)
    filled = fill(sheet.path, tmp_path / "in" / "邮件.xlsx", every=("通过", ""))
    out = send(env, filled, channel="mail", sender="王磊 <WangLei@dhq.edu.cn>")
    assert out.status == "applied"
    assert {v.review_state for v in env.versions()} == {"effective"}


def test_sheet_without_signing_key_is_quarantined_for_the_operator(env: Env, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (sheet,) = issue(env)
    filled = fill(sheet.path, tmp_path / "in" / "无密钥.xlsx", every=("通过", ""))
    before = _snapshot(env)
    monkeypatch.delenv("TMIS_SIGNING_KEY")
    out = send(env, filled)
    assert out.status == "failed" and "TMIS_SIGNING_KEY" in out.message
    assert out.archived_path.parent == env.state / "quarantine"
    assert "TMIS_SIGNING_KEY" in out.archived_path.with_name(out.archived_path.name + ".reason.txt").read_text("utf-8")
    assert _snapshot(env) == before
