"""The workbook a school gets back is the workbook it sent: dropdowns, notes, colours, formula values, print."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from excel2016 import as_excel_saves, every_list_validation
from external import poppler
from libreoffice import soffice_convert
from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import PatternFill
from openpyxl.worksheet import _reader

from processor import feedback, samples
from processor.engine import Validator
from processor.feedback import ReportContext, SheetStat, write_report
from processor.findings import Finding
from processor.paths import CORE_RULES_DIR
from processor.readers import read_workbook
from processor.rulepack import load_pack

TODAY = date(2026, 11, 1)
SCHOOL = ("2136010001", "东湖区第一小学")
SHEET = "基本信息"
RECEIVED = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def pack():
    return load_pack(CORE_RULES_DIR)


def _filled(pack, path: Path, n: int = 6) -> Path:
    people = samples.generate_people(n, seed=5, school_code=SCHOOL[0], today=TODAY)
    samples.write_workbook(path, people, pack=pack, unit_code=SCHOOL[0], unit_name=SCHOOL[1],
                           mistakes=[("id_checksum", 1), ("unknown_code", 1)], seed=5, only=["basic"])
    return path


@pytest.fixture(scope="module")
def excel_file(pack, tmp_path_factory) -> Path:
    """The template filled by a school and saved by Excel 2016: the _codes dropdowns live in <extLst>."""
    path = _filled(pack, tmp_path_factory.mktemp("excel") / "教师信息.xlsx")
    assert as_excel_saves(path) > 0
    return path


def _report(pack, source: Path, outbox: Path, findings: list[Finding] | None = None):
    data = read_workbook(source, pack)
    if findings is None:
        findings = Validator(pack, today=TODAY).validate(data, keep_rows=False).findings
    assert any(f.severity == "error" for f in findings)
    rows = sum(1 for _ in data.blocks[0].iter_rows())
    ctx = ReportContext(original_name=source.name, received_at=RECEIVED, sha256=str(hash(source)) * 2,
                        unit_code=SCHOOL[0], unit_name=SCHOOL[1], rows=rows, sheets=[SheetStat(SHEET, rows)])
    return write_report(ctx, findings, outbox=outbox, wb_data=data, source=source)


def _codes_lists(path: Path) -> dict[tuple[str, str], set[str]]:
    """(sheet, source) → first cells of the ranges, for every dropdown whose list is on the _codes sheet."""
    return {(title, f): {r.split(":")[0] for r in refs} for title, found in every_list_validation(path).items()
            for f, refs in found.items() if f.startswith("_codes")}


def test_excel_style_file_keeps_its_code_dropdowns_in_extlst(excel_file: Path) -> None:
    with_codes = _codes_lists(excel_file)
    # 国籍/地区, 民族 on 基本信息, 获得学历, 学位 … on the other sheets: each long list of the template
    assert {("基本信息", "_codes!A2:A188"), ("基本信息", "_codes!B2:B59")} < set(with_codes)
    assert len(with_codes) >= 8
    wb = load_workbook(excel_file)  # what openpyxl sees: none of them
    assert not [dv for ws in wb.worksheets for dv in ws.data_validations.dataValidation
                if "_codes" in (dv.formula1 or "")]


def test_report_keeps_every_dropdown_the_school_sent(pack, excel_file: Path, tmp_path: Path) -> None:
    files = _report(pack, excel_file, tmp_path / "outbox")
    assert files.annotated
    assert every_list_validation(files.report) == every_list_validation(excel_file)


def test_a_resent_report_keeps_the_dropdowns_again(pack, excel_file: Path, tmp_path: Path) -> None:
    first = _report(pack, excel_file, tmp_path / "out1")
    again = _report(pack, first.report, tmp_path / "out2")
    assert every_list_validation(again.report) == every_list_validation(excel_file)


SPARKLINES = ('<extLst><ext uri="{05C60535-1F16-4fd2-B633-F4F36F0B64E0}" '
              'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main"><x14:sparklineGroups '
              'xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main"><x14:sparklineGroup '
              'displayEmptyCellsAs="gap" xr2:uid="{5B7E5C0B-3A04-4E43-9A2C-0D4C71C5B0F1}" '
              'xmlns:xr2="http://schemas.microsoft.com/office/spreadsheetml/2015/revision2">'
              '<x14:colorSeries theme="4" tint="-0.499984740745262"/><x14:sparklines><x14:sparkline>'
              '<xm:f>基本信息!B2:C2</xm:f><xm:sqref>D2</xm:sqref></x14:sparkline></x14:sparklines>'
              '</x14:sparklineGroup></x14:sparklineGroups></ext></extLst>')


def test_a_schools_sparklines_come_back_and_excels_revision_ids_stay_behind(tmp_path: Path) -> None:
    import zipfile

    source = _school_file(tmp_path / "a.xlsx")
    with zipfile.ZipFile(source) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"].replace(
        b"</worksheet>", SPARKLINES.encode() + b"</worksheet>")
    with zipfile.ZipFile(source, "w") as zf:
        for n, data in parts.items():
            zf.writestr(n, data)
    files = write_report(_ctx(), [BAD_ID], outbox=tmp_path / "out", source=source)
    with zipfile.ZipFile(files.report) as zf:
        sheet = zf.read("xl/worksheets/sheet3.xml").decode()  # after 汇总 and 错误清单
    assert sheet.count("<x14:sparkline>") == 1 and "<xm:f>基本信息!B2:C2</xm:f><xm:sqref>D2</xm:sqref>" in sheet
    assert "uid=" not in sheet and sheet.endswith("</extLst></worksheet>")
    load_workbook(files.report)  # still reads as a workbook


def test_carried_dropdowns_open_in_libreoffice(pack, excel_file: Path, tmp_path: Path) -> None:
    files = _report(pack, excel_file, tmp_path / "outbox")
    resaved = soffice_convert(files.report, "xlsx:Calc MS Excel 2007 XML", tmp_path / "lo")
    # LibreOffice read every carried list (it writes them back in the standard form, over the rows it keeps)
    assert _codes_lists(resaved) == _codes_lists(excel_file)


def test_report_of_a_libreoffice_resave_keeps_its_dropdowns(pack, excel_file: Path, tmp_path: Path) -> None:
    resaved = soffice_convert(excel_file, "xlsx:Calc MS Excel 2007 XML", tmp_path / "lo")
    files = _report(pack, resaved, tmp_path / "outbox")
    assert every_list_validation(files.report) == every_list_validation(resaved)
    assert _codes_lists(files.report) == _codes_lists(excel_file)


def _header_notes(path: Path) -> dict[str, str]:
    ws = load_workbook(path)[SHEET]
    return {c.coordinate: c.comment.text for c in ws[1] if c.comment is not None}


def test_template_help_notes_survive_two_reports(pack, tmp_path: Path) -> None:
    source = _filled(pack, tmp_path / "教师信息.xlsx")
    sent = _header_notes(source)
    assert len(sent) > 20
    first = _report(pack, source, tmp_path / "out1")
    again = _report(pack, first.report, tmp_path / "out2")
    assert _header_notes(first.report) == sent
    assert _header_notes(again.report) == sent
    # each note box keeps its size (openpyxl reads none back: it would shrink to 144×79 and hide the text)
    assert _note_boxes(again.report) == _note_boxes(source)


def _note_boxes(path: Path) -> dict[tuple[int, int], tuple[int, int]]:
    """(row, column) → (width, height) in px of every note box of the 基本信息 sheet, from its VML drawing."""
    import posixpath
    import re
    import zipfile

    from processor.workbook.extlst import sheet_parts

    with zipfile.ZipFile(path) as zf:
        part = sheet_parts(zf)[SHEET]
        rels = zf.read(posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels"))
        target = re.search(rb'Target="([^"]+\.vml)"', rels).group(1).decode()
        vml = zf.read(target.lstrip("/") if target.startswith("/") else
                      posixpath.normpath(posixpath.join(posixpath.dirname(part), target))).decode()
    boxes = {}
    for shape in re.findall(r"<v:shape .*?</v:shape>", vml, re.S):
        size = re.search(r"width:(\d+)px;height:(\d+)px", shape)
        row = re.search(r"<x:Row>(\d+)</x:Row>", shape)
        col = re.search(r"<x:Column>(\d+)</x:Column>", shape)
        boxes[(int(row.group(1)), int(col.group(1)))] = (int(size.group(1)), int(size.group(2)))
    return {k: v for k, v in boxes.items() if k[0] == 0}


def _school_file(path: Path) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.append(["姓名", "身份证件号", "出生日期"])
    ws.append(["王伟", "36010219800101001X", "1980-01-01"])
    ws.append(["李娜", "360102198502020021", "1985-02-02"])
    ws["B2"].comment = Comment("号码已与本人核对", "张老师")
    ws["C3"].fill = PatternFill(fill_type="solid", start_color="FFFFC7CE", end_color="FFFFC7CE")  # Excel's 差
    ws["C3"].comment = Comment("待核实", "张老师")
    wb.save(path)
    return path


def _ctx(**kw: object) -> ReportContext:
    base = dict(original_name="教师信息.xlsx", received_at=RECEIVED, sha256="d" * 64, unit_code=SCHOOL[0],
                unit_name=SCHOOL[1], rows=2, sheets=[SheetStat(SHEET, 2)])
    base.update(kw)
    return ReportContext(**base)  # type: ignore[arg-type]


BAD_ID = Finding(SHEET, 2, "B", "id_number", "36010219800101001X", "ID-CHECKSUM", "error", "校验位不对", "请核对。")
BAD_NAME = Finding(SHEET, 3, "A", "name", "李娜", "NAME-CHARS", "error", "姓名含不允许的字符", "请核对。")


def test_a_marked_cell_keeps_the_schools_note_below_the_report(tmp_path: Path) -> None:
    files = write_report(_ctx(), [BAD_ID], outbox=tmp_path / "out", source=_school_file(tmp_path / "a.xlsx"))
    note = load_workbook(files.report)[SHEET]["B2"].comment
    assert note.author == "tmis"
    assert note.text == "【错误】校验位不对\n修改建议：请核对。\n\n—— 以下为原有批注（张老师）——\n号码已与本人核对"


def test_clearing_a_report_puts_the_schools_note_back(tmp_path: Path) -> None:
    first = write_report(_ctx(), [BAD_ID], outbox=tmp_path / "out", source=_school_file(tmp_path / "a.xlsx"))
    again = write_report(_ctx(sha256="e" * 64), [BAD_NAME], outbox=tmp_path / "out2", source=first.report)
    ws = load_workbook(again.report)[SHEET]
    assert (ws["B2"].comment.author, ws["B2"].comment.text) == ("张老师", "号码已与本人核对")
    assert ws["B2"].fill.fill_type is None
    assert ws["A3"].comment.text == "【错误】姓名含不允许的字符\n修改建议：请核对。"


def test_clearing_a_report_keeps_the_schools_own_red_cell(tmp_path: Path) -> None:
    first = write_report(_ctx(), [BAD_ID], outbox=tmp_path / "out", source=_school_file(tmp_path / "a.xlsx"))
    again = write_report(_ctx(sha256="e" * 64), [BAD_NAME], outbox=tmp_path / "out2", source=first.report)
    cell = load_workbook(again.report)[SHEET]["C3"]
    assert (cell.fill.fill_type, cell.fill.start_color.rgb) == ("solid", "FFFFC7CE")
    assert (cell.comment.author, cell.comment.text) == ("张老师", "待核实")


def _formula_file(path: Path, rows: int) -> Path:
    """A sheet of `rows` teachers with a column of the school's own: =LEN(A2) with its value cached."""
    import re
    import zipfile

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.append(["姓名", "身份证件号", "姓名字数"])
    for r in range(2, rows + 2):
        ws.append([f"教师{r}", "36010219800101001X", f"=LEN(A{r})"])
    wb.save(path)
    with zipfile.ZipFile(path) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    parts["xl/worksheets/sheet1.xml"] = re.sub(
        rb"<f>LEN\(A(\d+)\)</f><v\s*/>|<f>LEN\(A(\d+)\)</f><v></v>|<f>LEN\(A(\d+)\)</f>",
        lambda m: b"<f>LEN(A%s)</f><v>%d</v>" % ((r := m.group(1) or m.group(2) or m.group(3)), len(f"教师{int(r)}")),
        parts["xl/worksheets/sheet1.xml"])
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in parts.items():
            zf.writestr(n, data)
    return path


def _passes(monkeypatch: pytest.MonkeyPatch, source: Path, outbox: Path, rows: int) -> tuple[int, int]:
    """(rows parsed by openpyxl, scans of a sheet's XML for formula values) while writing the report."""
    parsed, scans = [], []
    parse_row, formula_results = _reader.WorkSheetParser.parse_row, feedback._formula_results

    def counted_row(self, row):  # the real parser, counted
        parsed.append(1)
        return parse_row(self, row)

    def counted_scan(data):  # the real scan, counted
        scans.append(1)
        return formula_results(data)

    monkeypatch.setattr(_reader.WorkSheetParser, "parse_row", counted_row)
    monkeypatch.setattr(feedback, "_formula_results", counted_scan)
    finding = Finding(SHEET, 2, "B", "id_number", "x", "ID-CHECKSUM", "error", "校验位不对", "请核对。")
    files = write_report(_ctx(rows=rows), [finding], outbox=outbox, source=source)
    monkeypatch.undo()
    ws = load_workbook(files.report)[SHEET]
    assert [ws.cell(row=r, column=3).value for r in (2, rows + 1)] == [len("教师2"), len(f"教师{rows + 1}")]
    return len(parsed), len(scans)


def test_formula_values_are_read_in_one_pass_over_the_sheet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Each row is parsed once (the workbook to mark) and the sheet's XML scanned once for the values its
    # formulas show, whatever the number of formulas: before, each formula's value was looked up by
    # parsing the sheet from its top again (5,251 rows parsed for 100 formulas, rows × formulas).
    for rows in (100, 400):
        source = _formula_file(tmp_path / f"f{rows}.xlsx", rows)
        assert _passes(monkeypatch, source, tmp_path / f"out{rows}", rows) == (rows + 1, 1)


def test_formula_values_keep_their_type(tmp_path: Path) -> None:
    import re
    import zipfile

    source = tmp_path / "types.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.append(["姓名", "身份证件号", "出生日期", "在编", "查找", "姓名2", "年龄"])
    ws.append(["王伟", "36010219800101001X", "=DATE(1980,1,1)", "=TRUE()", "=NA()", "=A2", "=46-0.5"])
    ws["C2"].number_format = "yyyy-mm-dd"
    wb.save(source)
    cached = {"C2": ("", "29221"), "D2": (' t="b"', "1"), "E2": (' t="e"', "#N/A"), "F2": (' t="str"', "王伟"),
              "G2": ("", "45.5")}
    with zipfile.ZipFile(source) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    xml = parts["xl/worksheets/sheet1.xml"].decode()
    for ref, (kind, value) in cached.items():  # as Excel saves a computed formula
        xml, n = re.subn(rf'<c r="{ref}"([^>]*)><f>(.*?)</f><v\s*/?>(</v>)?',
                         rf'<c r="{ref}"\1{kind}><f>\2</f><v>{value}</v>', xml)
        assert n == 1, ref
    parts["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(source, "w") as zf:
        for n, data in parts.items():
            zf.writestr(n, data)
    finding = Finding(SHEET, 2, "B", "id_number", "x", "ID-CHECKSUM", "error", "校验位不对", "请核对。")
    files = write_report(_ctx(rows=1), [finding], outbox=tmp_path / "out", source=source)
    row = [c.value for c in load_workbook(files.report)[SHEET][2]]
    assert row == ["王伟", "36010219800101001X", datetime(1980, 1, 1), True, "#N/A", "王伟", 45.5]


def test_summary_says_which_column_came_back_as_values(tmp_path: Path) -> None:
    source = _formula_file(tmp_path / "f.xlsx", 5)
    finding = Finding(SHEET, 2, "B", "id_number", "x", "ID-CHECKSUM", "error", "校验位不对", "请核对。")
    files = write_report(_ctx(rows=5), [finding], outbox=tmp_path / "out", source=source)
    notes = [r[1] for r in load_workbook(files.report)["汇总"].iter_rows(values_only=True) if r[0] == "说明"]
    assert notes == ["原文件中 “基本信息”工作表的 C 列（姓名字数，5 格）是公式。为防止报告里的公式被执行，本报告中这些"
                     "单元格只保留了公式最后一次计算出的结果，公式本身没有带回；改正时请在本校原文件上修改，或在本报告中"
                     "重新写入公式后再报送。"]


def test_summary_counts_formulas_that_had_no_value(tmp_path: Path) -> None:
    source = tmp_path / "f.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.append(["姓名", "身份证件号", "备注"])
    ws.append(["王伟", "36010219800101001X", "=1+1"])  # saved by a program that computes nothing
    wb.save(source)
    finding = Finding(SHEET, 2, "B", "id_number", "x", "ID-CHECKSUM", "error", "校验位不对", "请核对。")
    files = write_report(_ctx(rows=1), [finding], outbox=tmp_path / "out", source=source)
    report = load_workbook(files.report)
    (note,) = [r[1] for r in report["汇总"].iter_rows(values_only=True) if r[0] == "说明"]
    assert "“基本信息”工作表的 C 列（备注，1 格）是公式" in note
    assert note.endswith("其中 1 格在保存时没有计算结果，本报告中显示为公式原文。")
    assert (report[SHEET]["C2"].value, report[SHEET]["C2"].data_type) == ("=1+1", "s")


def test_error_list_and_summary_are_set_up_for_printing(tmp_path: Path) -> None:
    files = write_report(_ctx(), [BAD_ID, BAD_NAME], outbox=tmp_path / "out")
    wb = load_workbook(files.report)
    listing, summary = wb["错误清单"], wb["汇总"]
    assert (listing.page_setup.orientation, summary.page_setup.orientation) == ("landscape", "portrait")
    for ws in (listing, summary):
        assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight, ws.page_setup.paperSize) == (1, 0, 9)
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True
        assert ws.oddFooter.center.text == "第 &P 页，共 &N 页"
    assert listing.print_title_rows == "$1:$1"
    assert listing.oddHeader.left.text == "错误清单：教师信息.xlsx"


def test_a_long_message_gets_a_row_tall_enough_to_print_whole(tmp_path: Path) -> None:
    long = Finding(SHEET, 3, "A", "name", "李娜", "NAME-CHARS", "error", "姓" * 60, "请核对。")  # 120 wide: 3 lines
    files = write_report(_ctx(), [BAD_ID, long], outbox=tmp_path / "out")
    listing = load_workbook(files.report)["错误清单"]
    assert (listing.row_dimensions[2].height, listing.row_dimensions[3].height) == (None, 48)
    assert listing["I3"].alignment.wrap_text is True and listing["A3"].alignment.vertical == "top"


def _pdf_pages(pdf: Path) -> list[str]:
    text = poppler(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    return [page for page in text.split("\f") if page.strip()]


def test_a_long_error_list_prints_whole_rows_with_header_and_page_numbers(tmp_path: Path) -> None:
    findings = [Finding(SHEET, r, "B", "id_number", f"3601021980010{r:05d}", "ID-CHECKSUM", "error",
                        f"第 {r} 行的校验位不对", f"请核对第 {r} 行的号码（末位）。") for r in range(2, 202)]
    files = write_report(_ctx(rows=200), findings, outbox=tmp_path / "out")
    wb = load_workbook(files.report)
    del wb["汇总"]  # print the 错误清单 alone
    only_list = tmp_path / "清单.xlsx"
    wb.save(only_list)
    pages = _pdf_pages(soffice_convert(only_list, "pdf", tmp_path / "pdf"))
    # 200 rows of 10 columns: a few pages down, never a strip of columns (it used to be 80 pages)
    assert 2 <= len(pages) <= 8
    for n, page in enumerate(pages, start=1):
        assert "序号" in page and "修改建议" in page, n  # the header row, on every page, whole
        assert f"第 {n} 页，共 {len(pages)} 页" in page
    last = pages[-1]
    assert "第 201 行的校验位不对" in last and "请核对第 201 行的号码（末位）。" in last
