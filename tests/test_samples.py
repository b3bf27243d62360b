"""The sample generator: deterministic people, valid identity numbers, mistakes exactly where it says."""

from __future__ import annotations

import csv
import random
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from stdnum.cn import ric

from processor import samples
from processor.engine import Validator
from processor.paths import CORE_RULES_DIR
from processor.readers import read_workbook
from processor.rulepack import load_pack
from processor.workbook.meta import read_meta

TODAY = date(2026, 5, 1)
SCHOOL = "2136010001"


@pytest.fixture(scope="module")
def pack():
    return load_pack(CORE_RULES_DIR)


@pytest.fixture(scope="module")
def people():
    return samples.generate_people(300, seed=11, school_code=SCHOOL, today=TODAY)


def _fingerprint(people: list[samples.Person]) -> list[tuple]:
    return [(p.name, p.id_number, p.basic["work_start_month"], p.basic["school_entry_month"],
             repr(sorted(p.records.items())), repr(sorted(p.contact.items()))) for p in people]


def test_generate_people_is_deterministic_for_a_seed():
    a = samples.generate_people(50, seed=7, school_code=SCHOOL, today=TODAY)
    b = samples.generate_people(50, seed=7, school_code=SCHOOL, today=TODAY)
    c = samples.generate_people(50, seed=8, school_code=SCHOOL, today=TODAY)
    assert _fingerprint(a) == _fingerprint(b)
    assert [p.id_number for p in a] != [p.id_number for p in c]


def test_every_identity_number_is_valid_and_agrees_with_birth_and_sex(people):
    for p in people:
        n = p.id_number
        assert len(n) == 18
        assert n[-1] == samples.id_check_digit(n[:17])
        assert ric.is_valid(n), n
        assert n[6:14] == p.birth_date.strftime("%Y%m%d")
        assert int(n[16]) % 2 == (1 if p.sex == "1" else 0)
        assert date(1962, 1, 1) <= p.birth_date <= date(2002, 12, 31)


def test_check_digit_matches_the_standard_example():
    # GB 11643-1999 appendix example: 11010519491231002X.
    assert samples.id_check_digit("11010519491231002") == "X"


def test_identity_numbers_are_unique_across_schools_sharing_taken_ids():
    taken: set[str] = set()
    a = samples.generate_people(200, seed=1, today=TODAY, taken_ids=taken)
    b = samples.generate_people(200, seed=1, today=TODAY, taken_ids=taken)
    assert len({p.id_number for p in a + b}) == 400


def test_work_starts_at_18_or_later_and_school_entry_is_not_before_it(people):
    for p in people:
        birth_month = f"{p.birth_date.year + 18:04d}-{p.birth_date.month:02d}"
        assert p.basic["work_start_month"] >= birth_month
        assert p.basic["school_entry_month"] >= p.basic["work_start_month"]
        assert p.basic["school_entry_month"] <= f"{TODAY:%Y-%m}"


def test_qualification_numbers_follow_the_17_digit_layout(people):
    numbers = [(q["certificate_number"], q["certificate_type"])
               for p in people for q in p.records["qualification"] if q["certificate_type"] != "0"]
    assert len(numbers) > 200
    for number, cert_type in numbers:
        assert len(number) == 17 and number.isdigit()
        assert 1996 <= int(number[:4]) <= TODAY.year
        assert number[4:6] == "36"
        assert number[9] == cert_type
        assert number[10] in "012"


def test_mobile_numbers_have_11_digits_starting_with_1(people):
    for p in people:
        assert len(p.contact["mobile"]) == 11 and p.contact["mobile"].startswith("1")


def test_every_generated_code_resolves_in_the_pack_tables(pack):
    renderer = samples.Renderer(pack, random.Random(1))
    for school_code in ("2136010001", "3136010001", "3436010001"):
        people = samples.generate_people(200, seed=2, school_code=school_code, today=TODAY)
        samples.build_grids(people, pack=pack, kind="teachers", renderer=renderer)
    assert renderer.unresolved == {}


def test_rare_characters_appear_when_asked():
    people = samples.generate_people(20, seed=3, today=TODAY, rare_rate=1.0, detail=False)
    assert all(p.name[-1] in samples.RARE_CHARS for p in people)


def test_clean_workbook_has_template_metadata_and_no_findings(tmp_path: Path, pack, people):
    path = tmp_path / "clean.xlsx"
    injected = samples.write_workbook(path, people[:80], pack=pack, unit_code=SCHOOL, unit_name="南昌市东湖区第一小学",
                                      seed=1)
    assert injected == []
    meta = read_meta(path)
    assert (meta["kind"], meta["unit_code"]) == ("teachers", SCHOOL)
    result = Validator(pack, today=TODAY).validate(read_workbook(path, pack))
    assert [(f.sheet, f.row, f.column, f.rule) for f in result.findings] == []
    assert result.total_rows > 80 * 5


def test_injected_mistakes_are_in_the_cells_they_name(tmp_path: Path, pack, people):
    path = tmp_path / "mistakes.xlsx"
    injected = samples.write_workbook(path, people[:100], pack=pack, unit_code=SCHOOL, unit_name="学校",
                                      mistakes=[(m, 1) for m in samples.MISTAKES], seed=2)
    assert sorted(i.mistake for i in injected) == sorted(samples.MISTAKES)
    wb = load_workbook(path)
    for i in injected:
        cell = wb[i.sheet][f"{i.column}{i.row}"]
        value = cell.value
        if isinstance(value, datetime) and isinstance(i.value, datetime):
            assert value == i.value
        else:
            assert value == i.value, (i.mistake, value, i.value)
    by = {i.mistake: i for i in injected}
    assert isinstance(wb[by["id_as_float"].sheet][f"G{by['id_as_float'].row}"].value, float)
    assert isinstance(by["date_serial"].value, int)
    assert by["month_ambiguous"].value == pytest.approx(float(by["month_ambiguous"].value))
    formula = wb[by["formula_text"].sheet][f"{by['formula_text'].column}{by['formula_text'].row}"]
    assert (formula.value, formula.data_type) == ("=1+1", "s")
    assert len(by["id_15"].value) == 15


def test_engine_reports_exactly_the_injected_mistakes(tmp_path: Path, pack, people):
    path = tmp_path / "mistakes.xlsx"
    injected = samples.write_workbook(path, people, pack=pack, unit_code=SCHOOL, unit_name="学校",
                                      mistakes=[(m, 2) for m in samples.MISTAKES], seed=5)
    result = Validator(pack, today=TODAY).validate(read_workbook(path, pack))
    got = {(f.sheet, f.row, f.column, f.rule) for f in result.findings}
    want = {(i.sheet, i.row, i.column, i.rule) for i in injected if i.rule}
    assert got == want
    harmless = {(i.sheet, i.row, i.column) for i in injected if not i.rule}
    assert harmless and not {g[:3] for g in got} & harmless


def test_streamed_workbook_keeps_metadata_headers_and_mistakes(tmp_path: Path, pack, people):
    path = tmp_path / "big.xlsx"
    injected = samples.write_workbook(path, people[:150], pack=pack, kind="new-teachers", unit_code=SCHOOL,
                                      unit_name="学校", mistakes=[("id_checksum", 3), ("date_serial", 2)],
                                      write_only=True, seed=3)
    wb = load_workbook(path)
    assert wb["_tmis"].sheet_state == "veryHidden"
    assert wb["基本信息"]["A1"].value == "*姓名"
    assert read_meta(path)["kind"] == "new-teachers"
    result = Validator(pack, today=TODAY).validate(read_workbook(path, pack))
    assert {(f.sheet, f.row, f.column, f.rule) for f in result.findings} == {
        (i.sheet, i.row, i.column, i.rule) for i in injected if i.rule}
    assert result.total_rows == 300


def test_csv_export_is_gb18030_with_rare_characters(tmp_path: Path, pack):
    people = samples.generate_people(10, seed=3, today=TODAY, rare_rate=1.0, detail=False)
    path = samples.write_csv(tmp_path / "legacy.csv", people, pack=pack)
    raw = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    rows = list(csv.reader(raw.decode("gb18030").splitlines()))
    assert rows[0][:3] == ["姓名", "曾用名", "性别"]
    assert [r[0] for r in rows[1:]] == [p.name for p in people]
    assert {r[6] for r in rows[1:]} == {p.id_number for p in people}


def test_unknown_mistake_is_refused(tmp_path: Path, pack, people):
    with pytest.raises(ValueError, match="unknown mistake"):
        samples.write_workbook(tmp_path / "x.xlsx", people[:5], pack=pack, unit_code=SCHOOL, unit_name="学校",
                               mistakes={"typo_in_mistake": 0.5})
