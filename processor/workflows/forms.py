"""Request forms (申请表): ``tmis template KIND --unit CODE`` writes one; a filled one is read back here.

Layout: one sheet named after the kind (调动申请 …) with the filing unit, 填报人 and 填报日期 above the table
(the value in the cell to the right of the label), a header row of the kind's fields and one request per row.
Choice columns have dropdowns, dates and identity numbers are text cells. The hidden ``_tmis`` sheet (and the
custom properties) carry kind, unit, issue time and a form id, signed with processor/signing.py, so the unit
a filled form speaks for cannot be changed by hand.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.packaging.custom import StringProperty
from openpyxl.styles import Protection
from openpyxl.utils import get_column_letter
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation

from processor import sheets, signing
from processor.feedback import safe_filename
from processor.findings import ERROR, Finding
from processor.workbook import style
from processor.workbook.meta import META_SHEET, cell_text, property_items
from processor.workflows.registry import Field, RequestKind

FILER, FILE_DATE, UNIT_LABEL = "填报人", "填报日期", "填报单位"
HEADER_ROW = 8
SIGNED = ("kind", "unit_code", "issued_at", "form_id")


def form_title(kind: RequestKind) -> str:
    return kind.title[:31]


def form_file_name(kind: RequestKind, unit_code: str, unit_name: str) -> str:
    return f"{kind.title}表_{safe_filename(unit_name, 40)}_{unit_code}.xlsx"


def signed_payload(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: meta.get(k, "") for k in SIGNED}


def write_form(path: Path, kind: RequestKind, unit_code: str, unit_name: str, *, pack: Any, instance: str,
               now: datetime | None = None) -> Path:
    """Write the request form of ``kind`` for ``unit_code`` to ``path`` (SigningKeyMissing without a key)."""
    key = signing.signing_key()
    now = now or datetime.now(UTC)
    meta: dict[str, Any] = {"kind": kind.kind, "kind_title": kind.title, "unit_code": unit_code, "unit_name": unit_name,
                            "issued_at": now.isoformat(timespec="seconds"), "generator": "tmis",
                            "form_id": uuid.uuid4().hex[:12]}
    signature = signing.sign(signed_payload(meta), key)
    wb = Workbook()
    ws = wb.active
    ws.title = form_title(kind)
    ws.cell(1, 1, f"{instance} {kind.title}表").font = style.TITLE_FONT
    ws.cell(2, 1, kind.instructions or f"每行填写一项{kind.title}。带 * 的列必填；有下拉列表的列请从列表中选择。")
    ws.cell(2, 1).alignment = style.WRAP_TOP
    ws.row_dimensions[2].height = 60
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=max(4, len(kind.fields)))
    ws.cell(4, 1, f"{UNIT_LABEL}：").font = style.HEADER_FONT
    ws.cell(4, 2, f"{unit_name}（{unit_code}）")
    for r, label, hint in ((5, FILER, "本单位信息管理员或系统管理员的姓名"), (6, FILE_DATE, f"例如 {now.astimezone():%Y-%m-%d}")):
        ws.cell(r, 1, f"{label}：").font = style.REQUIRED_FONT
        cell = ws.cell(r, 2)
        cell.fill, cell.protection, cell.number_format = style.REQUIRED_FILL, Protection(locked=False), "@"
        ws.cell(r, 3, hint)
    last = HEADER_ROW + kind.form_rows
    for c, f in enumerate(kind.fields, start=1):
        letter = get_column_letter(c)
        head = ws.cell(HEADER_ROW, c, ("*" if f.required else "") + f.label)
        head.font = style.REQUIRED_FONT if f.required else style.HEADER_FONT
        head.fill, head.alignment, head.border = style.HEADER_FILL, style.HEADER_ALIGN, style.THIN_BORDER
        ws.column_dimensions[letter].width = max(f.width, style.fit_width(f.label))
        for r in range(HEADER_ROW + 1, last + 1):
            cell = ws.cell(r, c)
            cell.protection = Protection(locked=False)
            if f.type in ("text", "id_number", "date", "unit", "choice"):
                cell.number_format = "@"
        options = f.choices(pack)
        if options:
            labels = [label for _c, label in options]
            dv = DataValidation(type="list", formula1='"' + ",".join(labels) + '"', allow_blank=True,
                                showErrorMessage=True, errorTitle=f.label, error=f"请从下拉列表中选择：{'、'.join(labels)}。")
            dv.add(f"{letter}{HEADER_ROW + 1}:{letter}{last}")
            ws.add_data_validation(dv)
        elif f.hint or f.type == "date":
            dv = DataValidation(allow_blank=True, showInputMessage=True, promptTitle=f.label,
                                prompt=f.hint or "按 YYYY-MM-DD 填写，例如 2026-09-01")
            dv.add(f"{letter}{HEADER_ROW + 1}:{letter}{last}")
            ws.add_data_validation(dv)
    ws.freeze_panes = f"A{HEADER_ROW + 1}"
    sheets.protect(ws)
    style_print(ws)
    hidden = wb.create_sheet(META_SHEET)
    hidden.sheet_state = "veryHidden"
    hidden.cell(1, 1, "# tmis")
    hidden.cell(1, 2, "本表由系统读取，请勿修改")
    rows = [("meta_format", "1"), *((k, str(meta[k])) for k in ("kind", "kind_title", "unit_code", "unit_name",
                                                                 "issued_at", "generator", "form_id")),
            ("signature", signature)]
    for i, (k, v) in enumerate(rows, start=2):
        hidden.cell(i, 1, k)
        hidden.cell(i, 2, v).data_type = "s"
    hidden.protection.sheet = True
    for name, value in property_items(meta):
        wb.custom_doc_props.append(StringProperty(name=name, value=value))
    wb.security = WorkbookProtection(lockStructure=True)
    sheets.save_atomic(wb, path)
    return path


def style_print(ws: Any) -> None:
    from processor.workbook.printing import print_ready

    print_ready(ws, landscape=True, title_rows=HEADER_ROW, grid=True)


# ----------------------------------------------------------------------------------------------- reading
@dataclass
class FormRow:
    """One filled row: Excel row number, parsed values by field code, column letters by field code."""

    row: int
    values: dict[str, Any]
    columns: dict[str, str]


@dataclass
class FilledForm:
    """A filled request form as read back."""

    filer: sheets.Labelled | None
    day: date | None
    date_text: str = ""
    date_cell: str = ""
    rows: list[FormRow] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def parse_value(f: Field, raw: Any, pack: Any = None) -> tuple[Any, str | None]:
    """(value, problem): the cell as the field's type, or why it is not one (Chinese)."""
    if raw is None or cell_text(raw) == "":
        return None, None
    if f.type == "date":
        d = sheets.parse_date(raw if not isinstance(raw, str) else _norm(raw))
        return (d.isoformat(), None) if d else (None, "不是日期，请按 YYYY-MM-DD 填写，例如 2026-09-01")
    if f.type == "id_number":
        if isinstance(raw, float):
            return None, "被 Excel 存成了数字（末几位已丢失），请把单元格设为文本后重新输入完整的身份证件号"
        return _norm(cell_text(raw)).replace(" ", "").upper(), None
    if f.type == "number":
        try:
            return float(_norm(cell_text(raw))), None
        except ValueError:
            return None, "不是数字"
    text = _norm(cell_text(raw))
    if f.type == "choice":
        options = f.choices(pack)
        for code, label in options:
            if text in (label, code, f"{code}-{label}"):
                return code, None
        return None, f"不是可选的值（可选：{'、'.join(label for _c, label in options)}）"
    if f.type == "unit":
        return text.replace(" ", ""), None
    return text, None


def read_form(path: Path, kind: RequestKind, name: str, pack: Any = None) -> FilledForm:
    """The filer, date and rows of a filled form; layout problems and cells of the wrong type as findings."""
    from python_calamine import CalamineWorkbook

    title = form_title(kind)
    wb = CalamineWorkbook.from_path(str(path))
    if title not in wb.sheet_names:
        return FilledForm(None, None, findings=[sheets.finding(title, None, None, "WF-LAYOUT",
                                                               f"{name}：找不到工作表“{title}”",
                                                               f"请使用 tmis template {kind.kind} 生成的{kind.title}表填写。")])
    grid = sheets.grid(wb, title)
    out = FilledForm(sheets.value_right_of(grid, FILER), None)
    day = sheets.value_right_of(grid, FILE_DATE)
    out.day = sheets.parse_date(day.value) if day else None
    out.date_text, out.date_cell = (day.text, day.cell) if day else ("", "")
    header = next((r for r, row in enumerate(grid[:40])
                   if {f.label for f in kind.fields} <= {cell_text(v).lstrip("*") for v in row}), None)
    if header is None:
        out.findings.append(sheets.finding(title, None, None, "WF-LAYOUT", f"{name}：{title}中找不到表头",
                                           "请使用系统生成的申请表填写，不要修改表头。"))
        return out
    cols = {cell_text(v).lstrip("*"): i for i, v in enumerate(grid[header])}
    by_code = {f.code: cols[f.label] for f in kind.fields}
    letters = {code: get_column_letter(i + 1) for code, i in by_code.items()}
    for r in range(header + 1, len(grid)):
        raw = grid[r]
        cells = {f.code: raw[by_code[f.code]] if by_code[f.code] < len(raw) else None for f in kind.fields}
        if all(cell_text(v) == "" for v in cells.values()):
            continue
        values: dict[str, Any] = {}
        for f in kind.fields:
            value, problem = parse_value(f, cells[f.code], pack)
            where = f"{name}：{title} {letters[f.code]}{r + 1}（{f.label}）"
            if problem:
                out.findings.append(Finding(title, r + 1, letters[f.code], f.code, cell_text(cells[f.code]),
                                            "WF-VALUE", ERROR, f"{where}“{cell_text(cells[f.code])}”{problem}",
                                            f.hint or "请改正后重新报送整张申请表。"))
            elif value is None and f.required:
                out.findings.append(Finding(title, r + 1, letters[f.code], f.code, None, "WF-REQUIRED", ERROR,
                                            f"{where}没有填写", f.hint or f"请填写{f.label}。"))
            values[f.code] = value
        out.rows.append(FormRow(r + 1, values, letters))
    return out
