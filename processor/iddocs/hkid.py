"""HKID (香港身份证): one or two letters, six digits and a MOD 11 check character (0–9 or A), as A123456(3).

>>> validate('A123456(3)')
'A1234563'
>>> format('ab9876543')
'AB987654(3)'

The check character makes the weighted sum (weights 9…2 over the padded 8 characters; a missing first
letter counts 36, A–Z count 10–35) divisible by 11; a value of 10 is written A. Source: the Immigration
Department's published format, the OECD's TIN sheet for Hong Kong."""

from __future__ import annotations

import re

from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength

from processor.iddocs import Format, canonical, is_valid_with

_SHAPE = re.compile(r"^([A-Z]{1,2})([0-9]{6})([0-9A])$")


compact = canonical  # upper case, half-width, no spaces or brackets: A1234563


def calc_check_digit(body: str) -> str:
    """The check character of the letters and six digits (A123456 → '3')."""
    body = body.rjust(8)
    total = sum(w * (36 if c == " " else int(c) if c.isdigit() else ord(c) - 55)
                for w, c in zip(range(9, 1, -1), body, strict=True))
    value = (11 - total % 11) % 11
    return "A" if value == 10 else str(value)


def validate(number: str) -> str:
    """The compact number, or InvalidLength / InvalidFormat / InvalidChecksum (its ``expected`` is the right one)."""
    number = compact(number)
    if not 8 <= len(number) <= 9:
        raise InvalidLength()
    m = _SHAPE.match(number)
    if not m:
        raise InvalidFormat()
    expected = calc_check_digit(m.group(1) + m.group(2))
    if m.group(3) != expected:
        error = InvalidChecksum()
        error.expected = expected  # type: ignore[attr-defined]
        raise error
    return number


is_valid = is_valid_with(validate)


def format(number: str) -> str:
    """The form printed on the card: A123456(3)."""
    number = compact(number)
    return f"{number[:-1]}({number[-1]})"


FORMATS = (Format("hk_identity_card", "香港身份证", "1～2 个字母 + 6 位数字 + 括号内 1 位校验码，如 A123456(3)", validate),)
