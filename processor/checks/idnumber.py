"""idnumber: GB 11643 numbers (居民身份证, 港澳台居民居住证) part by part; other documents against their formats.

The verdict on a GB 11643 number is processor.idnumber.analyse(): the library and these rules cannot
disagree. Parts are checked in a chain — chars → length → date → checksum → area — and a part fires only
when the parts before it passed, so one mistake gives one finding. birth / sex compare a valid number
with the 出生日期 / 性别 the person typed and mark that cell. permit_area says when the address code
does not fit the document type (a 居住证 starts with 810000 / 820000 / 830000, a 居民身份证 never does).

Other documents: other_type checks length and characters; document checks the number against the
published formats the rule names (processor/iddocs), and says which forms were expected.

Identity numbers hardly repeat, so memoising on row values does not pay here: each number is analysed
once (shared by all the parts and rules of a Validator through env.shared) and every part scans the
chunk column-wise."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from processor import iddocs
from processor import idnumber as gb11643
from processor.checks.base import INVALID, MEMO_LIMIT, Check, Chunk, Hit, ParamSpec, RuleError, register
from processor.checks.date import compare, granular
from processor.idnumber import PERMIT_AREAS, Analysis

PARTS = ("length", "chars", "date", "checksum", "area", "area_abolished", "permit_area", "upgraded15", "birth",
         "sex", "other_type", "document")
GB11643_TYPES = ("1", "C")  # 居民身份证, 港澳台居民居住证 (codes of id_doc_type)
PERMIT_TYPE = "C"
PERMIT_SET = frozenset(PERMIT_AREAS)
RESIDENT_SHAPE = re.compile(r"^[0-9]+X?$")
OTHER_CHARS = re.compile(r"^[0-9A-Za-z\u3400-\u9fff()（）\-]+$")
SEX_NAMES = {"1": "男", "2": "女"}
CHAIN = ("chars", "length", "date", "checksum")


@register
class IdNumber(Check):
    kind = "idnumber"
    params = {
        "part": ParamSpec((str,), required=True),
        "type_field": ParamSpec((str,)),
        "birth_field": ParamSpec((str,)),
        "sex_field": ParamSpec((str,)),
        "gb11643_types": ParamSpec((list,), default=list(GB11643_TYPES)),
        "formats": ParamSpec((list,), default=[]),
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
        self.gb_types = frozenset(str(t) for t in self.p["gb11643_types"])
        self.formats = tuple(str(f) for f in self.p["formats"])
        if part == "document":
            if not self.formats:
                raise RuleError(f"part = \"document\" 需要参数 formats（可用：{'、'.join(iddocs.ids())}）")
            unknown = [f for f in self.formats if f not in iddocs.ids()]
            if unknown:
                raise RuleError(f"参数 formats 中的“{'、'.join(unknown)}”不是已知的证件号码格式，"
                                f"可用：{'、'.join(iddocs.ids())}")
            self.expected = iddocs.describe(self.formats)
        sex_table = self.pack.tables.get(self.sheet.field(self.sex_field).table or "") if self.sex_field else None
        self.sex_label = (lambda c: sex_table.label(c)) if sex_table else (lambda c: SEX_NAMES.get(c, c))
        self.today = self.env.today
        # Shared by every idnumber rule of this Validator: number → Analysis, (formats, number) → Verdict.
        self.cache: dict[str, Analysis] = self.env.shared.setdefault("idnumber", {})
        self.verdicts: dict[tuple[tuple[str, ...], str], iddocs.Verdict] = self.env.shared.setdefault("iddocs", {})

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
        """Per row: an Analysis (GB 11643 number), a str (another document's number) or None (nothing to say).

        Computed once per chunk and shared by all the parts through the chunk's cache."""
        key = ("idnumber", self.number_field, self.type_field, self.gb_types)
        cached = chunk.cache.get(key)
        if cached is not None:
            return cached
        cache, today, gb_types = self.cache, self.today, self.gb_types
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
            resident = RESIDENT_SHAPE.match(number) is not None if (t is None or t == "") else t in gb_types
            if not resident:
                append(number)
                continue
            a = cache.get(number)
            if a is None:
                a = cache[number] = gb11643.analyse(number, today)
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
        if part == "document":
            yield from self._documents(chunk, analyses, mask)
            return
        # Cheap rejections first: most rows are right, and the parts scan every row.
        ok = self._well_formed(chunk, analyses) if part not in CHAIN else []
        if part in CHAIN:
            candidates = [i for i, a in enumerate(analyses) if a.__class__ is Analysis and a.problem == part]
        elif part == "area":
            candidates = [i for i in ok if not analyses[i].area.known]
        elif part == "area_abolished":
            candidates = [i for i in ok if analyses[i].area.abolished is not None]
        elif part == "permit_area":
            if self.type_field is None:
                return
            types, numbers = chunk.column(self.type_field), chunk.column(self.number_field)
            candidates = [i for i in ok if (types[i] == PERMIT_TYPE) is not (numbers[i][:6] in PERMIT_SET)]
        elif part == "upgraded15":
            candidates = [i for i in ok if analyses[i].upgraded]
        else:
            typed = chunk.column(self.birth_field if part == "birth" else self.sex_field)
            attr = "birth" if part == "birth" else "sex"
            candidates = [i for i in ok if typed[i] is not None and typed[i] != getattr(analyses[i], attr)]
        for i in candidates:
            if mask is not None and not mask[i]:
                continue
            extra = self._judge(analyses[i], chunk, i)
            if extra is not None:
                field, variables = extra
                yield chunk.hit(i, field, variables)

    def _well_formed(self, chunk: Chunk, analyses: list[Any]) -> list[int]:
        """Rows holding a GB 11643 number that passed the chain (shared by the parts through the chunk)."""
        key = ("idnumber-ok", self.number_field, self.type_field, self.gb_types)
        ok = chunk.cache.get(key)
        if ok is None:
            ok = chunk.cache[key] = [i for i, a in enumerate(analyses)
                                     if a.__class__ is Analysis and a.problem is None]
        return ok

    def _documents(self, chunk: Chunk, analyses: list[Any], mask: list[bool] | None) -> Iterator[Hit]:
        verdicts, formats = self.verdicts, self.formats
        if len(verdicts) > MEMO_LIMIT:
            verdicts.clear()
        for i, a in enumerate(analyses):
            if a.__class__ is not str or (mask is not None and not mask[i]) or not OTHER_CHARS.match(a):
                continue  # characters that fit no document are ID-OTHER-TYPE's to report
            key = (formats, a)
            v = verdicts.get(key)
            if v is None:
                v = verdicts[key] = iddocs.judge(a, formats)
            if v.fits is None:
                extra: dict[str, Any] = {"expected": self.expected, "normalised": a}
                if v.checksum is not None:
                    extra["checksum_of"], extra["expected_check"] = v.checksum
                yield chunk.hit(i, self.number_field, extra)

    def _permit_mismatch(self, chunk: Chunk, i: int) -> str | None:
        """'permit' (a 居住证 number without a permit code), 'resident' (a permit code on a 居民身份证) or None."""
        if self.type_field is None:
            return None
        t = chunk.column(self.type_field)[i]
        if t is None or t == "" or t is INVALID:
            return None
        permit_area = chunk.column(self.number_field)[i][:6] in PERMIT_AREAS
        if t == PERMIT_TYPE and not permit_area:
            return "permit"
        if t != PERMIT_TYPE and permit_area:
            return "resident"
        return None

    def _judge(self, a: Analysis, chunk: Chunk, i: int) -> tuple[str, dict[str, Any]] | None:
        part, problem = self.part, a.problem
        number = chunk.column(self.number_field)[i]
        fifteen = len(number) == 15
        t = chunk.column(self.type_field)[i] if self.type_field else None
        digits = {"date_digits": "7～12" if fifteen else "7～14", "date_format": "YYMMDD" if fifteen else "YYYYMMDD",
                  "sex_digit": "15" if fifteen else "17",
                  "doc_name": "港澳台居民居住证号码" if t == PERMIT_TYPE else "居民身份证号"}
        if part in CHAIN:
            if problem != part:
                return None
            extra: dict[str, Any] = {"length": len(number), **digits}
            if part == "checksum":
                extra["expected"] = a.expected_check
            elif part == "length":
                extra["expected"] = "18 位（或旧式 15 位）"
            elif part == "date":
                extra["reason"] = a.reason
            return self.number_field, extra
        if problem is not None:
            return None
        if part == "area":
            return None if a.area.known else (self.number_field, {"area": number[:6], **digits})
        if part == "area_abolished":
            if a.area.abolished is None:
                return None
            return self.number_field, {"area": number[:6], "place": a.area.place, "abolished": a.area.abolished,
                                       "birth_year": a.birth.year}
        if part == "permit_area":
            mismatch = self._permit_mismatch(chunk, i)
            if mismatch is None:
                return None
            return self.number_field, {"area": number[:6], "mismatch": mismatch}
        if part == "upgraded15":
            return (self.number_field, {"expected": a.upgraded}) if a.upgraded else None
        if part == "birth":
            typed = chunk.column(self.birth_field)[i]
            if typed is None or typed is INVALID or a.birth is None:
                return None
            key = granular(typed)
            if key is None or compare(key, (a.birth.year, a.birth.month, a.birth.day)) == 0:
                return None
            return self.birth_field, {"expected": a.birth.isoformat(), **digits}
        if part == "sex":
            typed = chunk.column(self.sex_field)[i]
            if typed is None or typed is INVALID or a.sex is None or typed == a.sex:
                return None
            return self.sex_field, {"expected": self.sex_label(a.sex), **digits}
        return None
