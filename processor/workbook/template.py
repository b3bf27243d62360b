"""Official fill-in templates, generated only from the rule pack's field specifications."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.packaging.custom import StringProperty
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

import processor
from processor.errors import RulePackError, TmisError
from processor.rulepack.model import CodeTable, FieldSpec, RulePack, SheetSpec
from processor.workbook import style
from processor.workbook.meta import CODES_SHEET, META_SHEET, meta_items, property_items

HEADER_ROW = 1
FIRST_DATA_ROW = 2
# Validations cover this many data rows; number formats are set per column, so they cover every row
# without writing a single empty cell.
DATA_ROWS = 5000
LAST_DATA_ROW = FIRST_DATA_ROW + DATA_ROWS - 1
INLINE_LIST_MAX = 255  # Excel's limit for a list written into the validation itself
GUIDE_SHEET = "说明"

TYPE_NAMES = {
    "text": "文本",
    "code": "代码（单选）",
    "codes": "代码（可多选）",
    "date": "日期",
    "month": "年月",
    "year": "年份",
    "int": "整数",
    "decimal": "数字",
    "yesno": "是否",
    "idnumber": "证件号码（文本）",
}
TYPE_HOWTO = {
    "date": "按 YYYY-MM-DD 填写",
    "month": "按 YYYY-MM 填写",
    "year": "填 4 位年份",
    "int": "只填阿拉伯数字",
    "decimal": "只填数字，可带小数",
    "codes": "可填多个代码，用英文逗号分隔",
    "idnumber": "按文本填写，不要写成数字",
}
TYPE_EXAMPLES = {"date": "1985-03-07", "month": "2016-09", "year": "2016"}
NUMBER_FORMATS = {
    "text": "@",
    "idnumber": "@",
    "code": "@",
    "codes": "@",
    "yesno": "@",
    "date": "yyyy-mm-dd",
    "month": "yyyy-mm",
    "year": "0",
    "int": "0",
}
_PHONE_CODE = re.compile(r"(phone|mobile|tel|fax|postcode|zip)", re.IGNORECASE)
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_FILENAME_BAD = re.compile(r'[\\/:*?"<>|\s\x00-\x1f]+')
SHORT_TABLE = 8  # code tables this short are listed in full in comments and on the 说明 sheet


class TemplateError(TmisError):
    """A template cannot be made as asked (unknown kind or unit, bad output path)."""

    exit_code = 2


def kinds_text(pack: RulePack) -> str:
    """'teachers（教师信息采集表）、new-teachers（新任教师信息采集表）' for messages and help."""
    return "、".join(f"{k}（{v.get('title', k)}）" for k, v in pack.kinds.items())


def template_file_name(pack: RulePack, kind: str, unit_code: str, unit_name: str) -> str:
    """The default file name: '<模板标题>_<单位名称>_<单位代码>.xlsx'."""
    title = str(pack.kinds[kind].get("title", kind))
    name = _FILENAME_BAD.sub("", unit_name) or unit_code
    return f"{_FILENAME_BAD.sub('', title)}_{name}_{_FILENAME_BAD.sub('', unit_code)}.xlsx"


def number_format(f: FieldSpec) -> str | None:
    """The cell format of a field's column: text for codes, numbers and phones, dates as dates."""
    if _PHONE_CODE.search(f.code):
        return "@"
    return NUMBER_FORMATS.get(f.type)


SCHOOL_TYPE_NAMES = {"primary_secondary": "中小学", "kindergarten": "幼儿园", "special": "特殊教育学校"}


def school_type_name(pack: RulePack, school_type: str) -> str:
    """The Chinese name of a school-type variant ([settings.school_types] of the pack, else a built-in name)."""
    names = pack.settings.get("school_types")
    if isinstance(names, dict) and names.get(school_type):
        return str(names[school_type])
    return SCHOOL_TYPE_NAMES.get(school_type, school_type)


def template_fields(sheet: SheetSpec, school_type: str | None, pack: RulePack | None = None) -> list[FieldSpec]:
    """The columns of a sheet: input fields for the school type (fields without variants are in every one).

    Without a school type every field is a column; a field of some school types only is then not starred
    (it is not required of everyone) and its note says who fills it."""
    out = []
    for f in sheet.input_fields:
        if f.variants and school_type is not None and school_type not in f.variants:
            continue
        if f.variants and school_type is None:
            names = "、".join(school_type_name(pack, v) if pack else v for v in f.variants)
            note = f"仅{names}填写。{f.note}"
            f = replace(f, required=False, note=note)
        out.append(f)
    return out


def _default_school_type(pack: RulePack, school_type: str | None, unit_code: str | None = None) -> str | None:
    """An explicit --school-type, else the school's own variant from its code; None (every variant's
    fields, none starred) for a unit that is not a school."""
    if school_type:
        return school_type
    return pack.school_type_for(unit_code)


def school_types(pack: RulePack) -> list[str]:
    """Every school-type variant named by a field of the pack."""
    seen: dict[str, None] = {}
    for sheet in pack.ordered_sheets():
        for f in sheet.fields:
            for v in f.variants:
                seen.setdefault(v, None)
    return list(seen)


def _sheets(pack: RulePack, kind: str) -> list[SheetSpec]:
    if kind not in pack.kinds:
        raise TemplateError(f"未知的模板种类“{kind}”", hint=f"可用的种类：{kinds_text(pack)}。")
    sheets = pack.sheets_for_kind(kind)
    for s in sheets:
        if not s.name or len(s.name) > 31 or _BAD_SHEET_CHARS.search(s.name) or s.name in (
            GUIDE_SHEET, META_SHEET, CODES_SHEET,
        ):
            raise RulePackError(f"工作表名称“{s.name}”不能用作 Excel 工作表名", file=s.file or None,
                                hint="工作表名最多 31 个字符，不能含 [ ] : * ? / \\，也不能是 说明、_tmis、_codes。")
    return sheets


class _CodeLists:
    """Dropdown sources: short lists inline, longer ones in columns of the hidden `_codes` sheet."""

    def __init__(self, wb: Workbook) -> None:
        self.wb = wb
        self.ws: Worksheet | None = None
        self.columns: dict[str, str] = {}

    def formula(self, table: CodeTable) -> str | None:
        choices = table.choices()
        if not choices:
            return None
        inline = ",".join(choices)
        if len(inline) <= INLINE_LIST_MAX and not any(ch in inline for ch in '"') and all(
            "," not in c for c in choices
        ):
            return f'"{inline}"'
        if table.id not in self.columns:
            if self.ws is None:
                self.ws = self.wb.create_sheet(CODES_SHEET)
                self.ws.sheet_state = "veryHidden"
            col = len(self.columns) + 1
            letter = get_column_letter(col)
            self.ws.cell(row=1, column=col, value=table.id)
            for i, choice in enumerate(choices, start=2):
                cell = self.ws.cell(row=i, column=col, value=choice)
                cell.number_format = "@"
            self.columns[table.id] = f"{quote_sheetname(CODES_SHEET)}!${letter}$2:${letter}${len(choices) + 1}"
        return self.columns[table.id]


def _table(pack: RulePack, f: FieldSpec) -> CodeTable | None:
    return pack.tables.get(f.table) if f.table else None


def _example(pack: RulePack, f: FieldSpec) -> str:
    if f.example:
        return f.example
    table = _table(pack, f)
    if table is not None and f.is_coded:
        choices = table.choices()
        return choices[0] if choices else ""
    return TYPE_EXAMPLES.get(f.type, "")


def _table_text(table: CodeTable | None, *, full: bool) -> str:
    if table is None:
        return ""
    choices = table.choices()
    if full and len(choices) <= SHORT_TABLE:
        return f"{table.title}（{'、'.join(choices)}）"
    return f"{table.title}（共 {len(choices)} 项，见下拉列表）"


def _render(template: str, f: FieldSpec, sheet: SheetSpec, params: dict[str, Any]) -> str:
    """A rule's message rendered for the 说明 sheet (field labels in place of codes)."""
    from jinja2 import ChainableUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(undefined=ChainableUndefined, autoescape=False)
    labels = {x.code: x.label for x in sheet.fields}
    try:
        return env.from_string(template).render(
            {**params, "label": f.label, "field": f.code, "labels": labels, "sheet": sheet.name}
        ).strip()
    except Exception:  # noqa: BLE001 - a rule the 说明 cannot render is simply not quoted there
        return ""


def conditions(pack: RulePack, sheet: SheetSpec, f: FieldSpec) -> tuple[list[str], list[str]]:
    """Messages of the conditional 'required' and 'blank' rules in force for a field."""
    required: list[str] = []
    blank: list[str] = []
    for rule in pack.active_rules():
        if rule.generated or rule.kind not in ("required", "blank") or f.code not in rule.fields:
            continue
        if rule.sheet not in (sheet.id, "*"):
            continue
        text = _render(rule.message, f, sheet, rule.params) if rule.message else ""
        if rule.kind == "required" and rule.when:
            required.append(text or "在一定条件下必填")
        elif rule.kind == "blank":
            blank.append(text or "在一定条件下不能填写")
    return required, blank


def none_choice(pack: RulePack, sheet: SheetSpec) -> tuple[FieldSpec, str] | None:
    """The '0-无' convention: the sheet's first coded field whose table has an all-zero code named 无."""
    for f in sheet.input_fields:
        if not f.is_coded:
            continue
        table = _table(pack, f)
        if table is None:
            return None
        for entry in table.entries.values():
            if entry.code.strip("0") == "" and entry.name == "无":
                return f, f"{entry.code}-{entry.name}"
        return None
    return None


def _comment_text(pack: RulePack, sheet: SheetSpec, f: FieldSpec) -> str:
    status = {"是": "必填", "否": "选填"}.get(need := _required_text(pack, sheet, f), need)
    lines = [f"{f.label}（{status}）", f"类型：{TYPE_NAMES.get(f.type, f.type)}"]
    if f.type in TYPE_HOWTO:
        lines[-1] += f"，{TYPE_HOWTO[f.type]}"
    table = _table(pack, f)
    if table is not None:
        lines.append(f"代码表：{_table_text(table, full=True)}")
        lines.append("可填代码、名称或“代码-名称”。")
    required, blank = conditions(pack, sheet, f)
    lines.extend(f"条件：{t}" for t in required + blank)
    if f.note:
        lines.append(f"说明：{f.note}")
    example = _example(pack, f)
    if example:
        lines.append(f"示例：{example}")
    if f.default:
        lines.append(f"默认：{f.default}")
    return "\n".join(lines)


def _comment(text: str) -> Comment:
    comment = Comment(text, "tmis")
    comment.width, comment.height = style.note_size(text)
    return comment


def _column_width(pack: RulePack, f: FieldSpec) -> float:
    if f.width:
        # The spec's width is a minimum: headers of up to 8 Chinese characters stay on one line.
        return float(max(f.width, min(style.display_width(f.header) + 4, 20)))
    minimum = {"idnumber": 22, "date": 13, "month": 11, "year": 8, "yesno": 9, "text": 12}.get(f.type, 10)
    texts = [f.header]
    table = _table(pack, f)
    if table is not None:
        widest = max((style.display_width(c) for c in table.choices()), default=0)
        minimum = max(minimum, min(widest + 3, 28))
    return style.fit_width(*texts, minimum=minimum, maximum=40, padding=4)


def _validation(pack: RulePack, f: FieldSpec, lists: _CodeLists) -> DataValidation | None:
    table = _table(pack, f)
    if f.is_coded and table is not None:
        source = lists.formula(table)
        if source is None:
            return None
        dv = DataValidation(type="list", formula1=source, allow_blank=True)
        dv.showDropDown = False  # (sic) False means the in-cell arrow is shown
        if f.type == "codes":
            dv.showErrorMessage = False
            dv.showInputMessage = True
            dv.promptTitle = f.label[:32]
            dv.prompt = f"可从下拉列表选一项；多项请填代码并用英文逗号分隔，例如 {_example(pack, f)}。"[:255]
        else:
            dv.showErrorMessage = True
            dv.errorStyle = "warning"
            dv.errorTitle = f"{f.label}不在下拉列表中"[:32]
            dv.error = f"请从下拉列表中选择{f.label}；也可填写代码或名称。"[:255]
        return dv
    if f.type in ("date", "month"):
        dv = DataValidation(type="date", operator="between", formula1="DATE(1900,1,1)",
                            formula2="DATE(2100,12,31)", allow_blank=True)
        dv.errorTitle = f"{f.label}不是日期"[:32]
        dv.error = f"请按 {'YYYY-MM-DD' if f.type == 'date' else 'YYYY-MM'} 填写{f.label}，例如 {_example(pack, f)}。"
    elif f.type == "year":
        low, high = int(f.min if f.min is not None else 1900), int(f.max if f.max is not None else 2100)
        dv = DataValidation(type="whole", operator="between", formula1=str(low), formula2=str(high),
                            allow_blank=True)
        dv.errorTitle = f"{f.label}不是年份"[:32]
        dv.error = f"请填写 {low} 到 {high} 之间的 4 位年份。"
    elif f.type in ("int", "decimal") and (f.min is not None or f.max is not None):
        low = f.min if f.min is not None else -1_000_000_000
        high = f.max if f.max is not None else 1_000_000_000
        fmt = (lambda x: str(int(x))) if f.type == "int" else (lambda x: f"{x:g}")
        dv = DataValidation(type="whole" if f.type == "int" else "decimal", operator="between",
                            formula1=fmt(low), formula2=fmt(high), allow_blank=True)
        dv.errorTitle = f"{f.label}超出范围"[:32]
        dv.error = f"请填写 {fmt(low)} 到 {fmt(high)} 之间的{TYPE_NAMES[f.type]}。"
    else:
        return None
    dv.showErrorMessage = True
    dv.errorStyle = "warning"
    return dv


def _data_sheet(wb: Workbook, pack: RulePack, sheet: SheetSpec, fields: list[FieldSpec], lists: _CodeLists) -> None:
    ws = wb.create_sheet(sheet.name)
    for col, f in enumerate(fields, start=1):
        letter = get_column_letter(col)
        cell = ws.cell(row=HEADER_ROW, column=col, value=f.header)
        cell.font = style.REQUIRED_FONT if f.required else style.HEADER_FONT
        cell.fill = style.REQUIRED_FILL if f.required else style.HEADER_FILL
        cell.alignment = style.HEADER_ALIGN
        cell.border = style.THIN_BORDER
        cell.number_format = "@"
        cell.comment = _comment(_comment_text(pack, sheet, f))
        dim = ws.column_dimensions[letter]
        dim.width = _column_width(pack, f)
        fmt = number_format(f)
        if fmt:
            dim.number_format = fmt
        dv = _validation(pack, f, lists)
        if dv is not None:
            dv.add(f"{letter}{FIRST_DATA_ROW}:{letter}{LAST_DATA_ROW}")
            ws.add_data_validation(dv)
    # Bold headers wrap in narrow columns: give the row room for its longest header.
    lines = max((-(-style.display_width(f.header) // max(1, int(_column_width(pack, f)) - 2)) for f in fields),
                default=1)
    ws.row_dimensions[HEADER_ROW].height = max(30, 15 * lines + 6)
    ws.freeze_panes = f"A{FIRST_DATA_ROW}"  # a string, so that no empty cell A2 is created
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    ws.page_setup.orientation = "landscape"


def _required_text(pack: RulePack, sheet: SheetSpec, f: FieldSpec) -> str:
    if f.required:
        return "是"
    if f.variants and sheet.has_field(f.code) and sheet.field(f.code).required:
        return "、".join(school_type_name(pack, v) for v in f.variants) + "必填"
    required, _ = conditions(pack, sheet, f)
    return "条件必填" if required else "否"


def _guide_note(pack: RulePack, sheet: SheetSpec, f: FieldSpec) -> str:
    parts = []
    if f.type in TYPE_HOWTO:
        parts.append(TYPE_HOWTO[f.type] + "。")
    if f.min is not None or f.max is not None:
        low = "" if f.min is None else f"{f.min:g}"
        high = "" if f.max is None else f"{f.max:g}"
        parts.append(f"取值 {low}～{high}。")
    if f.max_length:
        parts.append(f"最多 {f.max_length} 个字符。")
    required, blank = conditions(pack, sheet, f)
    parts.extend(t.rstrip("。") + "。" for t in required + blank)
    if f.note:
        parts.append(f.note.rstrip("。") + "。")
    if f.default:
        parts.append(f"默认 {f.default}。")
    return "".join(parts)


def _person_link_labels(pack: RulePack, sheet: SheetSpec) -> list[str]:
    person = pack.sheets.get(str(pack.settings.get("person_sheet", "")))
    if person is None or person.id == sheet.id:
        return []
    labels = []
    for f in sheet.input_fields[:3]:
        if person.has_field(f.code):
            labels.append(f.label)
    return labels


def _instructions(pack: RulePack, kind: str, sheets: list[SheetSpec], school_type: str | None) -> list[str]:
    one = [s.name for s in sheets if s.records == "one"]
    many = [s for s in sheets if s.records == "many"]
    lines = [
        "请勿修改工作表名称和第 1 行表头，不要增删列或在表头上方插入标题行；"
        f"隐藏的工作表（{META_SHEET}、{CODES_SHEET}）供系统识别模板和提供下拉列表，请勿删除。",
    ]
    if one:
        lines.append(f"“{'”“'.join(one)}”每位教师填一行。")
    if many:
        link = next((x for x in (_person_link_labels(pack, s) for s in many) if x), [])
        text = f"“{'”“'.join(s.name for s in many)}”每条记录填一行，同一教师可填多行"
        if link:
            text += f"；每行的{'、'.join(link)}须与“{pack.sheets[pack.settings['person_sheet']].name}”一致"
        lines.append(text + "。")
    lines.append("表头带 * 并标红的列为必填；“条件必填”的列在下表所写的条件下必填。把鼠标移到表头上可看到该列的填写说明。")
    coded = next((f for s in sheets for f in template_fields(s, school_type, pack) if f.type == "code" and f.table), None)
    example = ""
    if coded is not None and (table := _table(pack, coded)) is not None and table.choices():
        hit = table.lookup(coded.example) if coded.example else None
        entry = table.entries[hit] if hit else next(e for e in table.entries.values() if e.selectable)
        example = f"（如{coded.label}可填 {entry.code}、{entry.name} 或 {entry.code}-{entry.name}）"
    lines.append(f"代码项可从下拉列表中选择，也可直接填写代码、名称或“代码-名称”{example}；"
                 "可多选的代码项（类型为“代码（可多选）”）多个代码之间用英文逗号分隔。")
    nones = [(s, nc) for s in many if (nc := none_choice(pack, s))]
    if nones:
        names = "”“".join(s.name for s, _ in nones)
        f0, label = nones[0][1]
        link = _person_link_labels(pack, nones[0][0])
        rest = f"除{'、'.join(link)}外其余列留空" if link else "其余列留空"
        lines.append(f"没有某类信息的教师（“{names}”）：在该表填一行，{f0.label}等类型列选“{label}”，{rest}。")
    lines.append("身份证件号、电话号码、各类代码已设为文本格式，请按文本填写，不要改成数值或科学计数法"
                 "（否则 Excel 会显示成 1.10105E+17，末几位变成 0 且无法恢复）；从别处粘贴时请用“选择性粘贴—数值”。")
    lines.append("日期按 YYYY-MM-DD 填写（如 1985-03-07），年月按 YYYY-MM 填写（如 2016-09）；"
                 "不要写成 2016.09 或 2016.9，Excel 会把 2016.10 变成 2016.1。")
    lines.append("填好后保存为 .xlsx（也可存为 .xls 或 .ods），按通知放入收件目录或作为邮件附件发送。"
                 "系统会回复回执；有错误时会退回标出错误单元格的工作簿，按提示改正后重新报送整份文件。")
    return lines


def _guide_sheet(ws: Worksheet, pack: RulePack, kind: str, sheets: list[SheetSpec], fields: dict[str, list[FieldSpec]],
                 unit_code: str, unit_name: str, issued: str, school_type: str | None) -> None:
    title = str(pack.kinds[kind].get("title", kind))
    widths = {"A": 26, "B": 10, "C": 18, "D": 34, "E": 56, "F": 20}
    for letter, width in widths.items():
        ws.column_dimensions[letter].width = width
    row = 1

    def line(text: str, font: Any = style.BODY_FONT, height: float | None = None) -> None:
        nonlocal row
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=6)
        cell = ws.cell(row=row, column=1, value=text)
        cell.font = font
        cell.alignment = style.WRAP_TOP
        if height is None:
            per_line = sum(widths.values()) - 4
            height = 16 * max(1, -(-style.display_width(text) // per_line))
        ws.row_dimensions[row].height = height
        row += 1

    line(f"{title}（填写说明）", style.TITLE_FONT, 28)
    line(f"填报单位：{unit_name}（代码 {unit_code}）")
    layers = " + ".join(pack.layers)
    line(f"模板版本：{pack.template_version}（指标：{layers}）    生成时间：{issued}")
    line(f"用途：本工作簿用于{unit_name}报送{title}，"
         f"共 {len(sheets)} 张填报表：{'、'.join(s.name for s in sheets)}。模板由系统按指标规格生成。")
    row += 1
    line("填写要求", style.HEADING_FONT, 20)
    for i, text in enumerate(_instructions(pack, kind, sheets, school_type), start=1):
        line(f"{i}. {text}")
    row += 1
    line("各表字段", style.HEADING_FONT, 20)
    numerals = "一二三四五六七八九十"
    for n, sheet in enumerate(sheets, start=1):
        mark = numerals[n - 1] if n <= 10 else ("十" + numerals[n - 11] if n <= 19 else str(n))
        per = "每位教师一行" if sheet.records == "one" else "每条记录一行，可多行"
        head = f"{mark}、{sheet.name}（{per}）"
        nc = none_choice(pack, sheet) if sheet.records == "many" else None
        if nc:
            head += f"。没有此类信息的，填一行并将{nc[0].label}选为“{nc[1]}”"
        line(head, style.TABLE_HEAD_FONT, 20)
        if sheet.note:
            line(sheet.note)
        for col, text in enumerate(("字段", "是否必填", "类型", "代码表", "说明", "示例"), start=1):
            cell = ws.cell(row=row, column=col, value=text)
            cell.font = style.TABLE_HEAD_FONT
            cell.fill = style.HEADER_FILL
            cell.alignment = style.WRAP_CENTER
            cell.border = style.THIN_BORDER
        row += 1
        for f in fields[sheet.id]:
            values = (f.header, _required_text(pack, sheet, f), TYPE_NAMES.get(f.type, f.type),
                      _table_text(_table(pack, f), full=True), _guide_note(pack, sheet, f), _example(pack, f))
            height = 1
            for col, value in enumerate(values, start=1):
                cell = ws.cell(row=row, column=col, value=value)
                cell.font = style.RED_FONT if (col == 1 and f.required) else style.BODY_FONT
                cell.alignment = style.WRAP_CENTER if col == 2 else style.WRAP_TOP
                cell.border = style.THIN_BORDER
                cell.number_format = "@"
                letter = get_column_letter(col)
                height = max(height, -(-style.display_width(value) // max(1, int(widths[letter]) - 1)))
            ws.row_dimensions[row].height = 15 * height + 3
            row += 1
        row += 1
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True


def template_meta(pack: RulePack, kind: str, unit_code: str, unit_name: str, issued: str,
                  school_type: str | None, sheets: Iterable[tuple[SheetSpec, list[FieldSpec]]]) -> dict[str, Any]:
    """The metadata written into the hidden `_tmis` sheet and the custom properties."""
    return {
        "kind": kind,
        "kind_title": str(pack.kinds[kind].get("title", kind)),
        "template_version": pack.template_version,
        "pack_name": pack.name,
        "pack_version": pack.version,
        "pack_layers": list(pack.layers),
        "unit_code": unit_code,
        "unit_name": unit_name,
        "issued_at": issued,
        "generator": f"tmis {processor.__version__}",
        "school_type": school_type or "",
        "sheets": [{"id": s.id, "name": s.name, "header_row": HEADER_ROW, "columns": [f.code for f in fs]}
                   for s, fs in sheets],
    }


def _meta_sheet(wb: Workbook, meta: dict[str, Any]) -> None:
    ws = wb.create_sheet(META_SHEET)
    ws.sheet_state = "veryHidden"
    ws.append(["# tmis", "本表由系统读取，请勿修改"])
    for key, value in meta_items(meta):
        ws.append([key, value])
    for row in ws.iter_rows():
        for cell in row:
            cell.number_format = "@"
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 60


def build_template(pack: RulePack, kind: str, unit_code: str, unit_name: str, *,
                   issued_at: datetime | None = None, school_type: str | None = None,
                   extra_meta: dict[str, str] | None = None, notes: Iterable[str] = ()) -> Workbook:
    """The official template of `kind` for one unit: 说明, one sheet per kind sheet, hidden metadata.
    ``extra_meta`` adds keys to the hidden metadata (e.g. the training project a result sheet is for, signed);
    ``notes`` adds lines at the end of 说明."""
    sheets = _sheets(pack, kind)
    if school_type and school_type not in school_types(pack):
        known = "、".join(school_types(pack)) or "（规则包未定义任何学校类型变体）"
        raise TemplateError(f"未知的学校类型“{school_type}”", hint=f"可用的学校类型：{known}。")
    school_type = _default_school_type(pack, school_type, unit_code)
    issued = (issued_at or datetime.now().astimezone()).isoformat(timespec="seconds")
    fields = {s.id: template_fields(s, school_type, pack) for s in sheets}
    wb = Workbook()
    guide = wb.active
    guide.title = GUIDE_SHEET
    lists = _CodeLists(wb)
    for sheet in sheets:
        _data_sheet(wb, pack, sheet, fields[sheet.id], lists)
    _guide_sheet(guide, pack, kind, sheets, fields, unit_code, unit_name, issued, school_type)
    for note in notes:
        guide.append([note])
        guide.cell(row=guide.max_row, column=1).font = style.BODY_FONT
    meta = template_meta(pack, kind, unit_code, unit_name, issued, school_type, ((s, fields[s.id]) for s in sheets))
    if lists.ws is not None:  # the dropdown sources go last, after every sheet a person fills
        wb.move_sheet(lists.ws, offset=len(wb.worksheets) - 1 - wb.worksheets.index(lists.ws))
    _meta_sheet(wb, meta)
    for key, value in (extra_meta or {}).items():
        wb[META_SHEET].append([key, value])
        wb[META_SHEET].cell(row=wb[META_SHEET].max_row, column=2).number_format = "@"
    for name, value in property_items(meta):
        wb.custom_doc_props.append(StringProperty(name=name, value=value))
    title = str(pack.kinds[kind].get("title", kind))
    wb.properties.title = f"{title}（{unit_name}）"
    wb.properties.subject = title
    wb.properties.creator = f"tmis {processor.__version__}"
    wb.properties.keywords = f"tmis;{kind};{unit_code};{pack.template_version}"
    wb.security = None  # nothing is protected: schools must be able to edit everything
    wb.active = 0
    return wb


def write_template(path: str | Path, pack: RulePack, kind: str, unit_code: str, unit_name: str, *,
                   issued_at: datetime | None = None, school_type: str | None = None,
                   extra_meta: dict[str, str] | None = None, notes: Iterable[str] = ()) -> Path:
    """Build the template and save it to `path` (.xlsx), atomically; returns the path written."""
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise TemplateError("模板只能保存为 .xlsx 文件", file=path,
                            hint="请把输出文件的扩展名改为 .xlsx；学校可用 Excel 或 WPS 另存为其他格式。")
    wb = build_template(pack, kind, unit_code, unit_name, issued_at=issued_at, school_type=school_type,
                        extra_meta=extra_meta, notes=notes)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        wb.save(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise TemplateError(f"无法写入文件（{exc.strerror or exc}）", file=path,
                            hint="请检查目录是否存在、是否有写权限，以及该文件是否正在 Excel 中打开。") from exc
    return path
