"""Identity documents, checked through a real CSV file and the core rule pack, with real numbers.

Sources of the numbers: python-stdnum's tests/test_cn_ric.doctest; jxlwqq/id-validator.py's
test_validator.py (810000199408230021 and 830000199201300022 are the sample 居住证 numbers the Beijing
public security bureau published; 610104620932690 its bad 15-digit date); koblas/stdnum-js's
src/hk/hkid.spec.ts (G123456A, AB9876543, WX1234569, C5678909; C5678908 wrong); iLexN/HKID-Check-Digit's
README (CA182361(1)); doly-dev/util-helpers' isTWCard examples (07257456)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from processor import idnumber, samples
from processor.engine import ValidationResult, Validator
from processor.findings import Finding
from processor.paths import CORE_RULES_DIR
from processor.readers import read_workbook
from processor.rulepack import load_pack
from processor.rulepack.model import RulePack

TODAY = date(2026, 5, 1)
ID_RULES = ("ID-", "DATE-INVALID", "DATE-NOT-FUTURE")


@pytest.fixture(scope="module")
def pack() -> RulePack:
    return load_pack(CORE_RULES_DIR)


@pytest.fixture(scope="module")
def validator(pack: RulePack) -> Validator:
    return Validator(pack, today=TODAY)


def check(tmp_path: Path, validator: Validator, *changes: dict[str, Any]) -> ValidationResult:
    """A CSV of 基本信息 with one generated teacher per change (the change applied), read and checked."""
    pack = validator.pack
    people = samples.generate_people(len(changes), seed=7, today=TODAY, detail=False)
    for person, change in zip(people, changes, strict=True):
        person.basic.update(change)
    path = samples.write_csv(tmp_path / "基本信息.csv", people, pack=pack)
    return validator.validate(read_workbook(path, pack))


def id_findings(result: ValidationResult) -> list[Finding]:
    return [f for f in result.findings if f.rule.startswith(ID_RULES)]


def verdicts(result: ValidationResult) -> list[tuple[str, str]]:
    return [(f.rule, f.severity) for f in id_findings(result)]


def permit(number: str, born: date, sex: str, nationality: str) -> dict[str, Any]:
    return {"id_type": "C", "id_number": number, "birth_date": born, "sex": sex, "nationality": nationality}


# ---------------------------------------------------------------------------------- 港澳台居民居住证 (C)

def test_published_residence_permit_samples_pass_every_check(tmp_path: Path, validator: Validator) -> None:
    result = check(tmp_path, validator, permit("810000199408230021", date(1994, 8, 23), "2", "344"),
                   permit("830000199201300022", date(1992, 1, 30), "2", "158"))
    assert verdicts(result) == []


def test_wrong_check_character_on_a_residence_permit_is_an_error(tmp_path: Path, validator: Validator) -> None:
    result = check(tmp_path, validator, permit("810000199408230022", date(1994, 8, 23), "2", "344"))
    [f] = id_findings(result)
    assert (f.rule, f.severity, f.message) == (
        "ID-CHECKSUM", "error", "港澳台居民居住证号码“810000199408230022”的校验位不对：按 GB 11643 计算，最后一位应为 1")


def test_residence_permit_sex_and_birth_must_agree_with_the_row(tmp_path: Path, validator: Validator) -> None:
    result = check(tmp_path, validator, permit("830000199201300022", date(1992, 1, 31), "1", "158"))
    assert [(f.rule, f.field, f.severity) for f in id_findings(result)] == [
        ("ID-SEX", "sex", "error"), ("ID-BIRTH", "birth_date", "error")]


def test_a_mainland_number_typed_as_residence_permit_is_a_warning(tmp_path: Path, validator: Validator) -> None:
    result = check(tmp_path, validator, permit("440308199901101512", date(1999, 1, 10), "1", "344"))
    [f] = id_findings(result)
    assert (f.rule, f.severity) == ("ID-PERMIT-AREA", "warning")
    assert "前 6 位 440308 不是居住证的地址码" in f.message


def test_a_permit_number_typed_as_resident_card_is_a_warning(tmp_path: Path, validator: Validator) -> None:
    change = {**permit("830000199201300022", date(1992, 1, 30), "2", "156"), "id_type": "1"}
    [f] = id_findings(check(tmp_path, validator, change))
    assert (f.rule, f.severity) == ("ID-PERMIT-AREA", "warning")
    assert "请把身份证件类型改为“C-港澳台居民居住证”" in f.hint


# ------------------------------------------------------------------------------------ other documents

@pytest.mark.parametrize("written", ["C567890(9)", "c567890（9）", "Ｃ５６７８９０９", "C 567890 (9)", "C5678909"])
def test_a_hong_kong_identity_card_is_accepted_in_every_written_form(tmp_path: Path, validator: Validator,
                                                                     written: str) -> None:
    result = check(tmp_path, validator, {"id_type": "6", "id_number": written, "nationality": "344"})
    assert verdicts(result) == []
    assert result.rows["basic"][0].values["id_number"] == "C5678909"


@pytest.mark.parametrize("number", ["G123456A", "AB9876543", "WX1234569", "CA182361(1)", "K12345678",
                                    "H01234567", "H0123456701"])
def test_hong_kong_documents_of_every_published_form_pass(tmp_path: Path, validator: Validator, number: str) -> None:
    assert verdicts(check(tmp_path, validator, {"id_type": "6", "id_number": number, "nationality": "344"})) == []


def test_a_hong_kong_identity_card_with_a_wrong_check_character_names_the_right_one(
        tmp_path: Path, validator: Validator) -> None:
    [f] = id_findings(check(tmp_path, validator, {"id_type": "6", "id_number": "C5678908", "nationality": "344"}))
    assert (f.rule, f.severity, f.message) == (
        "ID-DOC-HK", "warning", "身份证件号“C5678908”的校验码不对：按香港身份证的规则应为 9")


def test_a_hong_kong_number_of_no_known_form_names_the_expected_forms(tmp_path: Path, validator: Validator) -> None:
    [f] = id_findings(check(tmp_path, validator, {"id_type": "6", "id_number": "12345678", "nationality": "344"}))
    assert (f.rule, f.severity, f.message) == ("ID-DOC-HK", "warning", "身份证件号“12345678”不符合香港居民证件号码的格式")
    assert f.hint.startswith("应为香港身份证（1～2 个字母 + 6 位数字 + 括号内 1 位校验码，如 A123456(3)）、"
                             "香港特区护照（K + 8 位数字，如 K12345678）或港澳居民来往内地通行证（香港居民）")


@pytest.mark.parametrize("written", ["1234567(8)", "1/234567/8", "12345678", "M01234567", "MA0123456"])
def test_macao_documents_of_every_published_form_pass(tmp_path: Path, validator: Validator, written: str) -> None:
    assert verdicts(check(tmp_path, validator, {"id_type": "7", "id_number": written, "nationality": "446"})) == []


def test_a_macao_identity_card_is_stored_without_brackets(tmp_path: Path, validator: Validator) -> None:
    result = check(tmp_path, validator, {"id_type": "7", "id_number": "1234567（8）", "nationality": "446"})
    assert result.rows["basic"][0].values["id_number"] == "12345678"


def test_a_macao_number_starting_with_another_digit_is_a_warning(tmp_path: Path, validator: Validator) -> None:
    [f] = id_findings(check(tmp_path, validator, {"id_type": "7", "id_number": "9234567(8)", "nationality": "446"}))
    assert (f.rule, f.severity) == ("ID-DOC-MACAO", "warning")
    assert "澳门身份证（1、5 或 7 开头的 7 位数字 + 括号内 1 位校验数字，如 1234567(8)）" in f.hint


@pytest.mark.parametrize(("number", "rules"), [
    ("07257456", []), ("0725745601", []), ("0725745601(B)", []),
    ("0725745", [("ID-DOC-TAIWAN", "warning")]), ("A123456789", [("ID-DOC-TAIWAN", "warning")]),
])
def test_taiwan_permits_new_and_old(tmp_path: Path, validator: Validator, number: str, rules: list[Any]) -> None:
    assert verdicts(check(tmp_path, validator, {"id_type": "8", "id_number": number, "nationality": "158"})) == rules


@pytest.mark.parametrize(("number", "nationality", "rules"), [
    ("E12345678", "156", []), ("e12345678", "156", []), ("EA1234567", "156", []), ("G12345678", "156", []),
    ("141234567", "156", []), ("PE1234567", "156", []),
    ("X1234567", "156", [("ID-DOC-PASSPORT", "warning")]), ("EI1234567", "156", [("ID-DOC-PASSPORT", "warning")]),
    ("X1234567", "840", []),  # another country's passport: not ours to judge
])
def test_prc_passports_when_the_nationality_is_china(tmp_path: Path, validator: Validator, number: str,
                                                     nationality: str, rules: list[Any]) -> None:
    result = check(tmp_path, validator, {"id_type": "A", "id_number": number, "nationality": nationality})
    assert verdicts(result) == rules


# ------------------------------------------------------------------------------ one verdict per number

def _with_birth_year(number: str, year: int) -> str:
    first17 = number[:6] + str(year) + number[10:17]
    return first17 + idnumber.check_digit(first17)


REAL_NUMBERS = [
    "360426199101010071", "44011320141005001x", "412723199010050012", "110102199101010078",
    "120110198012010073", "120110199212010072", "990426199112010074", "110111198012010078",
    "110201199312010077", "T60426199101010078", "360426199113010079", "36042619910102009X",
    "440308199901101512", "610104620927690", "810000199408230021", "830000199201300022",
    "500154199301135886", "500154199804106120", "440308199901101513", "44030819990110",
    "111111199901101512", "440308199902301512", "610104620932690", "362324198001010014",
    _with_birth_year("440308199901101512", 2100), _with_birth_year("440308199901101512", 2500),
    _with_birth_year("440308199901101512", 1886), "440308.199901101512", "440308 19990110 1512",
    "440308-19990110-1512",
]
CHAIN = ("ID-LENGTH", "ID-CHARS", "ID-DATE", "ID-CHECKSUM")


def test_the_library_and_the_sheet_rules_agree_on_every_number(tmp_path: Path, validator: Validator) -> None:
    changes = [{"id_number": n, "birth_date": None, "sex": None} for n in REAL_NUMBERS]
    result = check(tmp_path, validator, *changes)
    rejected_rows = {f.row for f in result.findings if f.rule in CHAIN}
    by_sheet = [2 + i not in rejected_rows for i in range(len(REAL_NUMBERS))]
    assert by_sheet == [idnumber.is_valid(n, TODAY) for n in REAL_NUMBERS]
    assert by_sheet.count(False) == 12


def test_a_birth_year_after_today_or_before_1900_is_an_error_on_the_number(tmp_path: Path,
                                                                            validator: Validator) -> None:
    numbers = [_with_birth_year("440308199901101512", y) for y in (2100, 2500, 1886)]
    result = check(tmp_path, validator, *({"id_number": n, "birth_date": None} for n in numbers))
    assert [(f.rule, f.field, f.severity, f.message.split("：", 1)[1]) for f in id_findings(result)] == [
        ("ID-DATE", "id_number", "error", "出生日期 2100-01-10 晚于今天"),
        ("ID-DATE", "id_number", "error", "出生日期 2500-01-10 晚于今天"),
        ("ID-DATE", "id_number", "error", "出生年份 1886 早于 1900 年"),
    ]
    for n in numbers:
        with pytest.raises(idnumber.InvalidComponent):
            idnumber.validate(n, TODAY)


def test_a_fifteen_digit_number_names_digits_7_to_12_as_its_date(tmp_path: Path, validator: Validator) -> None:
    [f] = id_findings(check(tmp_path, validator, {"id_number": "610104620932690", "birth_date": None}))
    assert f.message == "居民身份证号“610104620932690”第 7～12 位不是有效的出生日期：1962 年 9 月没有 32 日"
    assert f.hint.startswith("15 位旧号码的第 7～12 位是出生年月日（YYMMDD，年份前补 19）")


def test_an_eighteen_digit_number_names_digits_7_to_14(tmp_path: Path, validator: Validator) -> None:
    [f] = id_findings(check(tmp_path, validator, {"id_number": "440308199902301512", "birth_date": None}))
    assert f.message == "居民身份证号“440308199902301512”第 7～14 位不是有效的出生日期：1999 年 2 月没有 30 日"


def test_a_birth_date_of_1886_is_rejected_for_its_year(tmp_path: Path, validator: Validator) -> None:
    result = check(tmp_path, validator, {"birth_date": "1886-06-25"})
    [f] = [f for f in result.findings if f.field == "birth_date"]
    assert (f.rule, f.message, f.hint) == (
        "DATE-INVALID", "出生日期“1886-06-25”不是有效的日期：年份 1886 不在 1900～2099 年之间",
        "年份应在 1900～2099 年之间，请核对年份是否输错。")


def test_a_dot_inside_is_a_wrong_character_for_both(tmp_path: Path, validator: Validator) -> None:
    [f] = id_findings(check(tmp_path, validator, {"id_number": "440308.199901101512", "birth_date": None}))
    assert f.rule == "ID-CHARS"
    with pytest.raises(idnumber.InvalidFormat):
        idnumber.validate("440308.199901101512")


# ------------------------------------------------------------------------------------ division codes

def test_a_code_abolished_before_the_birth_year_is_a_warning(tmp_path: Path, validator: Validator) -> None:
    # python-stdnum: "county was deregistered at birth year"
    [f] = id_findings(check(tmp_path, validator, {"id_number": "110201199312010077", "birth_date": date(1993, 12, 1),
                                             "sex": "1"}))
    assert (f.rule, f.severity, f.message) == (
        "ID-AREA-ABOLISHED", "warning",
        "身份证件号“110201199312010077”的地址码 110201（昌平县）在 1982 年已撤销，而号码中的出生年份是 1993 年")


def test_a_code_created_after_the_birth_year_is_normal(tmp_path: Path, validator: Validator) -> None:
    # python-stdnum: "county was not registered yet at birth year" — numbers are issued after birth.
    change = {"id_number": "110111198012010078", "birth_date": date(1980, 12, 1), "sex": "1"}
    assert verdicts(check(tmp_path, validator, change)) == []


def test_an_unknown_code_stays_a_warning(tmp_path: Path, validator: Validator) -> None:
    change = {"id_number": "990426199112010074", "birth_date": date(1991, 12, 1), "sex": "1"}
    assert verdicts(check(tmp_path, validator, change)) == [("ID-AREA", "warning")]


def test_an_unknown_code_on_a_resident_card_names_the_document(tmp_path: Path, validator: Validator) -> None:
    change = {"id_number": "990426199112010074", "birth_date": date(1991, 12, 1), "sex": "1"}  # stdnum: unknown
    [f] = id_findings(check(tmp_path, validator, change))
    assert f.message == "居民身份证号“990426199112010074”的前 6 位地址码不在已知的行政区划代码中"
