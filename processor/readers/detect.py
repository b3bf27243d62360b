"""Which sheet is which: metadata, sheet names and header rows → SheetBlocks; WorkbookData for the engine."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from processor.findings import ERROR, WARNING, Finding, column_letter
from processor.rulepack.model import FieldSpec, RulePack, SheetSpec, fold_name

HEADER_SCAN_ROWS = 20
IGNORED_SHEETS = {fold_name(n) for n in ("说明", "填表说明", "_tmis", "_codes")}
# Sheets tmis adds to the workbook it sends back (feedback.py); a school that corrects that copy and sends
# it again must not be told they are unknown. A trailing number (汇总1) is a renamed clash.
REPORT_SHEETS = {fold_name(n) for n in ("错误清单", "警告清单", "汇总", "回执")}
_BRACKETED = re.compile(r"[（(【\[<《][^）)】\]>》]*[）)】\]>》]$")
_BLANK = " \t\r\n\u3000\xa0\u200b\u200c\u200d\ufeff"


class SheetSource(Protocol):
    """A sheet as a reader yields it: rows numbered from 0, cells with index 0 = column A."""

    title: str
    hidden: bool
    merged: list[tuple[tuple[int, int], tuple[int, int]]]

    def rows(self) -> Iterator[tuple[int, list[Any]]]: ...


def is_blank(cell: Any) -> bool:
    """True for None, '' and text made only of spaces (including full-width, no-break and zero-width)."""
    return cell is None or (cell.__class__ is str and not cell.strip(_BLANK))


def row_is_empty(row: list[Any]) -> bool:
    """True when no cell of the row holds anything."""
    n = row.count("")
    if n == len(row):
        return True
    for cell in row:
        if not is_blank(cell):
            return False
    return True


@dataclass
class SheetBlock:
    """One recognised sheet: its spec, where its header is, and which file column holds which field."""

    spec: SheetSpec
    title: str
    header_row: int  # 1-based Excel row of the (last) header row
    columns: dict[str, int]  # field code → 0-based column index in the file
    missing: list[str]  # input fields without a column
    extra_headers: list[tuple[int, str]]  # (column index, header text) matching no field
    source: Any = field(default=None, repr=False)
    width: int = 0  # rows are padded to at least this many cells
    derived: dict[str, int] = field(default_factory=dict)  # derived fields present as columns (not read)

    def iter_rows(self) -> Iterator[tuple[int, list[Any]]]:
        """(Excel row number, raw cells aligned to the file's columns) below the header; empty rows skipped.

        Raw cells are what the reader found: str, float, int, bool, datetime/date/time, '' or None for empty."""
        header = self.header_row
        width = self.width
        for index, row in self.source.rows():
            if index < header:
                continue
            if row_is_empty(row):
                continue
            if len(row) < width:
                row = list(row) + [""] * (width - len(row))
            yield index + 1, row

    def iter_chunks(self, n: int) -> Iterator[list[tuple[int, list[Any]]]]:
        """The same rows in lists of at most n (bounded memory)."""
        it = self.iter_rows()
        while chunk := list(itertools.islice(it, n)):
            yield chunk


@dataclass
class WorkbookData:
    """A read file: its format, template metadata, recognised sheets and the findings about its structure."""

    path: Path
    format: str
    meta: dict[str, Any]
    kind: str | None
    unit_code: str | None
    blocks: list[SheetBlock]
    findings: list[Finding]
    date1904: bool = False


# ------------------------------------------------------------------------------------- header index


# Headers that any list of people has (a payroll, a roster, a sign-up sheet): matching them says nothing about
# which of our sheets, or whether one of ours at all, a sheet is.
GENERIC_HEADERS = frozenset(fold_name(n) for n in (
    "备注", "序号", "编号", "性别", "说明", "其他", "单位", "部门", "姓名", "身份证号", "身份证号码", "联系电话"))


HITS_KEPT = 50_000  # header keys whose sheets _Index.hits remembers


@dataclass
class _Index:
    """Header text keys → fields, per sheet spec (built once per pack); the fields too common to tell."""

    by_sheet: dict[str, dict[str, FieldSpec]]
    generic: dict[str, set[str]]  # sheet id → codes of fields whose headers are generic or on most sheets
    _hits: dict[str, tuple[tuple[str, FieldSpec], ...]] = field(default_factory=dict, repr=False)

    def hits(self, key: str) -> tuple[tuple[str, FieldSpec], ...]:
        """(sheet id, field) of every sheet whose header ``key`` is, as ``_lookup`` finds it, in pack order."""
        hit = self._hits.get(key)
        if hit is None:
            if not key:
                return ()
            stripped = _BRACKETED.sub("", key)
            alt = stripped if stripped and stripped != key else None
            found = []
            for sid, keys in self.by_sheet.items():
                f = keys.get(key)
                if f is None and alt is not None:
                    f = keys.get(alt)
                if f is not None:
                    found.append((sid, f))
            if len(self._hits) >= HITS_KEPT:  # data cells in the head rows: new ones in every file
                self._hits.clear()
            hit = self._hits[key] = tuple(found)
        return hit

    @classmethod
    def build(cls, pack: RulePack) -> _Index:
        by_sheet: dict[str, dict[str, FieldSpec]] = {}
        for spec in pack.sheets.values():
            keys: dict[str, FieldSpec] = {}
            for f in spec.fields:
                for k in f.header_keys():
                    if k:
                        keys.setdefault(k, f)
            by_sheet[spec.id] = keys
        spread: dict[str, int] = {}
        for keys in by_sheet.values():
            for k in keys:
                spread[k] = spread.get(k, 0) + 1
        common = {k for k, n in spread.items() if n * 2 >= len(by_sheet) > 1} | GENERIC_HEADERS
        generic = {sid: {f.code for k, f in keys.items() if k in common} for sid, keys in by_sheet.items()}
        return cls(by_sheet, generic)


_INDEX_CACHE: dict[int, tuple[RulePack, _Index]] = {}


def _index(pack: RulePack) -> _Index:
    hit = _INDEX_CACHE.get(id(pack))
    if hit is None or hit[0] is not pack:
        hit = (pack, _Index.build(pack))
        _INDEX_CACHE.clear()
        _INDEX_CACHE[id(pack)] = hit
    return hit[1]


def header_key(text: Any) -> str:
    """The matching key of a header cell: NFKC, no spaces, no '*'."""
    if text is None or text == "":
        return ""
    if isinstance(text, float) and text.is_integer():
        text = int(text)
    return fold_name(str(text))


def _lookup(keys: dict[str, FieldSpec], key: str) -> FieldSpec | None:
    if not key:
        return None
    hit = keys.get(key)
    if hit is None:
        stripped = _BRACKETED.sub("", key)
        if stripped and stripped != key:
            hit = keys.get(stripped)
    return hit


@dataclass
class _Candidate:
    spec: SheetSpec
    row: int  # 0-based index into the head rows list
    labels: list[str]  # header text per column (merged cells filled)
    matched: dict[str, int]  # field code → column (first occurrence)
    score: int
    ratio: float


def _labels_for_row(head: list[list[Any]], r: int, merged: list[tuple[tuple[int, int], tuple[int, int]]],
                    width: int) -> list[str]:
    """Header texts of row r; a blank cell inside a merged range takes the range's top-left text."""
    row = head[r]
    labels = ["" if is_blank(c) else str(c).strip() for c in row] + [""] * (width - len(row))
    for (top, left), (bottom, right) in merged:
        if not top <= r <= bottom or top >= len(head):
            continue
        src = head[top][left] if left < len(head[top]) else ""
        text = "" if is_blank(src) else str(src).strip()
        for c in range(left, min(right, width - 1) + 1):
            if not labels[c]:
                labels[c] = text
    return labels


@dataclass
class _HeadRow:
    """One row of the head as every spec scores it, built in one pass over its cells for all specs at once
    (a template has some 30 sheets, each scored against every spec: per spec and cell it was most of reading a
    school's file)."""

    labels: list[str]  # header text per column (merged cells filled)
    matched: dict[str, dict[str, int]]  # sheet id → field code → column (first occurrence)
    fixed: dict[str, dict[int, str]]  # sheet id → blank column → the label above it that spec takes


def _head_row(index: _Index, head: list[list[Any]], r: int,
              merged: list[tuple[tuple[int, int], tuple[int, int]]], width: int) -> _HeadRow:
    labels = _labels_for_row(head, r, merged, width)
    matched: dict[str, dict[str, int]] = {}
    fixed: dict[str, dict[int, str]] = {}

    def match(sid: str, f: FieldSpec, c: int) -> None:
        if not f.derived:
            codes = matched.setdefault(sid, {})
            if f.code not in codes:
                codes[f.code] = c

    for c, text in enumerate(labels):
        if text:
            for sid, f in index.hits(header_key(text)):
                match(sid, f, c)
            continue
        # No merge information (ODS, CSV): a blank header cell may belong to a label one or two rows above,
        # for each spec the nearest one that is among its headers.
        done: set[str] = set()
        for up in (1, 2):
            if r - up < 0:
                break
            cell = head[r - up][c] if c < len(head[r - up]) else ""
            if is_blank(cell):
                continue
            shown = str(cell).strip()
            for sid, _f in index.hits(header_key(cell)):
                if sid in done:
                    continue
                done.add(sid)
                fixed.setdefault(sid, {})[c] = shown
                f = _lookup(index.by_sheet[sid], header_key(shown))
                if f is not None:
                    match(sid, f, c)
    return _HeadRow(labels, matched, fixed)


def _score(spec: SheetSpec, row: _HeadRow, r: int) -> _Candidate | None:
    """The candidate of header row ``r`` for ``spec``; None when not one of its headers is there."""
    matched = row.matched.get(spec.id)
    if not matched:
        return None
    labels = list(row.labels)
    for c, shown in row.fixed.get(spec.id, {}).items():
        labels[c] = shown
    n_fields = max(len(spec.input_fields), 1)
    return _Candidate(spec, r, labels, dict(matched), len(matched), len(matched) / n_fields)


def _best(specs: list[SheetSpec], index: _Index, head: list[list[Any]],
          merged: list[tuple[tuple[int, int], tuple[int, int]]], width: int,
          memo: dict[int, _HeadRow] | None = None) -> _Candidate | None:
    """The best header row of ``head`` for any of ``specs``; ``memo``: each row as scored, shared by the calls
    for one sheet (it does not depend on the spec)."""
    best: _Candidate | None = None
    memo = {} if memo is None else memo
    for r in range(len(head)):
        if r not in memo and not row_is_empty(head[r]):
            memo[r] = _head_row(index, head, r, merged, width)
    rows = [(r, row) for r, row in sorted(memo.items()) if row.matched]
    top: tuple[int, float] | None = None
    at: tuple[SheetSpec, _HeadRow, int] | None = None
    for spec in specs:
        n_fields = max(len(spec.input_fields), 1)
        for r, row in rows:
            matched = row.matched.get(spec.id)
            if not matched:
                continue
            key = (len(matched), len(matched) / n_fields)
            if top is None or key > top:  # the first of equals wins, in spec then row order
                top, at = key, (spec, row, r)
    if at is not None:
        best = _score(*at)
    return best


# Share of a sheet's header cells that must be fields of the template for the sheet to be taken as ours by
# its headers alone (a payroll has 身份证号码, 性别 and 备注 among twenty columns of pay).
MIN_HEADER_SHARE = 0.34


def _accepted_by_headers(cand: _Candidate | None, index: _Index) -> bool:
    """Enough header matches to recognise a sheet by its headers alone: three matches (or half the sheet's
    fields), of which two are particular to that sheet and a third of the headers are matches; or one
    particular field where nearly every header is a match."""
    if cand is None:
        return False
    generic = index.generic.get(cand.spec.id, set())
    particular = sum(1 for code in cand.matched if code not in generic)
    headers = sum(1 for text in cand.labels if text)
    if not (cand.score >= 3 or (cand.score >= 2 and cand.ratio >= 0.5)):
        return False
    if particular >= 2 and cand.score >= MIN_HEADER_SHARE * headers:
        return True
    return particular >= 1 and cand.score >= 0.75 * headers  # (nearly) every header is one of the sheet's


def _matched_headers(cand: _Candidate | None) -> list[str]:
    return [cand.labels[c] for c in sorted(cand.matched.values())] if cand is not None else []


def _header_end(cand: _Candidate, merged: list[tuple[tuple[int, int], tuple[int, int]]]) -> int:
    """0-based index of the last header row: a header merged down over several rows ends at the bottom."""
    end = cand.row
    cols = set(cand.matched.values())
    for (top, left), (bottom, right) in merged:
        if top <= cand.row <= bottom and any(left <= c <= right for c in cols):
            end = max(end, bottom)
    return end


class SheetDetector:
    """Maps the sheets of one file to the pack's sheet specifications."""

    def __init__(self, pack: RulePack, meta: dict[str, Any] | None = None) -> None:
        self.pack = pack
        self.index = _index(pack)
        self.meta = meta or {}
        self.findings: list[Finding] = []
        self._meta_sheets: dict[str, dict[str, Any]] = {}
        for entry in self.meta.get("sheets", []) or []:
            if isinstance(entry, dict) and entry.get("id") in pack.sheets and entry.get("name"):
                self._meta_sheets[fold_name(entry["name"])] = entry

    def _add(self, rule: str, severity: str, sheet: str, row: int | None, col: int | None, fcode: str | None,
             value: str | None, message: str, hint: str) -> None:
        if rule in self.pack.disabled:
            return
        self.findings.append(Finding(sheet=sheet, row=row, column=column_letter(col) if col is not None else None,
                                     field=fcode, value=value, rule=rule, severity=severity, message=message,
                                     hint=hint))

    def detect(self, source: SheetSource) -> SheetBlock | None:
        """A SheetBlock for a sheet, or None (ignored; a visible sheet with data adds SHEET-UNKNOWN)."""
        title = source.title
        if (fold_name(title).lower() in IGNORED_SHEETS or fold_name(title) in IGNORED_SHEETS
                or fold_name(title).rstrip("0123456789") in REPORT_SHEETS):
            return None
        head: list[list[Any]] = []
        has_data = False
        for index, row in source.rows():
            if index >= HEADER_SCAN_ROWS:
                has_data = has_data or not row_is_empty(row)
                break
            while len(head) < index:
                head.append([])
            head.append(list(row))
            has_data = has_data or not row_is_empty(row)
        if not has_data:
            return None
        width = max((len(r) for r in head), default=0)
        merged = [m for m in source.merged if m[0][0] < len(head)]
        all_specs = list(self.pack.ordered_sheets())
        named: SheetSpec | None = None
        entry = self._meta_sheets.get(fold_name(title))
        if entry is not None:
            named = self.pack.sheets[entry["id"]]
        if named is None:
            named = self.pack.sheet_by_name(title)
        cand: _Candidate | None = None
        memo: dict[int, _HeadRow] = {}
        if named is not None:
            cand = _best([named], self.index, head, merged, width, memo)
            other = _best([s for s in all_specs if s is not named], self.index, head, merged, width, memo)
            if (other is not None and _accepted_by_headers(other, self.index)
                    and (cand is None or other.score > cand.score + 2)):
                cand = other  # a sheet renamed to another category's name: its headers decide
            if cand is None or cand.score < 2:
                if source.hidden:
                    return None
                self._add("HEADER-MISSING", ERROR, title, None, None, None, None,
                          f"工作表“{title}”找不到表头行（前 {HEADER_SCAN_ROWS} 行中没有可识别的字段名）",
                          "请使用官方模板，不要删除或改写表头行。")
                return None
        else:
            cand = _best(all_specs, self.index, head, merged, width, memo)
            if not _accepted_by_headers(cand, self.index):
                if not source.hidden:
                    same = _matched_headers(cand)
                    why = (f"表头中只有{'、'.join(f'“{t}”' for t in same[:6])}与模板相同，不足以认定是哪一张信息表。"
                           if same else "")
                    self._add("SHEET-UNKNOWN", WARNING, title, None, None, None, None,
                              f"无法识别工作表“{title}”属于哪一类信息，该表未被读取",
                              f"{why}请使用官方模板中的工作表名称和表头；不需要的工作表请删除。")
                return None
        assert cand is not None
        return self._block(cand, title, head, merged, width, source)

    def _block(self, cand: _Candidate, title: str, head: list[list[Any]],
               merged: list[tuple[tuple[int, int], tuple[int, int]]], width: int, source: SheetSource) -> SheetBlock:
        spec = cand.spec
        keys = self.index.by_sheet[spec.id]
        header_end = _header_end(cand, merged)
        header_row = header_end + 1
        columns: dict[str, int] = {}
        derived: dict[str, int] = {}
        extra: list[tuple[int, str]] = []
        for c, text in enumerate(cand.labels):
            if not text:
                continue
            f = _lookup(keys, header_key(text))
            if f is None:
                extra.append((c, text))
                self._add("HEADER-UNKNOWN", WARNING, title, header_row, c, None, text,
                          f"表头“{text}”不是本表的字段，该列未被读取",
                          "如果这一列是需要的信息，请按官方模板的字段名填写表头；否则请删除该列。")
                continue
            if f.derived:
                derived.setdefault(f.code, c)
                continue
            if f.code in columns:
                self._add("HEADER-DUPLICATE", ERROR, title, header_row, c, f.code, text,
                          f"字段“{f.label}”出现了两次（{column_letter(columns[f.code])} 列和 {column_letter(c)} 列），"
                          f"只读取了 {column_letter(columns[f.code])} 列",
                          "请删除重复的列，只保留一列。")
                continue
            columns[f.code] = c
        missing = [f.code for f in spec.input_fields if f.code not in columns]
        for code in missing:
            f = spec.field(code)
            if f.required and not f.variants:
                self._add("HEADER-MISSING", ERROR, title, header_row, None, code, None,
                          f"缺少必填字段“{f.label}”的列",
                          f"请使用官方模板，或在表头行加上“{f.header}”列并填写。")
        return SheetBlock(spec=spec, title=title, header_row=header_row, columns=columns, missing=missing,
                          extra_headers=extra, source=source, derived=derived,
                          width=max([width, *(c + 1 for c in columns.values()), *(c + 1 for c in derived.values())]))


def infer_kind(pack: RulePack, blocks: list[SheetBlock]) -> str | None:
    """'new-teachers' when every recognised sheet belongs to the new-teacher template, else 'teachers'."""
    if not blocks:
        return None
    new_ids = set(pack.kinds.get("new-teachers", {}).get("sheets", []) or
                  [s.id for s in pack.sheets.values() if s.new_teacher])
    if new_ids and {b.spec.id for b in blocks} == new_ids:
        return "new-teachers"
    return "teachers" if "teachers" in pack.kinds or not pack.kinds else next(iter(pack.kinds))
