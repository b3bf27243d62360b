"""Reports back to the school in outbox/<school code>/: annotated workbook or receipt, findings as JSON, notices.

- A file with errors comes back as the school's own workbook (.xlsx even when .xls/.ods/.csv came in):
  bad cells filled (red: error, yellow: warning) with a comment (problem + fix), plus the sheets 汇总 and
  错误清单 (every finding, with a link to its cell). Large files get the 汇总 + 错误清单 workbook only.
- A file without errors gets a receipt (回执) workbook; warnings, if any, are listed in it.
- Beside each report, ``<same name>.json``: the ``tmis check`` JSON object plus sha256, submission, status.
- Nothing from the input is ever written back as a live formula (see ``set_safe``).
Every file is written to a temporary name and renamed into place, so a crash never leaves half a report.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.hyperlink import Hyperlink

from processor.findings import ERROR, Finding

log = logging.getLogger(__name__)

AUTHOR = "tmis"
ERROR_FILL = PatternFill(fill_type="solid", start_color="FFFFC7CE", end_color="FFFFC7CE")
WARNING_FILL = PatternFill(fill_type="solid", start_color="FFFFEB9C", end_color="FFFFEB9C")
HEAD_FILL = PatternFill(fill_type="solid", start_color="FFD9E1F2", end_color="FFD9E1F2")
OUR_FILL_COLORS = {"FFFFC7CE", "FFFFEB9C"}
LIST_SHEET = "错误清单"
WARNING_LIST_SHEET = "警告清单"
SUMMARY_SHEET = "汇总"
RECEIPT_SHEET = "回执"
LIST_HEADERS = ("序号", "工作表", "行", "列", "字段", "值", "规则", "级别", "问题", "修改建议")
LIST_WIDTHS = (7, 16, 7, 6, 16, 24, 20, 7, 60, 60)
SEVERITY_NAMES = {"error": "错误", "warning": "警告"}
STATUS_NAMES = {"accepted": "已接收（全部入库，等待学校审核）", "partial": "部分接收（无错误的行已入库，有错误的行未入库）",
                "rejected": "退回（未入库）", "unreadable": "无法识别（未入库）",
                "returned": "审核退回（请按审核意见改正后重新报送）", "applied": "已采用（审核结果已生效）",
                "refused": "未采用（回执单有问题，系统中的记录没有改变）"}
# Above this many data rows the school's workbook is not loaded with openpyxl (minutes and gigabytes for
# 100k rows): the report is the 汇总 + 错误清单 workbook alone, and the 汇总 says so.
ANNOTATE_MAX_ROWS = 20_000
DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
UNRECOGNISED_DIR = "_未识别"
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')


# ----------------------------------------------------------------------------------------------- safety
def clean_text(text: str) -> str:
    """Text without the control characters that openpyxl refuses (they are dropped)."""
    return ILLEGAL_CHARACTERS_RE.sub("", text)


def is_dangerous(text: str) -> bool:
    """True when a spreadsheet could read the text as a formula (= + - @, or a tab/CR/LF in front)."""
    return text.startswith(DANGEROUS_PREFIXES)


def set_safe(cell: Any, value: Any) -> None:
    """Write ``value`` into an openpyxl cell so that it can never become a live formula.

    Text that starts with = + - @ (or tab / CR / LF) is stored as a string with the quote prefix (Excel
    shows it as typed, with a hidden leading apostrophe); other values are written as they are."""
    if isinstance(value, str):
        value = clean_text(value)
        cell.value = value
        if cell.data_type == "f" or is_dangerous(value):
            cell.data_type = "s"
            cell.quotePrefix = True
        return
    if value is not None and not isinstance(value, (int, float, bool, datetime)) and not hasattr(value, "isoformat"):
        set_safe(cell, str(value))
        return
    cell.value = value


def neutralise(wb: Workbook, cached: dict[tuple[str, str], Any] | None = None) -> int:
    """Turn every formula of a loaded workbook into a plain value; mark dangerous text as text.

    A formula becomes the value Excel last computed (``cached``: (sheet, coordinate) → value) or, when
    there is none, its own text as a string. Returns how many formulas were replaced."""
    replaced = 0
    for ws in wb.worksheets:
        # ws._cells holds only the cells that exist; iter_rows() would create every empty cell in range.
        for cell in list(ws._cells.values()):
            value = cell.value
            if cell.data_type == "f" or (value is not None and not isinstance(value, (str, int, float, bool, datetime))
                                         and type(value).__name__ in ("ArrayFormula", "DataTableFormula")):
                replaced += 1
                text = getattr(value, "text", value)
                new = (cached or {}).get((ws.title, cell.coordinate))
                set_safe(cell, new if new is not None else str(text))
            elif isinstance(value, str) and is_dangerous(value):
                cell.data_type = "s"
                cell.quotePrefix = True
    return replaced


def safe_filename(text: str, limit: int = 60) -> str:
    """A file-name part: no path separators or characters Windows forbids, no leading dots, bounded length."""
    text = _UNSAFE_NAME.sub("_", str(text)).strip(" ._")
    return text[:limit] or "未命名"


# ----------------------------------------------------------------------------------------------- context
@dataclass
class SheetStat:
    """Per-sheet line of the 汇总."""

    title: str
    rows: int = 0
    stored: int = 0
    errors: int = 0
    warnings: int = 0


@dataclass
class ReportContext:
    """Everything the reports say about one received file."""

    original_name: str
    received_at: datetime
    sha256: str
    unit_code: str | None
    unit_name: str | None
    kind: str | None = None
    kind_title: str = "教师信息采集表"
    submission_id: int | None = None
    status: str = "rejected"
    rows: int = 0
    stored: int = 0
    sheets: list[SheetStat] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    instance_name: str = "教师管理信息系统"
    labels: dict[tuple[str, str], str] = field(default_factory=dict)  # (sheet title, field code) → label
    unit_known: bool = True  # False: the code is not in the unit directory → the report goes to outbox/_未识别/
    errors: int | None = None  # totals when the findings list was cut at check.max_findings
    warnings: int | None = None


@dataclass
class FeedbackFiles:
    """Where the reports went."""

    report: Path
    json: Path
    annotated: bool = False


def unit_dir(outbox: Path, unit_code: str | None) -> Path:
    """outbox/<school code>/, or outbox/_未识别/ when the sender is not known."""
    name = safe_filename(unit_code, 20) if unit_code else UNRECOGNISED_DIR
    return outbox / name


def _sort_key(sheet_order: dict[str, int]) -> Any:
    def key(f: Finding) -> tuple:
        return (sheet_order.get(f.sheet or "", -1 if f.sheet is None else 999), f.row or 0,
                _col_index(f.column) if f.column else 0, 0 if f.severity == ERROR else 1, f.rule)
    return key


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        if not "A" <= ch <= "Z":
            return 0
        n = n * 26 + ord(ch) - 64
    return n


def _unique_target(folder: Path, base: str, suffix: str, sha256: str) -> Path:
    """base.suffix, or base（2）.suffix … — reusing the name already written for the same file content."""
    n = 1
    while True:
        stem = base if n == 1 else f"{base}（{n}）"
        target = folder / f"{stem}{suffix}"
        sidecar = folder / f"{stem}.json"
        if not target.exists() and not sidecar.exists():
            return target
        if sidecar.exists():
            try:
                if json.loads(sidecar.read_text(encoding="utf-8")).get("sha256") == sha256:
                    return target
            except (OSError, ValueError):
                pass
        n += 1


def _atomic_save_workbook(wb: Workbook, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        wb.save(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(target: Path, text: str) -> None:
    """Write a text file (UTF-8) under a temporary name and rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def findings_json(ctx: ReportContext, findings: list[Finding], report: Path | None) -> dict[str, Any]:
    """The ``tmis check`` JSON object for these findings, with what intake adds (sha256, submission, status)."""
    errors = sum(1 for f in findings if f.severity == ERROR)
    warnings = len(findings) - errors
    return {
        "file": ctx.original_name, "kind": ctx.kind, "unit": ctx.unit_code, "rows": ctx.rows,
        "errors": max(errors, ctx.errors or 0), "warnings": max(warnings, ctx.warnings or 0),
        "findings": [f.to_dict() for f in findings],
        "sha256": ctx.sha256, "submission": ctx.submission_id, "status": ctx.status, "stored": ctx.stored,
        "received_at": ctx.received_at.isoformat(timespec="seconds"),
        "report": report.name if report else None,
    }


# ----------------------------------------------------------------------------------------------- sheets
def _write_list(ws: Any, findings: list[Finding], ctx: ReportContext, sheet_titles: set[str], *, links: bool) -> None:
    ws.append(list(LIST_HEADERS))
    for i, width in enumerate(LIST_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = HEAD_FILL
    ws.freeze_panes = "A2"
    wrap = Alignment(wrap_text=True, vertical="top")
    for n, f in enumerate(findings, start=1):
        label = ctx.labels.get((f.sheet or "", f.field or ""), f.field or "")
        values = [n, f.sheet or "", f.row, f.column or "", label, f.value, f.rule,
                  SEVERITY_NAMES.get(f.severity, f.severity), f.message, f.hint]
        r = n + 1
        for c, value in enumerate(values, start=1):
            set_safe(ws.cell(row=r, column=c), value)
        ws.cell(row=r, column=9).alignment = wrap
        ws.cell(row=r, column=10).alignment = wrap
        if links and f.sheet in sheet_titles and f.row:
            cell = ws.cell(row=r, column=1)
            target = f"'{f.sheet.replace(chr(39), chr(39) * 2)}'!{f.column or 'A'}{f.row}"
            cell.hyperlink = Hyperlink(ref=cell.coordinate, location=target, display=str(n))
            cell.font = Font(color="FF0563C1", underline="single")
    if findings:
        ws.auto_filter.ref = f"A1:J{len(findings) + 1}"


def _write_summary(ws: Any, ctx: ReportContext, findings: list[Finding], *, receipt: bool) -> None:
    errors = sum(1 for f in findings if f.severity == ERROR)
    warnings = len(findings) - errors
    errors = max(errors, ctx.errors or 0)
    warnings = max(warnings, ctx.warnings or 0)
    bold = Font(bold=True)
    ws.column_dimensions["A"].width = 22
    for col in "BCDE":
        ws.column_dimensions[col].width = 16
    ws.column_dimensions["B"].width = 48
    title = f"{ctx.instance_name} {'回执' if receipt else '错误报告'}"
    set_safe(ws.cell(row=1, column=1), title)
    ws.cell(row=1, column=1).font = Font(bold=True, size=14)
    unit = f"{ctx.unit_name or '（未识别）'}（{ctx.unit_code}）" if ctx.unit_code else "（未识别）"
    lines = [
        ("文件", ctx.original_name),
        ("报送单位", unit),
        ("表格类型", ctx.kind_title),
        ("收到时间", ctx.received_at.strftime("%Y-%m-%d %H:%M:%S")),
        ("收件编号", str(ctx.submission_id) if ctx.submission_id is not None else ""),
        ("处理结果", STATUS_NAMES.get(ctx.status, ctx.status)),
        ("数据行数", ctx.rows),
        ("入库行数", ctx.stored),
        ("错误", errors),
        ("警告", warnings),
    ]
    r = 3
    for name, value in lines:
        set_safe(ws.cell(row=r, column=1), name)
        ws.cell(row=r, column=1).font = bold
        set_safe(ws.cell(row=r, column=2), value)
        ws.cell(row=r, column=2).alignment = Alignment(horizontal="left")
        r += 1
    for note in ctx.notes:
        r += 1
        set_safe(ws.cell(row=r, column=1), "说明")
        ws.cell(row=r, column=1).font = bold
        set_safe(ws.cell(row=r, column=2), note)
        ws.cell(row=r, column=2).alignment = Alignment(wrap_text=True, vertical="top")
    r += 1
    if not receipt:
        r += 1
        set_safe(ws.cell(row=r, column=1), "怎么改")
        ws.cell(row=r, column=1).font = bold
        set_safe(ws.cell(row=r, column=2), "请按“错误清单”逐项修改（点击序号可跳到对应单元格；红色为错误，黄色为警告，"
                                           "鼠标停在单元格上可看批注），改正后把整份文件重新报送。本校尚未审核的记录会被新文件替换。")
        ws.cell(row=r, column=2).alignment = Alignment(wrap_text=True, vertical="top")
        r += 1

    per_sheet = defaultdict(lambda: [0, 0])
    for f in findings:
        per_sheet[f.sheet or ""][0 if f.severity == ERROR else 1] += 1
    r += 1
    for c, head in enumerate(("工作表", "数据行数", "入库行数", "错误", "警告"), start=1):
        cell = ws.cell(row=r, column=c, value=head)
        cell.font, cell.fill = bold, HEAD_FILL
    stats = {s.title: s for s in ctx.sheets}
    shown = [s.title for s in ctx.sheets if s.rows or per_sheet.get(s.title)]  # sheets left empty are not listed
    for title in shown + sorted(t for t in per_sheet if t not in stats):
        s = stats.get(title, SheetStat(title))
        r += 1
        values = (title or "（整个文件）", s.rows, s.stored, per_sheet[title][0], per_sheet[title][1])
        for c, value in enumerate(values, start=1):
            set_safe(ws.cell(row=r, column=c), value)

    by_rule: Counter[tuple[str, str]] = Counter((f.rule, f.severity) for f in findings)
    if by_rule:
        example = {}
        for f in findings:
            example.setdefault((f.rule, f.severity), f.message)
        r += 2
        for c, head in enumerate(("规则", "级别", "次数", "示例"), start=1):
            cell = ws.cell(row=r, column=c, value=head)
            cell.font, cell.fill = bold, HEAD_FILL
        for (rule, severity), count in sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0])):
            r += 1
            for c, value in enumerate((rule, SEVERITY_NAMES.get(severity, severity), count, example[(rule, severity)]),
                                      start=1):
                set_safe(ws.cell(row=r, column=c), value)


# ----------------------------------------------------------------------------------------------- annotation
def _comment_text(items: list[Finding]) -> str:
    parts = []
    for f in items:
        head = "【错误】" if f.severity == ERROR else "【警告】"
        parts.append(f"{head}{f.message}" + (f"\n修改建议：{f.hint}" if f.hint else ""))
    return clean_text("\n\n".join(parts))


def _is_ours(ws: Any) -> bool:
    """A sheet an earlier tmis report added (not a sheet of the school's that happens to share the name)."""
    first = ws.cell(row=1, column=1).value
    if isinstance(first, str) and (first.endswith(" 错误报告") or first.endswith(" 回执")):
        return True
    return tuple(c.value for c in ws[1][:len(LIST_HEADERS)]) == LIST_HEADERS


def _clear_previous(wb: Workbook) -> None:
    """A re-sent report: drop the sheets, comments and fills an earlier tmis report added."""
    for name in (LIST_SHEET, WARNING_LIST_SHEET, SUMMARY_SHEET, RECEIPT_SHEET):
        if name in wb.sheetnames and _is_ours(wb[name]):
            del wb[name]
    for ws in wb.worksheets:
        for cell in list(ws._cells.values()):
            if cell.comment is not None and cell.comment.author == AUTHOR:
                cell.comment = None
            if cell.has_style and cell.fill is not None and cell.fill.fill_type == "solid":
                color = getattr(cell.fill.start_color, "rgb", None)
                if color in OUR_FILL_COLORS:
                    cell.fill = PatternFill(fill_type=None)


def annotate(wb: Workbook, findings: Iterable[Finding]) -> int:
    """Fill and comment every cell a finding points at; returns how many cells were marked."""
    by_cell: dict[tuple[str, int, str], list[Finding]] = defaultdict(list)
    for f in findings:
        if f.sheet in wb.sheetnames and f.row:
            by_cell[(f.sheet, f.row, (f.column or "A").upper())].append(f)
    for (sheet, row, column), items in by_cell.items():
        cell = wb[sheet][f"{column}{row}"]
        if not hasattr(cell, "comment"):  # a merged cell: mark the top-left cell of its range
            for rng in wb[sheet].merged_cells.ranges:
                if cell.coordinate in rng:
                    cell = wb[sheet].cell(row=rng.min_row, column=rng.min_col)
                    break
        cell.fill = ERROR_FILL if any(f.severity == ERROR for f in items) else WARNING_FILL
        comment = Comment(_comment_text(items), AUTHOR)
        comment.width, comment.height = 360, min(60 + 70 * len(items), 400)
        cell.comment = comment
    return len(by_cell)


def _cached_formula_values(path: Path, wanted: dict[str, set[str]]) -> dict[tuple[str, str], Any]:
    """The values Excel last computed for formula cells (a second, read-only, data-only load)."""
    out: dict[tuple[str, str], Any] = {}
    if not wanted:
        return out
    values_wb = load_workbook(path, read_only=True, data_only=True, keep_links=False)
    try:
        for sheet, coords in wanted.items():
            ws = values_wb[sheet]
            for coord in coords:
                out[(sheet, coord)] = ws[coord].value
    finally:
        values_wb.close()
    return out


def _load_own(path: Path) -> Workbook:
    wb = load_workbook(path, keep_links=False, keep_vba=False, rich_text=False)
    formulas = {ws.title: {c.coordinate for c in ws._cells.values() if c.data_type == "f"} for ws in wb.worksheets}
    formulas = {k: v for k, v in formulas.items() if v}
    cached = _cached_formula_values(path, formulas) if formulas else {}
    _clear_previous(wb)
    neutralise(wb, cached)
    return wb


def _rebuild(wb_data: Any) -> Workbook:
    """An .xlsx holding the values read from a .xls/.ods/.csv file, at the same cells, with its metadata."""
    wb = Workbook()
    wb.remove(wb.active)
    for block in wb_data.blocks:
        ws = wb.create_sheet(block.title[:31])
        head = Font(bold=True)
        for code, index in block.columns.items():
            try:
                text = block.spec.field(code).header
            except KeyError:
                text = code
            cell = ws.cell(row=block.header_row, column=index + 1)
            set_safe(cell, text)
            cell.font = head
            ws.column_dimensions[get_column_letter(index + 1)].width = max(10, min(40, len(text) * 2 + 2))
        for index, text in getattr(block, "extra_headers", []) or []:
            set_safe(ws.cell(row=block.header_row, column=index + 1), text)
        for excel_row, cells in block.iter_rows():
            for index, value in enumerate(cells):
                if value is None or value == "":
                    continue
                set_safe(ws.cell(row=excel_row, column=index + 1), value)
    meta = getattr(wb_data, "meta", None) or {}
    if meta.get("kind"):
        from processor.workbook.meta import META_SHEET, meta_items

        ws = wb.create_sheet(META_SHEET)
        for key, value in meta_items(meta):
            ws.append([key, value])
            ws.cell(row=ws.max_row, column=2).data_type = "s"
        ws.sheet_state = "hidden"
    if not wb.worksheets:
        wb.create_sheet("数据")
    return wb


# ----------------------------------------------------------------------------------------------- public
def write_report(ctx: ReportContext, findings: list[Finding], *, outbox: Path, wb_data: Any = None,
                 source: Path | None = None, sheet_order: dict[str, int] | None = None) -> FeedbackFiles:
    """Write the error report (file with errors) or the receipt (no errors) and its JSON in outbox/<unit>/.

    ``source`` is the received file (annotated in place when it is an .xlsx/.xlsm of reasonable size);
    ``wb_data`` the WorkbookData read from it (used to rebuild other formats). Never raises for a
    workbook it cannot annotate: it falls back to the list-only report and says so in the 汇总."""
    findings = sorted(findings, key=_sort_key(sheet_order or {}))
    errors = max(sum(1 for f in findings if f.severity == ERROR), ctx.errors or 0)
    folder = unit_dir(outbox, ctx.unit_code if ctx.unit_known else None)
    folder.mkdir(parents=True, exist_ok=True)
    school = safe_filename(ctx.unit_name or ctx.unit_code or "未识别单位", 40)
    kind = safe_filename(ctx.kind_title or "报送文件", 30)
    day = ctx.received_at.strftime("%Y-%m-%d")
    base = f"{'错误报告' if errors else '回执'}_{school}_{kind}_{day}"
    target = _unique_target(folder, base, ".xlsx", ctx.sha256)

    annotated = False
    wb: Workbook | None = None
    if errors:
        if ctx.rows > ANNOTATE_MAX_ROWS:
            ctx.notes.append(f"文件共 {ctx.rows} 行，数据量较大，本报告未在原表上逐格标注；请按“错误清单”所列的"
                             "工作表、行、列逐项修改原文件。")
        else:
            try:
                if source is not None and source.suffix.lower() in (".xlsx", ".xlsm"):
                    wb = _load_own(source)
                elif wb_data is not None and getattr(wb_data, "blocks", None):
                    wb = _rebuild(wb_data)
                    ctx.notes.append(f"收到的文件为 {source.suffix if source else ''} 格式，本报告已转为 .xlsx，"
                                     "只保留了读取到的数值（原有格式未保留）；改正后可直接报送本文件。")
                if wb is not None:
                    annotate(wb, findings)
                    annotated = True
            except Exception as exc:  # noqa: BLE001 - a workbook openpyxl cannot load still gets its list
                log.warning("cannot annotate %s (%s); writing the list-only report", source, exc)
                wb, annotated = None, False
                ctx.notes.append("原文件无法在本系统中打开标注，本报告只列出错误清单；请按清单逐项修改原文件。")
    if wb is None:
        wb = Workbook()
        wb.remove(wb.active)
    titles = set(wb.sheetnames)
    summary = wb.create_sheet(SUMMARY_SHEET if errors else RECEIPT_SHEET, 0)
    _write_summary(summary, ctx, findings, receipt=not errors)
    if findings:
        listing = wb.create_sheet(LIST_SHEET if errors else WARNING_LIST_SHEET, 1)
        _write_list(listing, findings, ctx, titles, links=annotated)
    wb.active = 0
    for ws in wb.worksheets:
        ws.sheet_view.tabSelected = ws.title == summary.title
    _atomic_save_workbook(wb, target)
    sidecar = target.with_suffix(".json")
    atomic_write_text(sidecar, json.dumps(findings_json(ctx, findings, target), ensure_ascii=False, indent=1))
    return FeedbackFiles(report=target, json=sidecar, annotated=annotated)


def render_text(template: str, **values: Any) -> str:
    """Render a text template from templates/ (Jinja2; plain text, no HTML escaping)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from processor.paths import TEMPLATES_DIR

    env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), undefined=StrictUndefined,
                      keep_trailing_newline=True, autoescape=False)
    return env.get_template(template).render(**values)


def write_notice(outbox: Path, unit_code: str | None, name: str, template: str, **values: Any) -> Path:
    """A short text notice (duplicate, unreadable file) in outbox/<unit>/ — or outbox/_未识别/."""
    folder = unit_dir(outbox, unit_code)
    target = folder / f"{safe_filename(name, 120)}.txt"
    atomic_write_text(target, render_text(template, **values))
    return target
