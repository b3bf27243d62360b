"""Sampling audits end to end: a reproducible sample (same seed → same sample whatever the row order in the store),
the signed check sheet the auditor fills (一致 / 不一致 with the field and the note), the results taken back, the
corrections each school gets (workbook and mail), the published 通报; refusals (a mismatch without its field, the
wrong unit's officer, a replay) change nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from credits_helpers import SCHOOL_A, SCHOOL_B, Env, cli, effective_env, fill_inputs, report_json, send
from external import poppler
from openpyxl import load_workbook
from pipeline_helpers import SCHOOL_C
from sqlalchemy import select
from sqlalchemy.orm import Session
from workflow_helpers import KEY

from processor.sampling.draw import draw
from processor.store.models import AuditSample, AuditSampleItem, MailOut, Teacher, WorkflowRequest


@pytest.fixture
def env(instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("TMIS_SIGNING_KEY", KEY)
    e = effective_env(instance, tmp_path, schools=(SCHOOL_A, SCHOOL_B, SCHOOL_C), n=4)
    yield e
    e.engine.dispose()


def _sample(env: Env, *args: str) -> dict[str, Any]:
    result = cli(env, "audit", "sample", "--unit", "360100", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _picked(data: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(s["code"], [t["id_number"] for t in s["teachers"]]) for s in data["schools"]]


def _archive(url: str, units: list[tuple[str, str, str | None]], teachers: list[tuple[str, str, str]]) -> Any:
    """A store holding ``units`` and active ``teachers`` (id number, name, school), inserted in the order given."""
    from processor.store.db import make_engine, upgrade
    from processor.store.models import Unit

    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        for code, name, parent in units:
            s.add(Unit(code=code, name=name, level="school" if len(code) == 10 else "county", parent_code=parent))
            s.flush()
        for number, name, school in teachers:
            s.add(Teacher(id_number=number, name=name, unit_code=school, status="active"))
    return engine


def test_the_same_seed_gives_the_same_sample_whatever_the_row_order(tmp_path: Path) -> None:
    units = [("360102", "东湖区", None)] + [(f"360102{i:04d}", f"第{i}学校", "360102") for i in range(1, 9)]
    teachers = [(f"3601021980010{i:05d}", f"教师{i}", f"360102{i % 8 + 1:04d}") for i in range(60)]
    forward = _archive(f"sqlite:///{tmp_path / 'a.db'}", units, teachers)
    backward = _archive(f"sqlite:///{tmp_path / 'b.db'}", units[:1] + units[:0:-1], teachers[::-1])
    try:
        with Session(forward) as s:
            first, other = draw(s, "360102", 3, 4, "2026-q4"), draw(s, "360102", 3, 4, "another seed")
        with Session(backward) as s:
            again = draw(s, "360102", 3, 4, "2026-q4")
            ids = s.scalars(select(Teacher.id).where(Teacher.id_number == teachers[0][0])).all()
    finally:
        forward.dispose()
        backward.dispose()
    assert ids == [60]  # really stored in the other order
    assert _picked(first) == _picked(again)
    assert [len(x) for _, x in _picked(first)] == [4, 4, 4]
    assert _picked(other) != _picked(first)


def test_sample_draws_below_the_unit_only_and_prints_its_seed(env: Env) -> None:
    result = cli(env, "audit", "sample", "--unit", "360102", "--schools", "5", "--teachers", "1")
    assert result.exit_code == 0, result.output
    codes = {line.split()[0] for line in result.stdout.splitlines() if line[:10].isdigit()}
    assert codes == {SCHOOL_A[0], SCHOOL_B[0]}  # 朝阳小学 is in 西湖区, not below 东湖区
    assert "种子" in result.stderr


def _mismatch(env: Env, data: dict[str, Any]) -> tuple[str, str]:
    school = data["schools"][0]
    return school["code"], school["teachers"][0]["id_number"]


def test_results_come_back_signed_with_corrections_to_schools_and_a_bulletin(env: Env, tmp_path: Path) -> None:
    env.reload(TMIS_MAIL_ENABLED="true")
    data = _sample(env, "--schools", "2", "--teachers", "2", "--seed", "2026-q4")
    sheet = Path(data["sheets"][0]["path"])
    school, number = _mismatch(env, data)
    rows = {t["id_number"]: {"核查结果": "一致"} for s in data["schools"] for t in s["teachers"]}
    rows[number] = {"核查结果": "不一致", "问题字段": "参加工作年月", "说明": "档案记载参加工作为 2003-09"}
    out = send(env, fill_inputs(sheet, tmp_path / "核查" / sheet.name, confirmer="赵敏", rows=rows))
    assert out.status == "applied", report_json(out)["findings"]
    with Session(env.engine) as s:
        sample = s.get(AuditSample, data["sample"])
        assert (sample.status, sample.checked_by) == ("checked", "赵敏")
        items = {i.teacher_id: (i.result, i.field, i.note) for i in s.scalars(select(AuditSampleItem))}
        mails = [m.subject for m in s.scalars(select(MailOut).where(MailOut.kind == "audit-corrections"))]
    assert sorted(r for r, _f, _n in items.values()) == ["match", "match", "match", "mismatch"]
    corrections = load_workbook(sample.files["corrections"][school])["整改清单"]
    header = next(r for r in range(1, 10) if corrections.cell(r, 1).value == "姓名")
    assert [corrections.cell(header + 1, c).value for c in (2, 3, 4)] == [number, "参加工作年月",
                                                                         "档案记载参加工作为 2003-09"]
    assert list(sample.files["corrections"]) == [school]  # only the school with a mismatch
    assert mails and all("随机抽查整改通知" in m for m in mails)
    xlsx, pdf = (Path(p) for p in sample.files["bulletin"])
    ws = load_workbook(xlsx)["抽查通报"]
    assert ws.cell(1, 1).value == "关于南昌市教师信息随机抽查结果的通报"
    body = [[ws.cell(r, c).value for c in range(1, 6)] for r in range(5, ws.max_row + 1)]
    assert sorted(r[1:] for r in body) == [[2, 1, 1, 50.0], [2, 2, 0, 100.0]]
    text = "".join(poppler(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split())
    assert "一致率75.0%" in text and "2026-q4" in text


def test_a_mismatch_without_the_field_is_refused_and_changes_nothing(env: Env, tmp_path: Path) -> None:
    data = _sample(env, "--schools", "1", "--teachers", "1", "--seed", "s1")
    sheet = Path(data["sheets"][0]["path"])
    _school, number = _mismatch(env, data)
    out = send(env, fill_inputs(sheet, tmp_path / "核查" / sheet.name, confirmer="赵敏",
                                rows={number: {"核查结果": "不一致", "说明": "与档案不符"}}))
    assert out.status == "refused"
    (hit,) = [f for f in report_json(out)["findings"] if f["rule"] == "WF-INPUT"]
    assert "没有写明问题字段" in hit["message"]
    with Session(env.engine) as s:
        assert [i.result for i in s.scalars(select(AuditSampleItem))] == [None]
        assert s.scalars(select(WorkflowRequest.state)).all() == ["open"]


def test_a_check_sheet_filled_by_another_units_officer_is_refused(env: Env, tmp_path: Path) -> None:
    data = _sample(env, "--schools", "1", "--teachers", "1", "--seed", "s2")
    sheet = Path(data["sheets"][0]["path"])
    _school, number = _mismatch(env, data)
    out = send(env, fill_inputs(sheet, tmp_path / "核查" / sheet.name, confirmer="王磊",
                                rows={number: {"核查结果": "一致"}}))
    assert out.status == "refused"
    assert "WF-CONFIRMER-UNIT" in {f["rule"] for f in report_json(out)["findings"]}
    with Session(env.engine) as s:
        assert s.get(AuditSample, data["sample"]).status == "issued"


def test_a_replayed_check_sheet_is_refused(env: Env, tmp_path: Path) -> None:
    data = _sample(env, "--schools", "1", "--teachers", "1", "--seed", "s3")
    sheet = Path(data["sheets"][0]["path"])
    _school, number = _mismatch(env, data)
    filled = fill_inputs(sheet, tmp_path / "核查" / sheet.name, confirmer="赵敏", rows={number: {"核查结果": "一致"}})
    copy = tmp_path / "核查" / f"再次_{sheet.name}"
    load_workbook(filled).save(copy)
    assert send(env, filled).status == "applied"
    out = send(env, copy)
    assert out.status == "refused"
    assert "WF-REPLAY" in {f["rule"] for f in report_json(out)["findings"]}


def test_sampling_a_school_is_refused_with_the_reason(env: Env) -> None:
    result = cli(env, "audit", "sample", "--unit", SCHOOL_A[0], "--schools", "1", "--teachers", "1")
    assert result.exit_code == 2
    assert "抽查要由其上级教育行政部门发起" in result.output


def test_sample_checked_and_published_on_both_databases(store_instance: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMIS_SIGNING_KEY", KEY)
    env = effective_env(store_instance, tmp_path, schools=(SCHOOL_A, SCHOOL_B), n=2)
    try:
        data = _sample(env, "--schools", "2", "--teachers", "1", "--seed", "pg")
        sheet = Path(data["sheets"][0]["path"])
        rows = {t["id_number"]: {"核查结果": "一致"} for s in data["schools"] for t in s["teachers"]}
        out = send(env, fill_inputs(sheet, tmp_path / "核查" / sheet.name, confirmer="赵敏", rows=rows))
        assert out.status == "applied", report_json(out)["findings"]
        with Session(env.engine) as s:
            sample = s.get(AuditSample, data["sample"])
            assert sample.status == "checked" and sample.files["corrections"] == {}
        assert all(Path(p).exists() for p in sample.files["bulletin"])
    finally:
        env.engine.dispose()
