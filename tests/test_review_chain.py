"""The review chain end to end (SQLite and PostgreSQL): school files → return sheets filled as officers fill
them (openpyxl, and one saved again by LibreOffice) → county → city → province → effective."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from libreoffice import soffice_convert
from openpyxl import load_workbook
from pipeline_helpers import SCHOOL_A, SCHOOL_B, Env
from review_helpers import KEY, columns, fill, issue, review_env, school_file, send
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from processor import samples
from processor.review.sheet import CHANGED_FILL, DECISION, FIELDS, REASON, SUMMARY
from processor.store.models import RecordVersion, Review, Teacher


@pytest.fixture
def env(store_instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("TMIS_SIGNING_KEY", KEY)
    e = review_env(store_instance, tmp_path)
    yield e
    e.engine.dispose()


def _states(env: Env) -> set[tuple[str, str, str | None, str]]:
    return {(v.unit_code, v.review_state, v.review_unit, v.review_level) for v in env.versions()}


def test_records_climb_county_city_province_and_become_effective(env: Env, tmp_path: Path) -> None:
    a_file, a_people = school_file(env, tmp_path, n=3, seed=11, school=SCHOOL_A)
    b_file, b_people = school_file(env, tmp_path, n=2, seed=12, school=SCHOOL_B)
    assert send(env, a_file).status == "accepted"
    assert send(env, b_file).status == "accepted"
    assert {(s, st, u, lv) for s, st, u, lv in _states(env)} == {
        (SCHOOL_A[0], "pending", "360102", "county"), (SCHOOL_B[0], "pending", "360102", "county")}

    # County: the sheet lists both schools; school A decided in 汇总, one row of it returned with reasons,
    # school B's rows left blank.
    (county_sheet,) = issue(env)
    assert county_sheet.unit_code == "360102" and county_sheet.path.parent == env.outbox / "360102"
    wb = load_workbook(county_sheet.path)
    assert wb.sheetnames[0] == SUMMARY and "基本信息" in wb.sheetnames
    basic = wb["基本信息"]
    cols = columns(basic)
    assert list(cols)[:2] == ["身份证件号", "姓名"] and {DECISION, REASON, FIELDS} <= set(cols)
    assert basic.protection.sheet and basic.cell(row=2, column=cols[DECISION]).protection.locked is False
    assert basic.cell(row=2, column=cols["姓名"]).protection.locked is True
    assert any('"通过,退回"' == dv.formula1 for dv in basic.data_validations.dataValidation)
    assert issue(env) == []  # everything pending is on the open sheet
    returned = a_people[0]
    filled = fill(county_sheet.path, tmp_path / "inbox-county" / "东湖区回执.xlsx",
                  schools={SCHOOL_A[0]: ("通过", "")},
                  rows={("基本信息", returned.id_number): ("退回", "出生日期与人事档案不符", "出生日期")})
    out = send(env, filled)
    assert out.status == "applied", out.message
    receipt = json.loads(out.report_path.with_suffix(".json").read_text(encoding="utf-8"))
    assert receipt["status"] == "applied" and receipt["applied"]["returned"] == 1
    b_rows = env.count(RecordVersion, RecordVersion.unit_code == SCHOOL_B[0])
    assert receipt["pending"] == b_rows and receipt["pending_by_school"] == {SCHOOL_B[0]: b_rows}
    with Session(env.engine) as s:
        version = s.scalars(select(RecordVersion).join(Teacher, Teacher.id == RecordVersion.teacher_id)
                            .where(Teacher.id_number == returned.id_number, RecordVersion.category == "basic")).one()
        assert (version.review_state, version.review_level) == ("returned", "school")
        review = s.scalars(select(Review).where(Review.version_id == version.id)).one()
        assert (review.decision, review.reviewer, review.reason, review.problem_fields) == (
            "return", "王磊", "出生日期与人事档案不符", "birth_date")
    # The school gets its rows back in its own template, the reason on the 出生日期 cell.
    (back_json,) = (env.outbox / SCHOOL_A[0]).glob("错误报告_*审核退回*.json")
    back = json.loads(back_json.read_text(encoding="utf-8"))
    (finding,) = back["findings"]
    assert (finding["sheet"], finding["row"], finding["field"], finding["rule"]) == (
        "基本信息", 2, "birth_date", "REVIEW-RETURNED")
    assert "出生日期与人事档案不符" in finding["message"] and back["status"] == "returned"
    back_wb = load_workbook(back_json.with_suffix(".xlsx"))
    cell = back_wb["基本信息"][f"{finding['column']}2"]
    assert "出生日期与人事档案不符" in cell.comment.text
    back_cols = {str(c.value).lstrip("*"): c.column for c in back_wb["基本信息"][1] if c.value}
    assert back_wb["基本信息"].cell(row=2, column=back_cols["姓名"]).value == returned.name

    # City: school A's passed rows; a sheet saved again by LibreOffice, every row passed.
    sheets = {s.unit_code: s for s in issue(env)}
    assert set(sheets) == {"360100", "360102"}  # school B's blank rows come again on the county's next sheet
    city_filled = fill(sheets["360100"].path, tmp_path / "lo-in" / "南昌市回执.xlsx", reviewer="赵敏",
                       every=("通过", ""))
    resaved = soffice_convert(city_filled, "xlsx", tmp_path / "lo-out")
    assert send(env, resaved).status == "applied"
    (province_sheet,) = issue(env, unit="360000")
    out = send(env, fill(province_sheet.path, tmp_path / "p" / "省回执.xlsx", reviewer="陈静", every=("通过", "")))
    assert out.status == "applied"
    with Session(env.engine) as s:
        teachers = {t.id_number: t for t in s.scalars(select(Teacher))}
    numbered = sorted(t.teacher_number for n, t in teachers.items() if n != returned.id_number
                      and t.unit_code == SCHOOL_A[0])
    assert numbered == ["360102000000010001", "360102000000010002"]
    assert teachers[returned.id_number].teacher_number is None  # its 基本信息 was returned
    assert all(t.teacher_number is None for t in teachers.values() if t.unit_code == SCHOOL_B[0])

    # A correction of an effective record travels the chain with old → new and replaces it at the end.
    corrected = a_people[1]
    old_place = corrected.basic.get("native_place")
    corrected.basic["native_place"] = "江西省九江市"
    path = tmp_path / "drop2" / f"{SCHOOL_A[0]}_更正.xlsx"
    samples.write_workbook(path, [corrected], pack=env.pack, kind="new-teachers", unit_code=SCHOOL_A[0],
                           unit_name=SCHOOL_A[1], mistakes=[], seed=3)
    assert send(env, path).status == "accepted"
    (county_sheet2,) = issue(env, unit="360102")
    wb = load_workbook(county_sheet2.path)
    basic = wb["基本信息"]
    cols = columns(basic)
    row = next(r for r in range(2, basic.max_row + 1) if basic.cell(row=r, column=1).value == corrected.id_number)
    place = basic.cell(row=row, column=cols["籍贯"])
    assert place.value == f"{old_place or '（空）'} → 江西省九江市"
    assert place.fill.start_color.rgb == CHANGED_FILL.start_color.rgb
    assert basic.cell(row=row, column=cols["变更"]).value == "更正（1 项）"
    for unit, who in (("360102", "王磊"), ("360100", "赵敏"), ("360000", "陈静")):
        sheet = county_sheet2 if unit == "360102" else issue(env, unit=unit)[0]
        done = send(env, fill(sheet.path, tmp_path / unit / "回执.xlsx", reviewer=who,
                              rows={("基本信息", corrected.id_number): ("通过", "", ""),
                                    ("联系方式", corrected.id_number): ("通过", "", "")}))
        assert done.status == "applied", done.message
    with Session(env.engine) as s:
        basics = s.scalars(select(RecordVersion).join(Teacher, Teacher.id == RecordVersion.teacher_id)
                           .where(Teacher.id_number == corrected.id_number, RecordVersion.category == "basic")
                           .order_by(RecordVersion.id)).all()
        assert [v.review_state for v in basics] == ["superseded", "effective"]
        assert basics[1].data["native_place"] == "江西省九江市"
        assert s.scalars(select(Teacher.teacher_number).where(Teacher.id_number == corrected.id_number)).one() \
            == teachers[corrected.id_number].teacher_number


def test_a_schools_own_chain_reads_its_ancestors_only_and_matches_the_whole_tree(engine: Engine) -> None:
    from processor.review.chain import Chain
    from processor.store.models import Unit

    tree = [("360000", "江西省", "province", None), ("360100", "南昌市", "city", "360000"),
            ("360102", "东湖区", "county", "360100"), ("3601020001", "东湖小学", "school", "360102"),
            ("360200", "景德镇市", "city", "360000"), ("3602000001", "市直学校", "school", "360200"),
            ("369001", "省直辖县", "county", "360000"), ("3690010001", "直辖县小学", "school", "369001"),
            ("360103", "西湖区", "county", "360100"), ("3601030001", "西湖小学", "school", "360103")]
    with Session(engine) as s, s.begin():
        for code, name, level, parent in tree:
            s.add(Unit(code=code, name=name, level=level, parent_code=parent))
            s.flush()
    levels = ["county", "city", "province"]
    with Session(engine) as s:
        whole = Chain.load(s, levels)
        own = {code: Chain.load(s, levels, schools=[code]) for code in ("3601020001", "3602000001", "3690010001")}
    assert {code: [(st.level, st.unit_code) for st in c.steps(code)] for code, c in own.items()} == {
        "3601020001": [("county", "360102"), ("city", "360100"), ("province", "360000")],
        "3602000001": [("city", "360200"), ("province", "360000")],
        "3690010001": [("county", "369001"), ("province", "360000")],
    }
    assert all(c.steps(code) == whole.steps(code) for code, c in own.items())
    assert sorted(own["3601020001"]._parents) == ["360000", "360100", "360102", "3601020001"]
