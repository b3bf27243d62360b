"""Streaming xlsx reader: the same rows and cell values as python-calamine, on real and hand-written files."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook
from test_readers import BASIC_HEADER, ROW_LI, ROW_ZHANG, pack, soffice_convert  # noqa: F401 - fixture

from processor.errors import InputError
from processor.readers import Limits, read_workbook, xlsx_stream
from processor.readers.excel import ExcelSheet
from processor.readers.guard import inspect_file
from processor.readers.xlsx_stream import (
    StreamBook,
    StreamSheet,
    estimate_cells,
    excel_datetime,
    number_format_kind,
)

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
CT = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
      '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
      '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
      '<Default Extension="xml" ContentType="application/xml"/>'
      '<Override PartName="/xl/workbook.xml" '
      'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
      '<Override PartName="/xl/worksheets/sheet1.xml" '
      'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
      '<Override PartName="/xl/styles.xml" '
      'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
      '<Override PartName="/xl/sharedStrings.xml" '
      'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
WORKBOOK = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="' + NS + '" xmlns:r="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships"><workbookPr {pr}/><sheets><sheet name="数据" '
            'sheetId="1" r:id="rId1"/></sheets></workbook>')
WB_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
           '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
           '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://'
           'schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
           '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
           'sharedStrings" Target="sharedStrings.xml"/></Relationships>')
# Style indexes: 0 General, 1 mm-dd-yy (14), 2 yyyy-mm-dd, 3 "y"0.00 (not a date), 4 m/d/yy h:mm (22),
# 5 h:mm (20), 6 [h]:mm:ss (duration), 7 @ (text), 8 [Red]0.00 (not a date), 9 yyyy"年"m"月" (date).
STYLES = ('<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="' + NS + '"><numFmts count="5">'
          '<numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/><numFmt numFmtId="165" formatCode="&quot;y&quot;0.00"/>'
          '<numFmt numFmtId="166" formatCode="[h]:mm:ss"/><numFmt numFmtId="167" formatCode="[Red]0.00"/>'
          '<numFmt numFmtId="168" formatCode="yyyy&quot;年&quot;m&quot;月&quot;"/></numFmts>'
          '<cellXfs count="10"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/><xf numFmtId="165"/>'
          '<xf numFmtId="22"/><xf numFmtId="20"/><xf numFmtId="166"/><xf numFmtId="49"/><xf numFmtId="167"/>'
          '<xf numFmtId="168"/></cellXfs></styleSheet>')
SST = ('<?xml version="1.0" encoding="UTF-8"?><sst xmlns="' + NS + '">'
       '<si><t>姓名</t></si>'                                                   # 0
       '<si><r><t>张</t></r><r><rPr><b/></rPr><t xml:space="preserve">三 </t></r>'
       '<rPh sb="0" eb="1"><t>ZHANG</t></rPh></si>'                              # 1 rich text, phonetic left out
       '<si><t/></si>'                                                           # 2 empty
       '<si><t>  去掉空格  </t></si>'                                             # 3 trimmed
       '<si><t xml:space="preserve">  保留空格  </t></si>'                        # 4 kept
       '<si><t>第一行\n第二行</t></si>'                                            # 5
       '<si><t>A&amp;B &lt;C&gt; &#x4E2D;</t></si>'                             # 6 entities
       '<si><t>回车_x000D_符</t></si>'                                            # 7 Excel escape
       '<si><t>\u3000全角空格\u3000</t></si>'                                       # 8 not XML white space
       '<si><t>11010519491231002X</t></si>'                                      # 9
       '</sst>')
# Every kind of cell; the same file is read by calamine and by both parsers of the streaming reader.
SHEET_ROWS = (
    '<row r="1" spans="1:12"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c>'
    '<c r="D1" t="s"><v>3</v></c><c r="E1" t="s"><v>4</v></c><c r="F1" t="s"><v>5</v></c><c r="G1" t="s"><v>6</v></c>'
    '<c r="H1" t="s"><v>7</v></c><c r="I1" t="s"><v>8</v></c><c r="J1" t="s"><v>9</v></c></row>'
    # numbers: integer-valued floats, exponent, negative zero, text in an untyped cell
    '<row r="2"><c r="A2"><v>1</v></c><c r="B2"><v>1.5</v></c><c r="C2" t="n"><v>1E2</v></c><c r="D2"><v>-0</v></c>'
    '<c r="E2"><v>360102198001010026</v></c><c r="F2"><v>abc</v></c><c r="G2"><v>0.1</v></c>'
    '<c r="H2" s="7"><v>42</v></c><c r="I2" s="3"><v>31113</v></c><c r="J2" s="8"><v>31113</v></c></row>'
    # dates, datetimes, times, durations, the 1900 leap-year bug, a serial beyond year 9999
    '<row r="3"><c r="A3" s="1"><v>31113</v></c><c r="B3" s="2"><v>31113.5</v></c><c r="C3" s="4"><v>31113.25</v></c>'
    '<c r="D3" s="5"><v>0.75</v></c><c r="E3" s="6"><v>1.5</v></c><c r="F3" s="1"><v>59</v></c>'
    '<c r="G3" s="1"><v>60</v></c><c r="H3" s="1"><v>61</v></c><c r="I3" s="1"><v>3000000</v></c>'
    '<c r="J3" s="9"><v>45292</v></c><c r="K3" s="1"><v>31113.0000001</v></c><c r="L3" s="1"><v>0.0000057870</v></c>'
    '</row>'
    # booleans, errors, formulas with cached values, inline strings, ISO dates
    '<row r="4"><c r="A4" t="b"><v>1</v></c><c r="B4" t="b"><v>0</v></c><c r="C4" t="e"><v>#N/A</v></c>'
    '<c r="D4" t="e"><f>1/0</f><v>#DIV/0!</v></c><c r="E4"><f>A2+1</f><v>2</v></c>'
    '<c r="F4" t="str"><f>A1&amp;"x"</f><v>姓名x</v></c><c r="G4" t="inlineStr"><is><t>行内</t></is></c>'
    '<c r="H4" t="inlineStr"><is><r><t>富</t></r><r><t xml:space="preserve"> 文本</t></r></is></c>'
    '<c r="I4" t="d"><v>2020-01-02</v></c><c r="J4" t="d"><v>2020-01-02T03:04:05</v></c>'
    '<c r="K4" t="str"><v> 保留 </v></c><c r="L4" t="inlineStr"><is><t> 修剪 </t></is></c></row>'
    # an empty row, then a row that only has styled empty cells (neither is yielded)
    '<row r="5"/><row r="6"><c r="A6" s="1"/><c r="B6" t="s"><v>2</v></c></row>'
    # cells without r (positions counted), a row without r, attributes in another order and quoting
    '<row r="8"><c><v>1</v></c><c/><c t="s"><v>0</v></c><c r="F8"><v>6</v></c><c><v>7</v></c></row>'
    '<row><c r="A9" t="s" s="1"><v>0</v></c><c s=\'1\' r=\'B9\'><v>31113</v></c><c r="C9" cm="1"><v>3</v></c></row>'
    # a sparse row far to the right, lowercase reference
    '<row r="12"><c r="c12"><v>3</v></c><c r="AB12" t="s"><v>9</v></c></row>'
)


def sheet_xml(rows: str = SHEET_ROWS, *, merges: str = "", dimension: str = "A1:AB12", prefix: str = "",
              root_attrs: str = "") -> str:
    p = f"{prefix}:" if prefix else ""
    ns = (f'xmlns:{prefix}="{NS}"' if prefix else f'xmlns="{NS}"') + root_attrs
    if prefix:
        rows = (rows.replace("<row", f"<{p}row").replace("</row", f"</{p}row").replace("<c ", f"<{p}c ")
                .replace("<c>", f"<{p}c>").replace("<c/>", f"<{p}c/>").replace("</c>", f"</{p}c>")
                .replace("<v>", f"<{p}v>").replace("</v>", f"</{p}v>").replace("<f>", f"<{p}f>")
                .replace("</f>", f"</{p}f>").replace("<is>", f"<{p}is>").replace("</is>", f"</{p}is>")
                .replace("<t>", f"<{p}t>").replace("</t>", f"</{p}t>").replace("<t ", f"<{p}t ")
                .replace("<r>", f"<{p}r>").replace("</r>", f"</{p}r>"))
    dim = f'<{p}dimension ref="{dimension}"/>' if dimension else ""
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<{p}worksheet {ns}>{dim}'
            f"<{p}sheetData>{rows}</{p}sheetData>{merges}</{p}worksheet>")


def write_xlsx(path: Path, sheet: str, *, sst: str = SST, styles: str = STYLES, date1904: bool = False) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CT)
        zf.writestr("_rels/.rels", RELS)
        zf.writestr("xl/workbook.xml", WORKBOOK.format(pr='date1904="1"' if date1904 else ""))
        zf.writestr("xl/_rels/workbook.xml.rels", WB_RELS)
        zf.writestr("xl/styles.xml", styles)
        zf.writestr("xl/sharedStrings.xml", sst)
        zf.writestr("xl/worksheets/sheet1.xml", sheet)
    return path


# ------------------------------------------------------------------------------------------ helpers


def trimmed(rows) -> list[tuple[int, list]]:
    """Rows with trailing empty cells removed and empty rows left out (calamine pads, the stream skips)."""
    out = []
    for index, row in rows:
        row = list(row)
        while row and row[-1] == "":
            row.pop()
        if row:
            out.append((index, row))
    return out


def typed(rows: list[tuple[int, list]]) -> list[tuple[int, list]]:
    """The rows with each value's type beside it (1 == 1.0 == True in Python; the types must match too)."""
    return [(i, [(type(v).__name__, v) for v in row]) for i, row in rows]


def calamine_rows(path: Path, sheet: str) -> list[tuple[int, list]]:
    wb = CalamineWorkbook.from_path(str(path))
    return typed(trimmed(ExcelSheet(wb.get_sheet_by_name(sheet), sheet, False).rows()))


def stream_sheet(path: Path, sheet: str, *, exact: bool = False) -> StreamSheet:
    check = inspect_file(path, Limits())
    book = StreamBook(path, path.name, date1904=check.date1904)
    return StreamSheet(book, check.sheet_parts[sheet], sheet, False, exact=exact)


def stream_rows(path: Path, sheet: str, *, exact: bool = False) -> list[tuple[int, list]]:
    return typed(trimmed(stream_sheet(path, sheet, exact=exact).rows()))


# ------------------------------------------------------------------------------------ same as calamine


def test_every_kind_of_cell_reads_as_calamine_reads_it(tmp_path):
    path = write_xlsx(tmp_path / "cells.xlsx", sheet_xml())
    expected = calamine_rows(path, "数据")
    assert stream_rows(path, "数据") == expected
    assert stream_rows(path, "数据", exact=True) == expected


def test_cell_values_have_calamines_types(tmp_path):
    path = write_xlsx(tmp_path / "cells.xlsx", sheet_xml())
    rows = dict(trimmed(stream_sheet(path, "数据").rows()))
    assert rows[0] == ["姓名", "张三 ", "", "去掉空格", "  保留空格  ", "第一行\n第二行", "A&B <C> 中", "回车\r符",
                       "\u3000全角空格\u3000", "11010519491231002X"]
    assert rows[1] == [1.0, 1.5, 100.0, -0.0, 360102198001010026.0, "abc", 0.1, 42.0, 31113.0, 31113.0]
    assert rows[2] == [dt.date(1985, 3, 7), dt.datetime(1985, 3, 7, 12), dt.datetime(1985, 3, 7, 6), dt.time(18),
                       dt.timedelta(days=1, hours=12), dt.date(1900, 2, 28), dt.date(1900, 2, 28),
                       dt.date(1900, 3, 1), 3000000.0, dt.date(2024, 1, 1), dt.datetime(1985, 3, 7, 0, 0, 0, 9000),
                       dt.time(0, 0, 0, 500000)]
    assert rows[3] == [True, False, "", "", 2.0, "姓名x", "行内", "富 文本", dt.date(2020, 1, 2),
                       dt.datetime(2020, 1, 2, 3, 4, 5), " 保留 ", "修剪"]
    assert 4 not in rows and 5 not in rows
    assert rows[7] == [1.0, "", "姓名", "", "", 6.0, 7.0]
    assert rows[8] == ["姓名", dt.date(1985, 3, 7), 3.0]
    assert rows[11][2] == 3.0 and rows[11][27] == "11010519491231002X"


def test_1904_workbook_dates_read_as_calamine_reads_them(tmp_path):
    rows = ('<row r="1"><c r="A1" s="1"><v>0</v></c><c r="B1" s="1"><v>0.5</v></c><c r="C1" s="4"><v>1.5</v></c>'
            '<c r="D1" s="1"><v>59</v></c><c r="E1" s="1"><v>29651</v></c></row>')
    path = write_xlsx(tmp_path / "mac.xlsx", sheet_xml(rows, dimension="A1:E1"), date1904=True)
    assert stream_rows(path, "数据") == calamine_rows(path, "数据")
    assert dict(trimmed(stream_sheet(path, "数据").rows()))[0] == [
        dt.time(0), dt.time(12), dt.datetime(1904, 1, 2, 12), dt.date(1904, 2, 29), dt.date(1985, 3, 7)]


def test_pretty_printed_sheet_reads_as_calamine_reads_it(tmp_path):
    pretty = SHEET_ROWS.replace("<row", "\n  <row").replace("<c", "\n    <c").replace("<v>", "\n      <v>") \
        .replace("</c>", "\n    </c>").replace("<f>", "\n      <f>").replace("<is>", "\n      <is>")
    path = write_xlsx(tmp_path / "pretty.xlsx", sheet_xml(pretty))
    expected = calamine_rows(path, "数据")
    assert expected == calamine_rows(write_xlsx(tmp_path / "plain.xlsx", sheet_xml()), "数据")
    assert stream_rows(path, "数据") == expected
    assert stream_rows(path, "数据", exact=True) == expected


def test_namespace_prefixed_sheet_goes_to_the_exact_parser(tmp_path):
    plain = write_xlsx(tmp_path / "plain.xlsx", sheet_xml())
    prefixed = write_xlsx(tmp_path / "prefixed.xlsx", sheet_xml(prefix="x"))
    assert stream_rows(prefixed, "数据") == calamine_rows(prefixed, "数据") == calamine_rows(plain, "数据")


def test_prefix_declared_on_the_root_is_read_by_the_exact_parser(tmp_path):
    rows = ('<row r="1"><c r="A1" t="s" x14ac:ph="1"><v>0</v></c><c r="B1"><f>1+1</f><v>2</v></c></row>'
            '<row r="2"><c r="A2"><v>5</v></c></row>')
    attrs = ' xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac"'
    path = write_xlsx(tmp_path / "ac.xlsx", sheet_xml(rows, dimension="A1:B2", root_attrs=attrs))
    assert stream_rows(path, "数据") == calamine_rows(path, "数据") == [
        (0, [("str", "姓名"), ("float", 2.0)]), (1, [("float", 5.0)])]


def big_rows(n: int, *, comment_at: int | None = None) -> str:
    parts = []
    for r in range(1, n + 1):
        if r == comment_at:
            parts.append("<!-- 批注 -->")
        parts.append(f'<row r="{r}"><c r="A{r}" t="s"><v>{r % 10}</v></c><c r="B{r}"><v>{r}</v></c>'
                     f'<c r="C{r}" s="1"><v>{30000 + r % 5000}</v></c><c r="D{r}" t="inlineStr"><is><t>第{r}行</t>'
                     f"</is></c></row>")
    return "".join(parts)


def test_unusual_xml_halfway_switches_parser_without_repeating_rows(tmp_path):
    # The comment sits past the first block (1 MB) the fast parser has already given rows from.
    path = write_xlsx(tmp_path / "comment.xlsx", sheet_xml(big_rows(30_000, comment_at=25_000), dimension=""))
    got = [i for i, _ in stream_sheet(path, "数据").rows()]
    assert got == list(range(30_000))
    assert stream_rows(path, "数据") == calamine_rows(path, "数据")


def test_row_longer_than_a_block_is_read_whole(tmp_path):
    from openpyxl.utils import get_column_letter

    cells = "".join(f'<c r="{get_column_letter(c)}2" t="inlineStr"><is><t>{"长" * 40}{c}</t></is></c>'
                    for c in range(1, 16385))
    rows = f'<row r="1"><c r="A1"><v>1</v></c></row><row r="2">{cells}</row><row r="3"><c r="B3"><v>3</v></c></row>'
    path = write_xlsx(tmp_path / "wide.xlsx", sheet_xml(rows, dimension="A1:XFD3"))
    got = stream_rows(path, "数据")
    assert [(i, len(r)) for i, r in got] == [(0, 1), (1, 16384), (2, 2)]
    assert got == calamine_rows(path, "数据")


def test_openpyxl_workbook_with_merged_header_reads_as_calamine_reads_it(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "基本信息"
    ws.append(["某某学校教师基本信息采集表"])
    ws.merge_cells("A1:F1")
    ws.append(BASIC_HEADER)
    ws.append(ROW_ZHANG)
    ws.append(ROW_LI)
    ws.append(["王五", "男", 110105199001011234, dt.datetime(1990, 1, 1, 8, 30), 2012.09, True])
    ws["H7"] = "=A3&B3"
    ws["I7"] = 0.25
    ws["I7"].number_format = "h:mm"
    path = tmp_path / "o.xlsx"
    wb.save(path)
    calamine = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("基本信息")
    sheet = stream_sheet(path, "基本信息")
    assert sheet.merged == list(calamine.merged_cell_ranges) == [((0, 0), (0, 5))]
    assert stream_rows(path, "基本信息") == calamine_rows(path, "基本信息")


def test_libreoffice_saved_workbook_reads_as_calamine_reads_it(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "基本信息"
    ws.append(BASIC_HEADER)
    for k in range(50):
        ws.append(["张三", "男", f"1101051949123100{k:02d}", dt.date(1985, 3, 7) + dt.timedelta(days=k), "2008-09",
                   k * 1.5 if k % 3 else None])
    ws["H2"] = "=ROW()*2"
    ws["I2"] = "=NA()"
    ws["J2"] = "=B2&C2"
    ws["K2"] = True
    ws.merge_cells("L1:M2")
    (tmp_path / "src").mkdir()
    src = tmp_path / "src" / "lo.xlsx"
    wb.save(src)
    out = soffice_convert(src, "xlsx:Calc MS Excel 2007 XML", tmp_path / "out")
    with zipfile.ZipFile(out) as zf:
        assert "xl/sharedStrings.xml" in zf.namelist()  # LibreOffice writes shared strings, unlike openpyxl
    expected = calamine_rows(out, "基本信息")
    assert expected[1][1][7:11] == [("float", 4.0), ("str", ""), ("str", "男110105194912310000"), ("bool", True)]
    assert stream_rows(out, "基本信息") == expected
    assert stream_sheet(out, "基本信息").merged == [((0, 11), (1, 12))]


# ------------------------------------------------------------------------------------------- pieces


FORMATS = ("yyyy-mm-dd", 'yyyy"年"m"月"d"日"', "[$-804]aaaa", "h:mm AM/PM", "[h]:mm:ss", "[mm]:ss", "0.00",
           '"y"0.00', "[Red]0.00", "#,##0_);[Red](#,##0)", "@", '0.0"m"', "\\d0", "General", "mm:ss.0",
           "[$-F800]dddd, mmmm dd, yyyy", "e/m/d", '[DBNum1][$-804]yyyy"年"m"月"')


def test_number_format_kinds():
    assert [number_format_kind(code) for code in FORMATS] == [1, 1, 0, 1, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]


def test_number_formats_classified_as_calamine_classifies_them(tmp_path):
    from xml.sax.saxutils import quoteattr

    styles = ('<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="' + NS + '"><numFmts>'
              + "".join(f'<numFmt numFmtId="{164 + i}" formatCode={quoteattr(code)}/>' for i, code in enumerate(FORMATS))
              + '</numFmts><cellXfs><xf numFmtId="0"/>'
              + "".join(f'<xf numFmtId="{164 + i}"/>' for i in range(len(FORMATS))) + "</cellXfs></styleSheet>")
    rows = '<row r="1">' + "".join(f'<c s="{i + 1}"><v>31113.5</v></c>' for i in range(len(FORMATS))) + "</row>"
    path = write_xlsx(tmp_path / "f.xlsx", sheet_xml(rows, dimension=""), styles=styles)
    expected = calamine_rows(path, "数据")
    assert [t for t, _ in expected[0][1]] == [
        {0: "float", 1: "datetime", 2: "timedelta"}[number_format_kind(code)] for code in FORMATS]
    assert stream_rows(path, "数据") == expected


def test_excel_datetime_edges():
    assert excel_datetime(1.0, 1, False) == dt.date(1900, 1, 1)
    assert excel_datetime(2958465.0, 1, False) == dt.date(9999, 12, 31)
    assert excel_datetime(2958466.0, 1, False) == 2958466.0  # beyond Python's dates: the number
    assert excel_datetime(-0.25, 1, False) == dt.time(18)
    assert excel_datetime(-0.5, 2, False) == dt.timedelta(hours=-12)
    assert excel_datetime(float("inf"), 1, False) == float("inf")


def test_merged_ranges_are_read_from_after_the_rows(tmp_path):
    merges = '<mergeCells count="2"><mergeCell ref="A1:C1"/><mergeCell ref="D1:D2"/></mergeCells>'
    path = write_xlsx(tmp_path / "m.xlsx", sheet_xml(big_rows(20_000), merges=merges, dimension="A1:D20000"))
    sheet = stream_sheet(path, "数据")
    assert sheet.merged == [((0, 0), (0, 2)), ((0, 3), (1, 3))]
    assert (sheet.height, sheet.width) == (20_000, 4)


def test_cells_estimated_from_dimension_or_size(tmp_path):
    small = write_xlsx(tmp_path / "d.xlsx", sheet_xml(big_rows(200), dimension="A1:D20000"))
    bare = write_xlsx(tmp_path / "n.xlsx", sheet_xml(big_rows(200), dimension=""))
    with zipfile.ZipFile(small) as zf:
        assert estimate_cells(zf, "xl/worksheets/sheet1.xml") == 80_000
    with zipfile.ZipFile(bare) as zf:
        size = zf.getinfo("xl/worksheets/sheet1.xml").file_size
        assert estimate_cells(zf, "xl/worksheets/sheet1.xml") == size // xlsx_stream.BYTES_PER_CELL


def test_broken_xml_in_a_streamed_sheet_is_reported_as_damage(tmp_path):
    broken = sheet_xml(prefix="x").replace("</x:row><x:row r=\"2\">", "</x:row><x:row r=\"2\"><x:c>")
    path = write_xlsx(tmp_path / "坏.xlsx", broken)
    with pytest.raises(InputError) as exc:
        list(stream_sheet(path, "数据").rows())
    assert str(exc.value) == "坏.xlsx：文件已损坏或不完整，无法打开。请用 Excel 或 WPS 打开该文件，另存为 .xlsx 后重新提交。"


# ---------------------------------------------------------------------------------- read_workbook switch


def template_like(path: Path, rows: int) -> Path:
    from processor.workbook.meta import meta_items

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "一中教师"
    ws.append(["某某学校教师基本信息采集表"])
    ws.merge_cells("A1:F1")
    ws.append(BASIC_HEADER)
    for k in range(rows):
        ws.append(["张三", "男", f"1101051949123{k:05d}", dt.date(1985, 3, 7), "2008-09", ""])
    meta = wb.create_sheet("_tmis")
    for key, value in meta_items({"kind": "teachers", "unit_code": "3601020001", "template_version": "1",
                                  "sheets": [{"id": "basic", "name": "一中教师", "header_row": 2}]}):
        meta.append([key, value])
    meta.sheet_state = "veryHidden"
    wb.save(path)
    return path


def test_sheet_over_the_threshold_is_streamed_with_the_same_result(pack, tmp_path, monkeypatch):  # noqa: F811
    path = template_like(tmp_path / "t.xlsx", 300)
    on_calamine = read_workbook(path, pack)
    monkeypatch.setattr(xlsx_stream, "STREAM_MIN_CELLS", 1000)
    streamed = read_workbook(path, pack)
    assert type(on_calamine.blocks[0].source).__name__ == "ExcelSheet"
    assert type(streamed.blocks[0].source).__name__ == "StreamSheet"
    assert (streamed.kind, streamed.unit_code, streamed.meta["template_version"]) == ("teachers", "3601020001", "1")
    assert [(b.spec.id, b.title, b.header_row, b.columns) for b in streamed.blocks] == \
        [(b.spec.id, b.title, b.header_row, b.columns) for b in on_calamine.blocks]
    assert list(streamed.blocks[0].iter_rows()) == list(on_calamine.blocks[0].iter_rows())
    assert len(list(streamed.blocks[0].iter_rows())) == 300


def test_sheet_under_the_threshold_stays_on_calamine(pack, tmp_path):  # noqa: F811
    path = template_like(tmp_path / "t.xlsx", 20)
    assert type(read_workbook(path, pack).blocks[0].source).__name__ == "ExcelSheet"
