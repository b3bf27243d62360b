"""Foreign files through a profile: open and check them (encoding, layout), find the headers, map the cells.

Everything here runs before anything is stored: a file in the wrong encoding or without the profile's
columns is refused with the reason (InputError). Mapping turns a foreign cell into what our normalisers
read (legacy code → our code, legacy date form → ISO text); the normalisers and rules then run unchanged."""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processor.errors import InputError
from processor.exchange.profile import DATE_FORMS, Column, Profile
from processor.findings import column_letter
from processor.readers.detect import HEADER_SCAN_ROWS, header_key, row_is_empty
from processor.readers.guard import Limits, inspect_file
from processor.rulepack.model import RulePack, fold_name

ENCODING_NAMES = {"gb18030": "GB18030", "utf-8": "UTF-8", "utf-8-sig": "UTF-8（带 BOM）"}


class _Source:
    """A foreign sheet: title and rows (0-based index, cells)."""

    title: str

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        raise NotImplementedError


class CsvSource(_Source):
    def __init__(self, path: Path, profile: Profile, title: str) -> None:
        self.path, self.profile, self.title = path, profile, title

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        with self.path.open(encoding=self.profile.encoding, newline="") as fh:
            yield from enumerate(csv.reader(fh, delimiter=self.profile.delimiter))


class ExcelSource(_Source):
    def __init__(self, sheet: Any) -> None:
        self.sheet, self.title = sheet, sheet.title

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        return self.sheet.rows()


def check_encoding(path: Path, profile: Profile, name: str) -> None:
    """The whole CSV decodes in the profile's encoding and is not plainly another one; else InputError."""
    want = ENCODING_NAMES[profile.encoding]
    with path.open("rb") as fh:
        head = fh.read(4)
    has_bom = head.startswith(codecs.BOM_UTF8)
    fix = f"请从原系统按 {want} 编码重新导出，或选用与文件编码相符的交换档案。"
    if has_bom and profile.encoding == "gb18030":
        raise InputError(f"文件带 UTF-8 的 BOM，是 UTF-8 编码；交换档案 {profile.name} 规定为 {want}", file=name, hint=fix)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(f"文件是 UTF-16 编码；交换档案 {profile.name} 规定为 {want}", file=name, hint=fix)
    decoder = codecs.getincrementaldecoder(profile.encoding)(errors="strict")
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="strict") if profile.encoding == "gb18030" else None
    utf8_ok, non_ascii = True, False
    line = 1
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(1 << 20)
            final = not chunk
            try:
                decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                if profile.encoding == "gb18030" and _is_utf8(path):
                    raise InputError(f"文件是 UTF-8 编码（中文按 {want} 读会成为乱码）；交换档案 {profile.name} 规定为 {want}",
                                     file=name, hint=fix) from None
                bad_at = exc.start
                line += chunk[:max(bad_at, 0)].count(b"\n")
                raise InputError(f"第 {line} 行有不能按 {want} 解码的字节（{chunk[bad_at:bad_at + 4].hex(' ')}），"
                                 f"文件不是交换档案 {profile.name} 规定的 {want} 编码", file=name, hint=fix) from None
            if utf8 is not None and utf8_ok:
                try:
                    utf8.decode(chunk, final=final)
                except UnicodeDecodeError:
                    utf8_ok = False
                non_ascii = non_ascii or not chunk.isascii()
            if final:
                break
            line += chunk.count(b"\n")
    if utf8 is not None and utf8_ok and non_ascii:
        raise InputError(f"文件是 UTF-8 编码（中文按 {want} 读会成为乱码）；交换档案 {profile.name} 规定为 {want}",
                         file=name, hint=fix)


def _is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def open_foreign(path: Path, profile: Profile, limits: Limits, name: str) -> tuple[list[_Source], bool]:
    """The sheets of a foreign file as the profile expects it, and the workbook's 1904 flag."""
    check = inspect_file(path, limits, name=name)
    if profile.format == "csv":
        if check.format != "csv":
            raise InputError(f"文件是 {check.format} 格式；交换档案 {profile.name} 规定为 CSV 文本文件", file=name,
                             hint="请从原系统导出 CSV，或选用对应格式的交换档案。")
        check_encoding(path, profile, name)
        return [CsvSource(path, profile, Path(name).stem)], False
    if check.format == "csv":
        raise InputError(f"文件是 CSV 文本文件；交换档案 {profile.name} 规定为 .{profile.format} 工作簿", file=name,
                         hint="请从原系统按档案规定的格式导出，或选用 CSV 格式的交换档案。")
    from processor.readers.excel import open_workbook

    sheets, _items = open_workbook(path, name, limits, check)
    return [ExcelSource(s) for s in sheets if not getattr(s, "hidden", False)], check.date1904


@dataclass
class Layout:
    """Where a foreign sheet's header is and which of its columns is which profile column."""

    source: _Source
    title: str
    header_row: int  # 0-based index of the header row
    width: int
    columns: list[tuple[int, Column]]  # (foreign column index, column)
    unknown: list[tuple[int, str]]  # headers matching no column of the profile
    sheet: str | None = None  # our sheet id (sheets layout)
    headers: list[tuple[int, str]] = field(default_factory=list)  # every header cell (for the report)

    def index_of(self, role: str, sheet: str | None = None, code: str | None = None) -> int | None:
        for idx, col in self.columns:
            if col.role == role and (code is None or (col.sheet == sheet and col.field == code)):
                return idx
        return None


def _match(source: _Source, columns: list[Column], scan: int) -> tuple[int, list[Any], dict[int, Column], int]:
    keys: dict[str, Column] = {}
    for col in columns:
        for k in col.keys():
            keys.setdefault(k, col)
    best: tuple[int, list[Any], dict[int, Column], int] = (-1, [], {}, 0)
    for index, row in source.rows():
        if index >= scan:
            break
        if row_is_empty(row):
            continue
        found: dict[int, Column] = {}
        taken: set[int] = set()
        for c, text in enumerate(row):
            col = keys.get(header_key(text))
            if col is not None and id(col) not in taken:
                found[c] = col
                taken.add(id(col))
        if len(found) > best[3]:
            best = (index, list(row), found, len(found))
    return best


def find_layouts(sources: list[_Source], profile: Profile, pack: RulePack, name: str) -> list[Layout]:
    """The header of each foreign sheet the profile reads; InputError (nothing stored) when the layout is wrong."""
    if profile.layout == "flat":
        if not sources:
            raise InputError("文件中没有工作表", file=name, hint="请从原系统重新导出。")
        source = sources[0]
        scan = 1 if profile.format == "csv" else HEADER_SCAN_ROWS
        return [_layout(source, profile.columns, scan, profile, name, None)]
    by_name: dict[str, _Source] = {}
    for s in sources:
        spec = pack.sheet_by_name(s.title)
        if spec is not None:
            by_name.setdefault(spec.id, s)
    out = []
    for sheet in profile.sheets:
        source = by_name.get(sheet.sheet)
        if source is None:
            continue
        out.append(_layout(source, sheet.columns, HEADER_SCAN_ROWS, profile, name, sheet.sheet))
    if not out:
        wanted = "、".join(s.title for s in profile.sheets[:4])
        raise InputError(f"文件中没有交换档案 {profile.name} 的工作表（如 {wanted}）", file=name,
                         hint="请确认文件是按该档案的布局导出的：工作表名称与表头不要改动。")
    return out


def _layout(source: _Source, columns: list[Column], scan: int, profile: Profile, name: str,
            sheet: str | None) -> Layout:
    index, row, found, score = _match(source, columns, scan)
    where = f"工作表“{source.title}”" if profile.format != "csv" else "第 1 行"
    if score == 0:
        seen = next((r for i, r in source.rows() if i == 0), [])
        shown = "、".join(str(c) for c in seen[:8] if c not in (None, "")) or "（空）"
        hint_delim = ""
        if profile.format == "csv" and len(seen) <= 1:
            hint_delim = f"（按分隔符“{profile.delimiter}”只分出 {len(seen)} 列，分隔符可能不对）"
        raise InputError(f"{where}找不到交换档案 {profile.name} 的表头{hint_delim}；读到的是：{shown}", file=name,
                         hint="请确认文件是按该档案的布局导出的，第一行为表头。")
    mapped = {id(c) for c in found.values()}
    needed = [c for c in columns if (c.required or c.role == "school_code" or
                                      (c.role == "school_name" and not profile.school_code) or
                                      (c.role == "teacher_number" and profile.key == "teacher_number"))]
    if sheet is not None:
        needed += [c for c in columns if c.field in ("id_number",)]
    missing = [c.header for c in needed if id(c) not in mapped]
    if missing:
        raise InputError(f"{where}缺少交换档案 {profile.name} 规定的列：{'、'.join(missing)}", file=name,
                         place=None, hint="请从原系统按该档案的布局重新导出（列的顺序不限，表头文字不要改动）。")
    headers = [(c, str(t).strip()) for c, t in enumerate(row) if t not in (None, "") and str(t).strip()]
    unknown = [(c, t) for c, t in headers if c not in found]
    return Layout(source, source.title, index, len(row), sorted(found.items()), unknown, sheet, headers)


# ----------------------------------------------------------------------------------------------- values


@dataclass(slots=True)
class MonthOnly:
    """A date written with year and month only (legacy 出生年月): the day comes from the identity number."""

    year: int
    month: int


def _text(raw: Any) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return fold_name(str(raw))


class ValueMapper:
    """Foreign cell → value for our normaliser, or (None, reason) when the profile has no mapping for it."""

    def __init__(self, col: Column, field_type: str) -> None:
        self.col = col
        self.field_type = field_type
        self.memo: dict[tuple[type, Any], tuple[Any, str | None]] = {}

    def __call__(self, raw: Any) -> tuple[Any, str | None]:
        if raw is None or raw == "":
            return None, None
        key = (raw.__class__, raw)
        hit = self.memo.get(key)
        if hit is None:
            hit = self._map(raw)
            if len(self.memo) < 50_000:
                self.memo[key] = hit
        return hit

    def _map(self, raw: Any) -> tuple[Any, str | None]:
        col = self.col
        if col.map is not None:
            text = _text(raw)
            if not text:
                return None, None
            code = col.map.to_code.get(text)
            if code is not None:
                return code, None
            why = col.map.unmapped.get(text)
            if why is not None:
                return None, why
            if col.strict:
                return None, ""
            return raw, None
        if col.date is not None:
            text = _text(raw)
            m = DATE_FORMS[col.date].match(text)
            if m is None:
                return raw, None  # the date normaliser reads or reports it
            parts = [int(g) for g in m.groups()]
            if self.field_type == "year":
                return f"{parts[0]:04d}", None
            if len(parts) == 1:
                return raw, None
            if len(parts) == 2:
                if self.field_type == "date":
                    return (MonthOnly(parts[0], parts[1]) if col.complete_from_id
                            else f"{parts[0]:04d}-{parts[1]:02d}-01"), None
                return f"{parts[0]:04d}-{parts[1]:02d}", None
            if self.field_type == "month":
                return f"{parts[0]:04d}-{parts[1]:02d}", None
            return f"{parts[0]:04d}-{parts[1]:02d}-{parts[2]:02d}", None
        if col.halfwidth and isinstance(raw, str) and not raw.isascii():
            return unicodedata.normalize("NFKC", raw), None
        return raw, None


def complete_month(value: MonthOnly, id_number: Any) -> str:
    """YYYY-MM-DD with the day of the identity number's birth date when its year and month agree, else day 01
    (so that the identity rules report the disagreement)."""
    text = str(id_number or "").strip().upper()
    if len(text) == 18 and text[6:12].isdigit():
        if int(text[6:10]) == value.year and int(text[10:12]) == value.month:
            return f"{value.year:04d}-{value.month:02d}-{text[12:14]}"
    if len(text) == 15 and text[6:10].isdigit():
        if 1900 + int(text[6:8]) == value.year and int(text[8:10]) == value.month:
            return f"{value.year:04d}-{value.month:02d}-{text[10:12]}"
    return f"{value.year:04d}-{value.month:02d}-01"


def letter(index: int) -> str:
    return column_letter(index)


_PHONE_SPLIT = re.compile(r"\s*[/,，;；、]\s*")
_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9][0-9]{9})$")


def split_phones(value: Any) -> tuple[Any, str | None]:
    """A legacy phone cell (mobile or landline, several separated by /) → (landline text, first mobile)."""
    if not isinstance(value, str) or not value.strip():
        return value, None
    phones: list[str] = []
    mobile = None
    for part in _PHONE_SPLIT.split(value.strip()):
        compact = re.sub(r"[\s-]", "", part)
        m = _MOBILE.match(compact)
        if m and mobile is None:
            mobile = m.group(1)
        elif part:
            phones.append(part)
    return ("/".join(phones) or None), mobile
