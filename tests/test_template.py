"""Official templates: generated from the field specifications, readable back, and surviving LibreOffice."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from processor.cli import main
from processor.errors import InputError
from processor.rulepack import load_pack
from processor.store.models import Base, Unit
from processor.workbook import TemplateError, build_template, read_meta, write_template
from processor.workbook.style import display_width

PACK_DIR = Path(__file__).parent / "data" / "template_pack"
UNIT_CODE = "3601020001"
UNIT_NAME = "南昌市第一中学"
ISSUED = datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=8)))

BASIC_HEADERS = [
    "*姓名", "*性别", "*国籍/地区", "*身份证件类型", "*身份证件号", "*出生日期", "民族", "政治面貌",
    "*参加工作年月", "*是否在编", "用人形式", "是否受过特教专业培养培训", "是否全日制学前教育专业毕业", "备注",
]
BASIC_COLUMNS = [
    "name", "sex", "nationality", "id_type", "id_number", "birth_date", "ethnicity", "political_status",
    "work_start_month", "is_in_bianzhi", "employment_form", "had_special_ed_training", "kindergarten_only",
    "remarks",
]
SEX_LIST = '"0-未知的性别,1-男性,2-女性,9-未说明的性别"'
YESNO_LIST = '"0-否,1-是"'


@pytest.fixture(scope="module")
def pack():
    return load_pack(PACK_DIR)


@pytest.fixture(scope="module")
def template(pack, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "teachers.xlsx"
    return write_template(path, pack, "teachers", UNIT_CODE, UNIT_NAME, issued_at=ISSUED)


@pytest.fixture(scope="module")
def wb(template):
    return openpyxl.load_workbook(template)


def _column(ws, label: str) -> str:
    for cell in ws[1]:
        if cell.value in (label, f"*{label}"):
            return cell.column_letter
    raise AssertionError(f"no column {label}")


def _validation(ws, coordinate: str):
    found = [dv for dv in ws.data_validations.dataValidation if coordinate in dv.sqref]
    assert len(found) == 1, f"{coordinate}: {len(found)} validations"
    return found[0]


# --- structure ---------------------------------------------------------------------------------------


def test_teachers_template_has_guide_then_every_sheet_in_pack_order(wb):
    assert wb.sheetnames == ["说明", "基本信息", "学习经历", "联系方式", "_codes", "_tmis"]
    assert [ws.sheet_state for ws in wb.worksheets] == [
        "visible", "visible", "visible", "visible", "veryHidden", "veryHidden",
    ]
    assert wb.active.title == "说明"


def test_new_teachers_template_has_only_basic_and_contact(pack):
    book = build_template(pack, "new-teachers", UNIT_CODE, UNIT_NAME, issued_at=ISSUED)
    assert [ws.title for ws in book.worksheets if ws.sheet_state == "visible"] == ["说明", "基本信息", "联系方式"]


def test_headers_are_spec_labels_with_star_on_required(wb, pack):
    assert [c.value for c in wb["基本信息"][1]] == BASIC_HEADERS
    assert [c.value for c in wb["学习经历"][1]] == ["*姓名", "*身份证件号", "*获得学历", "入学年月", "毕业年份", "学时"]
    assert [c.value for c in wb["联系方式"][1]] == ["*姓名", "*身份证件号", "*手机号码", "办公电话", "电子信箱"]
    assert [c.value for c in wb["学习经历"][1]] == [f.header for f in pack.sheet("study").input_fields]


def test_derived_fields_are_not_template_columns(wb):
    assert "最高学历" not in [c.value for c in wb["基本信息"][1]]


def test_required_headers_are_red_and_optional_black(wb):
    ws = wb["基本信息"]
    assert ws["A1"].font.color.rgb == "00C00000"
    assert ws["G1"].font.color.rgb == "00000000"
    assert ws["A1"].font.bold is True


def test_header_comment_gives_type_code_table_and_example(wb):
    assert wb["基本信息"]["B1"].comment.text == (
        "性别（必填）\n类型：代码（单选）\n代码表：性别（0-未知的性别、1-男性、2-女性、9-未说明的性别）\n"
        "可填代码、名称或“代码-名称”。\n示例：1-男性"
    )


def test_header_comment_gives_note_and_conditions(wb):
    ws = wb["基本信息"]
    assert ws["G1"].comment.text == (
        "民族（选填）\n类型：代码（单选）\n代码表：民族（共 58 项，见下拉列表）\n可填代码、名称或“代码-名称”。\n"
        "说明：国籍为中国时必填\n示例：01-汉族"
    )
    assert ws[f"{_column(ws, '用人形式')}1"].comment.text.splitlines()[4:6] == [
        "条件：是否在编为“否”时，用人形式必须填写", "条件：是否在编为“是”时，用人形式不能填写",
    ]


def test_header_is_frozen_on_every_data_sheet(wb):
    assert [wb[n].freeze_panes for n in ("基本信息", "学习经历", "联系方式")] == ["A2", "A2", "A2"]


def test_template_writes_no_empty_data_cells(wb):
    assert [wb[n].max_row for n in ("基本信息", "学习经历", "联系方式")] == [1, 1, 1]


def test_column_width_counts_chinese_characters_twice(wb):
    assert display_width("身份证件号X") == 11
    ws = wb["基本信息"]
    # 是否全日制学前教育专业毕业: 13 Chinese characters = 26, plus padding 4.
    assert ws.column_dimensions[_column(ws, "是否全日制学前教育专业毕业")].width == 30
    assert ws.column_dimensions[_column(ws, "身份证件号")].width == 22


# --- dropdowns ---------------------------------------------------------------------------------------


def test_every_coded_column_has_a_dropdown(wb, pack):
    for sheet in pack.sheets_for_kind("teachers"):
        ws = wb[sheet.name]
        for col, f in enumerate(sheet.input_fields, start=1):
            letter = openpyxl.utils.get_column_letter(col)
            if f.is_coded:
                dv = _validation(ws, f"{letter}2")
                assert (dv.type, str(dv.sqref)) == ("list", f"{letter}2:{letter}5001"), f.code


def test_short_code_lists_are_inline(wb):
    ws = wb["基本信息"]
    assert _validation(ws, "B2").formula1 == SEX_LIST
    assert _validation(ws, f"{_column(ws, '是否在编')}2").formula1 == YESNO_LIST


def test_long_code_lists_reference_hidden_codes_sheet(wb, pack):
    ws = wb["基本信息"]
    assert _validation(ws, "C2").formula1 == "'_codes'!$A$2:$A$68"
    assert _validation(ws, "G2").formula1 == "'_codes'!$B$2:$B$59"
    codes = wb["_codes"]
    assert [c.value for c in codes["B"][1:]] == pack.tables["ethnicity"].choices() + [None] * 9
    assert codes["B1"].value == "ethnicity"
    assert codes["B2"].value == "01-汉族"


def test_group_headings_are_left_out_of_dropdowns(wb):
    dv = _validation(wb["学习经历"], "C2")
    assert dv.formula1 == '"0-无,11-博士研究生毕业,14-硕士研究生毕业,21-大学本科毕业"'


def test_single_code_columns_warn_but_multi_code_columns_allow_typing(wb):
    ws = wb["基本信息"]
    sex = _validation(ws, "B2")
    political = _validation(ws, f"{_column(ws, '政治面貌')}2")
    assert (sex.showErrorMessage, sex.errorStyle) == (True, "warning")
    assert political.showErrorMessage is False
    assert political.prompt == "可从下拉列表选一项；多项请填代码并用英文逗号分隔，例如 01,03。"


def test_date_year_and_number_columns_have_range_checks(wb):
    ws = wb["学习经历"]
    month = _validation(ws, "D2")
    year = _validation(ws, "E2")
    hours = _validation(ws, "F2")
    assert (month.type, month.formula1, month.formula2) == ("date", "DATE(1900,1,1)", "DATE(2100,12,31)")
    assert (year.type, year.formula1, year.formula2) == ("whole", "1900", "2100")
    assert (hours.type, hours.formula1, hours.formula2) == ("whole", "0", "2000")


# --- cell formats ------------------------------------------------------------------------------------


def test_text_format_on_identity_code_and_phone_columns(wb):
    basic, contact = wb["基本信息"], wb["联系方式"]
    for label in ("姓名", "性别", "身份证件类型", "身份证件号", "政治面貌", "是否在编"):
        assert basic.column_dimensions[_column(basic, label)].number_format == "@", label
    for label in ("手机号码", "办公电话"):
        assert contact.column_dimensions[_column(contact, label)].number_format == "@", label


def test_date_month_and_year_formats(wb):
    basic, study = wb["基本信息"], wb["学习经历"]
    assert basic.column_dimensions[_column(basic, "出生日期")].number_format == "yyyy-mm-dd"
    assert basic.column_dimensions[_column(basic, "参加工作年月")].number_format == "yyyy-mm"
    assert study.column_dimensions[_column(study, "毕业年份")].number_format == "0"


# --- 说明 sheet ---------------------------------------------------------------------------------------


def _guide_rows(wb) -> list[list]:
    return [[c.value for c in row] for row in wb["说明"].iter_rows(max_col=6)]


def test_guide_names_unit_version_and_sheets(wb):
    rows = [r[0] for r in _guide_rows(wb)]
    assert rows[0] == "教师信息采集表（填写说明）"
    assert rows[1] == "填报单位：南昌市第一中学（代码 3601020001）"
    assert rows[2] == "模板版本：9.1-test（指标：测试指标）    生成时间：2026-03-02T09:30:00+08:00"


def test_guide_explains_none_row_and_codes(wb):
    texts = [r[0] for r in _guide_rows(wb) if r[0]]
    assert "3. “学习经历”每条记录填一行，同一教师可填多行；每行的姓名、身份证件号须与“基本信息”一致。" in texts
    assert ("5. 代码项可从下拉列表中选择，也可直接填写代码、名称或“代码-名称”（如性别可填 1、男性 或 1-男性）；"
            "可多选的代码项（类型为“代码（可多选）”）多个代码之间用英文逗号分隔。") in texts
    assert ("6. 没有某类信息的教师（“学习经历”）：在该表填一行，获得学历等类型列选“0-无”，"
            "除姓名、身份证件号外其余列留空。") in texts


def test_guide_has_a_field_table_per_sheet(wb):
    rows = _guide_rows(wb)
    assert ["*性别", "是", "代码（单选）", "性别（0-未知的性别、1-男性、2-女性、9-未说明的性别）", None, "1-男性"] in rows
    assert ["用人形式", "条件必填", "代码（单选）", "用人形式（1-人事代理、2-劳务派遣、9-其他）",
            "是否在编为“否”时，用人形式必须填写。是否在编为“是”时，用人形式不能填写。", "1-人事代理"] in rows
    assert ["学时", "否", "整数", None, "只填阿拉伯数字。取值 0～2000。", None] in rows
    headings = [r[0] for r in rows if r[0] and r[0][:2] in ("一、", "二、", "三、")]
    assert headings == ["一、基本信息（每位教师一行）", "二、学习经历（每条记录一行，可多行）。没有此类信息的，填一行并将获得学历选为“0-无”",
                        "三、联系方式（每位教师一行）"]


# --- school-type variants ----------------------------------------------------------------------------


def test_school_type_keeps_only_its_variant_fields(pack):
    book = build_template(pack, "teachers", UNIT_CODE, UNIT_NAME, school_type="kindergarten")
    assert [c.value for c in book["基本信息"][1]][10:] == ["用人形式", "是否全日制学前教育专业毕业", "备注"]
    assert read_meta_of(book)["school_type"] == "kindergarten"


def test_school_type_stars_its_required_variant_fields(pack):
    book = build_template(pack, "teachers", UNIT_CODE, UNIT_NAME, school_type="primary_secondary")
    assert [c.value for c in book["基本信息"][1]][10:] == ["用人形式", "*是否受过特教专业培养培训", "备注"]


def test_template_for_every_school_type_says_who_fills_variant_fields(wb):
    rows = _guide_rows(wb)
    assert ["是否受过特教专业培养培训", "中小学、特殊教育学校必填", "是否", "是否（0-否、1-是）",
            "仅中小学、特殊教育学校填写。", "0-否"] in rows
    ws = wb["基本信息"]
    assert ws[f"{_column(ws, '是否受过特教专业培养培训')}1"].comment.text.splitlines()[0] == (
        "是否受过特教专业培养培训（中小学、特殊教育学校必填）")


def test_unknown_school_type_is_refused(pack):
    with pytest.raises(TemplateError) as err:
        build_template(pack, "teachers", UNIT_CODE, UNIT_NAME, school_type="university")
    assert str(err.value) == "未知的学校类型“university”。可用的学校类型：primary_secondary、special、kindergarten。"


def read_meta_of(book) -> dict:
    from processor.workbook.meta import parse_items

    return parse_items([(r[0].value, r[1].value) for r in book["_tmis"].iter_rows()])


# --- metadata ----------------------------------------------------------------------------------------

EXPECTED_META = {
    "meta_format": "1",
    "kind": "teachers",
    "kind_title": "教师信息采集表",
    "template_version": "9.1-test",
    "pack_name": "测试指标",
    "pack_version": "9.1",
    "pack_layers": ["测试指标"],
    "unit_code": UNIT_CODE,
    "unit_name": UNIT_NAME,
    "issued_at": "2026-03-02T09:30:00+08:00",
    "generator": "tmis 0.1.0",
    "sheets": [
        {"id": "basic", "name": "基本信息", "header_row": 1, "columns": BASIC_COLUMNS},
        {"id": "study", "name": "学习经历", "header_row": 1,
         "columns": ["name", "id_number", "education", "enrollment_month", "graduation_year", "study_hours"]},
        {"id": "contact", "name": "联系方式", "header_row": 1,
         "columns": ["name", "id_number", "mobile", "office_phone", "email"]},
    ],
}


def test_read_meta_reads_the_hidden_sheet(template):
    assert read_meta(template) == {**EXPECTED_META, "source": "sheet"}


def test_read_meta_falls_back_to_custom_properties(template, tmp_path):
    book = openpyxl.load_workbook(template)
    del book["_tmis"]
    book.save(tmp_path / "no-sheet.xlsx")
    meta = read_meta(tmp_path / "no-sheet.xlsx")
    # Custom properties carry everything but the column lists longer than Excel's 255 characters.
    assert meta["source"] == "properties"
    assert {k: meta[k] for k in ("kind", "template_version", "unit_code", "unit_name", "pack_layers")} == {
        "kind": "teachers", "template_version": "9.1-test", "unit_code": UNIT_CODE, "unit_name": UNIT_NAME,
        "pack_layers": ["测试指标"],
    }
    assert [(s["id"], s["name"], s["header_row"]) for s in meta["sheets"]] == [
        ("basic", "基本信息", 1), ("study", "学习经历", 1), ("contact", "联系方式", 1),
    ]


def test_read_meta_of_a_plain_workbook_is_empty(tmp_path):
    book = openpyxl.Workbook()
    book.active["A1"] = "姓名"
    book.save(tmp_path / "plain.xlsx")
    assert read_meta(tmp_path / "plain.xlsx") == {}


def test_read_meta_of_csv_is_empty(tmp_path):
    (tmp_path / "a.csv").write_text("姓名,身份证件号\n", encoding="utf-8")
    assert read_meta(tmp_path / "a.csv") == {}


def test_read_meta_raises_input_error_on_a_broken_file(tmp_path):
    bad = tmp_path / "broken.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a workbook" * 10)
    with pytest.raises(InputError) as err:
        read_meta(bad)
    assert str(err.value) == (f"{bad}：无法作为表格打开（文件损坏或不是 Excel、WPS、LibreOffice 表格）。"
                              "请用 Excel 或 WPS 打开后另存为 .xlsx 再提交。")


def test_read_meta_refuses_a_file_that_unpacks_too_large(template):
    with zipfile.ZipFile(template) as zf:
        size = sum(i.file_size for i in zf.infolist()) / 1048576
    with pytest.raises(InputError) as err:
        read_meta(template, max_uncompressed_mb=0.01)
    assert str(err.value) == (f"{template}：文件解压后过大（{size:.1f} MB，上限 0.01 MB），疑似异常文件。"
                              "请删除多余的空行、图片后重新保存再提交。")


def test_read_meta_raises_input_error_on_a_missing_file(tmp_path):
    with pytest.raises(InputError) as err:
        read_meta(tmp_path / "nothing.xlsx")
    assert str(err.value) == f"{tmp_path / 'nothing.xlsx'}：文件不存在或不是普通文件"


def test_read_meta_ignores_custom_properties_with_entities(template, tmp_path):
    bomb = (b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
            b'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
            b'<property name="tmis.kind" fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2">'
            b'<vt:lpwstr>&b;</vt:lpwstr></property></Properties>')
    book = openpyxl.load_workbook(template)
    del book["_tmis"]
    book.save(tmp_path / "plain.xlsx")
    out = tmp_path / "hostile.xlsx"
    with zipfile.ZipFile(tmp_path / "plain.xlsx") as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = bomb if item.filename == "docProps/custom.xml" else src.read(item.filename)
            dst.writestr(item, data)
    assert read_meta(out) == {}


# --- CLI ---------------------------------------------------------------------------------------------


@pytest.fixture
def instance(tmp_path) -> Path:
    db = tmp_path / "tmis.db"
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db}"\n\n[rules]\ncore = "{PACK_DIR}"\n', encoding="utf-8")
    engine = create_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([
            Unit(code="360000", name="江西省", level="province"),
            Unit(code=UNIT_CODE, name=UNIT_NAME, level="school", parent_code="360000"),
        ])
        session.commit()
    engine.dispose()
    return config


def test_cli_writes_template_named_after_unit_into_a_directory(instance, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    result = CliRunner().invoke(main, ["template", "teachers", "--unit", UNIT_CODE, "--out", str(out),
                                       "--config", str(instance)])
    path = out / f"教师信息采集表_{UNIT_NAME}_{UNIT_CODE}.xlsx"
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"已生成教师信息采集表：{path}\n"
                             f"单位：{UNIT_NAME}（{UNIT_CODE}）；填报表 3 张；模板版本 9.1-test\n")
    assert read_meta(path)["unit_name"] == UNIT_NAME


def test_cli_out_with_trailing_slash_makes_the_directory(instance, tmp_path):
    result = CliRunner().invoke(main, ["template", "new-teachers", "--unit", UNIT_CODE,
                                       "--out", f"{tmp_path}/模板/", "--config", str(instance)])
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "模板").iterdir()] == [f"新任教师信息采集表_{UNIT_NAME}_{UNIT_CODE}.xlsx"]


def test_cli_writes_new_teachers_template_to_a_file(instance, tmp_path):
    out = tmp_path / "新任.xlsx"
    result = CliRunner().invoke(main, ["template", "new-teachers", "--unit", UNIT_CODE, "--out", str(out),
                                       "--config", str(instance)])
    assert result.exit_code == 0, result.output
    assert openpyxl.load_workbook(out).sheetnames == ["说明", "基本信息", "联系方式", "_codes", "_tmis"]


def test_cli_unknown_kind_lists_the_kinds(instance, tmp_path):
    result = CliRunner().invoke(main, ["template", "payroll", "--unit", UNIT_CODE, "--out", str(tmp_path),
                                       "--config", str(instance)])
    assert result.exit_code == 2
    assert result.stderr == ("错误：未知的模板种类“payroll”。"
                             "可用的种类：teachers（教师信息采集表）、new-teachers（新任教师信息采集表）、roster（联合工作组名单）、"
                             "training-plan（培训计划）、training-result（培训结果）、assessment（年度考核与师德考核登记表）；"
                             "业务申请表：rotation、status-change、transfer。\n")


def test_cli_unknown_unit_says_to_import_units(instance, tmp_path):
    result = CliRunner().invoke(main, ["template", "teachers", "--unit", "3609990001", "--out", str(tmp_path),
                                       "--config", str(instance)])
    assert result.exit_code == 2
    assert result.stderr == "错误：单位代码 3609990001 不在单位库中。请先用 tmis units import 导入单位。\n"


def test_cli_without_database_says_to_import_units_and_creates_nothing(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "none.db"}"\n\n[rules]\ncore = "{PACK_DIR}"\n',
                      encoding="utf-8")
    result = CliRunner().invoke(main, ["template", "teachers", "--unit", UNIT_CODE, "--out", str(tmp_path),
                                       "--config", str(config)])
    assert result.exit_code == 2
    assert result.stderr == f"错误：单位代码 {UNIT_CODE} 不在单位库中。请先用 tmis units import 导入单位。\n"
    assert not (tmp_path / "none.db").exists()


def test_cli_refuses_an_xls_output(instance, tmp_path):
    out = tmp_path / "t.xls"
    result = CliRunner().invoke(main, ["template", "teachers", "--unit", UNIT_CODE, "--out", str(out),
                                       "--config", str(instance)])
    assert result.exit_code == 2
    assert result.stderr == (f"错误：{out}：模板只能保存为 .xlsx 文件。"
                             "请把输出文件的扩展名改为 .xlsx；学校可用 Excel 或 WPS 另存为其他格式。\n")


def test_cli_help_has_an_example():
    result = CliRunner().invoke(main, ["template", "--help"])
    assert result.exit_code == 0
    assert "tmis template teachers --unit 3601020001 --out 模板/" in result.output


# --- LibreOffice round trip --------------------------------------------------------------------------


def _soffice() -> str:
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("LibreOffice 未安装")
        pytest.skip("LibreOffice 未安装")
    return exe


def _convert(src: Path, fmt: str, workdir: Path) -> Path:
    """Convert with soffice into workdir/fmt, using a profile of its own so parallel runs never lock."""
    outdir = workdir / fmt
    profile = workdir / f"profile-{fmt}"
    done = subprocess.run(
        [_soffice(), f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to", fmt,
         "--outdir", str(outdir), str(src)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    out = outdir / f"{src.stem}.{fmt}"
    assert out.is_file(), f"soffice failed ({done.returncode}): {done.stdout} {done.stderr}"
    return out


@pytest.fixture(scope="module")
def libreoffice(template, tmp_path_factory) -> dict[str, Path]:
    _soffice()
    work = tmp_path_factory.mktemp("libreoffice")
    copy = work / "source" / "teachers.xlsx"
    copy.parent.mkdir()
    shutil.copyfile(template, copy)
    return {fmt: _convert(copy, fmt, work) for fmt in ("xlsx", "xls", "ods")}


@pytest.fixture(scope="module")
def libreoffice_without_meta_sheet(template, tmp_path_factory) -> dict[str, Path]:
    _soffice()
    work = tmp_path_factory.mktemp("libreoffice-props")
    copy = work / "source" / "teachers.xlsx"
    copy.parent.mkdir()
    book = openpyxl.load_workbook(template)
    del book["_tmis"]
    book.save(copy)
    return {fmt: _convert(copy, fmt, work) for fmt in ("xlsx", "ods")}


def test_libreoffice_xlsx_keeps_metadata(libreoffice):
    assert read_meta(libreoffice["xlsx"]) == {**EXPECTED_META, "source": "sheet"}


def test_libreoffice_xlsx_keeps_sheet_names_and_headers(libreoffice):
    book = openpyxl.load_workbook(libreoffice["xlsx"])
    assert book.sheetnames == ["说明", "基本信息", "学习经历", "联系方式", "_codes", "_tmis"]
    assert [c.value for c in book["基本信息"][1]] == BASIC_HEADERS
    assert [c.value for c in book["联系方式"][1]] == ["*姓名", "*身份证件号", "*手机号码", "办公电话", "电子信箱"]


def test_libreoffice_xlsx_keeps_dropdowns_on_coded_columns(libreoffice, pack):
    book = openpyxl.load_workbook(libreoffice["xlsx"])
    for sheet in pack.sheets_for_kind("teachers"):
        ws = book[sheet.name]
        for col, f in enumerate(sheet.input_fields, start=1):
            if f.is_coded:
                dv = _validation(ws, f"{openpyxl.utils.get_column_letter(col)}2")
                assert dv.type == "list", f.code
    basic = book["基本信息"]
    assert _validation(basic, "B2").formula1 == SEX_LIST
    # LibreOffice writes the sheet reference without quotes; it still points at the hidden list.
    assert _validation(basic, "G2").formula1.replace("'", "") == "_codes!$B$2:$B$59"
    assert _validation(basic, f"{_column(basic, '政治面貌')}2").showErrorMessage is False


def test_libreoffice_xlsx_keeps_text_format_on_identity_column(libreoffice):
    ws = openpyxl.load_workbook(libreoffice["xlsx"])["基本信息"]
    assert ws.column_dimensions[_column(ws, "身份证件号")].number_format == "@"
    assert ws.column_dimensions[_column(ws, "出生日期")].number_format.replace("\\", "") == "yyyy-mm-dd"


def test_libreoffice_xls_keeps_metadata(libreoffice):
    assert read_meta(libreoffice["xls"]) == {**EXPECTED_META, "source": "sheet"}


def test_libreoffice_ods_keeps_metadata(libreoffice):
    assert read_meta(libreoffice["ods"]) == {**EXPECTED_META, "source": "sheet"}


@pytest.mark.parametrize("fmt", ["xlsx", "ods"])
def test_libreoffice_keeps_custom_properties(libreoffice_without_meta_sheet, fmt):
    meta = read_meta(libreoffice_without_meta_sheet[fmt])
    assert (meta["source"], meta["kind"], meta["unit_code"], meta["template_version"]) == (
        "properties", "teachers", UNIT_CODE, "9.1-test",
    )


# --- the shipped core pack ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def core_pack():
    from processor.paths import CORE_RULES_DIR

    return load_pack(CORE_RULES_DIR)


@pytest.fixture(scope="module")
def core_template(core_pack, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("core") / "core.xlsx"
    return write_template(path, core_pack, "teachers", UNIT_CODE, UNIT_NAME, issued_at=ISSUED)


def test_core_pack_template_has_every_category_sheet_with_dropdowns(core_pack, core_template):
    from processor.workbook.template import template_fields

    book = openpyxl.load_workbook(core_template)
    sheets = core_pack.sheets_for_kind("teachers")
    assert book.sheetnames == ["说明", *(s.name for s in sheets), "_codes", "_tmis"]
    assert sheets[0].name == "基本信息" and sheets[-1].name == "联系方式"
    for sheet in sheets:
        ws = book[sheet.name]
        fields = template_fields(sheet, core_pack.school_type_for(UNIT_CODE), core_pack)
        assert [c.value for c in ws[1]] == [f.header for f in fields], sheet.id
        for col, f in enumerate(fields, start=1):
            if f.is_coded:
                assert _validation(ws, f"{openpyxl.utils.get_column_letter(col)}2").type == "list", f.code


def test_core_pack_new_teachers_template_is_basic_and_contact(core_pack, tmp_path):
    path = write_template(tmp_path / "new.xlsx", core_pack, "new-teachers", UNIT_CODE, UNIT_NAME, issued_at=ISSUED)
    assert [ws.title for ws in openpyxl.load_workbook(path).worksheets if ws.sheet_state == "visible"] == [
        "说明", "基本信息", "联系方式",
    ]
    assert read_meta(path)["template_version"] == core_pack.template_version


def test_core_pack_template_survives_libreoffice(core_pack, core_template, tmp_path):
    copy = tmp_path / "source" / "core.xlsx"
    copy.parent.mkdir()
    shutil.copyfile(core_template, copy)
    converted = _convert(copy, "xlsx", tmp_path)
    meta = read_meta(converted)
    assert [s["id"] for s in meta["sheets"]] == core_pack.kinds["teachers"]["sheets"]
    book = openpyxl.load_workbook(converted)
    basic = book["基本信息"]
    assert basic.column_dimensions[_column(basic, "身份证件号")].number_format == "@"
    from processor.workbook.template import template_fields

    school_type = core_pack.school_type_for(UNIT_CODE)
    coded = sum(1 for s in core_pack.sheets_for_kind("teachers")
                for f in template_fields(s, school_type, core_pack) if f.is_coded)
    kept = sum(1 for s in core_pack.sheets_for_kind("teachers") for dv in book[s.name].data_validations.dataValidation
               if dv.type == "list")
    assert kept == coded


def test_school_template_follows_the_school_type_of_its_code(core_pack, tmp_path):
    path = write_template(tmp_path / "k.xlsx", core_pack, "teachers", "1136010001", "东湖区第一幼儿园",
                          issued_at=ISSUED)
    headers = [c.value for c in openpyxl.load_workbook(path)["基本信息"][1]]
    assert "*是否全日制学前教育专业毕业" in headers
    assert "是否受过特教专业培养培训" not in headers and "*是否受过特教专业培养培训" not in headers
    assert read_meta(path)["school_type"] == "kindergarten"
