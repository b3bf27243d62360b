"""Each check kind passes a good row and fails a bad one with the exact message of a rule written here;
a contract test throws junk at every registered kind."""

from __future__ import annotations

import math
import textwrap
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from processor.checks.base import INVALID, BlockInfo, CheckEnv, Chunk, Hit, load_kinds
from processor.engine import ValidationResult, Validator
from processor.expr import ExprEnv
from processor.ingest import StoreLookupImpl
from processor.readers.detect import SheetBlock, WorkbookData
from processor.rulepack.loader import load_pack
from processor.rulepack.model import RuleDef, RulePack
from processor.store.models import Teacher, Unit

TODAY = date(2026, 3, 1)

PACK_TOML = """
[pack]
id = "test"
name = "测试规则包"
version = "1"
[kinds.teachers]
title = "教师信息采集表"
sheets = "all"
[settings]
person_sheet = "basic"
person_key = ["id_type", "id_number"]
"""

BASIC_TOML = """
[sheet]
id = "basic"
name = "基本信息"
category = 1
records = "one"

[[field]]
code = "name"
label = "姓名"
required = true
max_length = 20

[[field]]
code = "sex"
label = "性别"
type = "code"
table = "sex"
required = true

[[field]]
code = "nationality"
label = "国籍/地区"
type = "code"
table = "nationality"

[[field]]
code = "id_type"
label = "身份证件类型"
type = "code"
table = "id_doc_type"
required = true

[[field]]
code = "id_number"
label = "身份证件号"
type = "idnumber"
required = true

[[field]]
code = "birth_date"
label = "出生日期"
type = "date"
required = true

[[field]]
code = "ethnicity"
label = "民族"
type = "code"
table = "ethnicity"

[[field]]
code = "political_status"
label = "政治面貌"
type = "codes"
table = "political"

[[field]]
code = "work_start_month"
label = "参加工作年月"
type = "month"

[[field]]
code = "school_entry_month"
label = "进本校年月"
type = "month"

[[field]]
code = "is_in_bianzhi"
label = "是否在编"
type = "yesno"

[[field]]
code = "employment_form"
label = "用人形式"
type = "code"
table = "employment_form"

[[field]]
code = "hours"
label = "周课时"
type = "int"
min = 0
max = 40

[[field]]
code = "staff_number"
label = "教职工号"
pattern = "^[0-9]{1,8}$"
example = "0012"

[[field]]
code = "remarks"
label = "备注"

[[field]]
code = "highest_education"
label = "最高学历"
derived = true
"""

STUDY_TOML = """
[sheet]
id = "study"
name = "学习经历"
category = 2

[[field]]
code = "name"
label = "姓名"
required = true

[[field]]
code = "id_number"
label = "身份证件号"
type = "idnumber"
required = true

[[field]]
code = "education"
label = "获得学历"
type = "code"
table = "education"

[[field]]
code = "enrollment_month"
label = "入学年月"
type = "month"
"""

TABLES = {
    "sex": "code,name,aliases\n0,未知的性别,\n1,男性,男\n2,女性,女\n9,未说明的性别,\n",
    "nationality": "code,name\n156,中国\n840,美国\n",
    "id_doc_type": "code,name\n1,居民身份证\nA,护照\n",
    "ethnicity": "code,name\n01,汉族\n02,蒙古族\n36,毛南族\n",
    "political": "code,name\n01,中国共产党党员\n03,共青团员\n12,无党派民主人士\n13,群众\n",
    "yesno": "code,name\n0,否\n1,是\n",
    "employment_form": "code,name\n1,人事代理\n2,劳务派遣\n3,其他\n",
    "education": "code,name\n0,无\n21,大学本科\n",
}

BASIC_FIELDS = ["name", "sex", "nationality", "id_type", "id_number", "birth_date", "ethnicity",
                "political_status", "work_start_month", "school_entry_month", "is_in_bianzhi",
                "employment_form", "hours", "staff_number", "remarks"]
STUDY_FIELDS = ["name", "id_number", "education", "enrollment_month"]

# A valid 18-digit number of a woman born 1949-12-31 (GB 11643 example) and a man born 1985-03-07.
ID_WOMAN = "11010519491231002X"
ID_MAN = "360102198503070015"


def make_pack(root: Path, rules: str = "") -> RulePack:
    """A small pack (基本信息 + 学习经历) with the rules given as TOML text."""
    (root / "sheets").mkdir(parents=True)
    (root / "codes").mkdir()
    (root / "rules").mkdir()
    (root / "pack.toml").write_text(PACK_TOML, encoding="utf-8")
    (root / "sheets" / "01_basic.toml").write_text(BASIC_TOML, encoding="utf-8")
    (root / "sheets" / "02_study.toml").write_text(STUDY_TOML, encoding="utf-8")
    for name, text in TABLES.items():
        (root / "codes" / f"{name}.csv").write_text(text, encoding="utf-8")
    (root / "codes" / "ethnicity.historical.csv").write_text("alias,code\n毛难族,36\n", encoding="utf-8")
    (root / "rules" / "01_test.toml").write_text(textwrap.dedent(rules), encoding="utf-8")
    return load_pack(root)


class MemorySheet:
    """A sheet as a reader yields it (SheetSource): rows numbered from 0, header first."""

    def __init__(self, title: str, rows: list[list[Any]]) -> None:
        self.title = title
        self.hidden = False
        self.merged: list[Any] = []
        self._rows = rows

    def rows(self) -> Any:
        yield from enumerate(self._rows)


def block(pack: RulePack, sheet_id: str, rows: list[dict[str, Any]], fields: list[str] | None = None) -> SheetBlock:
    """A recognised sheet whose columns are `fields` in order (default: the test sheet's fields)."""
    spec = pack.sheets[sheet_id]
    fields = fields or (BASIC_FIELDS if sheet_id == "basic" else STUDY_FIELDS)
    header = [spec.field(f).label for f in fields]
    data = [[r.get(f, "") for f in fields] for r in rows]
    return SheetBlock(spec=spec, title=spec.name, header_row=1, columns={f: i for i, f in enumerate(fields)},
                      missing=[f.code for f in spec.input_fields if f.code not in fields], extra_headers=[],
                      source=MemorySheet(spec.name, [header, *data]), width=len(fields))


def workbook(*blocks: SheetBlock, unit: str | None = "3601020001") -> WorkbookData:
    return WorkbookData(path=Path("测试.xlsx"), format="xlsx", meta={}, kind="teachers", unit_code=unit,
                        blocks=list(blocks), findings=[])


def person(**values: Any) -> dict[str, Any]:
    """A valid 基本信息 row (a woman born 1949-12-31), with some fields replaced."""
    row = {"name": "张丽", "sex": "2", "nationality": "156", "id_type": "1", "id_number": ID_WOMAN,
           "birth_date": "1949-12-31", "ethnicity": "01", "political_status": "13",
           "work_start_month": "1970-09", "school_entry_month": "1980-09", "is_in_bianzhi": "1",
           "employment_form": "", "hours": 12, "staff_number": "0012", "remarks": ""}
    row.update(values)
    return row


def validate(pack: RulePack, *blocks: SheetBlock, store: Any = None, **kwargs: Any) -> ValidationResult:
    return Validator(pack, today=TODAY, store_lookup=store, **kwargs).validate(workbook(*blocks))


def found(result: ValidationResult, rule: str | None = None) -> list[tuple[Any, ...]]:
    """(sheet, row, column, field, value, rule, severity, message, hint) of the findings (of one rule)."""
    return [(f.sheet, f.row, f.column, f.field, f.value, f.rule, f.severity, f.message, f.hint)
            for f in result.findings if rule is None or f.rule == rule]


def rules_of(result: ValidationResult) -> list[tuple[int | None, str]]:
    return [(f.row, f.rule) for f in result.findings]


# ---------------------------------------------------------------------------------------------- required


def test_required_fires_on_an_empty_cell_with_the_rule_message(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "REMARKS-REQUIRED"
        kind = "required"
        sheet = "basic"
        fields = ["remarks"]
        message = "{{ label }}必须填写"
        hint = "请填写{{ label }}。"
    """)
    result = validate(pack, block(pack, "basic", [person(remarks="有"), person(remarks="")]))
    assert found(result) == [("基本信息", 3, "O", "remarks", None, "REMARKS-REQUIRED", "error", "备注必须填写",
                              "请填写备注。")]


def test_generated_required_counts_a_failed_cell_as_filled(tmp_path: Path) -> None:
    pack = make_pack(tmp_path)
    result = validate(pack, block(pack, "basic", [person(sex="火星人"), person(sex="  ")]))
    assert rules_of(result) == [(2, "CODE-UNKNOWN"), (3, "REQUIRED")]
    assert result.findings[1].message == "性别为必填项，不能为空"
    assert result.findings[1].hint == "请在该单元格填写性别（可从下拉列表中选择）。"


# ---------------------------------------------------------------------------------------------- blank


def test_blank_with_when_fires_only_when_the_condition_holds(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "BIANZHI-FORM-BLANK"
        kind = "blank"
        sheet = "basic"
        fields = ["employment_form"]
        when = "is_in_bianzhi == '1'"
        message = "是否在编为“是”时，{{ label }}不能填写（填了“{{ value }}”）"
    """)
    rows = [person(is_in_bianzhi="1", employment_form="人事代理"), person(is_in_bianzhi="0", employment_form="1"),
            person(is_in_bianzhi="1", employment_form="")]
    result = validate(pack, block(pack, "basic", rows))
    assert found(result) == [("基本信息", 2, "L", "employment_form", "人事代理", "BIANZHI-FORM-BLANK", "error",
                              "是否在编为“是”时，用人形式不能填写（填了“人事代理”）", "")]


# ---------------------------------------------------------------------------------------------- codelist


def test_codelist_forbidden_and_allowed_codes(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "SEX-KNOWN"
        kind = "codelist"
        sheet = "basic"
        fields = ["sex"]
        allowed = ["1", "2"]
        message = "{{ label }}只能是 {{ allowed_text }}，不能是“{{ code_label }}”"
    """)
    result = validate(pack, block(pack, "basic", [person(sex="女"), person(sex="9")]))
    assert found(result) == [("基本信息", 3, "B", "sex", "9", "SEX-KNOWN", "error",
                              "性别只能是 1-男性、2-女性，不能是“9-未说明的性别”", "")]


def test_codelist_with_a_code_outside_the_table_is_a_rule_error(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "SEX-KNOWN"
        kind = "codelist"
        sheet = "basic"
        fields = ["sex"]
        forbidden = ["7"]
    """)
    result = validate(pack, block(pack, "basic", [person()]))
    assert [(f.rule, f.value) for f in result.findings] == [("RULE-ERROR", "SEX-KNOWN")]
    assert "参数 forbidden 中的代码 7 不在代码表 sex 中" in result.findings[0].message


# ---------------------------------------------------------------------------------------------- pattern


def test_generated_pattern_rule_uses_the_field_example_in_its_hint(tmp_path: Path) -> None:
    pack = make_pack(tmp_path)
    result = validate(pack, block(pack, "basic", [person(staff_number="0012"), person(staff_number="A-12")]))
    assert found(result) == [("基本信息", 3, "N", "staff_number", "A-12", "PATTERN", "error",
                              "教职工号“A-12”格式不正确", "请按规定格式填写，例如 0012。")]


def test_pattern_rule_with_its_own_expression(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "NAME-NO-LATIN"
        kind = "pattern"
        sheet = "basic"
        fields = ["name"]
        pattern = "^[^A-Za-z]+$"
        pattern_hint = "请填写中文姓名。"
        message = "{{ label }}“{{ value }}”含有英文字母"
        hint = "{{ pattern_hint }}"
    """)
    result = validate(pack, block(pack, "basic", [person(name="张丽"), person(name="Zhang Li")]))
    assert found(result) == [("基本信息", 3, "A", "name", "Zhang Li", "NAME-NO-LATIN", "error",
                              "姓名“Zhang Li”含有英文字母", "请填写中文姓名。")]


# ---------------------------------------------------------------------------------------------- length


def test_length_min_and_generated_length_max(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "NAME-SHORT"
        kind = "length"
        sheet = "basic"
        fields = ["name"]
        min = 2
        severity = "warning"
        message = "{{ label }}只有 {{ length }} 个字"
    """)
    rows = [person(name="张丽"), person(name="张"), person(name="张" * 21)]
    result = validate(pack, block(pack, "basic", rows))
    assert found(result) == [
        ("基本信息", 3, "A", "name", "张", "NAME-SHORT", "warning", "姓名只有 1 个字", ""),
        ("基本信息", 4, "A", "name", "张" * 21, "LENGTH-MAX", "error", "姓名长度为 21 个字符，超过上限 20",
         "请删减到 20 个字符以内。"),
    ]


# ---------------------------------------------------------------------------------------------- range / number


def test_generated_range_and_number_rules(tmp_path: Path) -> None:
    pack = make_pack(tmp_path)
    rows = [person(hours=40), person(hours=41), person(hours="十二")]
    result = validate(pack, block(pack, "basic", rows))
    assert found(result) == [
        ("基本信息", 3, "M", "hours", "41", "NUMBER-RANGE", "error", "周课时“41”超出允许范围 0～40",
         "请填写 0 到 40 之间的数。"),
        ("基本信息", 4, "M", "hours", "十二", "NUMBER-INVALID", "error", "周课时“十二”不是整数",
         "请只填写阿拉伯数字，不要带单位或文字。"),
    ]


def test_range_rule_with_only_a_minimum(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "HOURS-POSITIVE"
        kind = "range"
        sheet = "basic"
        fields = ["hours"]
        min = 1
        message = "{{ label }}应大于 0，实际为 {{ value }}"
    """)
    result = validate(pack, block(pack, "basic", [person(hours=1), person(hours=0)]))
    assert [(f.row, f.rule, f.message) for f in result.findings] == [(3, "HOURS-POSITIVE", "周课时应大于 0，实际为 0")]


# ---------------------------------------------------------------------------------------------- date


def test_date_not_future_and_generated_date_invalid(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "DATE-NOT-FUTURE"
        kind = "date"
        sheet = "basic"
        fields = ["school_entry_month"]
        not_future = true
        message = "{{ label }} {{ value }} 晚于今天（{{ today }}）"
    """)
    rows = [person(school_entry_month="2026-03"), person(school_entry_month="2026-04"),
            person(school_entry_month="2016年13月")]
    result = validate(pack, block(pack, "basic", rows))
    assert found(result) == [
        ("基本信息", 3, "J", "school_entry_month", "2026-04", "DATE-NOT-FUTURE", "error",
         "进本校年月 2026-04 晚于今天（2026-03-01）", ""),
        ("基本信息", 4, "J", "school_entry_month", "2016年13月", "DATE-INVALID", "error",
         "进本校年月“2016年13月”不是有效的年月", "请按 YYYY-MM 填写，例如 2016-09。"),
    ]


# ---------------------------------------------------------------------------------------------- order

ORDER_RULES = """
    [[rule]]
    id = "DATE-SCHOOL-WORK"
    kind = "order"
    sheet = "basic"
    fields = ["school_entry_month"]
    after = "work_start_month"
    message = "{{ label }} {{ value }} 早于{{ other_label }} {{ other_value }}"

    [[rule]]
    id = "DATE-WORK-AGE16"
    kind = "order"
    sheet = "basic"
    fields = ["work_start_month"]
    after = "birth_date"
    strict = true
    min_years = 16
    severity = "warning"
    message = "{{ label }} {{ value }} 距{{ other_label }} {{ other_value }} 不足 {{ min_years }} 年"
"""


def test_order_on_or_after_and_min_years(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, ORDER_RULES)
    rows = [person(work_start_month="1970-09", school_entry_month="1970-09"),
            person(work_start_month="1970-09", school_entry_month="1970-08"),
            person(work_start_month="1964-09", school_entry_month="1980-09")]
    result = validate(pack, block(pack, "basic", rows))
    assert found(result) == [
        ("基本信息", 3, "J", "school_entry_month", "1970-08", "DATE-SCHOOL-WORK", "error",
         "进本校年月 1970-08 早于参加工作年月 1970-09", ""),
        ("基本信息", 4, "I", "work_start_month", "1964-09", "DATE-WORK-AGE16", "warning",
         "参加工作年月 1964-09 距出生日期 1949-12-31 不足 16 年", ""),
    ]


def test_order_after_a_field_of_the_person_sheet(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "STUDY-AFTER-BIRTH"
        kind = "order"
        sheet = "study"
        fields = ["enrollment_month"]
        after = "basic.birth_date"
        strict = true
        message = "{{ label }} {{ value }} 不晚于{{ other_label }} {{ other_value }}"
    """)
    study = block(pack, "study", [
        {"name": "张丽", "id_number": ID_WOMAN, "education": "21", "enrollment_month": "1968-09"},
        {"name": "张丽", "id_number": ID_WOMAN, "education": "21", "enrollment_month": "1949-10"},
    ])
    # 学习经历 comes first in the file: 基本信息 is still read first so that the birth date is known.
    result = validate(pack, study, block(pack, "basic", [person()]))
    assert found(result) == [("学习经历", 3, "D", "enrollment_month", "1949-10", "STUDY-AFTER-BIRTH", "error",
                              "入学年月 1949-10 不晚于出生日期 1949-12-31", "")]


# ---------------------------------------------------------------------------------------------- idnumber


def _id_rule(rule_id: str, part: str, fields: str = '["id_number"]', extra: str = "") -> str:
    return f"""
        [[rule]]
        id = "{rule_id}"
        kind = "idnumber"
        part = "{part}"
        sheet = "basic"
        fields = {fields}
        type_field = "id_type"
        {extra}
        message = "{rule_id}：{{{{ label }}}}“{{{{ value }}}}”{{{{ expected }}}}"
    """


ID_RULES = "".join([
    _id_rule("ID-LENGTH", "length"), _id_rule("ID-CHARS", "chars"), _id_rule("ID-DATE", "date"),
    _id_rule("ID-CHECKSUM", "checksum"), _id_rule("ID-AREA", "area", extra='severity = "warning"'),
    _id_rule("ID-15", "upgraded15", extra='severity = "warning"'),
    _id_rule("ID-BIRTH", "birth", '["birth_date", "id_number"]', 'birth_field = "birth_date"'),
    _id_rule("ID-SEX", "sex", '["sex", "id_number"]', 'sex_field = "sex"'),
    _id_rule("ID-OTHER-TYPE", "other_type", extra="min = 5\n        max = 20"),
])


@pytest.mark.parametrize(("values", "expected"), [
    ({}, []),
    ({"id_number": "1101051949123100"}, [("ID-LENGTH", "E", "ID-LENGTH：身份证件号“1101051949123100”18 位（或旧式 15 位）")]),
    ({"id_number": "11010519491231002Y"}, [("ID-CHARS", "E", "ID-CHARS：身份证件号“11010519491231002Y”")]),
    ({"id_number": "110105194913310020"}, [("ID-DATE", "E", "ID-DATE：身份证件号“110105194913310020”")]),
    ({"id_number": "110105194912310021"}, [("ID-CHECKSUM", "E", "ID-CHECKSUM：身份证件号“110105194912310021”X")]),
    ({"id_number": "990105194912310023"}, [("ID-AREA", "E", "ID-AREA：身份证件号“990105194912310023”")]),
    ({"id_number": "110105491231002"},
     [("ID-15", "E", "ID-15：身份证件号“110105491231002”11010519491231002X")]),
    ({"birth_date": "1949-12-30"}, [("ID-BIRTH", "F", "ID-BIRTH：出生日期“1949-12-30”1949-12-31")]),
    ({"sex": "男"}, [("ID-SEX", "B", "ID-SEX：性别“男”2-女性")]),
    ({"id_type": "A", "id_number": "E12345678", "sex": "1", "birth_date": "1960-01-01"}, []),
    ({"id_type": "A", "id_number": "E12"}, [("ID-OTHER-TYPE", "E", "ID-OTHER-TYPE：身份证件号“E12”")]),
    ({"id_type": "", "id_number": "E1234567"}, []),
])
def test_idnumber_parts_one_finding_per_mistake(tmp_path: Path, values: dict[str, Any],
                                                expected: list[tuple[str, str, str]]) -> None:
    pack = make_pack(tmp_path, ID_RULES)
    rows = [person(**values)]
    result = validate(pack, block(pack, "basic", rows))
    assert [(f.rule, f.column, f.message) for f in result.findings if f.rule != "REQUIRED"] == expected


def test_idnumber_birth_mismatch_marks_the_birth_date_cell(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, ID_RULES)
    result = validate(pack, block(pack, "basic", [person(birth_date="1949-11-30")]))
    assert [(f.field, f.column, f.value, f.rule) for f in result.findings] == [
        ("birth_date", "F", "1949-11-30", "ID-BIRTH")]


# ---------------------------------------------------------------------------------------------- unique_file

DUPLICATE_RULE = """
    [[rule]]
    id = "ID-DUPLICATE"
    kind = "unique_file"
    sheet = "basic"
    fields = ["id_number", "id_type"]
    message = "{{ label }}“{{ value }}”与第 {{ first_row }} 行重复"
"""


def test_unique_file_reports_every_repeat_with_the_first_row(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, DUPLICATE_RULE)
    rows = [person(), person(id_number=ID_MAN, sex="1", birth_date="1985-03-07"), person(), person()]
    result = validate(pack, block(pack, "basic", rows))
    assert [(f.row, f.message) for f in result.findings] == [
        (4, f"身份证件号“{ID_WOMAN}”与第 2 行重复"), (5, f"身份证件号“{ID_WOMAN}”与第 2 行重复")]


def test_unique_file_gives_the_normalised_value_of_a_full_width_repeat(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, DUPLICATE_RULE.replace("“{{ value }}”", "“{{ value }}”（{{ normalised }}）"))
    full_width = "１１０１０５１９４９１２３１００２Ｘ"
    result = validate(pack, block(pack, "basic", [person(), person(id_number=full_width)]))
    assert [(f.row, f.value, f.message) for f in result.findings] == [
        (3, full_width, f"身份证件号“{full_width}”（{ID_WOMAN}）与第 2 行重复")]


def test_unique_file_against_all_flags_a_none_row_that_is_not_alone(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "NONE-ROW-ALONE"
        kind = "unique_file"
        sheet = "study"
        fields = ["id_number"]
        when = "education == '0'"
        against = "all"
        severity = "warning"
        message = "“无”的记录应是此人在本表的唯一一行（另有 {{ others }} 行）"
    """)
    rows = [{"name": "张丽", "id_number": ID_WOMAN, "education": "0"},
            {"name": "张丽", "id_number": ID_WOMAN, "education": "21", "enrollment_month": "1968-09"},
            {"name": "王强", "id_number": ID_MAN, "education": "0"}]
    result = validate(pack, block(pack, "study", rows))
    assert [(f.row, f.rule, f.message) for f in result.findings] == [
        (2, "NONE-ROW-ALONE", "“无”的记录应是此人在本表的唯一一行（另有 1 行）")]


# ---------------------------------------------------------------------------------------------- store checks


def _store_with_teacher(engine: Engine) -> StoreLookupImpl:
    with Session(engine) as session:
        session.add_all([Unit(code="360000", name="江西省", level="province"),
                         Unit(code="3601020001", name="南昌一中", level="school", parent_code="360000"),
                         Unit(code="3601020002", name="南昌二中", level="school", parent_code="360000")])
        session.flush()
        session.add(Teacher(id_type="1", id_number=ID_MAN, name="王强", unit_code="3601020002", status="active"))
        session.commit()
    return StoreLookupImpl(engine)


def test_unique_store_names_the_other_school(tmp_path: Path, engine: Engine) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "PERSON-CONFLICT"
        kind = "unique_store"
        sheet = "basic"
        fields = ["id_number", "id_type"]
        message = "{{ label }}“{{ value }}”的教师已在{{ school }}（{{ school_code }}）在职"
    """)
    rows = [person(), person(name="王强", id_number=ID_MAN, sex="1", birth_date="1985-03-07")]
    result = validate(pack, block(pack, "basic", rows), store=_store_with_teacher(engine))
    assert found(result) == [("基本信息", 3, "E", "id_number", ID_MAN, "PERSON-CONFLICT", "error",
                              f"身份证件号“{ID_MAN}”的教师已在南昌二中（3601020002）在职", "")]


REFERENCE_RULE = """
    [[rule]]
    id = "REF-NO-BASIC"
    kind = "reference"
    sheet = "*"
    fields = ["id_number"]
    ref_sheet = "basic"
    message = "{{ label }}“{{ value }}”在{{ ref_sheet_name }}中找不到"
"""


def test_reference_looks_in_the_file_then_in_the_store(tmp_path: Path, engine: Engine) -> None:
    pack = make_pack(tmp_path, REFERENCE_RULE)
    study = block(pack, "study", [{"name": "张丽", "id_number": ID_WOMAN, "education": "21"},
                                  {"name": "王强", "id_number": ID_MAN, "education": "21"},
                                  {"name": "李明", "id_number": "360102198503070023", "education": "21"}])
    result = validate(pack, study, block(pack, "basic", [person()]), store=_store_with_teacher(engine))
    assert found(result) == [("学习经历", 4, "B", "id_number", "360102198503070023", "REF-NO-BASIC", "error",
                              "身份证件号“360102198503070023”在基本信息中找不到", "")]


def test_reference_gives_the_normalised_number(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, REFERENCE_RULE.replace("{{ value }}", "{{ normalised }}"))
    study = block(pack, "study", [{"name": "李明", "id_number": "３６０１０２１９８５０３０７００２３", "education": "21"}])
    result = validate(pack, study, block(pack, "basic", [person()]))
    assert [(f.value, f.message) for f in result.findings] == [
        ("３６０１０２１９８５０３０７００２３", "身份证件号“360102198503070023”在基本信息中找不到")]


def test_reference_skips_a_person_whose_basic_row_has_an_error(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, REFERENCE_RULE + ID_RULES)
    basic = block(pack, "basic", [person(id_number="11010519491231002")])  # one digit short
    study = block(pack, "study", [{"name": "张丽", "id_number": ID_WOMAN, "education": "21"}])
    result = validate(pack, basic, study)
    assert rules_of(result) == [(2, "ID-LENGTH")]


def test_reference_without_store_and_without_the_sheet_is_not_decided(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, REFERENCE_RULE)
    study = block(pack, "study", [{"name": "张丽", "id_number": ID_WOMAN, "education": "21"}])
    assert validate(pack, study).findings == []


# ---------------------------------------------------------------------------------------------- multi_exclusive


def test_multi_exclusive_code_must_stand_alone(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "MULTI-EXCLUSIVE"
        kind = "multi_exclusive"
        sheet = "basic"
        fields = ["political_status"]
        exclusive = ["12", "13"]
        message = "{{ label }}中的“{{ code_label }}”不能与其他选项同时选择"
    """)
    rows = [person(political_status="01,03"), person(political_status="13、01")]
    result = validate(pack, block(pack, "basic", rows))
    assert found(result) == [("基本信息", 3, "H", "political_status", "13、01", "MULTI-EXCLUSIVE", "error",
                              "政治面貌中的“13-群众”不能与其他选项同时选择", "")]


# ---------------------------------------------------------------------------------------------- expression


def test_expression_with_helpers_years_and_today(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "AGE-RETIRED"
        kind = "expression"
        sheet = "basic"
        fields = ["birth_date"]
        assert = "years(birth_date, today) < limit"
        limit = 70
        severity = "warning"
        message = "出生日期 {{ value }}：到 {{ today }} 已满 {{ limit }} 周岁"
    """)
    rows = [person(id_number=ID_MAN, sex="1", birth_date="1985-03-07"), person()]
    result = validate(pack, block(pack, "basic", rows))
    assert found(result) == [("基本信息", 3, "F", "birth_date", "1949-12-31", "AGE-RETIRED", "warning",
                              "出生日期 1949-12-31：到 2026-03-01 已满 70 周岁", "")]


# ---------------------------------------------------------------------------------------------- cell


def test_cell_rule_words_a_normalisation_finding(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "ID-AS-NUMBER"
        kind = "cell"
        fields = ["id_number"]
        message = "{{ label }}被 Excel 存成了数字（显示为 {{ shown }}）"
        hint = "请把单元格设为文本后重新输入。"
    """)
    result = validate(pack, block(pack, "basic", [person(id_number=1.10105194912310e17)]))
    assert [(f.column, f.rule, f.severity, f.message, f.hint) for f in result.findings] == [
        ("E", "ID-AS-NUMBER", "error", "身份证件号被 Excel 存成了数字（显示为 1.10105E+17）", "请把单元格设为文本后重新输入。")]


def test_cell_rule_warning_keeps_the_value_usable(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "CODE-HISTORICAL"
        kind = "cell"
        severity = "warning"
        message = "{{ label }}“{{ value }}”是旧称"
    """)
    result = Validator(pack, today=TODAY).validate(workbook(block(pack, "basic", [person(ethnicity="毛难族")])))
    assert [(f.rule, f.severity, f.message) for f in result.findings] == [("CODE-HISTORICAL", "warning",
                                                                           "民族“毛难族”是旧称")]
    assert result.rows["basic"][0].values["ethnicity"] == "36"
    assert result.rows["basic"][0].has_error is False


def test_a_normalisation_finding_without_a_rule_is_still_reported(tmp_path: Path) -> None:
    pack = make_pack(tmp_path)
    result = validate(pack, block(pack, "basic", [person(id_number=1.10105194912310e17)]))
    assert [(f.column, f.rule, f.severity) for f in result.findings] == [("E", "ID-AS-NUMBER", "error")]
    assert result.findings[0].message == "身份证件号“1.10105E+17”无法识别"


def test_derived_column_filled_gets_one_warning(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "DERIVED-IGNORED"
        kind = "cell"
        severity = "warning"
        message = "{{ label }}由系统根据其他信息生成，填写的内容不会被读取"
    """)
    fields = [*BASIC_FIELDS, "highest_education"]
    rows = [person(highest_education="大学本科"), person(highest_education="大学本科")]
    result = validate(pack, block(pack, "basic", rows, fields=fields))
    assert found(result) == [("基本信息", 2, "P", "highest_education", "大学本科", "DERIVED-IGNORED", "warning",
                              "最高学历由系统根据其他信息生成，填写的内容不会被读取", "")]
    assert "highest_education" not in result.rows["basic"][0].values


# ---------------------------------------------------------------------------------------------- contract

JUNK: list[Any] = [None, "", "   ", "\u3000", "😀", "3²", "x" * 100_000, "１２３", 1.5, -1, 10**30, math.nan, math.inf,
                   True, date(2016, 9, 1), datetime(2016, 9, 1, 8, 30), ("13", "01"), ("😀",), (), INVALID,
                   "2016-13", "1949-12", 2016, "110105491231002", "11010519491231002X", "E12345678"]

CONTRACT_PARAMS: dict[str, list[tuple[str, list[str], dict[str, Any]]]] = {
    "required": [("basic", ["name", "sex"], {})],
    "blank": [("basic", ["employment_form"], {})],
    "codelist": [("basic", ["political_status"], {"forbidden": ["12"]}), ("basic", ["sex"], {"allowed": ["1"]})],
    "pattern": [("basic", ["remarks"], {"pattern": "^a+$"})],
    "length": [("basic", ["remarks"], {"min": 2, "max": 3})],
    "range": [("basic", ["hours"], {"min": 0, "max": 1})],
    "number": [("basic", ["hours"], {})],
    "date": [("basic", ["birth_date"], {"not_future": True}), ("basic", ["work_start_month"], {})],
    "order": [("basic", ["work_start_month"], {"after": "birth_date", "strict": True, "min_years": 16}),
              ("study", ["enrollment_month"], {"after": "basic.birth_date"})],
    "idnumber": [("basic", ["id_number"], {"part": p}) for p in
                 ("length", "chars", "date", "checksum", "area", "upgraded15", "birth", "sex", "other_type")],
    "unique_file": [("basic", ["id_number", "id_type"], {}), ("study", ["id_number"], {"against": "all"})],
    "unique_store": [("basic", ["id_number"], {})],
    "reference": [("study", ["id_number"], {"ref_sheet": "basic"})],
    "multi_exclusive": [("basic", ["political_status"], {"exclusive": ["13"]})],
    "expression": [("basic", ["hours"], {"assert": "hours > 1 and years(birth_date, today) > 0"})],
    "cell": [("basic", [], {})],
    "count": [("basic", ["sex"], {"min": 1, "max": 1}), ("basic", ["hours"], {"max": 0})],
    "covers": [("basic", ["sex"], {"codes": ["1", "2"]}), ("basic", ["political_status"], {"codes": ["01", "13"]})],
}


class JunkStore:
    """A StoreLookup that answers every key with odd data (the Protocol, not a database)."""

    def persons_elsewhere(self, keys: list[Any], unit_code: str) -> dict[Any, tuple[str, str]]:
        return {k: ("😀", "") for k in keys}

    def persons_known(self, keys: list[Any]) -> set[Any]:
        return set()


def test_every_check_kind_is_in_the_contract() -> None:
    assert set(load_kinds()) == set(CONTRACT_PARAMS)


@pytest.mark.parametrize("kind", sorted(CONTRACT_PARAMS))
def test_contract_junk_gives_findings_or_nothing_never_an_exception(tmp_path: Path, kind: str) -> None:
    pack = make_pack(tmp_path)
    cls = load_kinds()[kind]
    for n, (sheet_id, fields, params) in enumerate(CONTRACT_PARAMS[kind]):
        for when in (None, "sex == '1' or hours > 3"):
            rule = RuleDef(id=f"JUNK-{n}", kind=kind, sheet=sheet_id, fields=tuple(fields), when=when,
                           params=dict(params), message="{{ label }}{{ value }}")
            env = CheckEnv(today=TODAY, expr=ExprEnv(TODAY), store=JunkStore(), unit_code="3601020001",
                           all_fields=frozenset(f.code for s in pack.sheets.values() for f in s.fields))
            env.present_sheets = {"basic", "study"}
            env.file_keys = {("basic", "id_number"): {"😀", None}}
            env.file_maps = {("basic", "id_number", "birth_date"): {"😀": "junk", ID_WOMAN: math.nan}}
            env.file_suspects = {("basic", "id_number"): {"😀"}}
            check = cls(rule, pack.sheets[sheet_id], pack, env)
            spec = pack.sheets[sheet_id]
            columns = {f.code: i for i, f in enumerate(spec.fields)}
            info = BlockInfo(spec, spec.name, 1, columns, ())
            hits = list(check.start(info) or ())
            for offset in range(0, len(JUNK), 7):
                # Every field of every row holds junk, shifted so that junk meets junk in all combinations.
                values = {f.code: [JUNK[(i + offset + k) % len(JUNK)] for i in range(len(JUNK))]
                          for k, f in enumerate(spec.fields)}
                raws = {code: list(col) for code, col in values.items()}
                chunk = Chunk(list(range(2, 2 + len(JUNK))), values, raws)
                hits.extend(check.rows(chunk) or ())
            hits.extend(check.end() or ())
            assert all(isinstance(h, Hit) for h in hits)


def test_derived_column_reported_by_the_reader_and_worded_by_the_rule_naming_it(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "DERIVED-IGNORED"
        kind = "cell"
        severity = "warning"
        message = "{{ label }}已忽略"

        [[rule]]
        id = "EDU-FROM-STUDY"
        kind = "cell"
        sheet = "basic"
        fields = ["highest_education"]
        severity = "warning"
        message = "{{ label }}取自学习经历，填写的“{{ value }}”已忽略"
    """)
    fields = [*BASIC_FIELDS, "highest_education"]
    blk = block(pack, "basic", [person(), person(highest_education="硕士")], fields=fields)
    del blk.columns["highest_education"]
    blk.derived = {"highest_education": len(BASIC_FIELDS)}
    result = validate(pack, blk)
    assert found(result) == [("基本信息", 3, "P", "highest_education", "硕士", "EDU-FROM-STUDY", "warning",
                              "最高学历取自学习经历，填写的“硕士”已忽略", "")]
