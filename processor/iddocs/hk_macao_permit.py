"""港澳居民来往内地通行证 (回乡证): H (Hong Kong) or M (Macao) and the holder's 8-digit lifetime number.

>>> validate('h01234567')
'H01234567'

The booklet issued until 2013 carried two more digits, the number of times it had been issued
(H0123456701); those numbers are still seen on old records and are accepted as well."""

from __future__ import annotations

from processor.iddocs import Format, canonical, is_valid_with, shape_checker

compact = format = canonical
validate = shape_checker(r"^[HM][0-9]{8}(?:[0-9]{2})?$")
is_valid = is_valid_with(validate)

FORMATS = (
    Format("hk_permit", "港澳居民来往内地通行证（香港居民）", "H + 8 位数字，旧版 H + 10 位数字，如 H01234567",
           shape_checker(r"^H[0-9]{8}(?:[0-9]{2})?$")),
    Format("macao_permit", "港澳居民来往内地通行证（澳门居民）", "M + 8 位数字，旧版 M + 10 位数字，如 M01234567",
           shape_checker(r"^M[0-9]{8}(?:[0-9]{2})?$")),
)
