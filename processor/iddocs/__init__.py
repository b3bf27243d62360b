"""Published number formats of the identity documents other than the 居民身份证, one module per document.

Each module has the python-stdnum interface (``compact``, ``validate``, ``is_valid``, ``format``) and
declares its ``FORMATS``: a format id (used by the rules' ``formats`` parameter), the document's Chinese
name and the form to show a person. ``FORMATS`` here maps every id to its ``Format``.

The numbers are stored in one written form (``canonical``): upper case, half-width, no spaces, and no
brackets or slashes around a check character — A123456(3) and a1234563 are the same card."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError

from processor.idnumber import compact as _compact


class Format(NamedTuple):
    """One published number format of a document."""

    id: str
    name: str  # the document, as a person calls it
    form: str  # how the number is written, with an example
    validate: Callable[[str], str]  # the compact number, or a typed ValidationError


# A check character in brackets (A123456(3), 1234567(8)) or between slashes (1/234567/8) at the end of
# the two identity cards; nothing else is touched, so other documents keep their brackets.
_BRACKETED = re.compile(r"^([A-Z]{1,2}[0-9]{6}|[157][0-9]{6})\(([0-9A])\)$")
_SLASHED = re.compile(r"^([157])/([0-9]{6})/([0-9])$")


def canonical(number: str) -> str:
    """The one form a document number is stored in (half-width, upper case, no separators or check brackets)."""
    text = _compact(number)
    if "(" not in text and "/" not in text:
        return text
    m = _BRACKETED.match(text)
    if m:
        return m.group(1) + m.group(2)
    m = _SLASHED.match(text)
    if m:
        return "".join(m.groups())
    return text


def shape_checker(regex: str, lengths: tuple[int, ...] = ()) -> Callable[[str], str]:
    """A validate() for a format defined by its shape alone (the issuer publishes no check character)."""
    shape = re.compile(regex)

    def validate(number: str) -> str:
        number = canonical(number)
        if lengths and len(number) not in lengths:
            raise InvalidLength()
        if not shape.match(number):
            raise InvalidFormat()
        return number

    return validate


def is_valid_with(validate: Callable[[str], str]) -> Callable[[str], bool]:
    """The is_valid() of a module: True when its validate() accepts the number."""

    def is_valid(number: str) -> bool:
        try:
            return bool(validate(number))
        except ValidationError:
            return False

    return is_valid


def _all() -> dict[str, Format]:
    from processor.iddocs import cn_passport, hk_macao_permit, hkid, macao_id, tw_permit

    out: dict[str, Format] = {}
    for module in (hkid, macao_id, hk_macao_permit, tw_permit, cn_passport):
        for f in module.FORMATS:
            out[f.id] = f
    return out


FORMATS: dict[str, Format] = {}


def get(fid: str) -> Format:
    """The format with that id (KeyError when there is none)."""
    if not FORMATS:
        FORMATS.update(_all())
    return FORMATS[fid]


def ids() -> tuple[str, ...]:
    """Every format id, for the rules' ``formats`` parameter."""
    get("hk_identity_card")
    return tuple(FORMATS)


class Verdict(NamedTuple):
    """A number checked against a document type's formats: the one it fits, or what was wrong."""

    fits: str | None  # the format id it fits
    checksum: tuple[str, str] | None  # (format name, correct check character) when only that was wrong


def judge(number: str, formats: tuple[str, ...]) -> Verdict:
    """Which of the formats the number fits; a wrong check character on a number of the right shape is said."""
    wrong_check: tuple[str, str] | None = None
    for fid in formats:
        f = get(fid)
        try:
            f.validate(number)
            return Verdict(fid, None)
        except InvalidChecksum as e:
            if wrong_check is None:
                wrong_check = (f.name, getattr(e, "expected", ""))
        except ValidationError:
            continue
    return Verdict(None, wrong_check)


def describe(formats: tuple[str, ...]) -> str:
    """The expected forms, for a message: 香港身份证（…）、…或…."""
    parts = [f"{get(fid).name}（{get(fid).form}）" for fid in formats]
    if len(parts) <= 1:
        return "".join(parts)
    return "、".join(parts[:-1]) + "或" + parts[-1]
