"""The in-memory shape of a rule pack after the overlay is applied."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

# text: free text; code: one value of a code table; codes: several codes in one cell;
# date YYYY-MM-DD; month YYYY-MM; year YYYY; int; decimal; yesno (code table 是否);
# idnumber: an identity-document number (kept as text, never as a number).
FIELD_TYPES = ("text", "code", "codes", "date", "month", "year", "int", "decimal", "yesno", "idnumber")

MULTI_SEPARATORS = re.compile(r"[,，、;；|/\s]+")


_FOLD_DROP = re.compile(r"[\s\u200b\u200c\u200d\ufeff*＊]+")


@lru_cache(maxsize=65_536)
def _fold(text: str) -> str:
    return _FOLD_DROP.sub("", unicodedata.normalize("NFKC", text)).strip()


def fold_name(text: str) -> str:
    """A key for matching names: NFKC (full-width → half-width), no spaces, no brackets' width differences.
    Memoised: every file's header rows ask for the same few hundred labels (sheet detection)."""
    return _fold(text if type(text) is str else str(text))


@dataclass(slots=True)
class CodeEntry:
    code: str
    name: str
    parent: str | None = None
    aliases: tuple[str, ...] = ()
    note: str = ""
    selectable: bool = True


@dataclass
class CodeTable:
    """A code table (national standard or system list). ``lookup`` maps code / name / alias / 'code-name'."""

    id: str
    title: str
    entries: dict[str, CodeEntry]
    source: str = ""
    confidence: str = "C"
    strip_suffix: str = ""
    historical: dict[str, str] = field(default_factory=dict)  # old name → code (accepted with a warning)
    file: str = ""
    _index: dict[str, str] | None = field(default=None, repr=False)
    _width: int | None = field(default=None, repr=False)

    def _build(self) -> dict[str, str]:
        index: dict[str, str] = {}
        widths = {len(c) for c in self.entries if c.isdigit()}
        self._width = widths.pop() if len(widths) == 1 else None
        for entry in self.entries.values():
            for key in (entry.name, *entry.aliases):
                k = fold_name(key)
                index.setdefault(k, entry.code)
                if self.strip_suffix and k.endswith(self.strip_suffix) and len(k) > len(self.strip_suffix):
                    index.setdefault(k[: -len(self.strip_suffix)], entry.code)
        for entry in self.entries.values():
            index[fold_name(entry.code)] = entry.code
        return index

    @property
    def index(self) -> dict[str, str]:
        if self._index is None:
            self._index = self._build()
        return self._index

    def lookup(self, raw: str) -> str | None:
        """The code for a value written as code, name, alias or 'code-name'; None when unknown.

        A code that lost its leading zeros (民族 01 typed as 1) is found when the table's codes all
        have one width."""
        key = fold_name(raw)
        if not key:
            return None
        index = self.index
        hit = index.get(key)
        if hit is not None:
            return hit
        m = re.match(r"^([0-9A-Za-z]+)\s*[-－—_:：.、\s]\s*(.+)$", unicodedata.normalize("NFKC", str(raw)).strip())
        if m:
            code, name = m.group(1), fold_name(m.group(2))
            code = self._pad(code)
            if code in self.entries and (index.get(name) == code or name == fold_name(self.entries[code].name)):
                return code
        padded = self._pad(key)
        if padded in self.entries:
            return padded
        upper = key.upper()
        if upper in self.entries:
            return upper
        return None

    def _pad(self, code: str) -> str:
        if self._index is None:
            self._index = self._build()
        if self._width and code.isdigit() and len(code) < self._width:
            return code.zfill(self._width)
        return code

    def historical_code(self, raw: str) -> str | None:
        """The current code for an old name (毛难族 → 36), or None."""
        return self.historical.get(fold_name(raw))

    def label(self, code: str) -> str:
        """'code-name' as the national system writes it (e.g. '1-男性')."""
        entry = self.entries.get(code)
        return f"{code}-{entry.name}" if entry else code

    def choices(self) -> list[str]:
        """The dropdown entries for a template: 'code-name' of every selectable code."""
        return [f"{e.code}-{e.name}" for e in self.entries.values() if e.selectable]


@dataclass
class FieldSpec:
    """One column of one sheet."""

    code: str
    label: str
    type: str
    required: bool = False
    derived: bool = False
    table: str | None = None
    max_length: int | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    aliases: tuple[str, ...] = ()
    width: int | None = None
    default: str | None = None
    example: str | None = None
    note: str = ""
    confidence: str = "C"
    source: str = ""
    variants: tuple[str, ...] = ()  # school-type variants that carry this field; empty = all

    @property
    def is_coded(self) -> bool:
        return self.type in ("code", "codes", "yesno")

    @property
    def header(self) -> str:
        """The header text in the official template: required fields carry a leading '*'."""
        return f"*{self.label}" if self.required else self.label

    def header_keys(self) -> set[str]:
        return {fold_name(self.label), fold_name(self.code), *(fold_name(a) for a in self.aliases)}


@dataclass
class SheetSpec:
    """One sheet of the template (one information category or sub-kind)."""

    id: str
    name: str
    category: int
    order: int
    records: str  # "one" | "many"
    fields: list[FieldSpec]
    aliases: tuple[str, ...] = ()
    new_teacher: bool = False
    note: str = ""
    confidence: str = "C"
    file: str = ""

    def field(self, code: str) -> FieldSpec:
        for f in self.fields:
            if f.code == code:
                return f
        raise KeyError(code)

    def has_field(self, code: str) -> bool:
        return any(f.code == code for f in self.fields)

    @property
    def input_fields(self) -> list[FieldSpec]:
        """The fields a school fills (template columns): everything but derived fields."""
        return [f for f in self.fields if not f.derived]

    def name_keys(self) -> set[str]:
        return {fold_name(self.name), fold_name(self.id), *(fold_name(a) for a in self.aliases)}


@dataclass
class RuleDef:
    """One validation rule as written in a rules/*.toml file (or generated from a field spec)."""

    id: str
    kind: str
    sheet: str  # a sheet id or "*"
    fields: tuple[str, ...]
    severity: str = "error"
    when: str | None = None
    message: str = ""
    hint: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    file: str = ""
    line: int | None = None
    generated: bool = False

    @property
    def where(self) -> str:
        """'rules/core/rules/basic.toml 第 12 行' for messages about the rule itself."""
        return f"{self.file} 第 {self.line} 行" if self.line else self.file


@dataclass
class RulePack:
    """What is in force: the core pack with the province overlay applied."""

    name: str
    version: str
    template_version: str
    sheets: dict[str, SheetSpec]
    tables: dict[str, CodeTable]
    rules: list[RuleDef]
    kinds: dict[str, dict[str, Any]]
    disabled: set[str] = field(default_factory=set)
    layers: list[str] = field(default_factory=list)  # names of the packs applied, core first
    settings: dict[str, Any] = field(default_factory=dict)

    def sheet(self, sheet_id: str) -> SheetSpec:
        return self.sheets[sheet_id]

    def ordered_sheets(self) -> list[SheetSpec]:
        return sorted(self.sheets.values(), key=lambda s: (s.order, s.id))

    def sheets_for_kind(self, kind: str) -> list[SheetSpec]:
        ids = self.kinds[kind]["sheets"]
        return [self.sheets[i] for i in ids]

    def sheet_by_name(self, name: str) -> SheetSpec | None:
        key = fold_name(name)
        for s in self.sheets.values():
            if key in s.name_keys():
                return s
        return None

    def school_type_for(self, unit_code: str | None) -> str | None:
        """The template variant of a school: [settings] school_type_by_prefix on its 10-digit code, else
        default_school_type; None for an unknown or non-school unit."""
        if not unit_code or len(unit_code) != 10 or not unit_code.isdigit():
            return None
        by_prefix = self.settings.get("school_type_by_prefix") or {}
        for prefix, variant in sorted(by_prefix.items(), key=lambda kv: -len(kv[0])):
            if unit_code.startswith(str(prefix)):
                return str(variant)
        default = self.settings.get("default_school_type")
        return str(default) if default else None

    def active_rules(self) -> list[RuleDef]:
        """Rules in force: every rule whose id (or 'ID@sheet.field' instance id) is not switched off."""
        key = (id(self.rules), len(self.rules), frozenset(self.disabled))
        cached = self.__dict__.get("_active")
        if cached is not None and cached[0] == key:
            return list(cached[1])
        out = self._active_rules()
        self.__dict__["_active"] = (key, out)
        return list(out)

    def _active_rules(self) -> list[RuleDef]:
        out = []
        for r in self.rules:
            if r.id in self.disabled:
                continue
            if any(f"{r.id}@{r.sheet}.{f}" in self.disabled for f in r.fields):
                continue
            out.append(r)
        return out
