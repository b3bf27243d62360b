"""idnumber: GB 11643 identity numbers (身份证件类型 1) part by part; other document types: length and characters.

Parts are checked in a chain — chars → length → date → checksum → area — and a part fires only when the
parts before it passed, so one mistake gives one finding. birth / sex compare a valid number with the
出生日期 / 性别 the person typed and mark that cell.

Identity numbers hardly repeat, so memoising on row values does not pay here: each number is analysed
once per file (shared by all the parts through a cache) and every part scans the chunk column-wise."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any, NamedTuple

from processor import idnumber as gb11643
from processor.checks.base import INVALID, MEMO_LIMIT, Check, Chunk, Hit, ParamSpec, RuleError, register
from processor.checks.date import compare, granular

PARTS = ("length", "chars", "date", "checksum", "area", "upgraded15", "birth", "sex", "other_type")
RESIDENT_TYPE = "1"  # 居民身份证
RESIDENT_SHAPE = re.compile(r"^[0-9]+X?$")
DIGITS_X = re.compile(r"^[0-9X]*$")
OTHER_CHARS = re.compile(r"^[0-9A-Za-z\u3400-\u9fff()（）\-]+$")
SEX_NAMES = {"1": "男", "2": "女"}

_AREA_KNOWN: dict[str, bool] = {}


class Analysis(NamedTuple):
    """What a resident identity number says: its first failing part (or None), birth date, sex code."""

    problem: str | None
    birth: date | None
    sex: str | None
    expected_check: str | None
    upgraded: str | None
    area_ok: bool


def birth_of(number: str) -> date | None:
    try:
        return gb11643.birth_date(number)
    except Exception:  # the library raises its typed errors for impossible dates
        return None


def area_known(number: str) -> bool:
    """The library's hint, cached by address code (the lookup in the division table is slow)."""
    area = number[:6]
    hit = _AREA_KNOWN.get(area)
    if hit is None:
        try:
            hit = bool(gb11643.area_known(number))
        except Exception:
            hit = False
        _AREA_KNOWN[area] = hit
    return hit


def analyse(number: str, today: date) -> Analysis:
    """The parts of a resident identity number, checked in chain order."""
    if not DIGITS_X.match(number):
        return Analysis("chars", None, None, None, None, False)
    n = len(number)
    if n not in (15, 18):
        return Analysis("length", None, None, None, None, False)
    if "X" in number[:-1] or (n == 15 and number.endswith("X")):
        return Analysis("chars", None, None, None, None, False)
    born = birth_of(number)
    if born is None or born > today:
        return Analysis("date", None, None, None, None, False)
    sex = "1" if int(number[14] if n == 15 else number[16]) % 2 else "2"
    if n == 18:
        try:
            expected = gb11643.check_digit(number[:17])
        except Exception:
            expected = None
        if expected != number[17]:
            return Analysis("checksum", born, sex, expected, None, False)
        return Analysis(None, born, sex, expected, None, area_known(number))
    try:
        upgraded = gb11643.upgrade15(number)
    except Exception:
        return Analysis("date", None, None, None, None, False)
    return Analysis(None, born, sex, upgraded[-1], upgraded, area_known(number))


@register
class IdNumber(Check):
    kind = "idnumber"
    params = {
        "part": ParamSpec((str,), required=True),
        "type_field": ParamSpec((str,)),
        "birth_field": ParamSpec((str,)),
        "sex_field": ParamSpec((str,)),
        "min": ParamSpec((int,), default=4),
        "max": ParamSpec((int,), default=30),
    }
    max_fields = 4

    def setup(self) -> None:
        # The number is the rule's idnumber-typed field (fields may list the marked 出生日期 / 性别 first).
        typed = [f for f in self.fields if self.sheet.field(f).type == "idnumber"]
        self.number_field = typed[0] if typed else self.fields[0]
        part = self.p["part"]
        if part not in PARTS:
            raise RuleError(f"参数 part 的值“{part}”无效，可用：{'、'.join(PARTS)}")
        self.part = part
        self.type_field = self._optional_field("type_field", "id_type")
        self.birth_field = self._optional_field("birth_field", "birth_date") if part == "birth" else None
        self.sex_field = self._optional_field("sex_field", "sex") if part == "sex" else None
        if part == "birth" and self.birth_field is None:
            raise RuleError(f"工作表 {self.sheet.id} 没有出生日期字段，请用参数 birth_field 指定")
        if part == "sex" and self.sex_field is None:
            raise RuleError(f"工作表 {self.sheet.id} 没有性别字段，请用参数 sex_field 指定")
        sex_table = self.pack.tables.get(self.sheet.field(self.sex_field).table or "") if self.sex_field else None
        self.sex_label = (lambda c: sex_table.label(c)) if sex_table else (lambda c: SEX_NAMES.get(c, c))
        self.today = self.env.today
        # Shared by every idnumber rule of this Validator: number → Analysis.
        self.cache: dict[str, Analysis] = self.env.shared.setdefault("idnumber", {})

    def _optional_field(self, param: str, default: str) -> str | None:
        code = self.p[param]
        if code is not None:
            if not self.sheet.has_field(code):
                raise RuleError(f"参数 {param} 指定的字段“{code}”不在工作表 {self.sheet.id} 中")
            return code
        return default if self.sheet.has_field(default) else None

    @property
    def target(self) -> str | None:
        if self.part == "birth":
            return self.birth_field
        if self.part == "sex":
            return self.sex_field
        return self.number_field

    def reads(self) -> tuple[str, ...]:
        out = [self.number_field]
        for f in (self.type_field, self.birth_field, self.sex_field):
            if f is not None:
                out.append(f)
        return tuple(out)

    # -- column-wise ---------------------------------------------------------------------------------
    def _analyses(self, chunk: Chunk) -> list[Any]:
        """Per row: an Analysis (resident number), a str (another document's number) or None (nothing to say).

        Computed once per chunk and shared by all the parts through the chunk's cache."""
        key = ("idnumber", self.number_field, self.type_field)
        cached = chunk.cache.get(key)
        if cached is not None:
            return cached
        cache, today = self.cache, self.today
        if len(cache) > MEMO_LIMIT:
            cache.clear()
        numbers = chunk.column(self.number_field)
        types = chunk.column(self.type_field) if self.type_field else None
        out: list[Any] = []
        append = out.append
        for i, number in enumerate(numbers):
            if number is None or number is INVALID or number == "":
                append(None)
                continue
            if not isinstance(number, str):
                number = str(number)
            t = types[i] if types is not None else None
            if t is INVALID:
                append(None)
                continue
            resident = RESIDENT_SHAPE.match(number) is not None if (t is None or t == "") else t == RESIDENT_TYPE
            if not resident:
                append(number)
                continue
            a = cache.get(number)
            if a is None:
                a = cache[number] = analyse(number, today)
            append(a)
        chunk.cache[key] = out
        return out

    def rows(self, chunk: Chunk) -> Iterator[Hit]:
        analyses = self._analyses(chunk)
        mask = self.when_mask(chunk)
        part = self.part
        if part == "other_type":
            lo, hi = self.p["min"], self.p["max"]
            for i, a in enumerate(analyses):
                if a.__class__ is str and (mask is None or mask[i]):
                    n = len(a)
                    if n < lo or n > hi or not OTHER_CHARS.match(a):
                        yield chunk.hit(i, self.number_field, {"length": n})
            return
        # Cheap rejections first: most rows are right, and nine parts scan every row.
        if part in ("chars", "length", "date", "checksum"):
            candidates = [i for i, a in enumerate(analyses) if a.__class__ is Analysis and a.problem == part]
        elif part == "area":
            candidates = [i for i, a in enumerate(analyses)
                          if a.__class__ is Analysis and a.problem is None and not a.area_ok]
        elif part == "upgraded15":
            candidates = [i for i, a in enumerate(analyses)
                          if a.__class__ is Analysis and a.problem is None and a.upgraded]
        else:
            typed = chunk.column(self.birth_field if part == "birth" else self.sex_field)
            attr = "birth" if part == "birth" else "sex"
            candidates = [i for i, a in enumerate(analyses)
                          if a.__class__ is Analysis and a.problem is None and typed[i] is not None
                          and typed[i] != getattr(a, attr)]
        for i in candidates:
            if mask is not None and not mask[i]:
                continue
            extra = self._judge(analyses[i], chunk, i)
            if extra is not None:
                field, variables = extra
                yield chunk.hit(i, field, variables)

    def _judge(self, a: Analysis, chunk: Chunk, i: int) -> tuple[str, dict[str, Any]] | None:
        part, problem = self.part, a.problem
        if part in ("chars", "length", "date", "checksum"):
            if problem != part:
                return None
            number = chunk.column(self.number_field)[i]
            extra: dict[str, Any] = {"length": len(number)}
            if part == "checksum":
                extra["expected"] = a.expected_check
            elif part == "length":
                extra["expected"] = "18 位（或旧式 15 位）"
            return self.number_field, extra
        if problem is not None:
            return None
        if part == "area":
            return None if a.area_ok else (self.number_field, {"area": chunk.column(self.number_field)[i][:6]})
        if part == "upgraded15":
            return (self.number_field, {"expected": a.upgraded}) if a.upgraded else None
        if part == "birth":
            typed = chunk.column(self.birth_field)[i]
            if typed is None or typed is INVALID or a.birth is None:
                return None
            key = granular(typed)
            if key is None or compare(key, (a.birth.year, a.birth.month, a.birth.day)) == 0:
                return None
            return self.birth_field, {"expected": a.birth.isoformat()}
        if part == "sex":
            typed = chunk.column(self.sex_field)[i]
            if typed is None or typed is INVALID or a.sex is None or typed == a.sex:
                return None
            return self.sex_field, {"expected": self.sex_label(a.sex)}
        return None
