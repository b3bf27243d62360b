"""The rule engine: memoisation, rule errors, `when`, limits, streaming, ordering and one finding per problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_checks import (
    ID_MAN,
    ID_RULES,
    ID_WOMAN,
    TODAY,
    block,
    found,
    make_pack,
    person,
    rules_of,
    validate,
    workbook,
)

from processor.engine import RowRecord, Validator
from processor.readers.detect import WorkbookData

BIANZHI_RULE = """
    [[rule]]
    id = "BIANZHI-FORM-REQUIRED"
    kind = "required"
    sheet = "basic"
    fields = ["employment_form"]
    when = "is_in_bianzhi == '0' and nationality == '156'"
    message = "是否在编为“否”时，{{ label }}必须填写"
"""


def test_same_bad_value_in_many_rows_gives_a_finding_on_every_row(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, BIANZHI_RULE)
    rows = [person(sex="火星人", is_in_bianzhi="0") for _ in range(2500)]
    result = Validator(pack, today=TODAY, chunk_rows=1000).validate(workbook(block(pack, "basic", rows)))
    assert [f.row for f in result.findings if f.rule == "CODE-UNKNOWN"] == list(range(2, 2502))
    assert [f.row for f in result.findings if f.rule == "BIANZHI-FORM-REQUIRED"] == list(range(2, 2502))
    assert {f.message for f in result.findings if f.rule == "CODE-UNKNOWN"} == {"性别“火星人”不在代码表《sex》中"}


def test_when_over_several_fields(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, BIANZHI_RULE)
    rows = [person(is_in_bianzhi="0", nationality="156"), person(is_in_bianzhi="0", nationality="840"),
            person(is_in_bianzhi="1", nationality="156"), person(is_in_bianzhi="0", nationality="156",
                                                                 employment_form="2")]
    result = validate(pack, block(pack, "basic", rows))
    assert rules_of(result) == [(2, "BIANZHI-FORM-REQUIRED")]


def test_when_reading_an_unreadable_cell_does_not_decide(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, BIANZHI_RULE)
    result = validate(pack, block(pack, "basic", [person(is_in_bianzhi="也许")]))
    assert rules_of(result) == [(2, "CODE-UNKNOWN")]


def test_broken_rules_become_rule_errors_and_the_run_goes_on(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "BAD-SYNTAX"
        kind = "expression"
        sheet = "basic"
        fields = ["hours"]
        assert = "hours <"

        [[rule]]
        id = "BAD-KIND"
        kind = "checksum"
        sheet = "basic"
        fields = ["hours"]

        [[rule]]
        id = "BAD-PARAM"
        kind = "range"
        sheet = "basic"
        fields = ["hours"]
        maximum = 3

        [[rule]]
        id = "BAD-NAME"
        kind = "required"
        sheet = "basic"
        fields = ["remarks"]
        when = "is_teacher == '1'"

        [[rule]]
        id = "GOOD"
        kind = "range"
        sheet = "basic"
        fields = ["hours"]
        max = 20
        message = "{{ label }}超过 {{ max }}"
    """)
    result = validate(pack, block(pack, "basic", [person(hours=30)]))
    errors = [(f.rule, f.value, f.severity, f.sheet, f.row) for f in result.findings if f.rule == "RULE-ERROR"]
    assert errors == [("RULE-ERROR", rid, "error", None, None) for rid in ("BAD-SYNTAX", "BAD-KIND", "BAD-PARAM",
                                                                         "BAD-NAME")]
    messages = [f.message for f in result.findings if f.rule == "RULE-ERROR"]
    rules_file = tmp_path / "rules" / "01_test.toml"
    assert messages[0] == f"规则 BAD-SYNTAX（{rules_file} 第 3 行）无法使用：表达式“hours <”语法错误（unexpected ')'）"
    assert messages[1].startswith(f"规则 BAD-KIND（{rules_file} 第 10 行）无法使用：检查类型“checksum”未知，可用：blank、cell")
    assert messages[2] == (f"规则 BAD-PARAM（{rules_file} 第 16 行）无法使用：检查类型 range 不认识参数 maximum；"
                           "可用参数：min、max")
    assert messages[3] == (f"规则 BAD-NAME（{rules_file} 第 23 行）无法使用：when 表达式“is_teacher == '1'”中的名称 "
                           "is_teacher 不是字段代码或可用函数（可用：字段代码、today、years、month、year）")
    assert [(f.row, f.rule, f.message) for f in result.findings if f.rule == "GOOD"] == [(2, "GOOD", "周课时超过 20")]


def test_max_findings_truncates_but_keeps_counting(tmp_path: Path) -> None:
    pack = make_pack(tmp_path)
    rows = [person(sex="?", hours=99) for _ in range(30)]
    result = Validator(pack, today=TODAY, max_findings=25).validate(workbook(block(pack, "basic", rows)))
    assert result.truncated is True
    assert len(result.findings) == 25
    assert result.errors == 60
    assert result.counts["basic"].errors == 60


def test_keep_rows_false_streams_records_to_the_callback(tmp_path: Path) -> None:
    pack = make_pack(tmp_path)
    rows = [person(hours=i % 50) for i in range(1, 2501)]
    got: list[tuple[str, list[RowRecord]]] = []
    validator = Validator(pack, today=TODAY, chunk_rows=1000)
    result = validator.validate(workbook(block(pack, "basic", rows)), keep_rows=False,
                                on_chunk=lambda sheet, records: got.append((sheet, records)))
    assert result.rows == {}
    assert [(sheet, len(records)) for sheet, records in got] == [("basic", 1000), ("basic", 1000), ("basic", 500)]
    bad = [r.excel_row for _, records in got for r in records if r.has_error]
    assert bad == [r for r in range(2, 2502) if (r - 1) % 50 > 40]
    assert got[0][1][0].values["hours"] == 1 and got[0][1][0].values["birth_date"].isoformat() == "1949-12-31"
    assert result.counts["basic"].rows == 2500


def test_findings_are_sorted_by_sheet_order_row_and_column(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "REF-NO-BASIC"
        kind = "reference"
        sheet = "study"
        fields = ["id_number"]
        ref_sheet = "basic"
    """)
    fields = ["hours", "name", "sex", "id_type", "id_number", "birth_date"] + [f"x{i}" for i in range(0)]
    study = block(pack, "study", [{"name": "王强", "id_number": ID_MAN}])
    basic_rows = [person(sex="?", hours=99), person(name="", hours=-1)]
    result = validate(pack, study, block(pack, "basic", basic_rows, fields=fields))
    assert [(f.sheet, f.row, f.column, f.rule) for f in result.findings] == [
        ("学习经历", 2, "B", "REF-NO-BASIC"),
        ("基本信息", 2, "A", "NUMBER-RANGE"), ("基本信息", 2, "C", "CODE-UNKNOWN"),
        ("基本信息", 3, "A", "NUMBER-RANGE"), ("基本信息", 3, "B", "REQUIRED"),
    ]


def test_column_letters_beyond_z_sort_after_z(tmp_path: Path) -> None:
    pack = make_pack(tmp_path)
    spec = pack.sheets["basic"]
    blk = block(pack, "basic", [person(sex="?", hours=99)])
    blk.columns = {"hours": 26, "sex": 25}  # AA and Z
    blk.source = type(blk.source)(spec.name, [[""] * 25 + ["性别", "周课时"], [""] * 25 + ["?", 99]])
    blk.width = 27
    result = validate(pack, blk)
    assert [(f.column, f.rule) for f in result.findings if f.rule != "REQUIRED"] == [("Z", "CODE-UNKNOWN"),
                                                                                   ("AA", "NUMBER-RANGE")]


def test_one_finding_per_cell_problem(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, ID_RULES + """
        [[rule]]
        id = "DATE-WORK-BIRTH"
        kind = "order"
        sheet = "basic"
        fields = ["work_start_month"]
        after = "birth_date"
        strict = true
    """)
    # An unreadable 出生日期 is DATE-INVALID only: not also REQUIRED, ID-BIRTH or DATE-WORK-BIRTH.
    result = validate(pack, block(pack, "basic", [person(birth_date="1949年13月")]))
    assert rules_of(result) == [(2, "DATE-INVALID")]


def test_switched_off_rule_instance_is_not_reported(tmp_path: Path) -> None:
    pack = make_pack(tmp_path)
    pack.disabled.update({"REQUIRED@basic.name", "CODE-UNKNOWN@basic.sex"})
    result = validate(pack, block(pack, "basic", [person(name="", sex="火星人", id_type="")]))
    assert rules_of(result) == [(2, "REQUIRED")]
    assert result.findings[0].field == "id_type"


def test_date1904_workbooks_read_serial_dates_in_their_own_system(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, ID_RULES)
    validator = Validator(pack, today=TODAY)
    rows = [person(birth_date=16801)]  # 1949-12-31 in the 1904 date system, 1945-12-30 in the 1900 one
    wb1904 = WorkbookData(path=Path("mac.xlsx"), format="xlsx", meta={}, kind="teachers", unit_code=None,
                          blocks=[block(pack, "basic", rows)], findings=[], date1904=True)
    assert validator.validate(wb1904).findings == []
    result = validator.validate(workbook(block(pack, "basic", rows)))
    assert [(f.rule, f.message) for f in result.findings] == [
        ("ID-BIRTH", "ID-BIRTH：出生日期“16801”1949-12-31")]


def test_one_validator_checks_several_files_without_carrying_state(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, """
        [[rule]]
        id = "ID-DUPLICATE"
        kind = "unique_file"
        sheet = "basic"
        fields = ["id_number"]

        [[rule]]
        id = "REF-NO-BASIC"
        kind = "reference"
        sheet = "study"
        fields = ["id_number"]
        ref_sheet = "basic"
    """)
    validator = Validator(pack, today=TODAY)
    first = validator.validate(workbook(block(pack, "basic", [person()]),
                                        block(pack, "study", [{"name": "张丽", "id_number": ID_WOMAN}])))
    second = validator.validate(workbook(block(pack, "basic", [person(id_number=ID_MAN, sex="1",
                                                                      birth_date="1985-03-07")]),
                                         block(pack, "study", [{"name": "张丽", "id_number": ID_WOMAN}])))
    third = validator.validate(workbook(block(pack, "basic", [person()])))
    assert (rules_of(first), rules_of(second), rules_of(third)) == ([], [(2, "REF-NO-BASIC")], [])


def test_reader_findings_come_first_and_count(tmp_path: Path) -> None:
    from processor.findings import Finding

    pack = make_pack(tmp_path)
    wb = workbook(block(pack, "basic", [person(hours=99)]))
    wb.findings.append(Finding("基本信息", 1, "Q", None, "工号", "HEADER-UNKNOWN", "warning", "表头“工号”不是本表的字段", ""))
    result = Validator(pack, today=TODAY).validate(wb)
    assert [(f.row, f.rule) for f in result.findings] == [(1, "HEADER-UNKNOWN"), (2, "NUMBER-RANGE")]
    assert (result.errors, result.warnings) == (1, 1)


def test_rows_keep_normalised_values_and_error_flags(tmp_path: Path) -> None:
    pack = make_pack(tmp_path)
    result = validate(pack, block(pack, "basic", [person(political_status="13"), person(hours="x")]))
    records: list[Any] = result.rows["basic"]
    assert [(r.excel_row, r.has_error) for r in records] == [(2, False), (3, True)]
    assert records[0].values["political_status"] == ("13",)
    assert records[1].values["hours"] is None
    assert found(result, "NUMBER-INVALID")[0][:6] == ("基本信息", 3, "M", "hours", "x", "NUMBER-INVALID")
