"""GB 11643-1999 citizen identity numbers (居民身份证号码) in the python-stdnum style, 15-digit numbers included.

>>> validate('11010519491231002X')
'11010519491231002X'
>>> upgrade15('110105491231002')
'11010519491231002X'

Unlike ``stdnum.cn.ric`` this module accepts old 15-digit numbers and residence permits (810000, 820000,
830000), and does not reject an address code missing from the division table: the caller decides
(``area_known`` is only a hint, since codes are abolished and re-used over time)."""

from __future__ import annotations

import datetime
import re
import unicodedata

from stdnum.cn import ric
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError

__all__ = [
    "InvalidChecksum", "InvalidComponent", "InvalidFormat", "InvalidLength", "ValidationError",
    "area_known", "birth_date", "check_char", "check_digit", "compact", "is_valid", "sex", "upgrade15", "validate",
]

PERMIT_AREAS = ("810000", "820000", "830000")  # 港澳台居民居住证
_SEPARATORS = re.compile(r"[\s\u200b\u200c\u200d\ufeff\-‐‑‒–—―－_.·]+")


def compact(number: str) -> str:
    """Full-width → half-width, separators (spaces, dashes) removed, 'x' → 'X'."""
    text = unicodedata.normalize("NFKC", str(number))
    return _SEPARATORS.sub("", text).upper()


def check_digit(first17: str) -> str:
    """The check character ('0'–'9' or 'X') for the first 17 digits."""
    first17 = compact(first17)
    if len(first17) != 17 or not first17.isdigit():
        raise InvalidFormat()
    return ric.calc_check_digit(first17 + "0")


check_char = check_digit


def _birth_text(number: str) -> str:
    return ("19" + number[6:12]) if len(number) == 15 else number[6:14]


def birth_date(number: str) -> datetime.date:
    """The birth date the number encodes (15-digit numbers: 19YYMMDD); InvalidComponent for an impossible date."""
    number = compact(number)
    if len(number) not in (15, 18) or not number[:14].isdigit():
        raise InvalidFormat()
    text = _birth_text(number)
    try:
        return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise InvalidComponent() from None


def sex(number: str) -> str:
    """'1' (男) for an odd sequence digit, '2' (女) for an even one — the codes of GB/T 2261.1."""
    number = compact(number)
    if len(number) not in (15, 18) or not number[:-1].isdigit():
        raise InvalidFormat()
    digit = int(number[14] if len(number) == 15 else number[16])
    return "1" if digit % 2 else "2"


def validate(number: str) -> str:
    """The compact number (15 or 18 characters) if it is well formed, else a typed ValidationError.

    Checks length, characters, the birth date and (18 digits) the check character. The address code is
    not checked here (see area_known)."""
    number = compact(number)
    if len(number) not in (15, 18):
        raise InvalidLength()
    if len(number) == 15:
        if not number.isdigit():
            raise InvalidFormat()
    elif not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidFormat()
    birth_date(number)
    if len(number) == 18 and number[17] != check_digit(number[:17]):
        raise InvalidChecksum()
    return number


def is_valid(number: str) -> bool:
    """True when validate() accepts the number."""
    try:
        return bool(validate(number))
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


def area_known(number: str) -> bool:
    """True when the address code is a residence-permit code or appears in python-stdnum's division table."""
    number = compact(number)
    area = number[:6]
    if len(area) != 6 or not area.isdigit():
        raise InvalidFormat()
    if area in PERMIT_AREAS:
        return True
    from stdnum import numdb

    return any("county" in props for _part, props in numdb.get("cn/loc").info(area))
