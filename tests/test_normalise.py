"""Normalisers: every raw form Excel, WPS, LibreOffice and people produce → exact value or cell finding."""

from __future__ import annotations

import datetime as dt

import pytest

from processor.normalise import Cell, normaliser_for
from processor.rulepack.model import CodeEntry, CodeTable, FieldSpec, fold_name


def table(tid: str, title: str, rows: list[tuple[str, str]], historical: dict[str, str] | None = None,
          aliases: dict[str, tuple[str, ...]] | None = None) -> CodeTable:
    entries = {c: CodeEntry(c, n, aliases=(aliases or {}).get(c, ())) for c, n in rows}
    return CodeTable(tid, title, entries, historical={fold_name(k): v for k, v in (historical or {}).items()})


SEX = table("sex", "性别", [("1", "男性"), ("2", "女性")], aliases={"1": ("男",), "2": ("女",)})
ETHNICITY = table("ethnicity", "民族", [("01", "汉族"), ("03", "回族"), ("36", "毛南族")], {"毛难族": "36"})
POLITICAL = table("political", "政治面貌", [("01", "中国共产党党员"), ("03", "中国共产主义青年团团员"),
                                            ("13", "群众")], aliases={"01": ("中共党员",), "03": ("共青团员",)})
YESNO = table("yesno", "是否", [("0", "否"), ("1", "是")])


def norm(ftype: str, raw, *, code: str = "f", tbl: CodeTable | None = None, date1904: bool = False) -> Cell:
    return normaliser_for(FieldSpec(code=code, label="字段", type=ftype), tbl, date1904=date1904)(raw)


# ------------------------------------------------------------------------------------------------ text


@pytest.mark.parametrize("raw, expected", [
    ("  张三 ", "张三"), ("\xa0张三\u3000", "张三"), ("张\u200b三", "张三"), ("\ufeff张三", "张三"),
    (13800138000.0, "13800138000"), (12, "12"), (dt.date(2016, 9, 1), "2016-09-01"),
])
def test_text_is_trimmed_and_invisible_characters_removed(raw, expected):
    assert norm("text", raw) == Cell(expected)


@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000", "\u200b"])
def test_empty_text_is_none(raw):
    assert norm("text", raw) == Cell(None)


def test_line_break_inside_text_is_flagged_and_joined():
    assert norm("text", "南昌一中\r\n 南昌二中") == Cell("南昌一中 南昌二中", "TEXT-LINEBREAK")


def test_spaces_inside_a_chinese_name_are_flagged_and_removed():
    assert norm("text", "张\u3000三", code="name") == Cell("张三", "NAME-SPACES", {"shown": "张 三"})


def test_spaces_in_a_latin_name_are_kept():
    assert norm("text", "John  Smith", code="name") == Cell("John  Smith")


# ----------------------------------------------------------------------------------------------- codes


@pytest.mark.parametrize("raw, expected", [
    ("男", "1"), ("男性", "1"), ("1-男性", "1"), ("1", "1"), (1.0, "1"), (2, "2"), ("１", "1"), (" 女 ", "2"),
])
def test_code_by_code_name_alias_or_code_name(raw, expected):
    assert norm("code", raw, tbl=SEX) == Cell(expected)


@pytest.mark.parametrize("raw", ["1", 1.0, "01 汉族", "01-汉族", "汉族", "汉"])
def test_code_lost_leading_zero_and_code_name_forms(raw):
    expected = "01" if raw != "汉" else None
    if expected is None:
        assert norm("code", raw, tbl=ETHNICITY).issue == "CODE-UNKNOWN"
    else:
        assert norm("code", raw, tbl=ETHNICITY) == Cell("01")


def test_historical_name_maps_with_a_warning():
    assert norm("code", "毛难族", tbl=ETHNICITY) == Cell("36", "CODE-HISTORICAL", {
        "old": "毛难族", "current": "毛南族", "code": "36", "code_label": "36-毛南族"})


def test_code_and_name_that_disagree_are_ambiguous():
    assert norm("code", "1-女", tbl=SEX) == Cell(None, "CODE-AMBIGUOUS", {"candidates": "1-男性、2-女性"})


def test_unknown_code_fails_with_table_and_example():
    assert norm("code", "火星族", tbl=ETHNICITY) == Cell(None, "CODE-UNKNOWN", {
        "table_title": "民族", "example": "01-汉族", "code": "火星族"})


@pytest.mark.parametrize("raw, expected", [
    ("01,03", ("01", "03")), ("01，03", ("01", "03")), ("01、03", ("01", "03")), ("01;03", ("01", "03")),
    ("01；03", ("01", "03")), ("01|03", ("01", "03")), ("01 03", ("01", "03")), ("中共党员、共青团员", ("01", "03")),
    (13.0, ("13",)), ("中国共产党党员", ("01",)), ("01,01", ("01",)),
])
def test_multi_codes_split_and_each_looked_up(raw, expected):
    assert norm("codes", raw, tbl=POLITICAL) == Cell(expected)


def test_multi_codes_with_an_unknown_part_fail_naming_it():
    assert norm("codes", "01、无党派", tbl=POLITICAL) == Cell(None, "CODE-UNKNOWN", {
        "table_title": "政治面貌", "example": "01-中国共产党党员", "code": "无党派"})


@pytest.mark.parametrize("raw, expected", [
    ("是", "1"), ("否", "0"), ("Y", "1"), ("n", "0"), ("√", "1"), ("×", "0"), (1.0, "1"), (0, "0"), (True, "1"),
    (False, "0"), ("1-是", "1"), ("0-否", "0"), ("TRUE", "1"),
])
def test_yesno_forms(raw, expected):
    assert norm("yesno", raw, tbl=YESNO) == Cell(expected)


def test_yesno_unknown_word_fails():
    assert norm("yesno", "也许", tbl=YESNO).issue == "CODE-UNKNOWN"


# ----------------------------------------------------------------------------------------------- dates


@pytest.mark.parametrize("raw", [
    dt.datetime(2016, 9, 1, 10, 30), dt.date(2016, 9, 1), 42614.0, 42614, "2016-09-01", "2016/9/1", "2016.9.1",
    "2016年9月1日", "20160901", 20160901, "2016-09-01 00:00:00", "２０１６－０９－０１", " 2016 年 9 月 1 日 ",
    "2016/09/01",
])
def test_date_forms(raw):
    assert norm("date", raw) == Cell(dt.date(2016, 9, 1))


def test_date_serial_around_the_fictitious_1900_leap_day():
    assert norm("date", 59.0) == Cell(dt.date(1900, 2, 28))
    assert norm("date", 61.0) == Cell(dt.date(1900, 3, 1))
    assert norm("date", 60.0) == Cell(None, "DATE-INVALID", {
        "type_name": "日期", "date_format": "YYYY-MM-DD", "example": "2016-09-01",
        "reason": "1900-02-29 并不存在（Excel 的历史遗留日期）", "excel_1900": True})


@pytest.mark.parametrize("raw", [dt.date(1900, 2, 28), dt.datetime(1900, 2, 28, 12)])
def test_date_cell_of_excels_fictitious_leap_day_is_invalid(raw):
    assert norm("date", raw) == Cell(None, "DATE-INVALID", {
        "type_name": "日期", "date_format": "YYYY-MM-DD", "example": "2016-09-01",
        "reason": "1900-02-29 并不存在（Excel 的历史遗留日期）", "excel_1900": True})


def test_date_serial_in_the_1904_system():
    assert norm("date", 41152.0, date1904=True) == Cell(dt.date(2016, 9, 1))


def test_day_first_and_month_first_text_dates():
    assert norm("date", "13/9/2016") == Cell(dt.date(2016, 9, 13))
    assert norm("date", "9/13/2016") == Cell(dt.date(2016, 9, 13))
    assert norm("date", "9/1/2016") == Cell(None, "DATE-AMBIGUOUS", {
        "first": "2016-09-01", "second": "2016-01-09", "candidates": "2016-09-01 或 2016-01-09",
        "shown": "9/1/2016"})


@pytest.mark.parametrize("raw, reason", [
    ("201609", "缺少日"), ("2016-09", "缺少日"), (2016, "缺少月份"), ("2016-02-30", "日期不存在"),
    ("2016-13-01", "月份 13 不存在"), ("1880-01-01", "年份 1880 不合理"), ("去年九月", "无法识别的日期写法"),
    (dt.time(10, 5), "不是日期"), (True, "不是日期"), (0.0, "不是有效的日期序号"), (2016.09, "缺少日"),
])
def test_invalid_dates_say_why(raw, reason):
    cell = norm("date", raw)
    assert (cell.value, cell.issue, cell.info["reason"]) == (None, "DATE-INVALID", reason)


@pytest.mark.parametrize("raw", [
    "201609", "2016.09", "2016年9月", "2016-9", "2016/09", dt.date(2016, 9, 1), dt.datetime(2016, 9, 30, 8, 0),
    "2016-09-01", 2016.09, 201609, "２０１６年９月", 42614.0,
])
def test_month_forms(raw):
    assert norm("month", raw) == Cell("2016-09")


def test_month_as_number_with_one_decimal_is_ambiguous():
    assert norm("month", 2016.1) == Cell(None, "DATE-AMBIGUOUS", {
        "first": "2016-01", "second": "2016-10", "candidates": "2016-01 或 2016-10", "shown": "2016.1"})


def test_month_typed_as_text_with_one_decimal_is_january():
    assert (norm("month", "2016.1"), norm("month", "2016.10"), norm("month", 2016.12)) == \
        (Cell("2016-01"), Cell("2016-10"), Cell("2016-12"))


def test_month_needs_a_month():
    cell = norm("month", "2016")
    assert (cell.issue, cell.info["reason"], cell.info["type_name"]) == ("DATE-INVALID", "缺少月份", "年月")


@pytest.mark.parametrize("raw", [2016, 2016.0, "2016", "2016年", "２０１６", dt.date(2016, 9, 1), "2016-09"])
def test_year_forms(raw):
    assert norm("year", raw) == Cell(2016)


def test_year_with_a_fraction_is_invalid():
    assert norm("year", 2016.5).issue == "DATE-INVALID"


# --------------------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("raw, expected", [
    (12.0, 12), (12, 12), ("12", 12), ("12.0", 12), ("１２", 12), (" 12 ", 12), ("1,200", 1200), ("-3", -3),
])
def test_int_forms(raw, expected):
    assert norm("int", raw) == Cell(expected)


@pytest.mark.parametrize("raw", ["12节", 12.5, "12.5", True, "十二", "1 2 3e"])
def test_int_invalid(raw):
    assert norm("int", raw) == Cell(None, "NUMBER-INVALID", {"type_name": "整数"})


@pytest.mark.parametrize("raw, expected", [("1.5", 1.5), (2, 2.0), ("1,200.5", 1200.5), (".5", 0.5), (3.25, 3.25)])
def test_decimal_forms(raw, expected):
    assert norm("decimal", raw) == Cell(expected)


def test_decimal_invalid():
    assert norm("decimal", "1.5小时") == Cell(None, "NUMBER-INVALID", {"type_name": "数字"})


# ------------------------------------------------------------------------------------ identity numbers


@pytest.mark.parametrize("raw", [
    "11010519491231002X", "11010519491231002x", " 110105 19491231 002X ", "110105-19491231-002X",
    "１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X\u200b",
])
def test_idnumber_text_is_compacted(raw):
    assert norm("idnumber", raw) == Cell("11010519491231002X")


def test_idnumber_stored_as_number_lost_its_last_digits():
    assert norm("idnumber", 1.10105199001011e+17) == Cell(None, "ID-AS-NUMBER", {
        "shown": "1.10105E+17", "digits": "110105199001011000"})
    assert norm("idnumber", 110105199001011234.0).info == {"shown": "1.10105E+17", "digits": "110105199001011000"}


def test_fifteen_digit_idnumber_as_number_survives_with_a_note():
    assert norm("idnumber", 110105491231002.0) == Cell("110105491231002", "ID-AS-NUMBER", {
        "shown": "1.10105E+14", "digits": "110105491231002"})


def test_idnumber_text_in_scientific_notation():
    assert norm("idnumber", "1.10105E+17") == Cell(None, "ID-SCIENTIFIC", {"shown": "1.10105E+17"})


def test_unknown_field_type_is_refused():
    with pytest.raises(ValueError):
        normaliser_for(FieldSpec(code="x", label="x", type="colour"), None)


def _typed_into_date_cell(number: float) -> dt.datetime:
    """What a reader gives for a number typed into a date-formatted cell (Excel shows a day in 1905)."""
    return dt.datetime(1899, 12, 30) + dt.timedelta(days=number)


@pytest.mark.parametrize(("number", "expected"), [(2016.09, "2016-09"), (2016.12, "2016-12"), (2016.2, "2016-02")])
def test_year_month_typed_as_a_number_into_a_date_cell_is_read_back(number, expected):
    month = normaliser_for(FieldSpec(code="m", label="进本校年月", type="month"))
    assert month(_typed_into_date_cell(number)) == Cell(expected)


def test_2016_1_typed_into_a_date_cell_is_ambiguous():
    month = normaliser_for(FieldSpec(code="m", label="进本校年月", type="month"))
    cell = month(_typed_into_date_cell(2016.1))
    assert (cell.value, cell.issue, cell.info["shown"]) == (None, "DATE-AMBIGUOUS", "2016.1")
