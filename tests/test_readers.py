"""Readers: real files (openpyxl, LibreOffice, CSV encodings) read back; hostile files refused with exact messages."""

from __future__ import annotations

import datetime as dt
import struct
import zipfile
from pathlib import Path

import openpyxl
import pytest
from libreoffice import soffice_convert
from openpyxl.styles import PatternFill

from processor.errors import InputError
from processor.readers import Limits, read_workbook
from processor.readers.guard import has_dtd
from processor.rulepack import load_pack

MB = 1024 * 1024

# ------------------------------------------------------------------------------------------ the pack

PACK_TOML = """
[pack]
id = "t"
name = "测试包"
version = "1"
[kinds.teachers]
title = "教师信息采集表"
sheets = "all"
[kinds.new-teachers]
title = "新任教师信息采集表"
sheets = ["basic", "contact"]
"""
BASIC_TOML = """
[sheet]
id = "basic"
name = "基本信息"
category = 1
records = "one"
new_teacher = true
aliases = ["教师基本信息"]
[[field]]
code = "name"
label = "姓名"
required = true
[[field]]
code = "sex"
label = "性别"
type = "code"
table = "sex"
required = true
[[field]]
code = "id_number"
label = "身份证件号"
type = "idnumber"
required = true
aliases = ["身份证号"]
[[field]]
code = "birth_date"
label = "出生日期"
type = "date"
required = true
[[field]]
code = "work_start_month"
label = "参加工作年月"
type = "month"
required = true
[[field]]
code = "grassroots_start"
label = "参加基层服务项目起始年月"
type = "month"
[[field]]
code = "grassroots_end"
label = "参加基层服务项目结束年月"
type = "month"
[[field]]
code = "remarks"
label = "备注"
[[field]]
code = "highest_education"
label = "最高学历"
derived = true
"""
CONTACT_TOML = """
[sheet]
id = "contact"
name = "联系方式"
category = 14
new_teacher = true
records = "one"
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
code = "mobile"
label = "手机号码"
required = true
[[field]]
code = "email"
label = "电子邮箱"
[[field]]
code = "address"
label = "通讯地址"
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
code = "school"
label = "毕业学校"
required = true
[[field]]
code = "entry_month"
label = "入学年月"
type = "month"
required = true
[[field]]
code = "major"
label = "所学专业"
"""


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("pack")
    (root / "pack.toml").write_text(PACK_TOML, encoding="utf-8")
    (root / "sheets").mkdir()
    (root / "sheets" / "01_basic.toml").write_text(BASIC_TOML, encoding="utf-8")
    (root / "sheets" / "02_study.toml").write_text(STUDY_TOML, encoding="utf-8")
    (root / "sheets" / "14_contact.toml").write_text(CONTACT_TOML, encoding="utf-8")
    (root / "codes").mkdir()
    (root / "codes" / "sex.csv").write_text("code,name,aliases\n1,男性,男\n2,女性,女\n", encoding="utf-8")
    return load_pack(root)


BASIC_HEADER = ["*姓名", "*性别", "*身份证件号", "*出生日期", "*参加工作年月", "备注"]
ROW_ZHANG = ["张三", "男", "11010519491231002X", dt.date(1985, 3, 7), "2008-09", ""]
ROW_LI = ["李四", "女", "110105198001010026", dt.date(1980, 1, 1), "2002-07", "调入"]


def rows_of(block) -> list[tuple[int, list]]:
    return list(block.iter_rows())


def field_values(block, code: str) -> list:
    col = block.columns[code]
    return [cells[col] for _, cells in block.iter_rows()]


def save(wb: openpyxl.Workbook, path: Path) -> Path:
    wb.save(path)
    return path


def basic_workbook(path: Path, *, title_rows: int = 0) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "基本信息"
    for _ in range(title_rows):
        ws.append(["某某学校教师基本信息采集表"])
    if title_rows:
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=6)
    ws.append(BASIC_HEADER)
    ws.append(ROW_ZHANG)
    ws.append(ROW_LI)
    return save(wb, path)


# ------------------------------------------------------------------------------------ LibreOffice




# ------------------------------------------------------------------------------------ layouts


def test_header_below_title_rows_is_found(pack, tmp_path):
    wb = read_workbook(basic_workbook(tmp_path / "a.xlsx", title_rows=2), pack)
    (block,) = wb.blocks
    assert (block.spec.id, block.header_row) == ("basic", 3)
    assert block.columns == {"name": 0, "sex": 1, "id_number": 2, "birth_date": 3, "work_start_month": 4,
                             "remarks": 5}
    assert [(n, cells[0]) for n, cells in rows_of(block)] == [(4, "张三"), (5, "李四")]
    assert wb.findings == []
    assert (wb.format, wb.kind, wb.unit_code, wb.date1904) == ("xlsx", "teachers", None, False)


def test_two_row_merged_header_with_group_title(pack, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "基本信息"
    ws.append(["*姓名", "*性别", "*身份证件号", "*出生日期", "*参加工作年月", "基层服务项目", None])
    ws.append([None, None, None, None, None, "参加基层服务项目起始年月", "参加基层服务项目结束年月"])
    for col in "ABCDE":
        ws.merge_cells(f"{col}1:{col}2")
    ws.merge_cells("F1:G1")
    ws.append(["张三", "男", "11010519491231002X", dt.date(1985, 3, 7), "2008-09", "2008-09", "2011-08"])
    data = read_workbook(save(wb, tmp_path / "merged.xlsx"), pack)
    (block,) = data.blocks
    assert block.header_row == 2
    assert block.columns == {"name": 0, "sex": 1, "id_number": 2, "birth_date": 3, "work_start_month": 4,
                             "grassroots_start": 5, "grassroots_end": 6}
    assert rows_of(block) == [(3, ["张三", "男", "11010519491231002X", dt.date(1985, 3, 7), "2008-09", "2008-09",
                                   "2011-08"])]


def test_reordered_and_hidden_columns_map_by_header(pack, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "基本信息"
    ws.append(["备注", "*出生日期", "*身份证件号", "*姓名", "*参加工作年月", "*性别", "最高学历"])
    ws.append(["", dt.date(1985, 3, 7), "11010519491231002X", "张三", "2008-09", "男", "大学本科"])
    ws.column_dimensions["C"].hidden = True
    block = read_workbook(save(wb, tmp_path / "r.xlsx"), pack).blocks[0]
    assert block.columns == {"remarks": 0, "birth_date": 1, "id_number": 2, "name": 3, "work_start_month": 4,
                             "sex": 5}
    assert block.derived == {"highest_education": 6}
    assert field_values(block, "id_number") == ["11010519491231002X"]


def test_renamed_sheet_is_recognised_by_its_headers(pack, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["姓名", "身份证件号", "手机号码", "电子邮箱"])
    ws.append(["张三", "11010519491231002X", "13800138000", "zs@example.cn"])
    data = read_workbook(save(wb, tmp_path / "c.xlsx"), pack)
    assert [(b.spec.id, b.title) for b in data.blocks] == [("contact", "Sheet1")]
    assert data.blocks[0].missing == ["address"]


def test_unknown_extra_column_is_a_warning(pack, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "联系方式"
    ws.append(["姓名", "身份证件号", "手机号码", "微信号"])
    ws.append(["张三", "11010519491231002X", "13800138000", "zs2024"])
    data = read_workbook(save(wb, tmp_path / "c.xlsx"), pack)
    assert data.blocks[0].extra_headers == [(3, "微信号")]
    assert [f.to_dict() for f in data.findings] == [{
        "sheet": "联系方式", "row": 1, "column": "D", "field": None, "value": "微信号", "rule": "HEADER-UNKNOWN",
        "severity": "warning", "message": "表头“微信号”不是本表的字段，该列未被读取",
        "hint": "如果这一列是需要的信息，请按官方模板的字段名填写表头；否则请删除该列。"}]


def test_missing_required_column_is_an_error_on_the_header_row(pack, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "联系方式"
    ws.append(["姓名", "身份证件号", "电子邮箱"])
    ws.append(["张三", "11010519491231002X", "zs@example.cn"])
    data = read_workbook(save(wb, tmp_path / "c.xlsx"), pack)
    assert [f.to_dict() for f in data.findings] == [{
        "sheet": "联系方式", "row": 1, "column": None, "field": "mobile", "value": None, "rule": "HEADER-MISSING",
        "severity": "error", "message": "缺少必填字段“手机号码”的列",
        "hint": "请使用官方模板，或在表头行加上“*手机号码”列并填写。"}]


def test_column_appearing_twice_is_reported_and_first_kept(pack, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "联系方式"
    ws.append(["姓名", "身份证件号", "手机号码", "手机号码"])
    ws.append(["张三", "11010519491231002X", "13800138000", "13900139000"])
    data = read_workbook(save(wb, tmp_path / "c.xlsx"), pack)
    assert data.blocks[0].columns["mobile"] == 2
    assert [(f.rule, f.severity, f.column, f.message) for f in data.findings] == [
        ("HEADER-DUPLICATE", "error", "D", "字段“手机号码”出现了两次（C 列和 D 列），只读取了 C 列")]


def test_instructions_sheet_ignored_and_unknown_sheet_warned(pack, tmp_path):
    wb = openpyxl.load_workbook(basic_workbook(tmp_path / "a.xlsx"))
    wb.create_sheet("说明").append(["请按模板填写"])
    wb.create_sheet("统计").append(["学校", "人数"])
    wb["统计"].append(["一中", 12])
    data = read_workbook(save(wb, tmp_path / "b.xlsx"), pack)
    assert [b.spec.id for b in data.blocks] == ["basic"]
    assert [(f.sheet, f.rule, f.severity, f.message) for f in data.findings] == [
        ("统计", "SHEET-UNKNOWN", "warning", "无法识别工作表“统计”属于哪一类信息，该表未被读取")]


def test_empty_rows_and_thousands_of_formatted_rows_are_skipped(pack, tmp_path):
    wb = openpyxl.load_workbook(basic_workbook(tmp_path / "a.xlsx"))
    ws = wb["基本信息"]
    ws.append([None] * 6)
    ws.append(["", " ", "\u3000", None, None, None])
    ws.append(["王五", "男", "110105199001011234", dt.date(1990, 1, 1), "2012-09", ""])
    fill = PatternFill("solid", fgColor="FFFF00")
    for r in range(10, 5010):
        for c in range(1, 7):
            ws.cell(r, c).fill = fill
    block = read_workbook(save(wb, tmp_path / "f.xlsx"), pack).blocks[0]
    assert [n for n, _ in block.iter_rows()] == [2, 3, 6]
    assert [[n for n, _ in chunk] for chunk in block.iter_chunks(2)] == [[2, 3], [6]]


def test_template_metadata_names_kind_unit_and_renamed_sheets(pack, tmp_path):
    from processor.workbook.meta import meta_items

    wb = openpyxl.load_workbook(basic_workbook(tmp_path / "a.xlsx"))
    wb["基本信息"].title = "一中教师"
    meta = wb.create_sheet("_tmis")
    for key, value in meta_items({"kind": "teachers", "unit_code": "3601020001", "template_version": "1",
                                  "sheets": [{"id": "basic", "name": "一中教师", "header_row": 1}]}):
        meta.append([key, value])
    meta.sheet_state = "veryHidden"
    data = read_workbook(save(wb, tmp_path / "m.xlsx"), pack)
    assert (data.kind, data.unit_code, data.meta["template_version"]) == ("teachers", "3601020001", "1")
    assert [(b.spec.id, b.title) for b in data.blocks] == [("basic", "一中教师")]


def test_kind_inferred_teachers_when_other_categories_present(pack, tmp_path):
    wb = openpyxl.load_workbook(basic_workbook(tmp_path / "a.xlsx"))
    ws = wb.create_sheet("学习经历")
    ws.append(["姓名", "身份证件号", "毕业学校", "入学年月"])
    ws.append(["张三", "11010519491231002X", "江西师范大学", "2003-09"])
    data = read_workbook(save(wb, tmp_path / "t.xlsx"), pack)
    assert ([b.spec.id for b in data.blocks], data.kind) == (["basic", "study"], "teachers")


def test_shipped_pack_recognises_a_basic_sheet(tmp_path):
    from processor.paths import CORE_RULES_DIR

    shipped = load_pack(CORE_RULES_DIR)
    data = read_workbook(basic_workbook(tmp_path / "a.xlsx", title_rows=1), shipped)
    block = data.blocks[0]
    assert (block.spec.id, block.header_row) == ("basic", 2)
    assert {k: block.columns[k] for k in ("name", "sex", "id_number", "birth_date")} == \
        {"name": 0, "sex": 1, "id_number": 2, "birth_date": 3}


# ------------------------------------------------------------------------------- other formats


def test_xls_saved_by_libreoffice(pack, tmp_path):
    xls = soffice_convert(basic_workbook(tmp_path / "a.xlsx", title_rows=1), "xls", tmp_path / "out")
    data = read_workbook(xls, pack)
    block = data.blocks[0]
    assert (data.format, block.header_row) == ("xls", 2)
    assert rows_of(block)[0] == (3, ["张三", "男", "11010519491231002X", dt.date(1985, 3, 7), "2008-09", ""])


def test_ods_with_merged_two_row_header(pack, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "基本信息"
    ws.append(["*姓名", "*性别", "*身份证件号", "*出生日期", "*参加工作年月", "基层服务项目", None])
    ws.append([None, None, None, None, None, "参加基层服务项目起始年月", "参加基层服务项目结束年月"])
    for col in "ABCDE":
        ws.merge_cells(f"{col}1:{col}2")
    ws.merge_cells("F1:G1")
    ws.append(["张三", "男", "11010519491231002X", dt.date(1985, 3, 7), "2008-09", "2008-09", "2011-08"])
    ods = soffice_convert(save(wb, tmp_path / "m.xlsx"), "ods", tmp_path / "out")
    data = read_workbook(ods, pack)
    block = data.blocks[0]
    assert (data.format, block.header_row, block.columns["name"], block.columns["grassroots_end"]) == \
        ("ods", 2, 0, 6)
    assert [(n, c[0], c[3]) for n, c in rows_of(block)] == [(3, "张三", dt.date(1985, 3, 7))]


def test_xlsx_resaved_by_libreoffice(pack, tmp_path):
    (tmp_path / "src").mkdir()
    src = basic_workbook(tmp_path / "src" / "a.xlsx", title_rows=2)
    out = soffice_convert(src, "xlsx:Calc MS Excel 2007 XML", tmp_path / "out")
    data = read_workbook(out, pack)
    assert (data.format, data.blocks[0].header_row, len(rows_of(data.blocks[0]))) == ("xlsx", 3, 2)


def test_1904_date_system_workbook(pack, tmp_path):
    wb = openpyxl.load_workbook(basic_workbook(tmp_path / "a.xlsx"))
    wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    data = read_workbook(save(wb, tmp_path / "mac.xlsx"), pack)
    assert data.date1904 is True
    assert field_values(data.blocks[0], "birth_date") == [dt.date(1985, 3, 7), dt.date(1980, 1, 1)]


def write_csv(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


CSV_TEXT = "姓名,身份证件号,手机号码\r\n吉𠮷,11010519491231002X,13800138000\r\n刘䶮,110105198001010026,13900139000\r\n"


def test_gb18030_csv_keeps_characters_outside_gbk(pack, tmp_path):
    data = read_workbook(write_csv(tmp_path / "联系方式.csv", CSV_TEXT, "gb18030"), pack)
    block = data.blocks[0]
    assert (data.format, block.spec.id, block.source.encoding) == ("csv", "contact", "gb18030")
    assert field_values(block, "name") == ["吉𠮷", "刘䶮"]


def test_utf8_bom_csv(pack, tmp_path):
    data = read_workbook(write_csv(tmp_path / "c.csv", CSV_TEXT, "utf-8-sig"), pack)
    assert (data.blocks[0].source.encoding, field_values(data.blocks[0], "name")) == ("utf-8-sig", ["吉𠮷", "刘䶮"])


def test_utf8_csv_without_bom_and_tab_delimiter(pack, tmp_path):
    data = read_workbook(write_csv(tmp_path / "c.txt", CSV_TEXT.replace(",", "\t"), "utf-8"), pack)
    block = data.blocks[0]
    assert (block.source.encoding, block.source.delimiter) == ("utf-8", "\t")
    assert field_values(block, "mobile") == ["13800138000", "13900139000"]


def test_gbk_csv_named_xlsx_is_read_as_csv(pack, tmp_path):
    data = read_workbook(write_csv(tmp_path / "c.xlsx", CSV_TEXT.replace("𠮷", "吉").replace("䶮", "岩")
                                   .replace(",", ";"), "gbk"), pack)
    assert (data.format, data.blocks[0].source.delimiter, field_values(data.blocks[0], "name")) == \
        ("csv", ";", ["吉吉", "刘岩"])


def test_csv_over_row_limit_fails_while_streaming(pack, tmp_path):
    path = write_csv(tmp_path / "c.csv", CSV_TEXT + "王五,110105199001011234,13700137000\r\n" * 30, "utf-8")
    block = read_workbook(path, pack, Limits(max_rows=25)).blocks[0]
    with pytest.raises(InputError) as exc:
        list(block.iter_rows())
    assert str(exc.value) == "c.csv：文件超过上限 25 行。请把数据分成几个文件提交。"


# ------------------------------------------------------------------------------------ hostile files


def refused(path: Path, pack, limits: Limits | None = None) -> str:
    with pytest.raises(InputError) as exc:
        read_workbook(path, pack, limits)
    return str(exc.value)


HINT_RESAVE = "请用 Excel 或 WPS 打开该文件，另存为 .xlsx 后重新提交。"
HINT_TEMPLATE = "请提交用官方模板填写的 Excel 文件（.xlsx），或另存为 .xlsx 后重新提交。"


def test_encrypted_workbook_is_refused(pack, tmp_path):
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = basic_workbook(tmp_path / "plain.xlsx")
    target = tmp_path / "加密.xlsx"
    with plain.open("rb") as src, target.open("wb") as out:
        OOXMLFile(src).encrypt("x", out)
    assert refused(target, pack) == (
        "加密.xlsx：文件设置了打开密码，无法读取。请在 Excel 或 WPS 中取消打开密码（文件 → 信息 → 保护工作簿 → "
        "用密码进行加密，清空密码并保存）后重新提交。")


def replace_member(src: Path, dst: Path, member: str, writer) -> Path:
    """Copy a zip, replacing one member by what writer(fh) writes (deflated, streamed)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename == member:
                part = zipfile.ZipInfo(member, info.date_time)
                part.compress_type = zipfile.ZIP_DEFLATED
                with zout.open(part, "w", force_zip64=True) as fh:
                    writer(fh)
            else:
                zout.writestr(info, zin.read(info.filename))
    return dst


def bomb_sheet(size: int):
    def write(fh) -> None:
        fh.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
        block = b" " * MB
        for _ in range(size // MB):
            fh.write(block)
        fh.write(b"</sheetData></worksheet>")
    return write


def test_zip_bomb_over_uncompressed_limit_is_refused(pack, tmp_path):
    bomb = replace_member(basic_workbook(tmp_path / "a.xlsx"), tmp_path / "bomb.xlsx", "xl/worksheets/sheet1.xml",
                          bomb_sheet(24 * MB))
    assert bomb.stat().st_size < 100_000
    assert refused(bomb, pack, Limits(max_uncompressed_bytes=16 * MB)) == (
        "bomb.xlsx：文件解压后超过 16 MB 上限，疑似压缩炸弹或含大量无用内容。"
        "请删除多余的空行、格式和图片后重新保存；数据很多时请分成几个文件提交。")


def test_member_with_absurd_compression_ratio_is_refused(pack, tmp_path):
    bomb = replace_member(basic_workbook(tmp_path / "a.xlsx"), tmp_path / "ratio.xlsx", "xl/worksheets/sheet1.xml",
                          bomb_sheet(8 * MB))
    message = refused(bomb, pack)
    assert message.startswith("ratio.xlsx：文件内部的“xl/worksheets/sheet1.xml”压缩比异常（")
    assert message.endswith(" 倍），疑似压缩炸弹。" + HINT_RESAVE)


def test_zip_header_lying_about_size_is_refused(pack, tmp_path):
    path = replace_member(basic_workbook(tmp_path / "a.xlsx"), tmp_path / "lie.xlsx", "xl/worksheets/sheet1.xml",
                          bomb_sheet(3 * MB))
    data = bytearray(path.read_bytes())
    # Declare 1,000 bytes in the central directory (and zip64 extra) of the sheet part.
    name = b"xl/worksheets/sheet1.xml"
    cd = data.find(b"PK\x01\x02")
    while cd != -1:
        n_len = struct.unpack_from("<H", data, cd + 28)[0]
        if data[cd + 46: cd + 46 + n_len] == name:
            extra_len = struct.unpack_from("<H", data, cd + 30)[0]
            if struct.unpack_from("<I", data, cd + 24)[0] == 0xFFFFFFFF:
                extra = cd + 46 + n_len
                end = extra + extra_len
                while extra < end:
                    tag, size = struct.unpack_from("<HH", data, extra)
                    if tag == 1:
                        struct.pack_into("<Q", data, extra + 4, 1000)
                    extra += 4 + size
            else:
                struct.pack_into("<I", data, cd + 24, 1000)
        cd = data.find(b"PK\x01\x02", cd + 4)
    path.write_bytes(bytes(data))
    assert refused(path, pack) == (
        "lie.xlsx：文件内部的“xl/worksheets/sheet1.xml”实际大小与声明不符，疑似压缩炸弹或被篡改。" + HINT_RESAVE)


BILLION_LAUGHS = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="1"><c r="A1" t="inlineStr"><is><t>&lol3;</t></is></c></row></sheetData></worksheet>"""


def test_xml_bomb_is_refused(pack, tmp_path):
    bomb = replace_member(basic_workbook(tmp_path / "a.xlsx"), tmp_path / "xml.xlsx", "xl/worksheets/sheet1.xml",
                          lambda fh: fh.write(BILLION_LAUGHS))
    assert refused(bomb, pack) == ("xml.xlsx：文件内部的“xl/worksheets/sheet1.xml”含有 DTD 或实体声明（可能是“XML 炸弹”），"
                                   "出于安全原因拒绝读取。" + HINT_RESAVE)


def test_prolog_scan_sees_doctype_after_comments_only():
    assert has_dtd(b'<?xml version="1.0"?><!-- x --><!DOCTYPE a []><a/>') is True
    assert has_dtd(b'<?xml version="1.0"?><worksheet><!DOCTYPE in text?></worksheet>') is False


def test_sheet_addressing_the_far_corner_is_refused_before_parsing(pack, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "姓名"
    ws["XFD1048576"] = 1
    assert refused(save(wb, tmp_path / "far.xlsx"), pack) == (
        "far.xlsx：工作表“Sheet”的范围过大（1048576 行 × 16384 列），超过上限 60000000 个单元格。"
        "请删除表格右侧和下方多余的单元格（包括看不见的内容和格式）后重新保存。")


PREFIXED_SHEET = b"""<?xml version="1.0" encoding="UTF-8"?>
<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>
<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>a</x:t></x:is></x:c><x:c r="XFD1048576" t="n"><x:v>1</x:v></x:c>
</x:row></x:sheetData></x:worksheet>"""


def test_far_corner_behind_a_namespace_prefix_is_refused(pack, tmp_path):
    path = replace_member(basic_workbook(tmp_path / "a.xlsx"), tmp_path / "p.xlsx", "xl/worksheets/sheet1.xml",
                          lambda fh: fh.write(PREFIXED_SHEET))
    assert refused(path, pack).startswith("p.xlsx：工作表“基本信息”的范围过大（1048576 行 × 16384 列）")


def test_pdf_renamed_xlsx_is_not_a_spreadsheet(pack, tmp_path):
    path = tmp_path / "名单.xlsx"
    path.write_bytes(b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    assert refused(path, pack) == "名单.xlsx：不是电子表格（是 PDF 文件）。" + HINT_TEMPLATE


def test_word_document_renamed_xlsx_is_not_a_spreadsheet(pack, tmp_path):
    path = tmp_path / "名单.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                    'package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/'
                    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        zf.writestr("word/document.xml", "<w:document/>")
    assert refused(path, pack) == "名单.xlsx：不是电子表格（是 Word 文档）。" + HINT_TEMPLATE


def test_truncated_workbook_is_corrupt(pack, tmp_path):
    full = basic_workbook(tmp_path / "a.xlsx").read_bytes()
    path = tmp_path / "半截.xlsx"
    path.write_bytes(full[: len(full) // 2])
    assert refused(path, pack) == "半截.xlsx：文件已损坏或不完整，无法打开。" + HINT_RESAVE


def test_empty_file_is_refused(pack, tmp_path):
    path = tmp_path / "空.xlsx"
    path.write_bytes(b"")
    assert refused(path, pack) == "空.xlsx：文件是空的（0 字节）。请在 Excel 或 WPS 中重新保存后再提交。"


def test_file_over_size_limit_is_refused(pack, tmp_path):
    path = basic_workbook(tmp_path / "a.xlsx")
    assert refused(path, pack, Limits(max_file_bytes=1000)) == (
        f"a.xlsx：文件过大（{path.stat().st_size / MB:.1f} MB，上限 0.0 MB）。"
        "请删除多余的空行、图片和无关的工作表后重新保存；数据很多时请分成几个文件提交。")


def test_html_saved_as_xls_is_explained(pack, tmp_path):
    path = tmp_path / "导出.xls"
    path.write_bytes("<html><body><table><tr><td>姓名</td></tr></table></body></html>".encode())
    assert refused(path, pack) == "导出.xls：不是真正的 Excel 文件（是网页格式，只是扩展名为表格）。" + HINT_RESAVE


def test_display_name_is_used_in_messages(pack, tmp_path):
    path = tmp_path / "0a1b2c.bin"
    path.write_bytes(b"")
    with pytest.raises(InputError) as exc:
        read_workbook(path, pack, name="一中教师.xlsx")
    assert str(exc.value).startswith("一中教师.xlsx：文件是空的")


def test_limits_from_config():
    from processor.config import load_config

    cfg = load_config(Path("/nonexistent/config.toml"), environ={"TMIS_INTAKE_MAX_ROWS": "500"})
    limits = Limits.from_config(cfg)
    assert (limits.max_rows, limits.max_file_bytes, limits.max_uncompressed_bytes) == (500, 300 * MB, 3000 * MB)


def test_calamine_row_offsets_are_absolute(pack, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "联系方式"
    ws["C4"], ws["D4"], ws["E4"] = "姓名", "身份证件号", "手机号码"
    ws["C5"], ws["D5"], ws["E5"] = "张三", "11010519491231002X", "13800138000"
    block = read_workbook(save(wb, tmp_path / "o.xlsx"), pack).blocks[0]
    assert (block.header_row, block.columns) == (4, {"name": 2, "id_number": 3, "mobile": 4})
    assert rows_of(block) == [(5, ["", "", "张三", "11010519491231002X", "13800138000"])]


def test_report_sheets_of_a_returned_workbook_are_not_unknown(pack, tmp_path):
    import openpyxl

    path = basic_workbook(tmp_path / "a.xlsx")
    book = openpyxl.load_workbook(path)
    for title in ("错误清单", "汇总", "汇总1"):
        book.create_sheet(title).append(["序号", "工作表", "行"])
    book.save(path)
    wb = read_workbook(path, pack)
    assert [b.spec.id for b in wb.blocks] == ["basic"]
    assert [f.rule for f in wb.findings] == []
