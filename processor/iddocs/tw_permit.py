"""台湾居民来往大陆通行证 (台胞证): the holder's 8-digit lifetime number (一人一号, since 25 September 2008).

>>> validate('07257456')
'07257456'
>>> validate('0725745601(B)')
'0725745601(B)'

Cards issued from 1992 carried the lifetime number, two digits counting the issues and the issuing
office's code in brackets: 0725745601(B); from June 2006 Fujian, Jiangsu and Shanghai dropped the
brackets (0725745601). Such numbers are still on old records and are accepted as written."""

from __future__ import annotations

from processor.iddocs import Format, canonical, is_valid_with, shape_checker

compact = format = canonical
validate = shape_checker(r"^[0-9]{8}(?:[0-9]{2}(?:\([0-9A-Z]\))?)?$")
is_valid = is_valid_with(validate)


def lifetime_number(number: str) -> str:
    """The 8-digit lifetime number (the first eight digits of an old number)."""
    return validate(number)[:8]


FORMATS = (Format("tw_permit", "台湾居民来往大陆通行证",
                  "8 位数字，如 07257456；2008 年前签发的为 10 位数字，可带括号内的签发机关代码，如 0725745601(B)",
                  validate),)
