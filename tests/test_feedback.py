"""Reports back to the school: annotated workbook, 错误清单, 汇总, receipt, JSON, formula escaping."""

from __future__ import annotations

import json
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font

from processor import feedback
from processor.feedback import ReportContext, SheetStat, safe_filename, set_safe, write_report
from processor.findings import Finding

RECEIVED = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def _school_workbook(path: Path) -> Path:
    """A filled 基本信息 sheet as a school sends it: a title row, the header on row 2, formatting of its own."""
    wb = Workbook()
    ws = wb.active
    ws.title = "基本信息"
    ws["A1"] = "南昌市第一中学教师基本信息"
    ws["A1"].font = Font(bold=True, size=16)
    ws.append(["姓名", "身份证件号", "出生日期"])
    ws.append(["王伟", "36010219800101001X", "1980-01-01"])
    ws.append(["=HYPERLINK(\"http://evil.example/\",\"点我\")", "1.10105E+17", "1980-13-01"])
    ws.append(["李娜", "360102198502020021", "1985-02-02"])
    ws["D3"] = "=1+1"  # a live formula in the input must not survive
    ws.column_dimensions["B"].width = 24
    wb.save(path)
    # openpyxl writes "=HYPERLINK…" assigned as a value as a formula; store A4 as the text a person typed.
    wb = load_workbook(path)
    wb["基本信息"]["A4"].data_type = "s"
    wb.save(path)
    return path


def _ctx(**kw: object) -> ReportContext:
    base = dict(original_name="教师信息.xlsx", received_at=RECEIVED, sha256="a" * 64, unit_code="3601020001",
                unit_name="南昌市第一中学", kind="teachers", kind_title="教师信息采集表", submission_id=7,
                status="partial", rows=3, stored=2, sheets=[SheetStat("基本信息", 3, 2)],
                labels={("基本信息", "id_number"): "身份证件号", ("基本信息", "birth_date"): "出生日期",
                        ("基本信息", "name"): "姓名"})
    base.update(kw)
    return ReportContext(**base)  # type: ignore[arg-type]


FINDINGS = [
    Finding("基本信息", 4, "B", "id_number", "1.10105E+17", "ID-AS-NUMBER", "error",
            "身份证件号被存成了数字，后几位已丢失", "请把单元格设为文本后重新输入完整的 18 位号码。"),
    Finding("基本信息", 4, "C", "birth_date", "1980-13-01", "DATE-INVALID", "error",
            "出生日期“1980-13-01”不是有效的日期", "请按 YYYY-MM-DD 填写。"),
    Finding("基本信息", 4, "B", "id_number", "1.10105E+17", "ID-LENGTH", "error",
            "身份证件号长度不对", "请填写 18 位号码。"),
    Finding("基本信息", 5, "A", "name", "李娜", "NAME-RARE", "warning", "姓名含生僻字", "请核对。"),
    Finding("基本信息", 4, "A", "name", "=HYPERLINK(\"http://evil.example/\",\"点我\")", "TEXT-FORMULA", "error",
            "姓名像一个公式", "请只填写姓名。"),
]


def test_report_fills_and_comments_the_exact_cells(tmp_path: Path) -> None:
    source = _school_workbook(tmp_path / "收到.xlsx")
    files = write_report(_ctx(), FINDINGS, outbox=tmp_path / "outbox", source=source)
    wb = load_workbook(files.report)
    ws = wb["基本信息"]
    assert ws["B4"].fill.start_color.rgb == "FFFFC7CE"
    assert ws["C4"].fill.start_color.rgb == "FFFFC7CE"
    assert ws["A5"].fill.start_color.rgb == "FFFFEB9C"
    assert ws["B3"].fill.fill_type is None
    assert ws["B4"].comment.text == ("【错误】身份证件号被存成了数字，后几位已丢失\n修改建议：请把单元格设为文本后重新输入完整的 18 位号码。"
                                     "\n\n【错误】身份证件号长度不对\n修改建议：请填写 18 位号码。")
    assert ws["C3"].comment is None
    # the school's own formatting and layout are kept
    assert ws["A1"].font.size == 16
    assert ws.column_dimensions["B"].width == 24
    assert files.report.parent == tmp_path / "outbox" / "3601020001"
    assert files.report.name == "错误报告_南昌市第一中学_教师信息采集表_2026-11-24.xlsx"
    assert files.annotated is True


def test_error_list_has_one_row_per_finding_with_links(tmp_path: Path) -> None:
    source = _school_workbook(tmp_path / "收到.xlsx")
    files = write_report(_ctx(), FINDINGS, outbox=tmp_path / "outbox", source=source)
    wb = load_workbook(files.report)
    assert wb.sheetnames[:3] == ["汇总", "错误清单", "基本信息"]
    rows = list(wb["错误清单"].iter_rows(values_only=True))
    assert rows[0] == ("序号", "工作表", "行", "列", "字段", "值", "规则", "级别", "问题", "修改建议")
    assert len(rows) == 6
    # sorted by sheet, row, column, errors first
    assert [(r[2], r[3], r[6]) for r in rows[1:]] == [
        (4, "A", "TEXT-FORMULA"), (4, "B", "ID-AS-NUMBER"), (4, "B", "ID-LENGTH"), (4, "C", "DATE-INVALID"),
        (5, "A", "NAME-RARE")]
    assert rows[2] == (2, "基本信息", 4, "B", "身份证件号", "1.10105E+17", "ID-AS-NUMBER", "错误",
                       "身份证件号被存成了数字，后几位已丢失", "请把单元格设为文本后重新输入完整的 18 位号码。")
    link = wb["错误清单"]["A3"].hyperlink
    assert link.location == "'基本信息'!B4"


def test_summary_counts_rows_errors_and_rules(tmp_path: Path) -> None:
    source = _school_workbook(tmp_path / "收到.xlsx")
    files = write_report(_ctx(), FINDINGS, outbox=tmp_path / "outbox", source=source)
    ws = load_workbook(files.report)["汇总"]
    pairs = {r[0]: r[1] for r in ws.iter_rows(min_row=3, max_row=12, max_col=2, values_only=True)}
    assert pairs["文件"] == "教师信息.xlsx"
    assert pairs["报送单位"] == "南昌市第一中学（3601020001）"
    assert pairs["收到时间"] == RECEIVED.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert pairs["收件编号"] == "7"
    assert (pairs["数据行数"], pairs["入库行数"], pairs["错误"], pairs["警告"]) == (3, 2, 4, 1)
    values = [r for r in ws.iter_rows(values_only=True)]
    assert ("基本信息", 3, 2, 4, 1) in [tuple(r[:5]) for r in values]
    assert ("ID-AS-NUMBER", "错误", 1, "身份证件号被存成了数字，后几位已丢失") in [tuple(r[:4]) for r in values]


def test_formula_text_from_input_comes_back_as_text(tmp_path: Path) -> None:
    source = _school_workbook(tmp_path / "收到.xlsx")
    files = write_report(_ctx(), FINDINGS, outbox=tmp_path / "outbox", source=source)
    wb = load_workbook(files.report)
    name = wb["基本信息"]["A4"]
    assert name.value == "=HYPERLINK(\"http://evil.example/\",\"点我\")"
    assert name.data_type == "s" and name.quotePrefix is True
    listed = wb["错误清单"]["F2"]
    assert listed.value == "=HYPERLINK(\"http://evil.example/\",\"点我\")"
    assert listed.data_type == "s" and listed.quotePrefix is True
    # the live formula D3 (=1+1, never computed by Excel) is now its own text
    assert wb["基本信息"]["D3"].value == "=1+1" and wb["基本信息"]["D3"].data_type == "s"
    with zipfile.ZipFile(files.report) as zf:
        sheets = [n for n in zf.namelist() if n.startswith("xl/worksheets/sheet")]
        assert sheets and all(b"<f>" not in zf.read(n) and b"<f " not in zf.read(n) for n in sheets)


def test_cached_formula_result_replaces_the_formula(tmp_path: Path) -> None:
    source = tmp_path / "算过的.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.title = "基本信息"
    ws.append(["姓名", "身份证件号"])
    ws.append(["王伟", "=\"3601\"&\"02\""])
    wb.save(source)
    # Write the value Excel would have cached beside the formula.
    with zipfile.ZipFile(source) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    assert b"<f>" in sheet
    sheet = sheet.replace(b"</f><v></v>", b"</f><v>360102</v>").replace(b"</f><v />", b"</f><v>360102</v>")
    if b"<v>360102</v>" not in sheet:
        sheet = sheet.replace(b"</f>", b"</f><v>360102</v>", 1)
    parts["xl/worksheets/sheet1.xml"] = sheet
    with zipfile.ZipFile(source, "w") as zf:
        for n, data in parts.items():
            zf.writestr(n, data)
    finding = Finding("基本信息", 2, "B", "id_number", "360102", "ID-LENGTH", "error", "身份证件号长度不对", "请填写 18 位。")
    files = write_report(_ctx(rows=1, stored=0, status="rejected"), [finding], outbox=tmp_path / "out", source=source)
    cell = load_workbook(files.report)["基本信息"]["B2"]
    assert (cell.value, cell.data_type) == (360102, "n")


def test_receipt_for_a_clean_file(tmp_path: Path) -> None:
    source = _school_workbook(tmp_path / "收到.xlsx")
    files = write_report(_ctx(status="accepted", rows=3, stored=3), [], outbox=tmp_path / "outbox", source=source)
    assert files.report.name == "回执_南昌市第一中学_教师信息采集表_2026-11-24.xlsx"
    wb = load_workbook(files.report)
    assert wb.sheetnames == ["回执"]
    pairs = {r[0]: r[1] for r in wb["回执"].iter_rows(min_row=3, max_row=12, max_col=2, values_only=True)}
    assert pairs["处理结果"] == "已接收（全部入库，等待上级逐级审核）"
    assert (pairs["数据行数"], pairs["入库行数"], pairs["错误"], pairs["警告"]) == (3, 3, 0, 0)
    data = json.loads(files.json.read_text(encoding="utf-8"))
    assert (data["errors"], data["warnings"], data["findings"], data["status"]) == (0, 0, [], "accepted")


def test_receipt_lists_warnings(tmp_path: Path) -> None:
    warning = FINDINGS[3]
    files = write_report(_ctx(status="accepted", stored=3), [warning], outbox=tmp_path / "outbox")
    wb = load_workbook(files.report)
    assert wb.sheetnames == ["回执", "警告清单"]
    assert list(wb["警告清单"].iter_rows(min_row=2, values_only=True))[0][6] == "NAME-RARE"


def test_json_beside_the_report_has_the_check_shape(tmp_path: Path) -> None:
    files = write_report(_ctx(), FINDINGS, outbox=tmp_path / "outbox")
    data = json.loads(files.json.read_text(encoding="utf-8"))
    assert files.json.name == "错误报告_南昌市第一中学_教师信息采集表_2026-11-24.json"
    assert {"file", "kind", "unit", "rows", "errors", "warnings", "findings"} <= set(data)
    assert (data["file"], data["kind"], data["unit"], data["rows"], data["errors"], data["warnings"]) == (
        "教师信息.xlsx", "teachers", "3601020001", 3, 4, 1)
    assert data["findings"][0] == {"sheet": "基本信息", "row": 4, "column": "A", "field": "name",
                                   "value": "=HYPERLINK(\"http://evil.example/\",\"点我\")", "rule": "TEXT-FORMULA",
                                   "severity": "error", "message": "姓名像一个公式", "hint": "请只填写姓名。"}


def test_report_for_other_content_same_day_gets_a_new_name(tmp_path: Path) -> None:
    first = write_report(_ctx(), FINDINGS, outbox=tmp_path / "outbox")
    again = write_report(_ctx(), FINDINGS, outbox=tmp_path / "outbox")
    other = write_report(_ctx(sha256="b" * 64), FINDINGS, outbox=tmp_path / "outbox")
    assert again.report == first.report
    assert other.report.name == "错误报告_南昌市第一中学_教师信息采集表_2026-11-24（2）.xlsx"


def test_report_name_has_no_path_separators(tmp_path: Path) -> None:
    files = write_report(_ctx(unit_name="../..\\坏/学校:名*"), FINDINGS, outbox=tmp_path / "outbox")
    assert files.report.parent == tmp_path / "outbox" / "3601020001"
    assert files.report.name == "错误报告_坏_学校_名_教师信息采集表_2026-11-24.xlsx"
    assert safe_filename("..") == "未命名"


def test_large_file_gets_the_list_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feedback, "ANNOTATE_MAX_ROWS", 2)
    source = _school_workbook(tmp_path / "收到.xlsx")
    files = write_report(_ctx(), FINDINGS, outbox=tmp_path / "outbox", source=source)
    wb = load_workbook(files.report)
    assert wb.sheetnames == ["汇总", "错误清单"]
    assert files.annotated is False
    notes = [r[1] for r in wb["汇总"].iter_rows(values_only=True) if r[0] == "说明"]
    assert notes == ["文件共 3 行，数据量较大，本报告未在原表上逐格标注；请按“错误清单”所列的工作表、行、列逐项修改原文件。"]


def test_resent_report_loses_the_old_marks(tmp_path: Path) -> None:
    source = _school_workbook(tmp_path / "收到.xlsx")
    first = write_report(_ctx(), FINDINGS, outbox=tmp_path / "outbox", source=source)
    still_wrong = [FINDINGS[1]]
    second = write_report(_ctx(sha256="c" * 64), still_wrong, outbox=tmp_path / "outbox2", source=first.report)
    wb = load_workbook(second.report)
    assert wb.sheetnames == ["汇总", "错误清单", "基本信息"]
    ws = wb["基本信息"]
    assert ws["B4"].comment is None and ws["B4"].fill.fill_type is None
    assert ws["C4"].comment.text.startswith("【错误】出生日期")
    assert len(list(wb["错误清单"].iter_rows(min_row=2))) == 1


# XML turns a carriage return into a line feed when the file is read back; the cell stays text.
@pytest.mark.parametrize(("text", "read_back"), [
    ("=1+1", "=1+1"), ("+86 138", "+86 138"), ("-5", "-5"), ("@SUM(A1)", "@SUM(A1)"), ("\t=1", "\t=1"),
    ("\r=1", "\n=1"),
])
def test_set_safe_stores_dangerous_text_as_text(tmp_path: Path, text: str, read_back: str) -> None:
    wb = Workbook()
    set_safe(wb.active["A1"], text)
    wb.save(tmp_path / "x.xlsx")
    cell = load_workbook(tmp_path / "x.xlsx").active["A1"]
    assert (cell.value, cell.data_type, cell.quotePrefix) == (read_back, "s", True)


def test_ods_file_comes_back_as_an_annotated_xlsx(instance: Path, unit_workbook: Path, tmp_path: Path) -> None:
    from pipeline_helpers import SCHOOL_A, make_env, people, workbook

    from processor.pipeline import process_file
    from processor.readers import read_workbook

    env = make_env(instance, unit_workbook)
    source = tmp_path / "教师信息.xlsx"
    (bad,) = workbook(env, source, people(4, seed=41), mistakes=[("id_checksum", 1)])
    profile = (tmp_path / "lo-profile").as_uri()
    subprocess.run(["soffice", f"-env:UserInstallation={profile}", "--headless", "--convert-to", "ods",
                    "--outdir", str(tmp_path / "ods"), str(source)], capture_output=True, timeout=180, check=True)
    out = process_file(tmp_path / "ods" / "教师信息.ods", env.config, env.pack, env.engine)
    env.engine.dispose()
    assert out.report_path.suffix == ".xlsx" and out.report_path.parent == env.outbox / SCHOOL_A[0]
    report = load_workbook(out.report_path)
    cell = report[bad.sheet][f"{bad.column}{bad.row}"]
    assert (cell.value, cell.data_type, cell.fill.start_color.rgb) == (bad.value, "s", "FFFFC7CE")
    assert cell.comment.text.startswith("【错误】") and "ID-CHECKSUM" in [
        r[6] for r in report["错误清单"].iter_rows(min_row=2, values_only=True)]
    assert report["_tmis"].sheet_state == "hidden"
    # the rebuilt report is itself a valid submission of the same school
    assert read_workbook(out.report_path, env.pack).unit_code == SCHOOL_A[0]


def test_report_of_a_received_template_marks_every_injected_mistake(instance: Path, unit_workbook: Path,
                                                                     tmp_path: Path) -> None:
    from pipeline_helpers import make_env, people, workbook

    from processor.pipeline import process_file

    env = make_env(instance, unit_workbook)
    source = tmp_path / "教师信息.xlsx"
    injected = workbook(env, source, people(8, seed=42),
                        mistakes=[("id_checksum", 1), ("unknown_code", 1), ("missing_required", 1)])
    wb = load_workbook(source)
    evil = "=HYPERLINK(\"http://evil.example/\",\"点我\")"
    wb["基本信息"]["A9"].value = evil
    wb["基本信息"]["A9"].data_type = "s"  # typed as text by the school, as Excel stores it
    wb.save(source)
    out = process_file(source, env.config, env.pack, env.engine)
    env.engine.dispose()
    report = load_workbook(out.report_path)
    for i in injected:
        cell = report[i.sheet][f"{i.column}{i.row}"]
        assert cell.fill.start_color.rgb == ("FFFFC7CE" if i.severity == "error" else "FFFFEB9C"), i
        assert cell.comment is not None and cell.comment.author == "tmis"
    name = report["基本信息"]["A9"]
    assert (name.value, name.data_type, name.quotePrefix) == (evil, "s", True)
    listed = [(r[1], r[2], r[3], r[6]) for r in report["错误清单"].iter_rows(min_row=2, values_only=True)]
    for i in injected:
        assert (i.sheet, i.row, i.column, i.rule) in listed


def test_a_schools_own_summary_sheet_is_kept(tmp_path: Path) -> None:
    source = _school_workbook(tmp_path / "收到.xlsx")
    wb = load_workbook(source)
    wb.create_sheet("汇总")["A1"] = "本校自己的汇总"
    wb.save(source)
    files = write_report(_ctx(), FINDINGS, outbox=tmp_path / "outbox", source=source)
    report = load_workbook(files.report)
    assert report.sheetnames[:3] == ["汇总1", "错误清单", "基本信息"]
    assert report["汇总"]["A1"].value == "本校自己的汇总"
    assert report["汇总1"]["A1"].value == "教师管理信息系统 错误报告"
