"""BIR (澳门居民身份证): 1, 5 or 7, six digits and a check digit, written 1234567(8) or 1/234567/8.

>>> validate('1234567(8)')
'12345678'

The Identification Services Bureau does not publish how the check digit is computed, so only the shape
is checked. The first digit tells the holder's status (1, 5: permanent resident; 7: non-permanent)."""

from __future__ import annotations

from processor.iddocs import Format, canonical, is_valid_with, shape_checker

compact = canonical
validate = shape_checker(r"^[157][0-9]{7}$", (8,))
is_valid = is_valid_with(validate)


def format(number: str) -> str:
    """The form printed on the card: 1234567(8)."""
    number = compact(number)
    return f"{number[:7]}({number[7]})"


FORMATS = (Format("macao_identity_card", "澳门身份证", "1、5 或 7 开头的 7 位数字 + 括号内 1 位校验数字，如 1234567(8)",
                  validate),)
