"""Passports of the People's Republic of China (中华人民共和国护照), by series.

>>> validate('e12345678')
'E12345678'

Ordinary passports: E + 8 digits (electronic, from May 2012) and, once those ran out, E + a letter + 7
digits (EA1234567); G + 8 digits (2006–2012); before that 14 or 15 + 7 digits. Official passports:
DE / SE / PE + 7 digits (diplomatic, service, public affairs), earlier D / S / P + 7 or 8 digits. The
HKSAR passport is K + 8 digits, the MSAR passport MA + 7 digits."""

from __future__ import annotations

from processor.iddocs import Format, canonical, is_valid_with, shape_checker

ORDINARY = r"E[0-9]{8}|E[A-HJ-NP-Z][0-9]{7}|G[0-9]{8}|1[45][0-9]{7}"
OFFICIAL = r"[DSP]E[0-9]{7}|[DSP][0-9]{7,8}"
HKSAR = r"K[0-9]{8}"
MSAR = r"MA[0-9]{7}"

compact = format = canonical
validate = shape_checker(f"^(?:{ORDINARY}|{OFFICIAL}|{HKSAR}|{MSAR})$")
is_valid = is_valid_with(validate)

FORMATS = (
    Format("cn_passport", "中华人民共和国普通护照", "E + 8 位数字或 E + 字母 + 7 位数字，如 E12345678、EA1234567；"
           "2012 年前签发的 G + 8 位数字", shape_checker(f"^(?:{ORDINARY})$")),
    Format("cn_official_passport", "外交、公务或因公普通护照", "DE、SE 或 PE + 7 位数字，如 PE1234567",
           shape_checker(f"^(?:{OFFICIAL})$")),
    Format("hksar_passport", "香港特区护照", "K + 8 位数字，如 K12345678", shape_checker(f"^{HKSAR}$")),
    Format("msar_passport", "澳门特区护照", "MA + 7 位数字，如 MA0123456", shape_checker(f"^{MSAR}$")),
)
