"""Exchange profiles (rules/exchange/<name>/): a foreign layout described as data, loaded with file-and-line errors.

A profile is a ``profile.toml`` and CSV code maps under ``codes/``. It says how the foreign file is made
(format, encoding, delimiter), which header is which of our fields, how coded values and dates are written,
which column names the school, the key, the route (authoritative or through review) and whether the
receiving side may see personal data. See docs/exchange.md."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processor.errors import RulePackError
from processor.rulepack.loader import _bad, _line_of, _read_toml
from processor.rulepack.model import CodeTable, FieldSpec, RulePack, fold_name

FORMATS = ("csv", "xls", "xlsx")
ENCODINGS = ("gb18030", "utf-8", "utf-8-sig")
LAYOUTS = ("flat", "sheets")
KEYS = ("id_number", "teacher_number")
CODE_FORMS = ("code", "name", "code-name")
DIRECTIONS = ("both", "import", "export")
MISSING_TEACHERS = ("keep", "left")
# Date forms of foreign files: how a date or month is written there.
DATE_FORMS = {
    "YYYY-MM-DD": re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    "YYYYMMDD": re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    "YYYY.MM.DD": re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    "YYYY-MM": re.compile(r"^(\d{4})-(\d{1,2})$"),
    "YYYYMM": re.compile(r"^(\d{4})(\d{2})$"),
    "YYYY.MM": re.compile(r"^(\d{4})\.(\d{2})$"),
    "YYYY.M": re.compile(r"^(\d{4})\.(\d{1,2})$"),
    "YYYY": re.compile(r"^(\d{4})$"),
}
TEACHER_NUMBER = "teacher_number"  # a column that carries the legacy teacher number (not a sheet field)
PERSON_FIELDS = ("id_type", "id_number", "name")  # copied from the person sheet to every other sheet

PROFILE_KEYS = {"name", "title", "version", "format", "encoding", "delimiter", "line_end", "layout", "key",
                "authoritative", "personal_data", "missing_teachers", "code_form", "required_mark"}
COLUMN_KEYS = {"header", "aliases", "field", "map", "strict", "date", "complete_from_id", "ignore", "required",
               "halfwidth", "mobile_field"}
CONSTANT_KEYS = {"field", "value", "reason"}


class ProfileError(RulePackError):
    """An exchange profile file is wrong (file, line, what, how to fix); exit code 2."""


@dataclass
class CodeMap:
    """Foreign values ↔ our codes for one column. ``unmapped`` holds foreign values known to have no code."""

    file: Path
    to_code: dict[str, str]  # folded foreign value → our code
    unmapped: dict[str, str]  # folded foreign value → why it has no code
    to_value: dict[str, str]  # our code → foreign value (export)

    def entry_hint(self, value: str) -> str:
        return f"{self.file.parent.name}/{self.file.name} 中加一行“{value},本系统代码,both,”"


@dataclass
class Column:
    """One foreign column: its header (and other spellings) and what it becomes."""

    header: str
    aliases: tuple[str, ...] = ()
    sheet: str | None = None  # our sheet id; None for the school columns, the teacher number, ignored columns
    field: str | None = None  # our field code, or TEACHER_NUMBER
    map: CodeMap | None = None
    strict: bool = True
    date: str | None = None
    complete_from_id: bool = False
    ignore: str | None = None
    required: bool = False
    halfwidth: bool = False  # full-width digits and letters → half-width (NFKC) before our normaliser
    mobile_field: str | None = None  # a phone column whose mobile numbers go to this field of the same sheet
    role: str = "field"  # field | school_code | school_name | teacher_number | ignore
    line: int | None = None

    def keys(self) -> set[str]:
        return {fold_name(self.header), *(fold_name(a) for a in self.aliases)}


@dataclass
class Constant:
    sheet: str
    field: str
    value: str
    reason: str


@dataclass
class SheetLayout:
    """One foreign sheet of a 'sheets' layout: our sheet id, its title and its columns."""

    sheet: str
    title: str
    columns: list[Column]


@dataclass
class Profile:
    """A loaded exchange profile."""

    name: str
    title: str
    version: str
    directory: Path
    format: str
    encoding: str
    delimiter: str
    line_end: str
    layout: str
    key: str
    authoritative: bool
    personal_data: bool
    missing_teachers: str
    code_form: str
    required_mark: bool
    school_code: str | None
    school_name: str | None
    columns: list[Column] = field(default_factory=list)  # flat layout
    sheets: list[SheetLayout] = field(default_factory=list)  # sheets layout
    constants: list[Constant] = field(default_factory=list)
    absent: dict[str, set[str]] = field(default_factory=dict)

    def mobile_columns(self) -> list[Column]:
        """Columns whose mobile numbers go to a field of their own (a virtual cell after the constants)."""
        return [c for c in self.columns if c.mobile_field]

    @property
    def route(self) -> str:
        return "effective" if self.authoritative else "pending"

    def target_sheets(self) -> list[str]:
        """Our sheet ids this profile carries, person sheet first (in column order otherwise)."""
        if self.layout == "sheets":
            return [s.sheet for s in self.sheets]
        out: list[str] = []
        for c in self.columns:
            if c.sheet and c.sheet not in out:
                out.append(c.sheet)
        return out


def _table_for(pack: RulePack, spec: FieldSpec) -> CodeTable | None:
    return pack.tables.get(spec.table) if spec.table else None


def _load_map(path: Path, table: CodeTable | None, label: str) -> CodeMap:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ProfileError("找不到代码对照表", file=path, hint="请建立该 CSV 文件（列：value,code,direction,note），"
                           "或删去该列的 map。") from None
    except UnicodeDecodeError as exc:
        raise ProfileError("代码对照表不是 UTF-8 编码", file=path, hint="请用 UTF-8 编码保存该文件。") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("value", "code") if c not in (reader.fieldnames or [])]
    if missing:
        raise ProfileError(f"第一行缺少列 {'、'.join(missing)}", file=path, place="第 1 行",
                           hint="第一行应为 value,code,direction,note。")
    out = CodeMap(path, {}, {}, {})
    for n, row in enumerate(reader, start=2):
        value = (row.get("value") or "").strip()
        code = (row.get("code") or "").strip()
        direction = (row.get("direction") or "both").strip() or "both"
        note = (row.get("note") or "").strip()
        place = f"第 {n} 行"
        if not value:
            raise ProfileError("value 为空", file=path, place=place, hint="每行写一个旧系统的值。")
        if direction not in DIRECTIONS:
            raise ProfileError(f"direction“{direction}”无效", file=path, place=place,
                               hint=f"可用：{'、'.join(DIRECTIONS)}（both 导入导出都用，import 只用于导入，export 只用于导出）。")
        if code and table is not None and code not in table.entries:
            raise ProfileError(f"代码“{code}”不在代码表《{table.title}》（{label}）中", file=path, place=place,
                               hint=f"请改为该代码表中的代码，例如 {', '.join(list(table.entries)[:5])}。")
        if not code and direction != "import":
            raise ProfileError("code 为空的行只能用于导入（direction = import，表示该值没有对应的代码）",
                               file=path, place=place, hint="请填写本系统的代码，或把 direction 改为 import。")
        key = fold_name(value)
        if direction in ("both", "import"):
            if key in out.to_code or key in out.unmapped:
                raise ProfileError(f"值“{value}”在本表中出现了两次（导入方向）", file=path, place=place,
                                   hint="一个旧系统的值只能对应一个代码：请删除重复的行，或把其中一行改为 direction = export。")
            if code:
                out.to_code[key] = code
            else:
                out.unmapped[key] = note or "该值没有对应的代码"
        if direction in ("both", "export") and code:
            out.to_value.setdefault(code, value)
    return out


def _field_ref(ref: Any, pack: RulePack, path: Path, text: str, needle: str) -> tuple[str, FieldSpec]:
    if not isinstance(ref, str) or "." not in ref:
        raise _bad(path, text, needle, f"field“{ref}”应写成“工作表.字段”",
                   "例如 field = \"basic.id_number\"；工作表与字段见 tmis rules list。")
    sheet_id, code = ref.split(".", 1)
    sheet = pack.sheets.get(sheet_id)
    if sheet is None:
        raise _bad(path, text, needle, f"工作表“{sheet_id}”不存在",
                   f"可用的工作表：{'、'.join(s.id for s in pack.ordered_sheets())}。")
    if not sheet.has_field(code):
        raise _bad(path, text, needle, f"工作表 {sheet_id} 没有字段“{code}”",
                   f"可用的字段：{'、'.join(f.code for f in sheet.input_fields)}。")
    spec = sheet.field(code)
    if spec.derived:
        raise _bad(path, text, needle, f"字段 {ref} 由系统生成，不能从外部文件导入", "请删去该列，或改为 ignore。")
    return sheet_id, spec


def _choice(raw: dict[str, Any], key: str, allowed: tuple[str, ...], default: str, path: Path, text: str) -> str:
    value = raw.get(key, default)
    if value not in allowed:
        raise _bad(path, text, f"{key} =", f"{key} 的值“{value}”无效", f"可用：{'、'.join(allowed)}。")
    return str(value)


def _bool(raw: dict[str, Any], key: str, default: bool, path: Path, text: str) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise _bad(path, text, f"{key} =", f"{key} 应为 true 或 false", f"例如 {key} = {'true' if default else 'false'}。")
    return value


def load_profile(directory: str | Path, pack: RulePack) -> Profile:
    """Load rules/exchange/<name>/ against the rule pack in force; ProfileError names file, line and fix."""
    directory = Path(directory)
    path = directory / "profile.toml"
    if not path.is_file():
        raise ProfileError("找不到交换档案", file=path, hint="交换档案是一个目录，内有 profile.toml 和 codes/。")
    try:
        data, text = _read_toml(path)
    except RulePackError as exc:
        raise ProfileError(exc.message, file=exc.file, place=exc.place, hint=exc.hint) from None
    known = {"profile", "school", "column", "constant", "sheets"}
    for key in data:
        if key not in known:
            raise _bad_p(path, text, f"[{key}" if isinstance(data[key], dict) else f"{key} =",
                         f"未知的段或键“{key}”", f"可用：{'、'.join(sorted(known))}。")
    head = data.get("profile")
    if not isinstance(head, dict):
        raise ProfileError("缺少 [profile] 段", file=path, hint="请加上 [profile] 段，写明 name、format 等。")
    for key in head:
        if key not in PROFILE_KEYS:
            raise _bad_p(path, text, f"{key} =", f"[profile] 中有未知的键“{key}”",
                         f"可用的键：{'、'.join(sorted(PROFILE_KEYS))}。")
    try:
        return _build(directory, path, text, data, head, pack)
    except RulePackError as exc:
        if isinstance(exc, ProfileError):
            raise
        raise ProfileError(exc.message, file=exc.file, place=exc.place, hint=exc.hint) from None


def _bad_p(path: Path, text: str, needle: str, message: str, hint: str = "") -> ProfileError:
    line = _line_of(text, needle) if needle else None
    return ProfileError(message, file=path, place=f"第 {line} 行" if line else None, hint=hint or None)


def _build(directory: Path, path: Path, text: str, data: dict[str, Any], head: dict[str, Any],
           pack: RulePack) -> Profile:
    name = head.get("name")
    if name != directory.name:
        raise _bad_p(path, text, "name =", f"name“{name}”与目录名“{directory.name}”不一致",
                     f"请写 name = \"{directory.name}\"。")
    fmt = _choice(head, "format", FORMATS, "csv", path, text)
    layout = _choice(head, "layout", LAYOUTS, "flat", path, text)
    if layout == "sheets" and fmt == "csv":
        raise _bad_p(path, text, "layout =", "sheets 布局（每类信息一个工作表）不能用 csv 格式",
                     "请改为 format = \"xlsx\"，或改为 layout = \"flat\"。")
    delimiter = head.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise _bad_p(path, text, "delimiter =", f"分隔符“{delimiter}”应为一个字符", "例如 delimiter = \",\"。")
    school = data.get("school") or {}
    profile = Profile(
        name=str(name), title=str(head.get("title", name)), version=str(head.get("version", "1")),
        directory=directory, format=fmt, encoding=_choice(head, "encoding", ENCODINGS, "gb18030", path, text),
        delimiter=delimiter, line_end=_choice(head, "line_end", ("crlf", "lf"), "crlf", path, text),
        layout=layout, key=_choice(head, "key", KEYS, "id_number", path, text),
        authoritative=_bool(head, "authoritative", False, path, text),
        personal_data=_bool(head, "personal_data", False, path, text),
        missing_teachers=_choice(head, "missing_teachers", MISSING_TEACHERS, "keep", path, text),
        code_form=_choice(head, "code_form", CODE_FORMS, "name", path, text),
        required_mark=_bool(head, "required_mark", False, path, text),
        school_code=school.get("code") or None, school_name=school.get("name") or None,
    )
    for key in school:
        if key not in ("code", "name"):
            raise _bad_p(path, text, f"{key} =", f"[school] 中有未知的键“{key}”", "可用的键：code、name。")
    person_sheet = pack.settings.get("person_sheet", "basic")
    if layout == "flat":
        _flat_columns(profile, data, path, text, pack)
        if not any(c.sheet == person_sheet and c.field == "id_number" for c in profile.columns):
            raise _bad_p(path, text, "[[column]]", f"没有对应 {person_sheet}.id_number（身份证件号）的列",
                         "每个 flat 布局都要有身份证件号列。")
        if profile.key == "teacher_number" and not any(c.role == "teacher_number" for c in profile.columns):
            raise _bad_p(path, text, "key =", "key = \"teacher_number\" 但没有 field = \"teacher_number\" 的列",
                         "请加上教师编号列，或改为 key = \"id_number\"。")
    else:
        _sheet_layouts(profile, data, path, text, pack)
    _constants(profile, data, path, text, pack)
    _absent(profile, data, path, text, pack)
    return profile


def _flat_columns(profile: Profile, data: dict[str, Any], path: Path, text: str, pack: RulePack) -> None:
    raw_columns = data.get("column") or []
    if not isinstance(raw_columns, list) or not raw_columns:
        raise _bad_p(path, text, "[profile]", "flat 布局至少要有一个 [[column]]", "每个旧系统的列写一个 [[column]]。")
    seen_keys: dict[str, str] = {}
    seen_fields: dict[str, str] = {}
    search_from = 0
    for raw in raw_columns:
        header = raw.get("header")
        line = _line_of(text, f'"{header}"', search_from) if isinstance(header, str) else None
        search_from = line or search_from
        place = f"第 {line} 行" if line else None
        unknown = set(raw) - COLUMN_KEYS
        if unknown:
            raise ProfileError(f"列“{header}”有未知的键“{sorted(unknown)[0]}”", file=path, place=place,
                               hint=f"可用的键：{'、'.join(sorted(COLUMN_KEYS))}。")
        if not isinstance(header, str) or not header.strip():
            raise ProfileError("[[column]] 缺少 header（旧系统的表头文字）", file=path, place=place,
                               hint="例如 header = \"身份证号\"。")
        aliases = raw.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise ProfileError(f"列“{header}”的 aliases 应为字符串列表", file=path, place=place)
        col = Column(header=header.strip(), aliases=tuple(aliases), line=line,
                     required=bool(raw.get("required", False)))
        for k in col.keys():
            if k in seen_keys:
                raise ProfileError(f"表头“{k}”出现在两个列中（“{seen_keys[k]}”和“{header}”）", file=path,
                                   place=place, hint="每种表头写法只能属于一列。")
            seen_keys[k] = header
        ref = raw.get("field")
        if raw.get("ignore"):
            if ref:
                raise ProfileError(f"列“{header}”同时有 field 和 ignore", file=path, place=place,
                                   hint="不导入的列只写 ignore（原因）。")
            col.role, col.ignore = "ignore", str(raw["ignore"])
        elif ref == TEACHER_NUMBER:
            col.role, col.field = "teacher_number", TEACHER_NUMBER
        elif ref is None:
            raise ProfileError(f"列“{header}”既没有 field 也没有 ignore", file=path, place=place,
                               hint="写 field = \"工作表.字段\"，或写 ignore = \"不导入的原因\"。")
        else:
            sheet_id, spec = _field_ref(ref, pack, path, text, f'"{ref}"')
            col.sheet, col.field = sheet_id, spec.code
            if ref in seen_fields:
                raise ProfileError(f"字段 {ref} 对应了两列（“{seen_fields[ref]}”和“{header}”）", file=path,
                                   place=place, hint="一个字段只能来自一列。")
            seen_fields[ref] = header
            _column_value_options(col, raw, spec, pack, profile, path, place)
        profile.columns.append(col)
    for role, header in (("school_code", profile.school_code), ("school_name", profile.school_name)):
        if header:
            col = Column(header=header, role=role, line=_line_of(text, f'"{header}"'))
            if any(k in seen_keys for k in col.keys()):
                raise _bad_p(path, text, f'"{header}"', f"学校列“{header}”也写成了 [[column]]",
                             "学校代码、名称列只在 [school] 中写一次。")
            profile.columns.append(col)


def _column_value_options(col: Column, raw: dict[str, Any], spec: FieldSpec, pack: RulePack, profile: Profile,
                          path: Path, place: str | None) -> None:
    if raw.get("map"):
        if not spec.is_coded:
            raise ProfileError(f"字段 {col.sheet}.{col.field} 不是代码型字段，不能用 map", file=path, place=place,
                               hint="请删去 map。")
        col.map = _load_map(profile.directory / "codes" / str(raw["map"]), _table_for(pack, spec), spec.label)
        col.strict = bool(raw.get("strict", True))
    if raw.get("date"):
        if spec.type not in ("date", "month", "year"):
            raise ProfileError(f"字段 {col.sheet}.{col.field} 不是日期型字段，不能用 date", file=path, place=place,
                               hint="请删去 date。")
        if raw["date"] not in DATE_FORMS:
            raise ProfileError(f"日期写法“{raw['date']}”未知", file=path, place=place,
                               hint=f"可用：{'、'.join(DATE_FORMS)}。")
        col.date = str(raw["date"])
    col.complete_from_id = bool(raw.get("complete_from_id", False))
    col.halfwidth = bool(raw.get("halfwidth", False))
    mobile = raw.get("mobile_field")
    if mobile:
        sheet_id, code = str(mobile).split(".", 1) if "." in str(mobile) else ("", str(mobile))
        if sheet_id != col.sheet or not pack.sheets[col.sheet].has_field(code):
            raise ProfileError(f"mobile_field“{mobile}”应为同一工作表（{col.sheet}）的字段", file=path, place=place,
                               hint=f"例如 mobile_field = \"{col.sheet}.mobile\"。")
        col.mobile_field = code
    if col.complete_from_id and spec.type != "date":
        raise ProfileError("complete_from_id 只用于日期型字段（从身份证号补全日）", file=path, place=place)


def _sheet_layouts(profile: Profile, data: dict[str, Any], path: Path, text: str, pack: RulePack) -> None:
    spec = data.get("sheets") or {}
    include = spec.get("include", "all")
    if include == "all":
        ids = [s.id for s in pack.ordered_sheets()]
    elif isinstance(include, list):
        ids = []
        for sid in include:
            if sid not in pack.sheets:
                raise _bad_p(path, text, f'"{sid}"', f"工作表“{sid}”不存在",
                             f"可用：{'、'.join(s.id for s in pack.ordered_sheets())}。")
            ids.append(sid)
    else:
        raise _bad_p(path, text, "include =", "include 应为 \"all\" 或工作表编号的列表", "例如 include = \"all\"。")
    person_sheet = pack.settings.get("person_sheet", "basic")
    ids.sort(key=lambda s: (s != person_sheet, pack.sheets[s].order))
    for sid in ids:
        sheet = pack.sheets[sid]
        columns = [Column(header=f.label, aliases=tuple(sorted(f.header_keys() - {fold_name(f.label)})), sheet=sid,
                          field=f.code, strict=False) for f in sheet.input_fields]
        if profile.school_code:
            columns.insert(0, Column(header=profile.school_code, role="school_code"))
        profile.sheets.append(SheetLayout(sid, sheet.name, columns))


def _constants(profile: Profile, data: dict[str, Any], path: Path, text: str, pack: RulePack) -> None:
    for raw in data.get("constant") or []:
        ref = raw.get("field")
        unknown = set(raw) - CONSTANT_KEYS
        if unknown:
            raise _bad_p(path, text, f'"{ref}"', f"[[constant]] 有未知的键“{sorted(unknown)[0]}”",
                         f"可用的键：{'、'.join(sorted(CONSTANT_KEYS))}。")
        sheet_id, spec = _field_ref(ref, pack, path, text, f'"{ref}"')
        value = raw.get("value")
        if not isinstance(value, str) or not value:
            raise _bad_p(path, text, f'"{ref}"', f"常量 {ref} 缺少 value", "例如 value = \"1\"。")
        table = _table_for(pack, spec)
        if table is not None and value not in table.entries:
            raise _bad_p(path, text, f'"{value}"', f"常量 {ref} 的值“{value}”不在代码表《{table.title}》中",
                         "请填写该代码表中的代码。")
        if not raw.get("reason"):
            raise _bad_p(path, text, f'"{ref}"', f"常量 {ref} 缺少 reason", "请写明这个值为什么由布局本身确定。")
        if any(c.sheet == sheet_id and c.field == spec.code for c in profile.columns):
            raise _bad_p(path, text, f'"{ref}"', f"字段 {ref} 既有列又有常量", "请删去其中之一。")
        profile.constants.append(Constant(sheet_id, spec.code, value, str(raw["reason"])))


def _absent(profile: Profile, data: dict[str, Any], path: Path, text: str, pack: RulePack) -> None:
    """Every required field of a carried sheet is mapped, constant, or listed under [sheets.<id>] absent."""
    sheets = data.get("sheets") or {}
    if profile.layout == "sheets":
        return
    for sid, entry in sheets.items():
        if sid not in pack.sheets:
            raise _bad_p(path, text, f"[sheets.{sid}]", f"工作表“{sid}”不存在",
                         f"可用：{'、'.join(s.id for s in pack.ordered_sheets())}。")
        absent = entry.get("absent", []) if isinstance(entry, dict) else None
        if not isinstance(absent, list):
            raise _bad_p(path, text, f"[sheets.{sid}]", f"[sheets.{sid}] 的 absent 应为字段代码的列表")
        for code in absent:
            if not pack.sheets[sid].has_field(code):
                raise _bad_p(path, text, f'"{code}"', f"工作表 {sid} 没有字段“{code}”", "请改正或删去该字段代码。")
        profile.absent[sid] = set(absent)
    person_sheet = pack.settings.get("person_sheet", "basic")
    for sid in profile.target_sheets():
        carried = {c.field for c in profile.columns if c.sheet == sid}
        carried |= {c.mobile_field for c in profile.columns if c.sheet == sid and c.mobile_field}
        carried |= {k.field for k in profile.constants if k.sheet == sid}
        if sid != person_sheet:
            carried |= set(PERSON_FIELDS)
        for f in pack.sheets[sid].input_fields:
            if f.required and f.code not in carried and f.code not in profile.absent.get(sid, set()):
                raise _bad_p(path, text, "[[column]]",
                             f"必填字段 {sid}.{f.code}（{f.label}）既没有对应的列，也没有列在 [sheets.{sid}] absent 中",
                             f"请加一列 field = \"{sid}.{f.code}\"，或在 [sheets.{sid}] absent 中列出 \"{f.code}\""
                             "（表示旧系统没有这一项，需在本系统中补填）。")


def profiles_dir(config: Any) -> Path:
    """The folder of the exchange profiles: [exchange] profiles, else the shipped rules/exchange."""
    from processor.paths import PROJECT_ROOT

    raw = config.get("exchange", "profiles") if "exchange" in config.values else ""
    return config._path(raw) if raw else PROJECT_ROOT / "rules" / "exchange"


def find_profile(config: Any, name: str, pack: RulePack) -> Profile:
    """The profile called ``name`` (a folder of the profiles directory); InputError-like ProfileError if absent."""
    base = profiles_dir(config)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name or ""):
        raise ProfileError(f"交换档案名“{name}”无效", hint="档案名是 rules/exchange/ 下的目录名，例如 legacy-2011。")
    directory = base / name
    if not directory.is_dir():
        names = sorted(p.name for p in base.iterdir() if (p / "profile.toml").is_file()) if base.is_dir() else []
        raise ProfileError(f"没有名为“{name}”的交换档案", file=base,
                           hint=f"可用的档案：{'、'.join(names) or '（无）'}。")
    return load_profile(directory, pack)
