"""Per-field normalisers: a raw cell (as a reader found it) → the normalised value, or a cell finding.

``normaliser_for(field, table)`` returns a pure function ``raw → Cell(value, issue, info)``:

* ``value`` is the normalised value by field type (text → str; code/yesno → code str; codes → tuple of
  codes; date → datetime.date; month → 'YYYY-MM'; year → int; int → int; decimal → float;
  idnumber → str), ``None`` for an empty cell;
* ``issue`` is the id of a ``cell`` rule (or a generated rule such as CODE-UNKNOWN) when something is
  wrong or worth a warning, else None;
* ``info`` holds the message variables of the issue (a read-only empty mapping when there is none).

Contract with the engine: ``issue`` set and ``value`` None → the cell could not be read (the engine treats
it as invalid); ``issue`` set and ``value`` not None → the value is usable and the issue is a note
(CODE-HISTORICAL, TEXT-LINEBREAK, NAME-SPACES, ID-AS-NUMBER on a 15-digit number that survived).

Choices worth knowing:
* A month written as the NUMBER 2016.1 is DATE-AMBIGUOUS: Excel turns the typed 2016.10 into 2016.1, so
  it may be October or January. The TEXT '2016.1' in a workbook's text cell was typed that way and is
  read as 2016-01; in a CSV (``text_file``) it is what Excel showed of a number, as ambiguous as the
  number. '2016.10' as text is 2016-10.
* Five digits as text in a date or month column (24909) are an Excel serial that lost its date format
  (pasted as text, exported to CSV): read as that date (1968-03-12) with DATE-SERIAL-TEXT, a warning
  that shows the date.
* Whole numbers 1000–2999 in a date/month cell are read as a year, not as an Excel serial number
  (serials in that range are dates of 1902–1908, implausible here): a date field then lacks month and day.
* Eight-digit numbers 19000101–20991231 are YYYYMMDD; six-digit 190001–209912 are YYYYMM.
* Dates must fall in 1900–2099.
* Excel counts 1900 as a leap year: serial 60 is its 1900-02-29, which does not exist, and is DATE-INVALID
  (info ``excel_1900``). Readers (python-calamine) turn a date-formatted 60 into 1900-02-28, the same
  date as serial 59, so a date cell of 1900-02-28 is DATE-INVALID as well: it cannot be told apart, and
  no teacher's date is in February 1900.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

from processor.iddocs import canonical as canonical_id
from processor.rulepack.model import CodeTable, FieldSpec

ID_AS_NUMBER = "ID-AS-NUMBER"
ID_SCIENTIFIC = "ID-SCIENTIFIC"
DATE_AMBIGUOUS = "DATE-AMBIGUOUS"
DATE_INVALID = "DATE-INVALID"
DATE_SERIAL_TEXT = "DATE-SERIAL-TEXT"
NUMBER_INVALID = "NUMBER-INVALID"
CODE_UNKNOWN = "CODE-UNKNOWN"
CODE_HISTORICAL = "CODE-HISTORICAL"
CODE_AMBIGUOUS = "CODE-AMBIGUOUS"
TEXT_LINEBREAK = "TEXT-LINEBREAK"
NAME_SPACES = "NAME-SPACES"
ISSUES = (ID_AS_NUMBER, ID_SCIENTIFIC, DATE_AMBIGUOUS, DATE_INVALID, DATE_SERIAL_TEXT, NUMBER_INVALID,
          CODE_UNKNOWN, CODE_HISTORICAL, CODE_AMBIGUOUS, TEXT_LINEBREAK, NAME_SPACES)

NO_INFO: Mapping[str, Any] = MappingProxyType({})
NAME_FIELDS = frozenset({"name", "former_name"})
MIN_YEAR, MAX_YEAR = 1900, 2099


class Cell(NamedTuple):
    """A normalised cell: the value, the cell rule id of a problem (or None), the message variables."""

    value: Any
    issue: str | None = None
    info: Mapping[str, Any] = NO_INFO


Normaliser = Callable[[Any], Cell]
EMPTY = Cell(None)

# Invisible characters go; no-break and ideographic spaces become plain spaces.
_INVISIBLE = {0x200B: None, 0x200C: None, 0x200D: None, 0x2060: None, 0xFEFF: None, 0x00AD: None,
              0x00A0: " ", 0x3000: " ", 0x2007: " ", 0x202F: " "}
_LINEBREAK = re.compile(r"\s*[\r\n\u2028\u2029\x0b\x0c]+\s*")
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_NAME_GAP = re.compile(rf"(?<=[{_CJK}·])\s+(?=[{_CJK}·])")


def clean_text(raw: str) -> str:
    """Invisible characters removed, odd spaces made plain, leading and trailing spaces stripped."""
    return raw.translate(_INVISIBLE).strip()


def _nfkc(raw: str) -> str:
    """Full-width digits, letters and punctuation to half-width (NFKC), then cleaned."""
    text = raw.translate(_INVISIBLE)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return text.strip()


def _number_text(raw: float | int) -> str:
    """A number as a person reads it: 12.0 → '12', 0.5 → '0.5'."""
    if isinstance(raw, float):
        if raw.is_integer() and abs(raw) < 1e16:
            return str(int(raw))
        return repr(raw)
    return str(raw)


def excel_display(raw: float | int) -> str:
    """How Excel's General format shows a long number in a normal-width column: 1.10105E+17."""
    mantissa, exponent = f"{float(raw):.5E}".split("E")
    mantissa = mantissa.rstrip("0").rstrip(".")
    sign = "+" if int(exponent) >= 0 else "-"
    return f"{mantissa}E{sign}{abs(int(exponent)):02d}"


def _raw_text(raw: Any) -> str | None:
    """Any raw cell as text for codes and numbers-as-text (NFKC); None when empty."""
    if raw is None:
        return None
    cls = raw.__class__
    if cls is str:
        text = _nfkc(raw)
        return text or None
    if cls is bool:
        return "1" if raw else "0"
    if cls is float or cls is int:
        return _number_text(raw)
    if isinstance(raw, dt.datetime):
        return raw.date().isoformat() if raw.time() == dt.time() else raw.isoformat(sep=" ")
    if isinstance(raw, (dt.date, dt.time)):
        return raw.isoformat()
    return _nfkc(str(raw)) or None


# ------------------------------------------------------------------------------------------------ text


def _text(field: FieldSpec) -> Normaliser:
    is_name = field.code in NAME_FIELDS

    def normalise(raw: Any) -> Cell:
        if raw is None:
            return EMPTY
        if raw.__class__ is not str:
            if raw.__class__ is bool:
                return Cell("TRUE" if raw else "FALSE")
            text = _raw_text(raw)
            return Cell(text) if text else EMPTY
        text = clean_text(raw)
        if not text:
            return EMPTY
        if _LINEBREAK.search(text):
            return Cell(_LINEBREAK.sub(" ", text), TEXT_LINEBREAK)
        if is_name and _NAME_GAP.search(text):
            return Cell(_NAME_GAP.sub("", text), NAME_SPACES, {"shown": text})
        return Cell(text)

    return normalise


# ----------------------------------------------------------------------------------------------- codes


_YESNO = {
    "是": "1", "否": "0", "Y": "1", "N": "0", "YES": "1", "NO": "0", "1": "1", "0": "0", "TRUE": "1",
    "FALSE": "0", "T": "1", "F": "0", "√": "1", "✓": "1", "✔": "1", "×": "0", "✗": "0", "✘": "0", "X": "0",
    "对": "1", "有": "1", "无": "0", "1-是": "1", "0-否": "0", "1是": "1", "0否": "0",
}
_CODE_NAME = re.compile(r"^([0-9A-Za-z]+)\s*[-－—_:：.、\s]\s*(.+)$")
_MULTI_SPLIT = re.compile(r"[,，、;；|\s]+")


def _unknown_info(table: CodeTable | None) -> dict[str, Any]:
    if table is None:
        return {}
    choices = table.choices()
    return {"table_title": table.title, "example": choices[0] if choices else ""}


def _code_lookup(table: CodeTable | None) -> Callable[[str], Cell]:
    """One code from its text: the code, or a historical name (warning), or CODE-UNKNOWN."""

    def lookup(text: str) -> Cell:
        if table is None:
            return Cell(text)
        code = table.lookup(text)
        if code is not None:
            return Cell(code)
        code = table.historical_code(text)
        if code is not None:
            entry = table.entries[code]
            return Cell(code, CODE_HISTORICAL,
                        {"old": text, "current": entry.name, "code": code, "code_label": table.label(code)})
        m = _CODE_NAME.match(text)
        if m:
            by_code, by_name = table.lookup(m.group(1)), table.lookup(m.group(2))
            if by_code is not None and by_name is not None and by_code != by_name:
                return Cell(None, CODE_AMBIGUOUS,
                            {"candidates": f"{table.label(by_code)}、{table.label(by_name)}"})
        info = _unknown_info(table)
        info["code"] = text
        return Cell(None, CODE_UNKNOWN, info)

    return lookup


def _code(field: FieldSpec, table: CodeTable | None) -> Normaliser:
    lookup = _code_lookup(table)

    def normalise(raw: Any) -> Cell:
        text = _raw_text(raw)
        return EMPTY if text is None else lookup(text)

    return normalise


def _codes(field: FieldSpec, table: CodeTable | None) -> Normaliser:
    lookup = _code_lookup(table)

    def normalise(raw: Any) -> Cell:
        text = _raw_text(raw)
        if text is None:
            return EMPTY
        whole = lookup(text)
        if whole.issue is None:
            return Cell((whole.value,))
        parts = [p for p in _MULTI_SPLIT.split(text) if p]
        if not parts:
            return EMPTY
        codes: list[str] = []
        note: Cell | None = None
        for part in parts:
            cell = lookup(part)
            if cell.value is None:
                return cell
            if cell.issue and note is None:
                note = cell
            if cell.value not in codes:
                codes.append(cell.value)
        if note is not None:
            return Cell(tuple(codes), note.issue, note.info)
        return Cell(tuple(codes))

    return normalise


def _yesno(field: FieldSpec, table: CodeTable | None) -> Normaliser:
    lookup = _code_lookup(table)
    known = set(table.entries) if table is not None else {"0", "1"}

    def normalise(raw: Any) -> Cell:
        text = _raw_text(raw)
        if text is None:
            return EMPTY
        if table is not None:
            code = table.lookup(text)
            if code is not None:
                return Cell(code)
        code = _YESNO.get(text.upper().replace(" ", ""))
        if code is not None and code in known:
            return Cell(code)
        return lookup(text)

    return normalise


# ----------------------------------------------------------------------------------------------- dates

_RE_YMD = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_RE_YMD_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_RE_YM = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?$")
_RE_YM_COMPACT = re.compile(r"^(\d{4})(\d{2})$")
_RE_Y = re.compile(r"^(\d{4})\s*年?$")
_RE_YM_ONE_DECIMAL = re.compile(r"^(\d{4})\.1$")
_RE_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_RE_TIME_TAIL = re.compile(r"^(.+?)(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)$")

_EPOCH_1900 = dt.date(1899, 12, 30)
_EPOCH_1904 = dt.date(1904, 1, 1)
_MAX_SERIAL = 2958465  # 9999-12-31
_EXCEL_LEAP_DAY = "1900-02-29 并不存在（Excel 的历史遗留日期）"
_EXCEL_FEB28 = dt.date(1900, 2, 28)  # what readers give for Excel's serial 60 (and 59) in a date cell

# A parsed date-like value: (year, month or None, day or None), or an issue.
_Parsed = tuple[int, int | None, int | None]

_TYPE_NAMES = {"date": ("日期", "YYYY-MM-DD", "2016-09-01"), "month": ("年月", "YYYY-MM", "2016-09"),
               "year": ("年份", "YYYY", "2016")}


def _invalid(kind: str, reason: str, **extra: Any) -> Cell:
    type_name, date_format, example = _TYPE_NAMES[kind]
    info = {"type_name": type_name, "date_format": date_format, "example": example, "reason": reason, **extra}
    if reason == _EXCEL_LEAP_DAY:
        info["excel_1900"] = True
    return Cell(None, DATE_INVALID, info)


def _serial(value: float, date1904: bool) -> dt.date | str:
    """An Excel serial number → date, or a reason why not."""
    whole = int(value // 1)
    if date1904:
        if whole < 0 or whole > _MAX_SERIAL - 1462:
            return "不是有效的日期序号"
        return _EPOCH_1904 + dt.timedelta(days=whole)
    if whole < 1 or whole > _MAX_SERIAL:
        return "不是有效的日期序号"
    if whole == 60:
        return _EXCEL_LEAP_DAY
    if whole < 60:
        return dt.date(1899, 12, 31) + dt.timedelta(days=whole)
    return _EPOCH_1900 + dt.timedelta(days=whole)


def _typed_number(value: dt.date, date1904: bool) -> float | None:
    """The number behind a date cell when it was a year or year-month typed as a number (2016, 2016.09,
    2016.1) into a date-formatted cell: Excel shows it as a day in 1902–1908 — no teacher's date — so the
    serial, with at most two decimals, is read back as what the officer typed."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime(value.year, value.month, value.day)
    epoch = dt.datetime.combine(_EPOCH_1904 if date1904 else _EPOCH_1900, dt.time())
    serial = (moment - epoch).total_seconds() / 86400
    if not 1000 <= serial < 3000:
        return None
    hundredths = round(serial * 100)
    if abs(serial * 100 - hundredths) > 1e-4:
        return None
    return hundredths / 100


def _parse_number(raw: float | int, kind: str, date1904: bool) -> _Parsed | dt.date | Cell:
    value = float(raw)
    if value != value or value in (float("inf"), float("-inf")):
        return _invalid(kind, "不是日期")
    if value.is_integer():
        n = int(value)
        if 1000 <= n <= 2999:
            return (n, None, None)
        if 19000101 <= n <= 20991231:
            return (n // 10000, n // 100 % 100, n % 100)
        if 190001 <= n <= 209912:
            return (n // 100, n % 100, None)
    elif 1000 <= value < 3000:
        # A year-month typed as a number: 2016.09 → September; 2016.1 may have been 2016.10.
        year_text, frac = repr(value).split(".")
        if kind == "year":
            return _invalid(kind, "不是年份")
        if kind == "month" and frac == "1":
            return _ambiguous_month(int(year_text), repr(value))
        if len(frac) <= 2:
            return (int(year_text), int(frac), None)
        return _invalid(kind, "不是日期")
    result = _serial(value, date1904)
    if isinstance(result, str):
        return _invalid(kind, result)
    return result


def _ambiguous_month(year: int, shown: str) -> Cell:
    """2016.1: typed as 2016.10 (October, the trailing 0 lost to a number) or as 2016.1 (January)?"""
    return Cell(None, DATE_AMBIGUOUS, {"first": f"{year}-01", "second": f"{year}-10",
                                       "candidates": f"{year}-01 或 {year}-10", "shown": shown})


def _serial_text(text: str, kind: str, date1904: bool) -> Cell:
    """Five digits in a date column: an Excel serial pasted as text (24909 is 1968-03-12). Read as that
    date, with a warning that shows it, since no one writes a date as five digits on purpose."""
    result = _serial(float(text), date1904)
    if isinstance(result, str):
        return _invalid(kind, result)
    cell = _finish(result, kind)
    if cell.issue is not None:
        return cell
    shown = result.isoformat() if kind == "date" else cell.value
    return Cell(cell.value, DATE_SERIAL_TEXT, {"shown": text, "date": shown, "date_format": _TYPE_NAMES[kind][1]})


def _parse_text(text: str, kind: str) -> _Parsed | Cell:
    m = _RE_TIME_TAIL.match(text)
    if m:
        text = m.group(1).strip()
    for pattern in (_RE_YMD, _RE_YMD_COMPACT):
        m = pattern.match(text)
        if m:
            return (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    for pattern in (_RE_YM, _RE_YM_COMPACT):
        m = pattern.match(text)
        if m:
            return (int(m.group(1)), int(m.group(2)), None)
    m = _RE_Y.match(text)
    if m:
        return (int(m.group(1)), None, None)
    m = _RE_DMY.match(text)
    if m:
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if a > 12 >= b:
            return (y, b, a)
        if b > 12 >= a:
            return (y, a, b)
        if a == b:
            return (y, a, b)
        return Cell(None, DATE_AMBIGUOUS, {"first": f"{y}-{a:02d}-{b:02d}", "second": f"{y}-{b:02d}-{a:02d}",
                                           "candidates": f"{y}-{a:02d}-{b:02d} 或 {y}-{b:02d}-{a:02d}",
                                           "shown": text})
    return _invalid(kind, "无法识别的日期写法")


def _finish(parsed: _Parsed | dt.date, kind: str) -> Cell:
    if isinstance(parsed, dt.date):
        y, m, d = parsed.year, parsed.month, parsed.day
    else:
        y, m, d = parsed
    if not MIN_YEAR <= y <= MAX_YEAR:
        # Written the right way but out of range: the message says so instead of asking for the format.
        return _invalid(kind, f"年份 {y} 不合理", bad_year=y, min_year=MIN_YEAR, max_year=MAX_YEAR)
    if kind == "year":
        return Cell(y)
    if m is None:
        return _invalid(kind, "缺少月份")
    if not 1 <= m <= 12:
        return _invalid(kind, f"月份 {m} 不存在")
    if kind == "month":
        if d is not None:
            try:
                dt.date(y, m, d)
            except ValueError:
                return _invalid(kind, "日期不存在")
        return Cell(f"{y:04d}-{m:02d}")
    if d is None:
        return _invalid(kind, "缺少日")
    try:
        return Cell(dt.date(y, m, d))
    except ValueError:
        return _invalid(kind, "日期不存在")


def _dates(field: FieldSpec, date1904: bool, text_file: bool = False) -> Normaliser:
    kind = field.type

    def normalise(raw: Any) -> Cell:
        if raw is None:
            return EMPTY
        cls = raw.__class__
        if cls is str:
            text = _nfkc(raw)
            if not text:
                return EMPTY
            if text.isdigit() and len(text) == 5 and kind != "year":
                return _serial_text(text, kind, date1904)
            if text_file and kind == "month":
                m = _RE_YM_ONE_DECIMAL.match(text)
                if m:
                    return _ambiguous_month(int(m.group(1)), text)
            parsed: Any = _parse_text(text, kind)
        elif cls is dt.datetime or cls is dt.date:
            typed = _typed_number(raw, date1904)
            if typed is not None:
                parsed = _parse_number(typed, kind, date1904)
            else:
                parsed = raw if cls is dt.date else raw.date()
                if parsed == _EXCEL_FEB28:
                    return _invalid(kind, _EXCEL_LEAP_DAY)
        elif cls is float or cls is int:
            parsed = _parse_number(raw, kind, date1904)
        elif isinstance(raw, dt.date):
            parsed = raw.date() if isinstance(raw, dt.datetime) else raw
            if parsed == _EXCEL_FEB28:
                return _invalid(kind, _EXCEL_LEAP_DAY)
        elif cls is bool:
            return _invalid(kind, "不是日期")
        else:  # time, timedelta: a clock time or a duration is not a date
            return _invalid(kind, "不是日期")
        if isinstance(parsed, Cell):
            return parsed
        return _finish(parsed, kind)

    return normalise


# --------------------------------------------------------------------------------------------- numbers

_RE_INT = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.0+)?$|^[+-]?\d+(?:\.0*)?$")
_RE_DEC = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?$|^[+-]?\.\d+$")


def _number(field: FieldSpec) -> Normaliser:
    is_int = field.type == "int"
    info = {"type_name": "整数" if is_int else "数字"}

    def normalise(raw: Any) -> Cell:
        if raw is None:
            return EMPTY
        cls = raw.__class__
        if cls is float:
            if raw != raw or raw in (float("inf"), float("-inf")):
                return Cell(None, NUMBER_INVALID, info)
            if is_int:
                return Cell(int(raw)) if raw.is_integer() else Cell(None, NUMBER_INVALID, info)
            return Cell(raw)
        if cls is int:
            return Cell(raw if is_int else float(raw))
        if cls is str:
            text = _nfkc(raw)
            if not text:
                return EMPTY
            text = text.replace(" ", "")
            if is_int:
                if _RE_INT.match(text):
                    return Cell(int(text.replace(",", "").split(".")[0]))
            elif _RE_DEC.match(text):
                return Cell(float(text.replace(",", "")))
        return Cell(None, NUMBER_INVALID, info)

    return normalise


# ------------------------------------------------------------------------------------ identity numbers

_RE_SCIENTIFIC = re.compile(r"^\d(?:\.\d+)?E\+?\d{1,2}$")


def _idnumber(field: FieldSpec) -> Normaliser:
    def normalise(raw: Any) -> Cell:
        if raw is None:
            return EMPTY
        cls = raw.__class__
        if cls is str:
            text = _nfkc(raw)
            if not text:
                return EMPTY
            text = canonical_id(text)
            if _RE_SCIENTIFIC.match(text):
                return Cell(None, ID_SCIENTIFIC, {"shown": text})
            return Cell(text)
        if cls is float or cls is int:
            value = float(raw)
            if value != value or value in (float("inf"), float("-inf")) or value < 0:
                return Cell(None, ID_AS_NUMBER, {"shown": str(raw), "digits": ""})
            digits = format(Decimal(f"{value:.15g}"), "f")
            shown = excel_display(value) if value >= 1e11 else digits
            if value.is_integer() and len(digits) <= 15:
                # Up to 15 digits survive a number cell: the value is intact, still written the wrong way.
                return Cell(digits, ID_AS_NUMBER, {"shown": shown, "digits": digits})
            return Cell(None, ID_AS_NUMBER, {"shown": shown, "digits": digits})
        return Cell(None, ID_AS_NUMBER, {"shown": str(raw), "digits": ""})

    return normalise


# ------------------------------------------------------------------------------------------ dispatcher


def normaliser_for(field: FieldSpec, table: CodeTable | None = None, *, date1904: bool = False,
                   text_file: bool = False) -> Normaliser:
    """The normaliser of a field: a pure function raw cell → Cell (memoisable by (type(raw), raw)).

    ``text_file``: the cells come from a CSV, i.e. as Excel showed them (a year-month 2016.1 there is as
    ambiguous as the number 2016.1 in a workbook)."""
    kind = field.type
    if kind == "text":
        return _text(field)
    if kind == "code":
        return _code(field, table)
    if kind == "codes":
        return _codes(field, table)
    if kind == "yesno":
        return _yesno(field, table)
    if kind in ("date", "month", "year"):
        return _dates(field, date1904, text_file)
    if kind in ("int", "decimal"):
        return _number(field)
    if kind == "idnumber":
        return _idnumber(field)
    raise ValueError(f"unknown field type {kind!r}")
