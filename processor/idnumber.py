"""GB 11643-1999 citizen identity numbers (居民身份证号码) in the python-stdnum style, 15-digit numbers included.

>>> validate('11010519491231002X')
'11010519491231002X'
>>> upgrade15('110105491231002')
'11010519491231002X'

Unlike ``stdnum.cn.ric`` this module accepts old 15-digit numbers and residence permits (港澳台居民居住证:
810000, 820000, 830000), and does not reject an address code missing from the division table: the caller
decides (``area_status``: codes are abolished and re-used over time).

``analyse()`` is the one verdict on a number: ``validate()`` and the sheet rules (processor/checks/idnumber.py)
both read it, so a number the library accepts is a number the rules accept. A birth date before 1900 or
after today is a wrong date (``InvalidComponent``)."""

from __future__ import annotations

import datetime
import functools
import re
import unicodedata
from typing import NamedTuple

from stdnum.cn import ric
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError

__all__ = [
    "Analysis", "AreaStatus", "InvalidChecksum", "InvalidComponent", "InvalidFormat", "InvalidLength",
    "ValidationError", "analyse", "area_known", "area_status", "birth_date", "check_char", "check_digit",
    "compact", "is_valid", "sex", "upgrade15", "validate",
]

PERMIT_AREAS = ("810000", "820000", "830000")  # 港澳台居民居住证
PERMIT_PLACES = {"810000": "香港", "820000": "澳门", "830000": "台湾"}
MIN_BIRTH = datetime.date(1900, 1, 1)
# What a person may put between the digits and still mean the same number: spaces (also U+3000, no-break),
# zero-width characters and dashes. Anything else (dots, letters) is a wrong character (ID-CHARS).
_SEPARATORS = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff\u00ad\-‐‑‒–—―_]+")
_DIGITS_X = re.compile(r"^[0-9X]*$")
_PROBLEMS = {"chars": InvalidFormat, "length": InvalidLength, "date": InvalidComponent, "checksum": InvalidChecksum}


def compact(number: str) -> str:
    """Full-width → half-width, separators (spaces, dashes) removed, 'x' → 'X'."""
    text = str(number)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return _SEPARATORS.sub("", text).upper()


def check_digit(first17: str) -> str:
    """The check character ('0'–'9' or 'X') for the first 17 digits."""
    first17 = compact(first17)
    if len(first17) != 17 or not first17.isdigit():
        raise InvalidFormat()
    return ric.calc_check_digit(first17 + "0")


check_char = check_digit


class AreaStatus(NamedTuple):
    """What the division table says about an address code for a number born in a given year."""

    known: bool  # the code is a permit code or in the table
    place: str | None  # the county's name (the last one in force, for a re-used code)
    abolished: int | None  # the year the code went out of use, when that was before the birth year


class Analysis(NamedTuple):
    """What a resident identity number says: its first failing part (or None) and what it encodes."""

    problem: str | None  # chars, length, date, checksum — in chain order
    birth: datetime.date | None
    sex: str | None
    expected_check: str | None
    upgraded: str | None  # the 18-character form of a 15-digit number
    area: AreaStatus | None  # for a well-formed number
    reason: str | None = None  # why the date part failed (Chinese, for messages)


def _date_reason(number: str, today: datetime.date) -> tuple[datetime.date | None, str | None]:
    """The birth date, or None and the reason it is wrong."""
    text = ("19" + number[6:12]) if len(number) == 15 else number[6:14]
    year, month, day = int(text[:4]), int(text[4:6]), int(text[6:8])
    if not 1 <= month <= 12:
        return None, f"月份 {month:02d} 不存在"
    try:
        born = datetime.date(year, month, day)
    except ValueError:
        return None, f"{year} 年 {month} 月没有 {day} 日"
    if born < MIN_BIRTH:
        return None, f"出生年份 {year} 早于 1900 年"
    if born > today:
        return None, f"出生日期 {born.isoformat()} 晚于今天"
    return born, None


def analyse(number: str, today: datetime.date | None = None) -> Analysis:
    """The parts of a resident identity number, checked in chain order (chars → length → date → checksum)."""
    if not (number.isascii() and number.isalnum() and (number.isdigit() or number.isupper())):
        number = compact(number)  # the sheet rules hand over numbers the normaliser compacted already
    today = today or datetime.date.today()
    if not _DIGITS_X.match(number):
        return Analysis("chars", None, None, None, None, None)
    n = len(number)
    if n not in (15, 18):
        return Analysis("length", None, None, None, None, None)
    if "X" in number[:-1] or (n == 15 and number.endswith("X")):
        return Analysis("chars", None, None, None, None, None)
    born, reason = _date_reason(number, today)
    if born is None:
        return Analysis("date", None, None, None, None, None, reason)
    sex_code = "1" if int(number[14] if n == 15 else number[16]) % 2 else "2"
    if n == 18:
        expected = ric.calc_check_digit(number[:17] + "0")
        if expected != number[17]:
            return Analysis("checksum", born, sex_code, expected, None, None)
        return Analysis(None, born, sex_code, expected, None, area_status(number[:6], born.year))
    first17 = number[:6] + "19" + number[6:]
    upgraded = first17 + ric.calc_check_digit(first17 + "0")
    return Analysis(None, born, sex_code, upgraded[-1], upgraded, area_status(number[:6], born.year))


def birth_date(number: str) -> datetime.date:
    """The birth date the number encodes (15-digit numbers: 19YYMMDD); InvalidComponent for an impossible one."""
    number = compact(number)
    if len(number) not in (15, 18) or not number[:14].isdigit():
        raise InvalidFormat()
    born, _reason = _date_reason(number, datetime.date.today())
    if born is None:
        raise InvalidComponent()
    return born


def sex(number: str) -> str:
    """'1' (男) for an odd sequence digit, '2' (女) for an even one — the codes of GB/T 2261.1."""
    number = compact(number)
    if len(number) not in (15, 18) or not number[:-1].isdigit():
        raise InvalidFormat()
    digit = int(number[14] if len(number) == 15 else number[16])
    return "1" if digit % 2 else "2"


def validate(number: str, today: datetime.date | None = None) -> str:
    """The compact number (15 or 18 characters) if it is well formed, else a typed ValidationError.

    Checks characters, length, the birth date (1900-01-01 to today) and (18 digits) the check character —
    the same chain as the sheet rules. The address code is not checked here (see area_status)."""
    a = analyse(number, today)
    if a.problem is not None:
        raise _PROBLEMS[a.problem]()
    return compact(number)


def is_valid(number: str, today: datetime.date | None = None) -> bool:
    """True when validate() accepts the number."""
    try:
        return bool(validate(number, today))
    except ValidationError:
        return False


def upgrade15(number: str) -> str:
    """The 18-digit form of an old 15-digit number: '19' before the year, check character appended."""
    number = compact(number)
    if len(number) != 15:
        raise InvalidLength()
    if not number.isdigit():
        raise InvalidFormat()
    birth_date(number)
    first17 = number[:6] + "19" + number[6:]
    return first17 + check_digit(first17)


@functools.lru_cache(maxsize=8192)
def _periods(area: str) -> tuple[tuple[int | None, int | None, str], ...]:
    """The division table's entries for an address code: (first year, last year, name), None = open."""
    from stdnum import numdb

    out: list[tuple[int | None, int | None, str]] = []
    for _part, props in numdb.get("cn/loc").info(area):
        county = props.get("county")
        if not county:
            continue
        for entry in county.split(","):
            if entry.startswith("[") and "]" in entry:
                span, name = entry[1:].split("]", 1)
                start, _, end = span.partition("-")
                out.append((int(start) if start else None, int(end) if end else None, name))
            else:
                out.append((None, None, entry))
    return tuple(out)


@functools.lru_cache(maxsize=65536)  # (address code, birth year) pairs repeat across a school's teachers
def area_status(area: str, birth_year: int | None = None) -> AreaStatus:
    """Whether the address code is known, its name, and whether it was abolished before birth_year.

    Numbers are given when the card is first issued, never before birth: a code that went out of use
    before the birth year is suspicious (a warning), one created after the birth year is normal."""
    if len(area) != 6 or not area.isdigit():
        raise InvalidFormat()
    if area in PERMIT_AREAS:
        return AreaStatus(True, PERMIT_PLACES[area], None)
    periods = _periods(area)
    if not periods:
        return AreaStatus(False, None, None)
    place = periods[-1][2]
    ends = [end for _start, end, _name in periods]
    if birth_year is not None and None not in ends:
        last = max(e for e in ends if e is not None)
        if last < birth_year:
            return AreaStatus(True, place, last)
    return AreaStatus(True, place, None)


def area_known(number: str) -> bool:
    """True when the address code is a residence-permit code or appears in python-stdnum's division table."""
    return area_status(compact(number)[:6]).known
