"""Reports back to the school in outbox/<school code>/: annotated workbook or receipt, findings as JSON, notices.

- A file with errors comes back as the school's own workbook (.xlsx even when .xls/.ods/.csv came in):
  bad cells filled (red: error, yellow: warning) with a comment (problem + fix), plus the sheets 汇总 and
  错误清单 (every finding, with a link to its cell). Large files get the 汇总 + 错误清单 workbook only.
  The school's dropdowns come back whole: the list validations Excel keeps in the sheet's ``<extLst>``
  (x14, dropped by openpyxl) are copied from the received file into the saved report (``workbook.extlst``).
  A report comment is ours by its mark (author tmis, text 【错误】/【警告】); a note that was on the cell
  before (the template's header help, the school's own) is kept below it and put back when the next report
  clears the marks. Formulas come back as their last computed value, and the 汇总 names those columns.
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
import warnings
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from copy import copy
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml.ElementTree import iterparse as safe_iterparse
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.numbers import is_date_format, is_timedelta_format
from openpyxl.utils import column_index_from_string, coordinate_to_tuple, get_column_letter
from openpyxl.utils.datetime import from_excel
from openpyxl.worksheet.hyperlink import Hyperlink

from processor.findings import ERROR, Finding
from processor.workbook import style
from processor.workbook.extlst import MAIN as MAIN_NS
from processor.workbook.extlst import copy_with_extensions, read_extensions, sheet_parts
from processor.workbook.printing import print_ready

log = logging.getLogger(__name__)

AUTHOR = "tmis"
# A comment of a report: author tmis and one of these marks first (the template's header help is tmis's too).
REPORT_MARKS = ("【错误】", "【警告】")
# A note the cell had before it was marked stays below the report's text, after this line.
ORIGINAL_NOTE = "—— 以下为原有批注（{author}）——"
_ORIGINAL_NOTE = re.compile(r"\n\n—— 以下为原有批注（(.*?)）——\n")
ERROR_FILL = PatternFill(fill_type="solid", start_color="FFFFC7CE", end_color="FFFFC7CE")
WARNING_FILL = PatternFill(fill_type="solid", start_color="FFFFEB9C", end_color="FFFFEB9C")
HEAD_FILL = PatternFill(fill_type="solid", start_color="FFD9E1F2", end_color="FFD9E1F2")
OUR_FILL_COLORS = {"FFFFC7CE", "FFFFEB9C"}
LIST_SHEET = "错误清单"
WARNING_LIST_SHEET = "警告清单"
SUMMARY_SHEET = "汇总"
RECEIPT_SHEET = "回执"
LIST_HEADERS = ("序号", "工作表", "行", "列", "字段", "值", "规则", "级别", "问题", "修改建议")
LIST_WIDTHS = (7, 16, 7, 6, 16, 24, 20, 7, 46, 46)
NOTE_WIDTH = 48  # column B of the 汇总: the file's particulars and the notes
SEVERITY_NAMES = {"error": "错误", "warning": "警告"}
STATUS_NAMES = {"accepted": "已接收（全部入库，等待上级逐级审核）", "partial": "部分接收（无错误的行已入库，有错误的行未入库）",
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
    """base.suffix, or base（2）.suffix … — reusing the name already written for the same file content.

    The name is taken atomically: its JSON sidecar is created with O_EXCL (exclusive on a local disk and on
    NFS/SMB servers alike) holding the content's sha256, so two workers writing reports into one outbox at the
    same moment never choose the same name; the real JSON replaces the placeholder when the report is done.
    A worker that dies in between leaves the placeholder, which the same content reuses when it is redone."""
    n = 1
    while True:
        stem = base if n == 1 else f"{base}（{n}）"
        target = folder / f"{stem}{suffix}"
        sidecar = folder / f"{stem}.json"
        try:
            fd = os.open(sidecar, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                if json.loads(sidecar.read_text(encoding="utf-8")).get("sha256") == sha256:
                    return target
            except (OSError, ValueError):
                pass
            n += 1
            continue
        if target.exists():  # a report whose JSON went missing: its name stays taken
            os.close(fd)
            sidecar.unlink(missing_ok=True)
            n += 1
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"sha256": sha256, "reserved": True}, fh)
        return target


def _atomic_save_workbook(wb: Workbook, target: Path, extensions: dict[str, list[bytes]] | None = None) -> None:
    """Save under a temporary name and rename into place; ``extensions`` (sheet title → ``<ext>`` elements of
    the school's file) are written into those sheets on the way."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    carried = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.ext.tmp")
    try:
        wb.save(tmp)
        if extensions:
            try:
                copy_with_extensions(tmp, carried, extensions)
                os.replace(carried, tmp)
            except (OSError, ValueError, zipfile.BadZipFile) as exc:  # the report still goes out, as openpyxl saved it
                log.warning("%s: the school's sheet extensions could not be carried over (%s)", target.name, exc)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        carried.unlink(missing_ok=True)


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
def _fit_row(ws: Any, row: int, *texts: tuple[Any, float]) -> None:
    """Give a row of wrapped cells the height of its longest text: (text, column width) pairs.

    Neither Excel nor LibreOffice sizes such rows of a file it did not write itself, so a long message
    would print as its first line only."""
    # The GB 18030 length is the display width of Chinese text (2 a character, 1 for ASCII; 4 for the rare
    # four-byte characters, which only errs on the tall side) at C speed: the list may have 50,000 rows.
    lines = max((sum(max(1, -(-len(part.encode("gb18030")) // max(1, int(width) - 4)))
                     for part in str(text or "").splitlines() or [""]) for text, width in texts), default=1)
    if lines > 1:
        ws.row_dimensions[row].height = 15 * lines + 3


def _write_list(ws: Any, findings: list[Finding], ctx: ReportContext, sheet_titles: set[str], *, links: bool) -> None:
    ws.append(list(LIST_HEADERS))
    for i, width in enumerate(LIST_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = HEAD_FILL
    ws.freeze_panes = "A2"
    wrap = Alignment(wrap_text=True, vertical="top")
    top = Alignment(vertical="top")
    # openpyxl keeps a cell's style as an array of indexes; copying the first row's array to the others
    # skips hashing the style objects again for every cell (most of the time of a 50,000-row list).
    styles: dict[int, Any] = {}
    for n, f in enumerate(findings, start=1):
        label = ctx.labels.get((f.sheet or "", f.field or ""), f.field or "")
        values = [n, f.sheet or "", f.row, f.column or "", label, f.value, f.rule,
                  SEVERITY_NAMES.get(f.severity, f.severity), f.message, f.hint]
        r = n + 1
        for c, value in enumerate(values, start=1):
            cell = ws.cell(row=r, column=c)
            if c in styles:
                cell._style = copy(styles[c])
            else:
                cell.alignment = wrap if c >= 9 else top
                styles[c] = copy(cell._style)
            set_safe(cell, value)  # after the style: it may set the cell's quote prefix
        _fit_row(ws, r, (f.message, LIST_WIDTHS[8]), (f.hint, LIST_WIDTHS[9]))
        if links and f.sheet in sheet_titles and f.row:
            cell = ws.cell(row=r, column=1)
            target = f"'{f.sheet.replace(chr(39), chr(39) * 2)}'!{f.column or 'A'}{f.row}"
            cell.hyperlink = Hyperlink(ref=cell.coordinate, location=target, display=str(n))
            cell.font = Font(color="FF0563C1", underline="single")
    if findings:
        ws.auto_filter.ref = f"A1:J{len(findings) + 1}"
    print_ready(ws, landscape=True, title_rows=1, grid=True, header=f"{ws.title}：{ctx.original_name}")


def _write_summary(ws: Any, ctx: ReportContext, findings: list[Finding], *, receipt: bool) -> None:
    errors = sum(1 for f in findings if f.severity == ERROR)
    warnings = len(findings) - errors
    errors = max(errors, ctx.errors or 0)
    warnings = max(warnings, ctx.warnings or 0)
    bold = Font(bold=True)
    ws.column_dimensions["A"].width = 22
    for col in "BCDE":
        ws.column_dimensions[col].width = 16
    ws.column_dimensions["B"].width = NOTE_WIDTH
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
    top = Alignment(vertical="top")
    for note in ctx.notes:
        r += 1
        set_safe(ws.cell(row=r, column=1), "说明")
        ws.cell(row=r, column=1).font, ws.cell(row=r, column=1).alignment = bold, top
        set_safe(ws.cell(row=r, column=2), note)
        ws.cell(row=r, column=2).alignment = Alignment(wrap_text=True, vertical="top")
        _fit_row(ws, r, (note, NOTE_WIDTH))
    r += 1
    if not receipt:
        r += 1
        set_safe(ws.cell(row=r, column=1), "怎么改")
        ws.cell(row=r, column=1).font, ws.cell(row=r, column=1).alignment = bold, top
        set_safe(ws.cell(row=r, column=2), "请按“错误清单”逐项修改（点击序号可跳到对应单元格；红色为错误，黄色为警告，"
                                           "鼠标停在单元格上可看批注），改正后把整份文件重新报送。本校尚未审核的记录会被新文件替换。")
        ws.cell(row=r, column=2).alignment = Alignment(wrap_text=True, vertical="top")
        _fit_row(ws, r, (ws.cell(row=r, column=2).value, NOTE_WIDTH))
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
                ws.cell(row=r, column=c).alignment = top
            # The example spans D:E, wrapped, so that it prints whole (Excel does not fit merged rows itself).
            ws.merge_cells(start_row=r, start_column=4, end_row=r, end_column=5)
            ws.cell(row=r, column=4).alignment = Alignment(wrap_text=True, vertical="top")
            _fit_row(ws, r, (example[(rule, severity)], 32))
    print_ready(ws, landscape=False, header=f"{ws.title}：{ctx.original_name}")


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


def is_report_comment(comment: Any) -> bool:
    """True for a comment a tmis report wrote (not the template's header help, not the school's own note)."""
    return comment is not None and comment.author == AUTHOR and str(comment.text).startswith(REPORT_MARKS)


def _note(text: str, author: str, width: int = 300) -> Comment:
    comment = Comment(clean_text(text), author)
    comment.width, comment.height = style.note_size(comment.text, width)
    return comment


def _original_note(comment: Any) -> Comment | None:
    """The note a report comment was written over (kept below the report's text), or None."""
    match = _ORIGINAL_NOTE.search(str(comment.text))
    if match is None:
        return None
    return _note(comment.text[match.end():], match.group(1))


def _clear_previous(wb: Workbook) -> None:
    """A re-sent report: drop the sheets, comments and fills an earlier tmis report added — only those.

    A cell's report comment gives way to the note that was there before it (kept below the report's text),
    and only such a cell loses the report's fill: the template's help notes and the school's own notes and
    colours (Excel's 差/适中 styles use the same two fills) stay. Every note that stays gets its box size
    again (openpyxl does not read it back, so it would shrink to 144×79 and hide most of a help text)."""
    for name in (LIST_SHEET, WARNING_LIST_SHEET, SUMMARY_SHEET, RECEIPT_SHEET):
        if name in wb.sheetnames and _is_ours(wb[name]):
            del wb[name]
    for ws in wb.worksheets:
        for cell in list(ws._cells.values()):
            comment = cell.comment
            if comment is None:
                continue
            if not is_report_comment(comment):
                comment.width, comment.height = style.note_size(comment.text)
                continue
            cell.comment = _original_note(comment)
            if cell.has_style and cell.fill is not None and cell.fill.fill_type == "solid":
                color = getattr(cell.fill.start_color, "rgb", None)
                if color in OUR_FILL_COLORS:
                    cell.fill = PatternFill(fill_type=None)


def annotate(wb: Workbook, findings: Iterable[Finding]) -> int:
    """Fill and comment every cell a finding points at; returns how many cells were marked.

    A note already on the cell (the template's help on a header, the school's own) is kept below the
    report's text, so that clearing the marks later puts it back."""
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
        text = _comment_text(items)
        before = cell.comment
        if before is not None and not is_report_comment(before):
            text += "\n\n" + ORIGINAL_NOTE.format(author=before.author or "") + "\n" + str(before.text)
        cell.comment = _note(text, AUTHOR, width=360)
    return len(by_cell)


@dataclass
class FormulaCells:
    """Formula cells of the school's workbook: written back as the value they last showed."""

    columns: dict[str, Counter[str]] = field(default_factory=dict)  # sheet title → column letters → cells
    uncomputed: int = 0  # formulas saved without a computed value: written back as their own text

    def __bool__(self) -> bool:
        return bool(self.columns)


class _NeedsOpenpyxl(Exception):
    """A formula cell the lean scan does not read (no cell reference, a shared or inline string result)."""


def _formula_results(data: Any) -> Iterator[tuple[str, str | None, str | None]]:
    """(coordinate, type, cached text) of every formula cell of one worksheet's XML, in one streaming pass.

    Only the cells with an ``<f>`` are looked at; every element is dropped once read (bounded memory)."""
    cell_tag, row_tag = f"{{{MAIN_NS}}}c", f"{{{MAIN_NS}}}row"
    formula_tag, value_tag = f"{{{MAIN_NS}}}f", f"{{{MAIN_NS}}}v"
    for _, elem in safe_iterparse(data, events=("end",)):
        if elem.tag == cell_tag:
            if elem.find(formula_tag) is not None:
                ref, kind = elem.get("r"), elem.get("t")
                if not ref or kind in ("s", "inlineStr", "d"):
                    raise _NeedsOpenpyxl(ref or "?")
                yield ref, kind, elem.findtext(value_tag)
            elem.clear()
        elif elem.tag == row_tag:
            elem.clear()


def _cast_cached(kind: str | None, text: str | None, number_format: str, epoch: Any) -> Any:
    """A cached formula result as openpyxl's data-only load gives it (number, date, text, bool, error)."""
    if text is None:
        return None
    if kind in ("str", "e"):
        return text
    if kind == "b":
        return text.strip() in ("1", "true")
    value = float(text) if any(ch in text for ch in ".eE") else int(text)
    if is_date_format(number_format):
        try:
            return from_excel(value, epoch, timedelta=is_timedelta_format(number_format))
        except (ValueError, OverflowError):
            return value
    return value


def _cached_by_openpyxl(path: Path, sheet: str, coords: set[str]) -> dict[tuple[str, str], Any]:
    """The same values through openpyxl's read-only, data-only reader: one pass over the formula rows."""
    out: dict[tuple[str, str], Any] = {}
    values_wb = load_workbook(path, read_only=True, data_only=True, keep_links=False)
    try:
        places = {coordinate_to_tuple(coord): coord for coord in coords}
        rows = [r for r, _ in places]
        cols = [c for _, c in places]
        first_row, first_col = min(rows), min(cols)
        values = values_wb[sheet].iter_rows(min_row=first_row, max_row=max(rows), min_col=first_col,
                                            max_col=max(cols), values_only=True)
        for r, line in enumerate(values, start=first_row):
            for c, value in enumerate(line, start=first_col):
                coord = places.get((r, c))
                if coord is not None:
                    out[(sheet, coord)] = value
    finally:
        values_wb.close()
    return out


def _cached_formula_values(path: Path, wb: Workbook, wanted: dict[str, set[str]]) -> dict[tuple[str, str], Any]:
    """The values Excel last computed for the formula cells ``wanted`` (sheet → coordinates) of ``wb``.

    One streaming pass over the XML of each sheet with formulas, reading only the formula cells (the
    number format that makes a number a date comes from ``wb``, already loaded). Before, each value was
    looked up in a read-only sheet, which parses the sheet from its top on every lookup: rows × formulas.
    A sheet the scan cannot read (cells without a reference, string-table results) goes through openpyxl's
    read-only reader instead, also in one pass."""
    out: dict[tuple[str, str], Any] = {}
    if not wanted:
        return out
    with zipfile.ZipFile(path) as zf:
        parts = sheet_parts(zf)
        for sheet, coords in wanted.items():
            if not coords:
                continue
            ws = wb[sheet]
            found: dict[tuple[str, str], Any] = {}
            try:
                if sheet not in parts:
                    raise _NeedsOpenpyxl(sheet)
                with zf.open(parts[sheet]) as data:
                    for ref, kind, text in _formula_results(data):
                        if ref in coords:
                            found[(sheet, ref)] = _cast_cached(kind, text, ws[ref].number_format, wb.epoch)
            except (_NeedsOpenpyxl, ValueError, ParseError) as exc:
                log.info("%s: sheet %s read through openpyxl for its formula values (%s)", path.name, sheet, exc)
                found = _cached_by_openpyxl(path, sheet, coords)
            out.update(found)
    return out


def _load_own(path: Path) -> tuple[Workbook, FormulaCells]:
    """The school's .xlsx, ready to mark: earlier marks cleared, every formula replaced by its last value."""
    with warnings.catch_warnings():
        # "Data Validation extension is not supported and will be removed": write_report carries it over.
        warnings.filterwarnings("ignore", message=".*extension is not supported.*", category=UserWarning)
        wb = load_workbook(path, keep_links=False, keep_vba=False, rich_text=False)
    formulas = {ws.title: {c.coordinate for c in ws._cells.values() if c.data_type == "f"} for ws in wb.worksheets}
    formulas = {k: v for k, v in formulas.items() if v}
    cached = _cached_formula_values(path, wb, formulas) if formulas else {}
    found = FormulaCells()
    for sheet, coords in formulas.items():
        found.columns[sheet] = Counter(wb[sheet][coord].column_letter for coord in coords)
        found.uncomputed += sum(1 for coord in coords if cached.get((sheet, coord)) is None)
    _clear_previous(wb)
    neutralise(wb, cached)
    return wb, found


def _formula_note(wb: Workbook, found: FormulaCells, header_rows: dict[str, int]) -> str:
    """The 汇总's word on formula cells: which columns, and why they come back as values."""
    places = []
    for sheet, columns in found.columns.items():
        header_row = header_rows.get(sheet, 1)
        parts = []
        for letter, count in sorted(columns.items(), key=lambda kv: (len(kv[0]), kv[0])):
            cell = wb[sheet]._cells.get((header_row, column_index_from_string(letter))) if sheet in wb.sheetnames else None
            head = cell.value if cell is not None else None
            head = str(head).strip() if head not in (None, "") else ""
            parts.append(f"{letter} 列（{head + '，' if head else ''}{count} 格）")
        shown = "、".join(parts[:10]) + ("等" if len(parts) > 10 else "")
        places.append(f"“{sheet}”工作表的 {shown}")
    text = (f"原文件中 {'；'.join(places)}是公式。为防止报告里的公式被执行，本报告中这些单元格只保留了公式最后一次"
            "计算出的结果，公式本身没有带回；改正时请在本校原文件上修改，或在本报告中重新写入公式后再报送。")
    if found.uncomputed:
        text += f"其中 {found.uncomputed} 格在保存时没有计算结果，本报告中显示为公式原文。"
    return text


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
    extensions: dict[str, list[bytes]] = {}
    if errors:
        if ctx.rows > ANNOTATE_MAX_ROWS:
            ctx.notes.append(f"文件共 {ctx.rows} 行，数据量较大，本报告未在原表上逐格标注；请按“错误清单”所列的"
                             "工作表、行、列逐项修改原文件。")
        else:
            try:
                if source is not None and source.suffix.lower() in (".xlsx", ".xlsm"):
                    wb, formulas = _load_own(source)
                    extensions = read_extensions(source)
                    if formulas:
                        header_rows = {b.title: b.header_row for b in getattr(wb_data, "blocks", None) or []}
                        ctx.notes.append(_formula_note(wb, formulas, header_rows))
                elif wb_data is not None and getattr(wb_data, "blocks", None):
                    wb = _rebuild(wb_data)
                    ctx.notes.append(f"收到的文件为 {source.suffix if source else ''} 格式，本报告已转为 .xlsx，"
                                     "只保留了读取到的数值（原有格式未保留）；改正后可直接报送本文件。")
                if wb is not None:
                    annotate(wb, findings)
                    annotated = True
            except Exception as exc:  # noqa: BLE001 - a workbook openpyxl cannot load still gets its list
                log.warning("cannot annotate %s (%s); writing the list-only report", source, exc)
                wb, annotated, extensions = None, False, {}
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
    _atomic_save_workbook(wb, target, {t: e for t, e in extensions.items() if t in titles})
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
