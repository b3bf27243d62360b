"""The unit tree and its officers: codes and levels, import from a workbook or CSV, queries, the import template."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.worksheet.datavalidation import DataValidation
from python_calamine import CalamineError, CalamineWorkbook
from sqlalchemy import Select, func, literal, select
from sqlalchemy.orm import Session, aliased

from processor.audit import audit
from processor.errors import InputError
from processor.findings import ERROR, Finding, column_letter, display_value
from processor.readers.csvfile import detect_encoding
from processor.store.models import LEVEL_NAMES, LEVELS, ROLE_NAMES, ROLES, Officer, Teacher, Unit
from processor.workbook.style import HEADER_ALIGN, HEADER_FILL, HEADER_FONT, REQUIRED_FONT, fit_width

UNIT_SHEET = "单位"
OFFICER_SHEET = "人员"
HELP_SHEET = "说明"

# Field → accepted header spellings (the first is the official one). Extra columns are ignored.
UNIT_COLUMNS: dict[str, tuple[str, ...]] = {
    "代码": ("代码", "单位代码", "学校标识码"),
    "名称": ("名称", "单位名称", "学校名称"),
    "上级代码": ("上级代码", "上级单位代码"),
}
OFFICER_COLUMNS: dict[str, tuple[str, ...]] = {
    "单位代码": ("单位代码", "代码"),
    "姓名": ("姓名",),
    "角色": ("角色",),
    "邮箱": ("邮箱", "电子邮箱", "电子邮件", "email", "e-mail"),
    "手机": ("手机", "手机号", "手机号码"),
}
UNIT_REQUIRED = ("代码", "名称", "上级代码")
OFFICER_REQUIRED = ("单位代码", "姓名", "角色", "邮箱")
HEADER_SEARCH_ROWS = 20

LEVEL_RANK = {level: i for i, level in enumerate(LEVELS)}
ROLE_RANK = {role: i for i, role in enumerate(ROLE_NAMES)}  # sysadmin, manager, viewer
# 000000 is the usual code of the nation (中央); 100000 is what the national system shows for it.
NATION_CODES = frozenset({"000000", "100000"})
# First two digits of the provincial-level divisions of GB/T 2260 (including Taiwan, Hong Kong, Macao).
PROVINCE_PREFIXES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)
# Levels a unit may hang under. A county may sit directly under its province (省直辖县级), a school under
# any administrative level (省属、市直属学校, 部属高校).
ALLOWED_PARENTS: dict[str, tuple[str, ...]] = {
    "nation": (),
    "province": ("nation",),
    "city": ("province",),
    "county": ("city", "province"),
    "school": ("nation", "province", "city", "county"),
}
ROOT_LEVELS = ("nation", "province")
LEVEL_ALIASES = {**{v: k for k, v in LEVEL_NAMES.items()}, "省": "province", "市": "city", "县": "county",
                 "国家": "nation", **{level: level for level in LEVELS}}

_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,}$"
)
_MOBILE = re.compile(r"^1\d{10}$")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_CJK_NAME = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f·\s]+$")
_SQL_CHUNK = 500
# Column sizes of the store (processor/store/models.py).
MAX_UNIT_NAME = 200
MAX_PERSON_NAME = 100
MAX_EMAIL = 254


# ---------------------------------------------------------------------------------------------- codes


def level_of(code: str) -> str | None:
    """The level a well-formed code stands for, or None when the code is not a unit code."""
    if not code.isascii() or not code.isdigit():
        return None
    if len(code) == 10:
        return "school"
    if len(code) != 6:
        return None
    if code in NATION_CODES:
        return "nation"
    if code[:2] not in PROVINCE_PREFIXES:
        return None
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "city"
    return "county"


def level_name(level: str) -> str:
    """The Chinese name of a level (省级, 学校, …)."""
    return LEVEL_NAMES.get(level, level)


def _unit_label(level: str) -> str:
    """How a message names a unit of this level: 县级单位, 学校."""
    return "学校" if level == "school" else f"{level_name(level)}单位"


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with one cell, before it is placed on a sheet: rule code, message, hint."""

    rule: str
    message: str
    hint: str


def _clean(value: Any) -> str:
    """A cell as text: no invisible characters, no surrounding or repeated whitespace, no line breaks."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).translate(_INVISIBLE).split())


def _folded(value: Any) -> str:
    """Text with full-width digits, letters and spaces folded to their ASCII forms and all spaces removed."""
    return "".join(unicodedata.normalize("NFKC", _clean(value)).split())


def parse_code(value: Any) -> tuple[str | None, Problem | None]:
    """Read a unit code from a cell: (code, None), (None, problem), or (None, None) when the cell is empty.

    Codes typed as numbers are recognised (3601020001.0 → "3601020001"); a number that has lost its
    leading zeros is reported, never guessed.
    """
    hint_format = "行政区划代码为 6 位数字（GB/T 2260），学校标识码为 10 位数字，请核对。"
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not value.is_integer():
            return None, Problem("UNIT-CODE-FORMAT", f"代码 {value} 带有小数，不是单位代码", hint_format)
        digits = str(int(value))
        if len(digits) in (6, 10):
            return _check_code(digits)
        if len(digits) < 10:
            width = 6 if len(digits) < 6 else 10
            return None, Problem(
                "UNIT-CODE-ZEROS-LOST",
                f"代码 {digits} 是数字格式，开头的 0 已被去掉（只剩 {len(digits)} 位）",
                f"请把该列设为文本格式，重新输入完整的 {width} 位代码（可能是 {digits.zfill(width)}）。",
            )
        return None, Problem("UNIT-CODE-FORMAT", f"代码 {digits} 有 {len(digits)} 位数字，不是单位代码", hint_format)
    text = _folded(value)
    if not text:
        return None, None
    if re.fullmatch(r"\d+\.0+", text):  # a number written out as text by another program: 3601020001.0
        text = text.split(".")[0]
    if not text.isascii() or not text.isdigit():
        return None, Problem("UNIT-CODE-FORMAT", f"代码 {text} 含有数字以外的字符", hint_format)
    if len(text) not in (6, 10):
        return None, Problem(
            "UNIT-CODE-FORMAT",
            f"代码 {text} 有 {len(text)} 位数字，既不是 6 位行政区划代码，也不是 10 位学校标识码",
            hint_format,
        )
    return _check_code(text)


def _check_code(code: str) -> tuple[str | None, Problem | None]:
    if level_of(code) is None:
        return None, Problem("UNIT-CODE-PROVINCE", f"代码 {code} 的前两位 {code[:2]} 不是省级行政区划代码",
                             "请按 GB/T 2260 核对行政区划代码（如 360000 江西省、360100 南昌市）。")
    return code, None


def parent_problem(code: str, parent: str) -> Problem | None:
    """Why ``parent`` cannot be the parent of ``code`` (both well-formed), or None when it can."""
    level, parent_level = level_of(code), level_of(parent)
    assert level is not None and parent_level is not None
    if parent_level not in ALLOWED_PARENTS[level]:
        allowed = "、".join(level_name(p) for p in ALLOWED_PARENTS[level]) or "无（应留空）"
        return Problem(
            "UNIT-PARENT-LEVEL",
            f"{_unit_label(parent_level)} {parent} 不能作为{_unit_label(level)} {code} 的上级",
            f"{_unit_label(level)}的上级只能是：{allowed}。",
        )
    if level == "city" or (level == "county" and parent_level == "province"):
        if code[:2] != parent[:2]:
            return Problem(
                "UNIT-PARENT-PREFIX",
                f"{_unit_label(level)} {code} 的前 2 位 {code[:2]} 与上级省级单位 {parent} 不一致",
                "地市和省直辖县级单位的前 2 位应与所属省相同，请核对代码或上级代码。",
            )
    elif level == "county" and code[:4] != parent[:4]:
        return Problem(
            "UNIT-PARENT-PREFIX",
            f"县级单位 {code} 的前 4 位 {code[:4]} 与上级地市级单位 {parent} 不一致",
            "县级单位的前 4 位应与所属地市相同；省直辖县级单位的上级请填省级代码。请核对代码或上级代码。",
        )
    return None


# ---------------------------------------------------------------------------------------------- reading


@dataclass(slots=True)
class SheetRows:
    """One sheet (or a CSV file) after its header row was found."""

    title: str | None  # None for a CSV file
    header_row: int  # Excel row number of the header
    columns: dict[str, int]  # field → 0-based column index
    rows: list[tuple[int, list[Any]]]  # (Excel row number, cells), blank rows left out

    def cell(self, cells: list[Any], name: str) -> Any:
        index = self.columns.get(name)
        return cells[index] if index is not None and index < len(cells) else None

    def letter(self, name: str) -> str | None:
        index = self.columns.get(name)
        return column_letter(index) if index is not None else None


@dataclass(slots=True)
class UnitFile:
    """What an import file holds: the 单位 rows and, when the workbook has a 人员 sheet, the officer rows."""

    path: Path
    units: SheetRows
    officers: SheetRows | None
    sha256: str


def _header_key(text: Any) -> str:
    key = _folded(text).lower().strip("*")
    return re.sub(r"\([^)]*\)$", "", key)  # 代码（必填） → 代码 (full-width brackets were folded by NFKC)


def _find_header(
    rows: Sequence[Sequence[Any]], columns: dict[str, tuple[str, ...]], required: Sequence[str]
) -> tuple[int, dict[str, int]] | None:
    spellings = {field_name: [_header_key(s) for s in names] for field_name, names in columns.items()}
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        keys = [_header_key(cell) for cell in row]
        found: dict[str, int] = {}
        for field_name, names in spellings.items():
            for name in names:  # the official spelling wins over an alias
                if name in keys:
                    found[field_name] = keys.index(name)
                    break
        if all(r in found for r in required):
            return index, found
    return None


def _sheet_rows(path: Path, title: str | None, grid: list[list[Any]], columns: dict[str, tuple[str, ...]],
                required: Sequence[str]) -> SheetRows:
    header = _find_header(grid, columns, required)
    if header is None:
        # Name the columns missing from the row that looks most like the header.
        best = max((_find_header([row], columns, ())[1] for row in grid[:HEADER_SEARCH_ROWS]), key=len, default={})
        missing = [r for r in required if r not in best]
        raise InputError(
            f"找不到表头（缺少列 {'、'.join(missing)}）",
            file=path.name, place=f"工作表「{title}」" if title else None,
            hint=f"请在前 {HEADER_SEARCH_ROWS} 行内写一行列名 {'、'.join(columns)}（顺序不限，可有其他列）。",
        )
    index, found = header
    used = list(found.values())
    rows = [(i + 1, list(row)) for i, row in enumerate(grid) if i > index
            and any(_clean(row[c]) for c in used if c < len(row))]
    return SheetRows(title=title, header_row=index + 1, columns=found, rows=rows)


def read_unit_file(path: str | Path) -> UnitFile:
    """Read an import file (.xlsx/.xls/.ods with sheets 单位 and 人员, or a CSV of 单位). Raises InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError("文件不存在", file=path, hint="请检查路径和文件名。")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"无法读取文件（{exc.strerror or exc}）", file=path, hint="请检查文件路径。") from exc
    digest = hashlib.sha256(data).hexdigest()
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        text = data.decode(detect_encoding(path, path.name))
        grid = [row for row in csv.reader(io.StringIO(text, newline=""))]
        return UnitFile(path, _sheet_rows(path, None, grid, UNIT_COLUMNS, UNIT_REQUIRED), None, digest)
    if suffix not in (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods", ".et"):
        raise InputError(f"不支持的文件类型 {suffix or '（无扩展名）'}", file=path.name,
                         hint="单位导入文件应为 .xlsx 工作簿（含「单位」「人员」两张表）或「单位」列的 CSV 文件。")
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except (CalamineError, ValueError, OSError) as exc:
        raise InputError(f"无法打开工作簿（{exc}）", file=path.name,
                         hint="请确认文件未加密、未损坏，可用 Excel 或 WPS 打开后另存为 .xlsx 再试。") from exc
    titles = {_header_key(name): name for name in workbook.sheet_names}
    unit_title = titles.get(_header_key(UNIT_SHEET))
    if unit_title is None:
        raise InputError(f"找不到工作表「{UNIT_SHEET}」（现有：{'、'.join(workbook.sheet_names)}）", file=path.name,
                         hint="单位填在「单位」表，人员填在「人员」表；可用 tmis units template --out 单位.xlsx 生成空表。")

    def grid(title: str) -> list[list[Any]]:
        return workbook.get_sheet_by_name(title).to_python(skip_empty_area=False)

    units = _sheet_rows(path, unit_title, grid(unit_title), UNIT_COLUMNS, UNIT_REQUIRED)
    officer_title = titles.get(_header_key(OFFICER_SHEET))
    officers = (_sheet_rows(path, officer_title, grid(officer_title), OFFICER_COLUMNS, OFFICER_REQUIRED)
                if officer_title is not None else None)
    return UnitFile(path, units, officers, digest)


# ---------------------------------------------------------------------------------------------- planning


@dataclass(slots=True)
class UnitEntry:
    code: str
    name: str
    parent: str | None
    row: int
    raw_parent: Any
    complete: bool  # parent code readable: the row can be checked against its parent (even when the name is missing)


@dataclass(slots=True)
class OfficerEntry:
    unit_code: str
    name: str
    role: str  # sysadmin | manager | viewer
    email: str
    mobile: str
    row: int


@dataclass
class Changes:
    """What an import changed (or would change)."""

    added_units: list[tuple[str, str, str]] = field(default_factory=list)  # code, name, level
    renamed_units: list[tuple[str, str, str]] = field(default_factory=list)  # code, old name, new name
    moved_units: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)  # code, name, old, new
    added_officers: list[tuple[str, str, str]] = field(default_factory=list)  # unit code, role, name
    changed_officers: list[tuple[str, str, str, list[str]]] = field(default_factory=list)  # …, changed fields
    removed_officers: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any((self.added_units, self.renamed_units, self.moved_units, self.added_officers,
                        self.changed_officers, self.removed_officers))


@dataclass
class ImportResult:
    """The outcome of ``import_units``: findings, and the changes (stored only when there is no error)."""

    path: Path
    findings: list[Finding]
    changes: Changes
    units: int  # unit rows read
    officers: int  # officer rows read
    stored: bool

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.is_error]


class _Collector:
    """Turns Problems into Findings placed on a sheet cell."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def add(self, sheet: SheetRows, row: int, column: str, value: Any, problem: Problem) -> None:
        self.findings.append(Finding(
            sheet=sheet.title, row=row, column=sheet.letter(column), field=column, value=display_value(value),
            rule=problem.rule, severity=ERROR, message=problem.message, hint=problem.hint,
        ))


def _fetch_units(session: Session, codes: Iterable[str]) -> dict[str, Unit]:
    wanted = sorted(set(codes))
    found: dict[str, Unit] = {}
    for i in range(0, len(wanted), _SQL_CHUNK):
        chunk = wanted[i:i + _SQL_CHUNK]
        found.update({u.code: u for u in session.scalars(select(Unit).where(Unit.code.in_(chunk)))})
    return found


def _fetch_officers(session: Session, unit_codes: Iterable[str]) -> list[Officer]:
    wanted = sorted(set(unit_codes))
    out: list[Officer] = []
    for i in range(0, len(wanted), _SQL_CHUNK):
        out.extend(session.scalars(select(Officer).where(Officer.unit_code.in_(wanted[i:i + _SQL_CHUNK]))))
    return out


def _read_units(sheet: SheetRows, out: _Collector) -> list[UnitEntry]:
    entries: list[UnitEntry] = []
    first_row: dict[str, int] = {}
    for row, cells in sheet.rows:
        raw_code, raw_name, raw_parent = (sheet.cell(cells, c) for c in UNIT_REQUIRED)
        code, problem = parse_code(raw_code)
        if problem:
            out.add(sheet, row, "代码", raw_code, problem)
        elif code is None:
            out.add(sheet, row, "代码", raw_code, Problem(
                "UNIT-CODE-REQUIRED", "代码为空", "请填写 6 位行政区划代码或 10 位学校标识码。"))
        name = _clean(raw_name)
        if not name:
            out.add(sheet, row, "名称", raw_name, Problem("UNIT-NAME-REQUIRED", "名称为空", "请填写单位全称。"))
        elif len(name) > MAX_UNIT_NAME:
            out.add(sheet, row, "名称", raw_name, Problem(
                "UNIT-NAME-LENGTH", f"名称有 {len(name)} 个字，超过 {MAX_UNIT_NAME} 个", "请填写单位的规范全称，不要附加说明。"))
            name = ""
        parent, problem = parse_code(raw_parent)
        if problem:
            out.add(sheet, row, "上级代码", raw_parent, problem)
        if code is None:
            continue
        if code in first_row:
            out.add(sheet, row, "代码", raw_code, Problem(
                "UNIT-CODE-DUPLICATE", f"代码 {code} 与第 {first_row[code]} 行重复", "同一单位只能写一行，请删除重复的行。"))
            continue
        first_row[code] = row
        entries.append(UnitEntry(code, name, parent, row, raw_parent, complete=problem is None))
    return entries


def _check_parents(sheet: SheetRows, entries: list[UnitEntry], known: set[str], out: _Collector) -> None:
    for entry in entries:
        if not entry.complete:
            continue
        level = level_of(entry.code)
        assert level is not None
        if entry.parent is None:
            if level not in ROOT_LEVELS:
                out.add(sheet, entry.row, "上级代码", entry.raw_parent, Problem(
                    "UNIT-PARENT-REQUIRED", f"{_unit_label(level)} {entry.code} 没有填写上级代码",
                    "请填写上级单位的代码；只有中央和省级单位可以不填。"))
            continue
        problem = parent_problem(entry.code, entry.parent)
        if problem is None and entry.parent not in known:
            problem = Problem("UNIT-PARENT-MISSING", f"上级单位 {entry.parent} 既不在本文件中，也不在库中",
                              "请在本文件中加上上级单位的一行，或先导入上级单位。")
        if problem:
            out.add(sheet, entry.row, "上级代码", entry.raw_parent, problem)


def _read_officers(sheet: SheetRows, known: set[str], out: _Collector) -> list[OfficerEntry]:
    entries: list[OfficerEntry] = []
    seen: dict[tuple[str, str, str], int] = {}
    sysadmin: dict[str, tuple[str, int]] = {}
    for row, cells in sheet.rows:
        raw = {c: sheet.cell(cells, c) for c in OFFICER_COLUMNS}
        ok = True
        unit_code, problem = parse_code(raw["单位代码"])
        if problem is None and unit_code is None:
            problem = Problem("OFFICER-UNIT-REQUIRED", "单位代码为空", "请填写该人员所在单位的代码。")
        if problem is None and unit_code not in known:
            problem = Problem("OFFICER-UNIT-MISSING", f"单位 {unit_code} 既不在本文件的「单位」表中，也不在库中",
                              "请先在「单位」表加上该单位，或核对单位代码。")
        if problem:
            out.add(sheet, row, "单位代码", raw["单位代码"], problem)
            ok = False
        name = _clean(raw["姓名"])
        if _CJK_NAME.match(name):
            name = "".join(name.split())  # 张  三 → 张三 (spaces typed to line names up)
        if not name:
            out.add(sheet, row, "姓名", raw["姓名"], Problem("OFFICER-NAME-REQUIRED", "姓名为空", "请填写人员的真实姓名。"))
            ok = False
        elif len(name) > MAX_PERSON_NAME:
            out.add(sheet, row, "姓名", raw["姓名"], Problem(
                "OFFICER-NAME-LENGTH", f"姓名有 {len(name)} 个字，超过 {MAX_PERSON_NAME} 个", "请只填写人员的真实姓名。"))
            ok = False
        role_text = _folded(raw["角色"])
        role = ROLES.get(role_text) or (role_text if role_text in ROLE_NAMES else None)
        if role is None:
            message = "角色为空" if not role_text else f"角色「{role_text}」无效"
            out.add(sheet, row, "角色", raw["角色"], Problem(
                "OFFICER-ROLE", message, f"角色只能是 {'、'.join(ROLES)} 之一。"))
            ok = False
        email = _folded(raw["邮箱"])
        if not email:
            out.add(sheet, row, "邮箱", raw["邮箱"], Problem(
                "OFFICER-EMAIL-REQUIRED", "邮箱为空", "每名人员都要有邮箱地址，回执与报表会发到这里。"))
            ok = False
        elif len(email) > MAX_EMAIL or not _EMAIL.match(email):
            out.add(sheet, row, "邮箱", raw["邮箱"], Problem(
                "OFFICER-EMAIL", f"邮箱 {email} 格式不对", "请填写完整的邮箱地址，如 zhangsan@example.edu.cn。"))
            ok = False
        mobile = re.sub(r"[-\s]", "", _folded(raw["手机"]))
        if mobile and not _MOBILE.match(mobile):
            out.add(sheet, row, "手机", raw["手机"], Problem(
                "OFFICER-MOBILE", f"手机 {mobile} 不是 11 位手机号码", "请填写以 1 开头的 11 位手机号码，如 13800138000；没有可留空。"))
            ok = False
        # Repeats are checked on every row whose unit, role and name are readable, so that an error in another
        # column (an e-mail, a phone number) does not hide them until it is fixed.
        if unit_code is None or role is None or not name:
            continue
        key = (unit_code, role, name)
        if key in seen:
            out.add(sheet, row, "姓名", raw["姓名"], Problem(
                "OFFICER-DUPLICATE", f"{ROLE_NAMES[role]} {name} 与第 {seen[key]} 行重复", "同一人员在同一单位的同一角色只能写一行。"))
            continue
        seen[key] = row
        if role == "sysadmin":
            if unit_code in sysadmin:
                other, other_row = sysadmin[unit_code]
                out.add(sheet, row, "角色", raw["角色"], Problem(
                    "OFFICER-SYSADMIN-DUPLICATE",
                    f"单位 {unit_code} 已有系统管理员 {other}（第 {other_row} 行），每个单位最多一名系统管理员",
                    "请把其他人的角色改为信息管理员或信息查询员。"))
                continue
            sysadmin[unit_code] = (name, row)
        if ok:
            entries.append(OfficerEntry(unit_code, name, role, email, mobile, row))
    return entries


def import_units(session: Session, source: str | Path | UnitFile, actor: str) -> ImportResult:
    """Validate an import file against itself and the store; when there is no error, store it in ``session``.

    All or nothing: with any error finding nothing is added to the session. Units are added, renamed or
    moved, never deleted. Officers are replaced per unit for the units that appear in the 人员 sheet
    (units not named there keep their officers; a CSV or a workbook without 人员 touches no officer).
    The caller commits (``session_scope``).
    """
    data = source if isinstance(source, UnitFile) else read_unit_file(source)
    out = _Collector()
    units = _read_units(data.units, out)
    file_codes = {u.code for u in units}
    officer_sheet_codes: set[str] = set()
    if data.officers is not None:
        for _row, cells in data.officers.rows:
            code, _problem = parse_code(data.officers.cell(cells, "单位代码"))
            if code:
                officer_sheet_codes.add(code)
    referenced = {u.parent for u in units if u.parent} | officer_sheet_codes
    stored = _fetch_units(session, file_codes | referenced)
    known = file_codes | set(stored)
    _check_parents(data.units, units, known, out)
    officers = _read_officers(data.officers, known, out) if data.officers is not None else None
    findings = sorted(out.findings, key=lambda f: (f.sheet != data.units.title, f.row or 0, f.column or ""))
    result = ImportResult(data.path, findings, Changes(), len(data.units.rows),
                          len(data.officers.rows) if data.officers else 0, stored=False)
    if result.errors:
        return result
    _apply(session, data, units, officers, stored, result.changes, actor)
    result.stored = True
    return result


def _apply(session: Session, data: UnitFile, units: list[UnitEntry], officers: list[OfficerEntry] | None,
           stored: dict[str, Unit], changes: Changes, actor: str) -> None:
    # New units first and parents before children, so that foreign keys hold at every insert; then the
    # updates, which may move a unit under a unit added just now.
    ordered = sorted(units, key=lambda u: (LEVEL_RANK[level_of(u.code) or "school"], u.code))
    for entry in ordered:
        if entry.code in stored:
            continue
        level = level_of(entry.code) or ""
        session.add(Unit(code=entry.code, name=entry.name, level=level, parent_code=entry.parent))
        changes.added_units.append((entry.code, entry.name, level))
        audit(session, actor, "unit.add", "unit", entry.code,
              {"name": entry.name, "level": level, "parent": entry.parent, "file": data.path.name})
    session.flush()
    for entry in ordered:
        unit = stored.get(entry.code)
        if unit is None:
            continue
        if unit.name != entry.name:
            changes.renamed_units.append((entry.code, unit.name, entry.name))
            audit(session, actor, "unit.rename", "unit", entry.code,
                  {"old": unit.name, "new": entry.name, "file": data.path.name})
            unit.name = entry.name
        if unit.parent_code != entry.parent:
            changes.moved_units.append((entry.code, entry.name, unit.parent_code, entry.parent))
            audit(session, actor, "unit.move", "unit", entry.code,
                  {"old": unit.parent_code, "new": entry.parent, "file": data.path.name})
            unit.parent_code = entry.parent
    session.flush()
    if officers is not None:
        _apply_officers(session, data, officers, changes, actor)
    audit(session, actor, "units.import", "file", data.path.name, {
        "sha256": data.sha256, "units": len(units), "officers": len(officers or []),
        "added_units": len(changes.added_units), "renamed_units": len(changes.renamed_units),
        "moved_units": len(changes.moved_units), "added_officers": len(changes.added_officers),
        "changed_officers": len(changes.changed_officers), "removed_officers": len(changes.removed_officers),
    })
    session.flush()


def _apply_officers(session: Session, data: UnitFile, officers: list[OfficerEntry], changes: Changes,
                    actor: str) -> None:
    wanted = {(o.unit_code, o.role, o.name): o for o in officers}
    current = {(o.unit_code, o.role, o.name): o for o in _fetch_officers(session, {o.unit_code for o in officers})}
    def order(key: tuple[str, str, str]) -> tuple[str, int, str]:
        return key[0], ROLE_RANK.get(key[1], 9), key[2]

    for key in sorted(current, key=order):
        officer = current[key]
        if key not in wanted:
            session.delete(officer)
            changes.removed_officers.append(key)
            audit(session, actor, "officer.remove", "officer", f"{key[0]}/{key[1]}/{key[2]}",
                  {"unit": key[0], "role": key[1], "name": key[2], "file": data.path.name})
    session.flush()  # removals first: a new 系统管理员 may replace the old one in the same import
    for key in sorted(wanted, key=order):
        entry, officer = wanted[key], current.get(key)
        if officer is None:
            session.add(Officer(unit_code=entry.unit_code, name=entry.name, role=entry.role, email=entry.email,
                                mobile=entry.mobile))
            changes.added_officers.append(key)
            audit(session, actor, "officer.add", "officer", f"{key[0]}/{key[1]}/{key[2]}",
                  {"unit": key[0], "role": key[1], "name": key[2], "email": entry.email, "file": data.path.name})
            continue
        diff = {f: (getattr(officer, f), getattr(entry, f)) for f in ("email", "mobile")
                if getattr(officer, f) != getattr(entry, f)}
        if diff:
            for f, (_old, new) in diff.items():
                setattr(officer, f, new)
            changes.changed_officers.append((*key, list(diff)))
            audit(session, actor, "officer.change", "officer", f"{key[0]}/{key[1]}/{key[2]}",
                  {"unit": key[0], "role": key[1], "name": key[2], "changes": diff, "file": data.path.name})


# ---------------------------------------------------------------------------------------------- queries


def get_unit(session: Session, code: str) -> Unit | None:
    """The unit with this code (None when unknown). The code may be typed with full-width digits or spaces."""
    return session.get(Unit, _folded(code))


def require_unit(session: Session, code: str) -> Unit:
    """The unit with this code, or an InputError (exit code 2) saying it is not in the store."""
    unit = get_unit(session, code)
    if unit is None:
        raise InputError(f"单位 {_folded(code)} 不在库中", hint="请用 tmis units list 查看已导入的单位，或先用 tmis units import 导入。")
    return unit


def ancestors(session: Session, unit: Unit) -> list[Unit]:
    """The units above ``unit``, nearest first (its parent, then the parent's parent, up to the root)."""
    chain: list[Unit] = []
    seen = {unit.code}
    current = unit
    while current.parent_code and current.parent_code not in seen:
        parent = session.get(Unit, current.parent_code)
        if parent is None:
            break
        chain.append(parent)
        seen.add(parent.code)
        current = parent
    return chain


def subtree_codes(code: str) -> Select[tuple[str]]:
    """A SELECT of the codes of ``code`` and every unit below it (recursive CTE; use it in ``.in_()``)."""
    tree = select(Unit.code).where(Unit.code == code).cte("subtree", recursive=True)
    child = aliased(Unit)
    tree = tree.union_all(select(child.code).where(child.parent_code == tree.c.code))
    return select(tree.c.code)


def is_within(session: Session, code: str, ancestor: str) -> bool:
    """True when unit ``code`` is ``ancestor`` or lies below it (an officer acts only on its own subtree)."""
    return session.scalar(select(literal(True)).where(literal(code).in_(subtree_codes(ancestor)))) is not None


def subtree_counts(session: Session, code: str) -> dict[str, int]:
    """Number of units below ``code`` per level (the unit itself not counted)."""
    rows = session.execute(
        select(Unit.level, func.count()).where(Unit.code.in_(subtree_codes(code)), Unit.code != code)
        .group_by(Unit.level)
    )
    return {level: count for level, count in rows}


def teacher_count(session: Session, code: str) -> int:
    """Teachers on record (pending or active, not left) in ``code`` and every unit below it."""
    return session.scalar(
        select(func.count()).select_from(Teacher)
        .where(Teacher.unit_code.in_(subtree_codes(code)), Teacher.status != "left")
    ) or 0


def list_units(session: Session, level: str | None = None, under: str | None = None) -> list[tuple[int, Unit]]:
    """Units with their depth in tree order (depth-first from the roots, children by code), optionally of one
    level and/or below one unit (that unit excluded). A unit whose parent is not listed is a root (depth 0)."""
    query = select(Unit).order_by(Unit.code)
    if level:
        query = query.where(Unit.level == level)
    if under:
        query = query.where(Unit.code.in_(subtree_codes(under)), Unit.code != under)
    found = list(session.scalars(query))
    listed = {u.code for u in found}
    children: dict[str | None, list[Unit]] = {}
    for u in found:  # in code order, so every list of children is sorted by code
        children.setdefault(u.parent_code if u.parent_code in listed else None, []).append(u)
    ordered: list[tuple[int, Unit]] = []
    stack = [(0, u) for u in reversed(children.get(None, []))]
    while stack:
        depth, unit = stack.pop()
        ordered.append((depth, unit))
        stack.extend((depth + 1, child) for child in reversed(children.get(unit.code, [])))
    if len(ordered) < len(found):  # a cycle of parents (never made by an import): list the rest by code
        seen = {u.code for _, u in ordered}
        ordered.extend((0, u) for u in found if u.code not in seen)
    return ordered


def officers_of(session: Session, code: str) -> list[Officer]:
    """The officers of one unit, 系统管理员 first, then 信息管理员 and 信息查询员, by name."""
    found = session.scalars(select(Officer).where(Officer.unit_code == code))
    return sorted(found, key=lambda o: (ROLE_RANK.get(o.role, 9), o.name))


def parse_level(text: str) -> str:
    """A level given as its English key or Chinese name (province, 省级, 省 …); InputError otherwise."""
    level = LEVEL_ALIASES.get(_folded(text).lower()) or LEVEL_ALIASES.get(_folded(text))
    if level is None:
        choices = "、".join(f"{k}（{v}）" for k, v in LEVEL_NAMES.items())
        raise InputError(f"级别「{text}」无效", hint=f"请用以下之一：{choices}。")
    return level


# ---------------------------------------------------------------------------------------------- template


def write_template(path: str | Path) -> Path:
    """Write an empty import workbook: sheets 单位 and 人员 with headers, text-formatted code and phone
    columns, a drop-down for 角色, and a 说明 sheet with instructions and example rows."""
    path = Path(path)
    wb = Workbook()
    units = wb.active
    units.title = UNIT_SHEET
    _template_sheet(units, UNIT_COLUMNS, UNIT_REQUIRED, text_columns=("代码", "上级代码"),
                    widths={"代码": 14, "名称": 36, "上级代码": 14})
    officers = wb.create_sheet(OFFICER_SHEET)
    _template_sheet(officers, OFFICER_COLUMNS, OFFICER_REQUIRED, text_columns=("单位代码", "手机"),
                    widths={"单位代码": 14, "姓名": 12, "角色": 14, "邮箱": 30, "手机": 16})
    roles = DataValidation(type="list", formula1='"' + ",".join(ROLES) + '"', allow_blank=True,
                           showErrorMessage=True, errorTitle="角色无效",
                           error="角色只能是 " + "、".join(ROLES) + " 之一。")
    roles.add("C2:C5000")
    officers.add_data_validation(roles)
    _help_sheet(wb.create_sheet(HELP_SHEET))
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def _template_sheet(ws: Any, columns: dict[str, tuple[str, ...]], required: Sequence[str],
                    text_columns: Sequence[str], widths: dict[str, float]) -> None:
    for i, name in enumerate(columns):
        cell = ws.cell(row=1, column=i + 1, value=name)
        cell.font = REQUIRED_FONT if name in required else HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = HEADER_ALIGN
        letter = column_letter(i)
        ws.column_dimensions[letter].width = widths.get(name, fit_width(name))
        if name in text_columns:
            # Text format on the whole column keeps leading zeros and stops 11-digit numbers turning into 1.38E+10.
            ws.column_dimensions[letter].number_format = "@"
    ws.freeze_panes = "A2"


HELP_ROWS: list[tuple[str, ...]] = [
    ("单位与人员导入说明",),
    ("",),
    ("「单位」表：每行一个单位。代码、名称、上级代码三列必填（中央、省级单位的上级代码可留空）；列的顺序不限，可以有其他列。",),
    ("代码：行政单位填 6 位行政区划代码（GB/T 2260：省级以 0000 结尾，地市以 00 结尾，其余为县级；中央为 000000），"
     "学校填 10 位学校标识码。级别由代码决定。",),
    ("上级代码：上级单位必须在本文件中或已导入；地市的前 2 位与省相同，县的前 4 位与地市相同；省直辖县级单位的上级填省级代码。",),
    ("「人员」表：每行一名人员。角色只能是 系统管理员、信息管理员、信息查询员；每个单位最多一名系统管理员；"
     "邮箱必填，手机为 11 位数字（可空）。",),
    ("重复导入是安全的：已有的单位按代码更新名称和上级；「人员」表中出现的单位，其人员以本文件为准（未列出的人员会被删除）。",),
    ("代码、手机两列已设为文本格式，请不要改为数字格式，否则开头的 0 会丢失。",),
    ("",),
    ("示例（「单位」表）",),
    ("代码", "名称", "上级代码"),
    ("360000", "江西省", ""),
    ("360100", "南昌市", "360000"),
    ("360102", "东湖区", "360100"),
    ("3601020001", "南昌市第一中学", "360102"),
    ("",),
    ("示例（「人员」表）",),
    ("单位代码", "姓名", "角色", "邮箱", "手机"),
    ("360102", "张三", "系统管理员", "zhangsan@example.edu.cn", "13800138000"),
    ("3601020001", "李四", "信息管理员", "lisi@example.edu.cn", ""),
]


def _help_sheet(ws: Any) -> None:
    for r, values in enumerate(HELP_ROWS, start=1):
        for c, value in enumerate(values, start=1):
            cell = ws.cell(row=r, column=c, value=value)
            cell.number_format = "@"
            if r == 1 or value in ("代码", "单位代码", "名称", "上级代码", "姓名", "角色", "邮箱", "手机") \
                    or value.startswith("示例"):
                cell.font = HEADER_FONT
    ws.column_dimensions["A"].width = 16
    for letter, width in zip("BCDE", (20, 14, 30, 16), strict=True):
        ws.column_dimensions[letter].width = width
