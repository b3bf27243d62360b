"""Dates as schools send them: future facts are errors, pasted Excel serials are read, CSV months are as
ambiguous as workbook numbers. Every case goes through a real CSV or xlsx file and the core rule pack."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from processor import samples
from processor.engine import ValidationResult, Validator
from processor.paths import CORE_RULES_DIR
from processor.readers import read_workbook
from processor.rulepack import load_pack
from processor.rulepack.model import RulePack

TODAY = date(2026, 5, 1)
SCHOOL = "2136010001"
SERIAL_BORN = date(1968, 3, 12)  # what Excel's serial 24909 stands for


@pytest.fixture(scope="module")
def pack() -> RulePack:
    return load_pack(CORE_RULES_DIR)


@pytest.fixture(scope="module")
def validator(pack: RulePack) -> Validator:
    return Validator(pack, today=TODAY)


def _people(n: int = 1) -> list[samples.Person]:
    return samples.generate_people(n, seed=11, today=TODAY, detail=False)


def born_1968(person: samples.Person) -> None:
    """Make the person born on 1968-03-12 (identity number included), so only the date cell can be wrong."""
    number = samples.make_id_number(person.basic["id_number"][:6], SERIAL_BORN,
                                    int(person.basic["id_number"][14:17]))
    person.basic.update(id_number=number, birth_date=SERIAL_BORN, work_start_month="1988-09",
                        school_entry_month="1995-09")


def csv_result(tmp_path: Path, validator: Validator, people: list[samples.Person]) -> ValidationResult:
    path = samples.write_csv(tmp_path / "基本信息.csv", people, pack=validator.pack)
    return validator.validate(read_workbook(path, validator.pack))


def xlsx_result(tmp_path: Path, validator: Validator, person: samples.Person, field: str,
                value: Any) -> ValidationResult:
    """The person in the official template, one 基本信息 cell then set to `value` as openpyxl writes it."""
    path = tmp_path / "一中教师信息.xlsx"
    samples.write_workbook(path, [person], pack=validator.pack, kind="new-teachers", unit_code=SCHOOL,
                           unit_name="东湖区第一小学", seed=9)
    book = openpyxl.load_workbook(path)
    ws = book["基本信息"]
    label = validator.pack.sheets["basic"].field(field).label
    header = next(r for r in range(1, 10) if any(str(c.value or "").lstrip("*") == label for c in ws[r]))
    column = next(c.column for c in ws[header] if str(c.value or "").lstrip("*") == label)
    cell = ws.cell(header + 1, column)
    cell.value, cell.number_format = value, "General" if not isinstance(value, str) else "@"
    book.save(path)
    return validator.validate(read_workbook(path, validator.pack))


def on(result: ValidationResult, field: str) -> list[tuple[str, str, str]]:
    return [(f.rule, f.severity, f.message) for f in result.findings if f.field == field]


# ------------------------------------------------------------------------------------- future facts

def test_every_not_future_rule_of_the_core_pack_is_an_error(pack: RulePack) -> None:
    rules = [r for r in pack.rules if r.kind == "date" and r.params.get("not_future")]
    assert len(rules) == 22
    assert {r.severity for r in rules} == {"error"}


def test_a_future_start_of_work_is_an_error_and_the_current_month_is_not_future(
        tmp_path: Path, validator: Validator) -> None:
    people = _people(2)
    people[0].basic["work_start_month"] = "2026-05"  # the month of TODAY
    people[0].basic["school_entry_month"] = "2026-05"
    people[1].basic["work_start_month"] = "2026-06"
    people[1].basic["school_entry_month"] = "2026-06"
    result = csv_result(tmp_path, validator, people)
    future = [(f.row, f.field, f.rule, f.severity, f.message) for f in result.findings
              if f.rule.startswith("DATE-NOT-FUTURE")]
    assert future == [
        (3, "work_start_month", "DATE-NOT-FUTURE-WORK-START", "error", "参加工作年月 2026-06 晚于今天"),
        (3, "school_entry_month", "DATE-NOT-FUTURE-SCHOOL-ENTRY", "error", "进本校年月 2026-06 晚于今天"),
    ]
    assert 3 in result.error_rows["basic"] and all(r.has_error for r in result.rows["basic"] if r.excel_row == 3)


def test_a_birth_date_tomorrow_is_an_error(tmp_path: Path, validator: Validator) -> None:
    [person] = _people()
    person.basic.update(id_type="A", id_number="E12345678", birth_date=date(2026, 5, 2))
    result = csv_result(tmp_path, validator, [person])
    assert on(result, "birth_date") == [("DATE-NOT-FUTURE-BIRTH", "error", "出生日期 2026-05-02 晚于今天")]


# ------------------------------------------------------------------------------- Excel serials as text

def test_a_pasted_excel_serial_in_a_csv_is_read_as_its_date_with_a_warning(tmp_path: Path,
                                                                         validator: Validator) -> None:
    [person] = _people()
    born_1968(person)
    person.basic["birth_date"] = "24909"
    result = csv_result(tmp_path, validator, [person])
    assert on(result, "birth_date") == [
        ("DATE-SERIAL-TEXT", "warning", "出生日期“24909”是 Excel 的日期序号，已按 1968-03-12 接收")]
    assert result.rows["basic"][0].values["birth_date"] == SERIAL_BORN


def test_a_serial_in_a_text_cell_of_a_workbook_is_read_the_same_way(tmp_path: Path, validator: Validator) -> None:
    [person] = _people()
    born_1968(person)
    result = xlsx_result(tmp_path, validator, person, "birth_date", "24909")
    assert on(result, "birth_date") == [
        ("DATE-SERIAL-TEXT", "warning", "出生日期“24909”是 Excel 的日期序号，已按 1968-03-12 接收")]


def test_a_serial_in_a_month_column_gives_the_month(tmp_path: Path, validator: Validator) -> None:
    [person] = _people()
    born_1968(person)
    person.basic["school_entry_month"] = "34943"  # 1995-09-01
    result = csv_result(tmp_path, validator, [person])
    assert on(result, "school_entry_month") == [
        ("DATE-SERIAL-TEXT", "warning", "进本校年月“34943”是 Excel 的日期序号，已按 1995-09 接收")]


# -------------------------------------------------------------------------------- 2012.1 in a CSV

def test_a_csv_month_2012_1_is_as_ambiguous_as_the_number_in_a_workbook(tmp_path: Path,
                                                                       validator: Validator) -> None:
    [person] = _people()
    born_1968(person)
    person.basic["school_entry_month"] = "2012.1"
    from_csv = on(csv_result(tmp_path, validator, [person]), "school_entry_month")
    person.basic["school_entry_month"] = "1995-09"
    from_xlsx = on(xlsx_result(tmp_path, validator, person, "school_entry_month", 2012.1), "school_entry_month")
    assert from_csv == from_xlsx == [
        ("DATE-AMBIGUOUS", "error", "进本校年月“2012.1”被 Excel 存成了数字，无法判断是 2012-10 还是 2012-01")]


@pytest.mark.parametrize(("written", "month"), [("2012.10", "2012-10"), ("2012.01", "2012-01"), ("2012.9", "2012-09")])
def test_csv_months_with_two_digits_or_another_month_are_read(tmp_path: Path, validator: Validator,
                                                              written: str, month: str) -> None:
    [person] = _people()
    born_1968(person)
    person.basic["school_entry_month"] = written
    result = csv_result(tmp_path, validator, [person])
    assert on(result, "school_entry_month") == []
    assert result.rows["basic"][0].values["school_entry_month"] == month
