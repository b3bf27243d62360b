"""Every Excel and officer mistake is caught on its cell, also after LibreOffice saved the workbook again."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from libreoffice import soffice_convert

from processor import samples
from processor.engine import Validator
from processor.paths import CORE_RULES_DIR
from processor.readers import read_workbook
from processor.rulepack import load_pack

TODAY = date(2026, 5, 1)
SCHOOL = "2136010001"


@pytest.fixture(scope="module")
def pack():
    return load_pack(CORE_RULES_DIR)


@pytest.fixture(scope="module")
def filled(pack, tmp_path_factory) -> tuple[Path, list[samples.Injected]]:
    """An official template filled with 60 teachers and two of every mistake the generator knows."""
    people = samples.generate_people(60, seed=21, school_code=SCHOOL, today=TODAY)
    path = tmp_path_factory.mktemp("filled") / "一中教师信息.xlsx"
    injected = samples.write_workbook(path, people, pack=pack, unit_code=SCHOOL, unit_name="东湖区第一小学",
                                      mistakes=[(m, 2) for m in samples.MISTAKES], seed=9)
    return path, injected


def _found(path: Path, pack) -> set[tuple[str, int, str, str]]:
    result = Validator(pack, today=TODAY).validate(read_workbook(path, pack))
    return {(f.sheet, f.row, f.column, f.rule) for f in result.findings}


def _wanted(injected: list[samples.Injected]) -> set[tuple[str, int, str, str]]:
    return {(i.sheet, i.row, i.column, i.rule) for i in injected if i.rule}


def test_every_mistake_is_reported_on_its_cell_and_nothing_else(filled, pack) -> None:
    path, injected = filled
    assert _found(path, pack) == _wanted(injected)


def test_the_same_findings_after_libreoffice_saves_the_xlsx_again(filled, pack, tmp_path) -> None:
    path, injected = filled
    resaved = soffice_convert(path, "xlsx:Calc MS Excel 2007 XML", tmp_path / "out")
    assert _found(resaved, pack) == _wanted(injected)


def test_the_same_findings_in_a_legacy_xls_made_by_libreoffice(filled, pack, tmp_path) -> None:
    path, injected = filled
    xls = soffice_convert(path, "xls", tmp_path / "out")
    assert _found(xls, pack) == _wanted(injected)


def test_the_same_findings_in_an_ods_made_by_libreoffice(filled, pack, tmp_path) -> None:
    path, injected = filled
    ods = soffice_convert(path, "ods", tmp_path / "out")
    assert _found(ods, pack) == _wanted(injected)


def test_a_none_row_beside_real_rows_of_the_same_teacher_is_flagged(pack, tmp_path) -> None:
    import openpyxl

    people = samples.generate_people(5, seed=21, school_code=SCHOOL, today=TODAY)
    path = tmp_path / "none.xlsx"
    samples.write_workbook(path, people, pack=pack, unit_code=SCHOOL, unit_name="东湖区第一小学", seed=9)
    book = openpyxl.load_workbook(path)
    ws = book["教师资格"]
    head = {str(c.value).lstrip("*"): c.column for c in ws[1]}
    held = next(r for r in range(2, ws.max_row + 1)
                if str(ws.cell(r, head["教师资格证种类"]).value or "0").split("-")[0] not in ("0", "无"))
    name, number = ws.cell(held, head["姓名"]).value, ws.cell(held, head["身份证件号"]).value
    row = ws.max_row + 1
    ws.cell(row, head["姓名"]).value = name
    ws.cell(row, head["身份证件号"]).value = number
    ws.cell(row, head["教师资格证种类"]).value = "0-无"
    book.save(path)
    result = Validator(pack, today=TODAY).validate(read_workbook(path, pack))
    hits = [(f.sheet, f.row, f.rule, f.severity) for f in result.findings if f.rule == "QUAL-NONE-ALONE"]
    assert hits == [("教师资格", row, "QUAL-NONE-ALONE", "warning")]
