"""`tmis exchange import`: a foreign file through its profile into the store, chunk by chunk, resumable.

Order, chosen so that a crash at any moment stores nothing twice:
1. Refusals first (profile, encoding, layout, unit): nothing is stored for a refused file.
2. The file's sha256 names the import. A finished import of the same content is answered "already
   imported"; an unfinished one (the process was killed) is resumed.
3. The rows are read, mapped, normalised and validated (the pipeline's Validator, per school) and stored
   (the pipeline's ingest, by the profile's route) chunk by chunk; each chunk is one transaction that also
   saves its findings and advances the import's restart point (``exchange_imports.chunks_done``). A resumed
   run reads past the committed chunks without storing them again.
4. At the end the error report (rows and cells of the foreign file) goes to outbox/<unit>/ as for a
   school's file."""

from __future__ import annotations

import gc
import logging
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from processor.audit import audit
from processor.errors import InputError
from processor.exchange import worker
from processor.exchange.mapper import (
    Layout,
    MonthOnly,
    ValueMapper,
    complete_month,
    find_layouts,
    letter,
    open_foreign,
    split_phones,
)
from processor.exchange.profile import PERSON_FIELDS, Profile
from processor.feedback import ReportContext, SheetStat, safe_filename, write_report
from processor.findings import ERROR, WARNING, Finding
from processor.ingest import DEFAULT_ID_TYPE, ingest, save_findings, status_for
from processor.readers.detect import SheetBlock, WorkbookData, row_is_empty
from processor.review.intake import entry_step, settle_unreviewed
from processor.rulepack.model import RulePack, fold_name
from processor.store import stats
from processor.store.models import ExchangeImport, RecordVersion, Submission, Teacher, Unit
from processor.store.models import Finding as FindingRow

log = logging.getLogger(__name__)

ACTOR = "exchange"
CHANNEL = "exchange"
UNMAPPED = "EXCHANGE-UNMAPPED"
SCHOOL_UNKNOWN = "EXCHANGE-SCHOOL-UNKNOWN"
SCHOOL_NAME = "EXCHANGE-SCHOOL-NAME"
DUPLICATE = "EXCHANGE-DUPLICATE"
NOT_STORED = "ROW-NOT-STORED"
HEADER_UNKNOWN = "HEADER-UNKNOWN"
COLUMN_IGNORED = "EXCHANGE-COLUMN-IGNORED"
ANNOTATE_MAX_ROWS = 5_000  # larger imports get the list-only report (rebuilding a foreign file costs minutes)


@dataclass
class ImportOutcome:
    """What an import did (also the JSON of `tmis exchange import --format json`)."""

    status: str  # done | duplicate
    file: str
    profile: str
    route: str
    import_id: int
    submission_id: int
    unit: str | None
    rows: int
    stored: int
    errors: int
    warnings: int
    resumed: int
    chunks: int
    report: Path | None
    findings: list[Finding] = field(default_factory=list)
    sheets: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "profile": self.profile, "status": self.status, "route": self.route,
                "import": self.import_id, "submission": self.submission_id, "unit": self.unit, "rows": self.rows,
                "stored": self.stored, "errors": self.errors, "warnings": self.warnings, "resumed": self.resumed,
                "chunks": self.chunks, "sheets": self.sheets, "report": str(self.report) if self.report else None,
                "findings": [f.to_dict() for f in self.findings]}


class _ChunkBlock(SheetBlock):
    """A SheetBlock over rows already in memory (one chunk of one school), for the engine."""

    def __init__(self, spec: Any, title: str, header_row: int, columns: dict[str, int], rows: list[Any],
                 width: int, absent: set[str]) -> None:
        super().__init__(spec=spec, title=title, header_row=header_row, columns=columns, missing=[],
                         extra_headers=[], source=None, width=width)
        self._rows = rows
        # Fields the profile says the layout does not carry: no rule asks each row for them (see checks/required).
        self.absent_fields = frozenset(absent)

    def iter_rows(self) -> Iterator[tuple[int, list[Any]]]:
        return iter(self._rows)

    def iter_chunks(self, n: int) -> Iterator[list[tuple[int, list[Any]]]]:
        for i in range(0, len(self._rows), n):
            yield self._rows[i:i + n]


class _ReportBlock(SheetBlock):
    """The foreign sheet as read (every header, raw cells), for the report's rebuilt copy of a CSV or .xls."""

    def __init__(self, spec: Any, layout: Layout) -> None:
        super().__init__(spec=spec, title=layout.title, header_row=layout.header_row + 1, columns={}, missing=[],
                         extra_headers=list(layout.headers), source=None, width=layout.width)
        self._layout = layout

    def iter_rows(self) -> Iterator[tuple[int, list[Any]]]:
        header = self._layout.header_row
        for index, row in self._layout.source.rows():
            if index > header and not row_is_empty(row):
                yield index + 1, row


@dataclass
class _Schools:
    """Schools the rows may name: by code and by folded name, within the import's unit."""

    by_code: dict[str, tuple[str, str]]  # code → (name, level)
    inside: set[str]  # codes within --unit's subtree
    by_name: dict[str, list[str]]
    unit: Unit | None

    @classmethod
    def load(cls, session: Session, unit: Unit | None) -> _Schools:
        from processor.units import subtree_codes

        by_code = {c: (n, lv) for c, n, lv in session.execute(select(Unit.code, Unit.name, Unit.level))}
        if unit is None:
            inside = set(by_code)
        else:
            inside = set(session.scalars(subtree_codes(unit.code)))
        by_name: dict[str, list[str]] = defaultdict(list)
        for code, (name, level) in by_code.items():
            if level == "school" and code in inside:
                by_name[fold_name(name)].append(code)
        return cls(by_code, inside, dict(by_name), unit)


class _Importer:
    """One run of one import (new or resumed)."""

    def __init__(self, path: Path, profile: Profile, config: Any, pack: RulePack, engine: Engine,
                 unit_code: str | None, progress: Callable[[int, int], None] | None) -> None:
        self.path, self.profile, self.config, self.pack, self.engine = path, profile, config, pack, engine
        self.unit_code = unit_code
        self.progress = progress
        self.name = path.name
        self.person_sheet = pack.settings.get("person_sheet", "basic")
        # sheet id → identity number → first row, one-record sheets (a million numbers: no tuple per number)
        self.seen: dict[str, dict[str, int]] = defaultdict(dict)
        self.bad_ids: dict[str, tuple[str, int]] = {}  # identity number → (sheet title, row) of its failed 基本信息
        self.id_norm = None
        self._school_memo: dict[Any, tuple[str | None, Finding | None]] = {}
        self._name_memo: dict[tuple[Any, str], bool] = {}

    # -- preparation (nothing stored) ------------------------------------------------------------
    def prepare(self) -> None:
        from processor.pipeline import _limits

        sources, self.date1904 = open_foreign(self.path, self.profile, _limits(self.config), self.name)
        self.layouts = find_layouts(sources, self.profile, self.pack, self.name)
        with Session(self.engine) as session:
            unit = None
            if self.unit_code:
                from processor.units import require_unit

                unit = require_unit(session, self.unit_code)
                self.unit_code = unit.code
            self.schools = _Schools.load(session, unit)
        from processor.normalise import normaliser_for

        self.id_norm = normaliser_for(self.pack.sheets[self.person_sheet].field("id_number"))
        self.mappers: dict[int, dict[int, ValueMapper]] = {}
        for li, layout in enumerate(self.layouts):
            maps: dict[int, ValueMapper] = {}
            for idx, col in layout.columns:
                if col.role == "field" and col.sheet and col.field:
                    spec = self.pack.sheets[col.sheet].field(col.field)
                    maps[idx] = ValueMapper(col, spec.type)
            self.mappers[li] = maps

    def layout_findings(self) -> list[Finding]:
        out = []
        for layout in self.layouts:
            for idx, text in layout.unknown:
                out.append(Finding(layout.title, layout.header_row + 1, letter(idx), None, text, HEADER_UNKNOWN, WARNING,
                                   f"表头“{text}”不在交换档案 {self.profile.name} 中，该列未导入",
                                   f"如果这一列需要导入，请在交换档案 {self.profile.name} 的 profile.toml 中为它加一个 [[column]]。"))
            for idx, col in layout.columns:
                if col.role == "ignore":
                    out.append(Finding(layout.title, layout.header_row + 1, letter(idx), None, col.header,
                                       COLUMN_IGNORED, WARNING, f"“{col.header}”列未导入：{col.ignore}",
                                       "这是交换档案的约定，无需处理。"))
        return out

    # -- chunks ----------------------------------------------------------------------------------
    def chunks(self, size: int) -> Iterator[tuple[int, list[tuple[int, list[Any]]]]]:
        """(layout index, rows) in a fixed order: the same chunks on every run over the same file."""
        for li, layout in enumerate(self.layouts):
            header = layout.header_row
            rows = ((i + 1, r) for i, r in layout.source.rows() if i > header and not row_is_empty(r))
            while part := list(islice(rows, size)):
                yield li, part

    def pending_chunks(self, size: int, committed: int, sub_id: int) -> Iterator[
            tuple[int, int, list[tuple[int, list[Any]]]]]:
        """(chunk index, layout index, rows) of the chunks still to store; the ``committed`` ones before them
        are read past, only replayed (the cross-chunk memory rebuilt, nothing stored)."""
        for i, (li, rows) in enumerate(self.chunks(size)):
            if i < committed:
                with Session(self.engine) as session:
                    self.replay(session, sub_id, li, rows)
                continue
            yield i, li, rows

    def _school_of(self, layout: Layout, cells: list[Any], row: int) -> tuple[str | None, Finding | None]:
        code_idx = layout.index_of("school_code")
        name_idx = layout.index_of("school_name")
        raw_code = cells[code_idx] if code_idx is not None and code_idx < len(cells) else None
        raw_name = cells[name_idx] if name_idx is not None and name_idx < len(cells) else None
        key = (id(layout), raw_code, raw_name)
        hit = self._school_memo.get(key)
        if hit is None:
            hit = self._school_memo[key] = self._school_lookup(layout, code_idx, name_idx, raw_code, raw_name)
        code, problem = hit
        if problem is not None:
            problem = Finding(problem.sheet, row, problem.column, problem.field, problem.value, problem.rule,
                              problem.severity, problem.message, problem.hint)
        return code, problem

    def _school_lookup(self, layout: Layout, code_idx: int | None, name_idx: int | None, raw_code: Any,
                       raw_name: Any) -> tuple[str | None, Finding | None]:
        p = self.profile
        row = None
        code = fold_name(str(int(raw_code) if isinstance(raw_code, float) and raw_code.is_integer() else raw_code)) \
            if raw_code not in (None, "") else ""
        name = fold_name(str(raw_name)) if raw_name not in (None, "") else ""
        where = letter(code_idx) if code_idx is not None else (letter(name_idx) if name_idx is not None else None)
        fix = "请确认该校已用 tmis units import 导入单位名录，或改正该行的学校代码后重新导入。"
        if code_idx is None and name_idx is None:
            unit = self.schools.unit
            if unit is not None and unit.level == "school":
                return unit.code, None
            return None, Finding(layout.title, row, None, None, None, SCHOOL_UNKNOWN, ERROR,
                                 "文件中没有学校代码列，无法确定本行属于哪所学校",
                                 "请用 --unit 指定学校，或按交换档案的布局导出带学校代码的文件。")
        if code:
            hit = self.schools.by_code.get(code)
            if hit is None or hit[1] != "school":
                why = "不在本系统的单位名录中" if hit is None else f"是{hit[0]}，不是学校"
                return None, Finding(layout.title, row, where, "school_code", code, SCHOOL_UNKNOWN, ERROR,
                                     f"学校代码 {code} {why}，本行未导入", fix)
            if code not in self.schools.inside:
                return None, Finding(layout.title, row, where, "school_code", code, SCHOOL_UNKNOWN, ERROR,
                                     f"学校 {hit[0]}（{code}）不在单位 {self.unit_code} 的范围内，本行未导入",
                                     "请用 --unit 指定包含该校的单位，或从文件中删去该行。")
            return code, None
        if name and p.school_name and code_idx is None:
            codes = self.schools.by_name.get(name, [])
            if len(codes) == 1:
                return codes[0], None
            why = "不在本系统的单位名录中" if not codes else f"对应多所学校（{'、'.join(codes)}）"
            return None, Finding(layout.title, row, where, "school_name", str(raw_name), SCHOOL_UNKNOWN, ERROR,
                                 f"学校名称“{raw_name}”{why}，本行未导入", fix)
        return None, Finding(layout.title, row, where, "school_code", None, SCHOOL_UNKNOWN, ERROR,
                             "本行没有填学校代码，无法确定属于哪所学校，本行未导入", "请在该行填写 10 位学校标识码后重新导入。")

    def _name_check(self, layout: Layout, cells: list[Any], row: int, code: str) -> Finding | None:
        name_idx = layout.index_of("school_name")
        if name_idx is None or layout.index_of("school_code") is None or name_idx >= len(cells):
            return None
        raw = cells[name_idx]
        if raw in (None, ""):
            return None
        known = self.schools.by_code[code][0]
        same = self._name_memo.get((raw, code))
        if same is None:
            same = self._name_memo[(raw, code)] = fold_name(str(raw)) == fold_name(known)
        if not same:
            return Finding(layout.title, row, letter(name_idx), "school_name", str(raw), SCHOOL_NAME, WARNING,
                           f"学校名称“{raw}”与单位名录中代码 {code} 的名称“{known}”不一致，已按学校代码导入",
                           "如果学校代码填错了，请改正后重新导入；名称不一致本身不影响导入。")
        return None

    def map_chunk(self, li: int, rows: list[tuple[int, list[Any]]]) -> tuple[
            dict[str, dict[str, list[tuple[int, list[Any]]]]], list[Finding]]:
        """school → sheet id → (row, mapped cells); findings of the mapping (unknown school, unmapped value)."""
        layout = self.layouts[li]
        maps = self.mappers[li]
        p = self.profile
        width = layout.width
        consts = p.constants
        findings: list[Finding] = []
        by_school: dict[str, dict[str, list[tuple[int, list[Any]]]]] = defaultdict(lambda: defaultdict(list))
        sheets = [layout.sheet] if layout.sheet else p.target_sheets()
        own_idx = {sid: [i for i, c in layout.columns if c.role == "field" and c.sheet == sid
                         and (sid == self.person_sheet or c.field not in PERSON_FIELDS)] for sid in sheets}
        id_idx = self._person_index(layout, "id_number")
        month_only = [i for i, m in maps.items() if m.col.complete_from_id]
        mobile_idx = [i for c in p.mobile_columns() for i, lc in layout.columns if lc is c]
        mobile_base = width + len(consts)
        for sid in sheets:
            own_idx[sid] += [mobile_base + k for k, c in enumerate(p.mobile_columns()) if c.sheet == sid]
        for row, cells in rows:
            school, problem = self._school_of(layout, cells, row)
            if problem is not None:
                findings.append(problem)
                continue
            check = self._name_check(layout, cells, row, school)
            if check is not None:
                findings.append(check)
            mapped = (list(cells[:width]) + [None] * max(0, width - len(cells)) + [k.value for k in consts]
                      + [None] * len(mobile_idx))
            bad_sheets: set[str] = set()
            for idx, mapper in maps.items():
                if idx >= len(cells):
                    continue
                value, why = mapper(cells[idx])
                if why is not None:
                    col = mapper.col
                    bad_sheets.add(col.sheet)
                    spec = self.pack.sheets[col.sheet].field(col.field)
                    whole = col.sheet == self.person_sheet and layout.sheet is None
                    findings.append(self._unmapped(layout, row, idx, col, spec.label, cells[idx], why, whole))
                    value = None
                mapped[idx] = value
            for k, idx in enumerate(mobile_idx):
                mapped[idx], mapped[mobile_base + k] = split_phones(mapped[idx])
            for idx in month_only:
                v = mapped[idx]
                if isinstance(v, MonthOnly):
                    mapped[idx] = complete_month(v, mapped[id_idx] if id_idx is not None else None)
            if self.person_sheet in bad_sheets and layout.sheet is None:
                continue  # a flat row is one person: without its 基本信息 nothing of it is stored
            for sid in sheets:
                if sid in bad_sheets:
                    continue
                if sid != self.person_sheet and not any(mapped[i] not in (None, "") for i in own_idx[sid]):
                    continue  # the foreign row carries nothing of this category
                by_school[school][sid].append((row, mapped))
        return by_school, findings

    def _person_index(self, layout: Layout, code: str) -> int | None:
        sid = layout.sheet or self.person_sheet
        return layout.index_of("field", sid, code)

    def _unmapped(self, layout: Layout, row: int, idx: int, col: Any, label: str, raw: Any, why: str,
                  whole: bool) -> Finding:
        shown = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw)
        entry = col.map.entry_hint(shown)
        if why:
            message = f"{label}“{shown}”在交换档案 {self.profile.name} 的代码对照表 {col.map.file.name} 中没有对应的代码：{why}"
        else:
            message = f"{label}“{shown}”在交换档案 {self.profile.name} 的代码对照表 {col.map.file.name} 中没有对应的代码"
        return Finding(layout.title, row, letter(idx), col.field, shown, UNMAPPED, ERROR, message,
                       f"请在交换档案 {entry}（填上对应的本系统代码），或在原系统中改正该值后重新导入；"
                       + ("本行未导入。" if whole else "本行该类信息未导入。"))

    def columns_for(self, layout: Layout, sid: str) -> dict[str, int]:
        cols: dict[str, int] = {}
        for idx, col in layout.columns:
            if col.role != "field" or not col.field:
                continue
            if col.sheet == sid or (layout.sheet is None and col.sheet == self.person_sheet
                                    and col.field in PERSON_FIELDS and self.pack.sheets[sid].has_field(col.field)):
                cols.setdefault(col.field, idx)
        base = layout.width + len(self.profile.constants)
        for k, col in enumerate(self.profile.mobile_columns()):
            if col.sheet == sid and col.mobile_field:
                cols.setdefault(col.mobile_field, base + k)
        for k, const in enumerate(self.profile.constants):
            if const.sheet == sid or (const.sheet == self.person_sheet and const.field in PERSON_FIELDS
                                      and self.pack.sheets[sid].has_field(const.field)):
                cols.setdefault(const.field, layout.width + k)
        return cols

    def teacher_numbers_to_ids(self, session: Session, layout: Layout,
                               groups: dict[str, dict[str, list[tuple[int, list[Any]]]]]) -> None:
        """key = teacher_number: a row without an identity number takes the one of the teacher holding its number."""
        tn_idx = layout.index_of("teacher_number")
        id_idx = self._person_index(layout, "id_number")
        if tn_idx is None or id_idx is None:
            return
        wanted: dict[str, list[list[Any]]] = defaultdict(list)
        for sheets in groups.values():
            for rows in sheets.values():
                for _row, cells in rows:
                    if cells[id_idx] in (None, "") and cells[tn_idx] not in (None, ""):
                        wanted[_number_text(cells[tn_idx])].append(cells)
        if not wanted:
            return
        numbers = sorted(wanted)
        for i in range(0, len(numbers), 500):
            for tn, number in session.execute(select(Teacher.teacher_number, Teacher.id_number)
                                              .where(Teacher.teacher_number.in_(numbers[i:i + 500]))):
                for cells in wanted[tn]:
                    cells[id_idx] = number

    def store_teacher_numbers(self, session: Session, records: list[Any], stored_rows: set[int],
                              tn_cells: dict[int, Any] | None) -> None:
        """``tn_cells``: row → the row's teacher number cell (None: the layout has no such column)."""
        if tn_cells is None:
            return
        pairs: dict[str, str] = {}
        for rec in records:
            if rec.excel_row not in stored_rows:
                continue
            raw = tn_cells.get(rec.excel_row)
            number = _number_text(raw) if raw not in (None, "") else ""
            if len(number) == 18 and number.isdigit() and rec.values.get("id_number"):
                pairs[str(rec.values["id_number"])] = number
        if not pairs:
            return
        used = set(session.scalars(select(Teacher.teacher_number).where(Teacher.teacher_number.in_(list(pairs.values())))))
        for id_number, number in pairs.items():
            if number in used:
                continue
            session.execute(update(Teacher).where(Teacher.id_number == id_number, Teacher.teacher_number.is_(None))
                            .values(teacher_number=number).execution_options(synchronize_session=False))
            used.add(number)

    # -- one chunk, one transaction --------------------------------------------------------------
    def validate_chunk(self, li: int, rows: list[tuple[int, list[Any]]], validator: Any = None) -> tuple[
            list[Any], list[Finding]]:
        """Map and validate one chunk, per school, before its transaction opens (the engine's store look-ups
        read on connections of their own). Returns (school, workbook, result, findings, teacher number cell
        by row) groups."""
        from processor.pipeline import _school_findings, _validator

        layout = self.layouts[li]
        groups, findings = self.map_chunk(li, rows)
        if self.profile.key == "teacher_number":
            with Session(self.engine) as session:
                self.teacher_numbers_to_ids(session, layout, groups)
        if validator is None:
            validator = _validator(self.pack, self.engine, self.config.today,
                                   int(self.config.get("check", "max_findings")))
        tn_idx = layout.index_of("teacher_number") if layout.sheet is None or layout.sheet == self.person_sheet \
            else None
        out = []
        for school, sheets in groups.items():
            blocks = []
            tn_cells: dict[int, Any] | None = None if tn_idx is None else {}
            for sid, srows in sheets.items():
                srows = self._drop_failed_persons(layout, sid, srows, findings)
                if not srows:
                    continue
                if tn_cells is not None:
                    for r, c in srows:
                        tn_cells[r] = c[tn_idx] if tn_idx < len(c) else None
                blocks.append(_ChunkBlock(self.pack.sheets[sid], layout.title, layout.header_row + 1,
                                          self.columns_for(layout, sid), srows,
                                          layout.width + len(self.profile.constants)
                                          + len(self.profile.mobile_columns()),
                                          self.profile.absent.get(sid, set())))
            if not blocks:
                continue
            wb = WorkbookData(path=self.path, format=self.profile.format, meta={}, kind="teachers", unit_code=school,
                              blocks=blocks, findings=[], date1904=self.date1904)
            result = validator.validate(wb)
            found = _school_findings(result, self.name)
            self._cross_chunk_duplicates(layout, result, found)
            out.append((school, wb, result, found, tn_cells))
        return out, findings

    def store_chunk(self, session: Session, sub: Submission, state: ExchangeImport, li: int, n_rows: int,
                    validated: list[Any], findings: list[Finding]) -> None:
        """Store one validated chunk in the caller's transaction, with its findings and the restart point."""
        layout = self.layouts[li]
        counts = state.counts or {}
        sheet_counts: dict[str, dict[str, int]] = {k: dict(v) for k, v in (counts.get("sheets") or {}).items()}
        schools = set(counts.get("schools") or [])
        stored = 0
        for school, wb, result, found, tn_cells in validated:
            schools.add(school)
            # An authoritative source's records are stored effective at once, in the state settling them would
            # leave (superseding, teacher numbers); the others enter the review chain at the school's first
            # reviewing level, like a school's own file.
            effective = self.profile.route == "effective"
            step = None if effective else entry_step(session, self.config, school)
            done = ingest(session, pack=self.pack, wb=wb, result=result, submission=sub, unit_code=school,
                          accept_mode="row", store=True, review_step=step, effective=effective,
                          numbering=self.config.get("numbering", "scheme"))
            if step is None and not effective and done.stored:
                settle_unreviewed(session, self.config, self.pack, sub.id, done.version_ids)
            found = found + done.findings
            conflicts = {f.row for f in done.findings if f.rule == "PERSON-CONFLICT"}
            for rec in result.rows.get(self.person_sheet, []):
                number = rec.values.get("id_number")
                if number and (rec.has_error or rec.excel_row in conflicts):
                    self.bad_ids.setdefault(str(number), (layout.title, rec.excel_row))
            for sc in done.sheets:
                entry = sheet_counts.setdefault(sc.sheet_id, {"rows": 0, "stored": 0})
                entry["rows"] += sc.rows
                entry["stored"] += sc.stored
            stored += done.stored
            if layout.sheet is None or layout.sheet == self.person_sheet:
                stored_rows = {r.excel_row for r in result.rows.get(self.person_sheet, []) if not r.has_error
                               and r.excel_row not in conflicts}
                self.store_teacher_numbers(session, result.rows.get(self.person_sheet, []), stored_rows, tn_cells)
            findings += found
        save_findings(session, sub.id, findings)
        state.rows += n_rows
        state.stored += stored
        state.errors += sum(1 for f in findings if f.severity == ERROR)
        state.warnings += sum(1 for f in findings if f.severity != ERROR)
        state.counts = {"sheets": sheet_counts, "schools": sorted(schools)}
        state.chunks_done += 1

    def _drop_failed_persons(self, layout: Layout, sid: str, rows: list[tuple[int, list[Any]]],
                             findings: list[Finding]) -> list[tuple[int, list[Any]]]:
        """Rows of other sheets whose person's 基本信息 failed in an earlier chunk: not stored, and said why."""
        if sid == self.person_sheet or not self.bad_ids or layout.sheet is None:
            return rows
        idx = self.columns_for(layout, sid).get("id_number")
        if idx is None:
            return rows
        keep = []
        for r, cells in rows:
            number = self.id_norm(cells[idx]).value if cells[idx] not in (None, "") else None
            bad = self.bad_ids.get(str(number)) if number else None
            if bad is None:
                keep.append((r, cells))
                continue
            title = self.pack.sheets[self.person_sheet].name
            findings.append(Finding(layout.title, r, letter(idx), "id_number", str(number), NOT_STORED, WARNING,
                                    f"本行暂未入库：该人员的{title}（工作表“{bad[0]}”第 {bad[1]} 行）有错误",
                                    f"请先改正{title}工作表第 {bad[1]} 行的错误，再重新导入。"))
        return keep

    def _cross_chunk_duplicates(self, layout: Layout, result: Any, found: list[Finding]) -> None:
        """One-record sheets: a person already met in an earlier chunk of this file is an error, as in one file."""
        idx_cache: dict[str, int | None] = {}
        for sid, records in result.rows.items():
            if self.pack.sheets[sid].records != "one" or (layout.sheet is None and sid != self.person_sheet):
                continue  # a flat row's other categories follow its 基本信息 row
            if sid not in idx_cache:
                idx_cache[sid] = self.columns_for(layout, sid).get("id_number")
            for rec in records:
                number = rec.values.get("id_number")
                if not number:
                    continue
                seen = self.seen[sid]
                key = str(number)
                first = seen.get(key)
                if first is None:
                    seen[key] = rec.excel_row
                    continue
                if first == rec.excel_row or rec.has_error:
                    continue
                rec.has_error = True
                idx = idx_cache[sid]
                found.append(Finding(layout.title, rec.excel_row, letter(idx) if idx is not None else None,
                                     "id_number", str(number), DUPLICATE, ERROR,
                                     f"身份证件号“{number}”在本文件第 {first} 行已经出现过",
                                     "一人一行：请删除重复的行；若是两个人，请核对其中一人的号码是否填错。"))

    def replay(self, session: Session, sub_id: int, li: int, rows: list[tuple[int, list[Any]]]) -> None:
        """A committed chunk on a resumed run: nothing stored, only the cross-chunk memory rebuilt."""
        layout = self.layouts[li]
        sid = layout.sheet or self.person_sheet
        idx = self._person_index(layout, "id_number")
        if idx is None:
            return
        numbers = []
        for r, cells in rows:
            raw = cells[idx] if idx < len(cells) else None
            number = self.id_norm(raw).value if raw not in (None, "") else None
            if number:
                numbers.append((r, str(number)))
        one_record = [sid] if self.pack.sheets[sid].records == "one" else []
        for r, number in numbers:
            for s in one_record:
                self.seen[s].setdefault(number, r)
        if sid == self.person_sheet and numbers:
            stored = set()
            wanted = sorted({n for _, n in numbers})
            for i in range(0, len(wanted), 500):
                stored.update(session.scalars(
                    select(Teacher.id_number).join(RecordVersion, RecordVersion.teacher_id == Teacher.id)
                    .where(RecordVersion.submission_id == sub_id, RecordVersion.category == self.person_sheet,
                           Teacher.id_number.in_(wanted[i:i + 500]))))
            for r, number in numbers:
                if number not in stored:
                    self.bad_ids.setdefault(number, (layout.title, r))


def _number_text(raw: Any) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return fold_name(str(raw))


def import_file(path: str | Path, profile: Profile, config: Any, pack: RulePack, engine: Engine, *,
                unit_code: str | None = None, progress: Callable[[int, int], None] | None = None) -> ImportOutcome:
    """Import a foreign file through ``profile``; resumes an interrupted import of the same file.

    Raises InputError (nothing stored) when the file is refused."""
    from processor.pipeline import StateDirs, sha256_of

    path = Path(path)
    run = _Importer(path, profile, config, pack, engine, unit_code, progress)
    sha = sha256_of(path)
    with Session(engine) as session:
        sub = session.scalars(select(Submission).where(Submission.sha256 == sha)).first()
        state = session.scalars(select(ExchangeImport).where(ExchangeImport.submission_id == sub.id)).first() \
            if sub is not None else None
        if sub is not None and state is None:
            raise InputError(f"内容相同的文件已于 {sub.received_at:%Y-%m-%d %H:%M} 作为报送文件收到（收件编号 {sub.id}），"
                             "不能再作为交换文件导入", file=path.name, hint="同一份数据只入库一次。")
        if state is not None and state.profile != profile.name:
            raise InputError(f"该文件已按交换档案 {state.profile} 导入（导入编号 {state.id}），不能再按 {profile.name} 导入",
                             file=path.name, hint="同一份数据只入库一次；如确需按另一档案导入，请先查明原因。")
        if state is not None and state.status == "done":
            return _outcome(session, state, sub, "duplicate", profile)
        if state is not None and (unit_code or None) != state.unit_code and unit_code is not None:
            raise InputError(f"该文件的导入（导入编号 {state.id}）中断前是按单位 {state.unit_code or '（全部）'} 进行的，"
                             f"不能改为 {unit_code} 继续", file=path.name,
                             hint=f"请用与上次相同的 --unit 参数（上次：{state.unit_code or '未指定'}）再次运行，从中断处继续。")
        if state is not None:
            run.unit_code = state.unit_code
    run.prepare()  # refusals: nothing stored
    chunk_rows = int(config.get("exchange", "chunk_rows"))
    received = datetime.now(UTC)
    dirs = StateDirs(config.state_dir)
    dirs.make()
    with Session(engine, expire_on_commit=False) as session, session.begin():
        if state is None:
            sub = Submission(sha256=sha, original_name=path.name[:500], channel=CHANNEL, sender=ACTOR,
                             kind=f"exchange:{profile.name}"[:40], unit_code=run.unit_code, status="processing",
                             received_at=received)
            session.add(sub)
            session.flush()
            archived = dirs.archive / received.astimezone().strftime("%Y-%m") / f"{sub.id}__{safe_filename(path.name, 150)}"
            archived.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, archived)  # the operator keeps the original; the archive keeps what was imported
            sub.archived_path = str(archived)
            state = ExchangeImport(submission_id=sub.id, profile=profile.name, profile_version=profile.version,
                                   unit_code=run.unit_code, chunk_rows=chunk_rows, chunks_done=0, rows=0, stored=0,
                                   errors=0, warnings=0, counts={}, status="running", resumed=0)
            session.add(state)
            session.flush()
            layout_findings = run.layout_findings()
            save_findings(session, sub.id, layout_findings)
            state.warnings += len(layout_findings)
            audit(session, ACTOR, "exchange.import.start", "exchange_import", str(state.id),
                  {"file": path.name, "sha256": sha, "profile": profile.name, "unit": run.unit_code})
        else:
            state = session.get(ExchangeImport, state.id)
            state.resumed += 1
            sub = session.get(Submission, state.submission_id)
            audit(session, ACTOR, "exchange.import.resume", "exchange_import", str(state.id),
                  {"file": path.name, "after_chunk": state.chunks_done})
        state_id, sub_id, chunk_rows = state.id, sub.id, state.chunk_rows
    with Session(engine) as session:
        committed = session.get(ExchangeImport, state_id).chunks_done

    def store(i: int, li: int, n_rows: int, validated: list[Any], findings: list[Finding]) -> None:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            state = session.get(ExchangeImport, state_id)
            sub = session.get(Submission, sub_id)
            run.store_chunk(session, sub, state, li, n_rows, validated, findings)
            done_rows = state.rows
        log.info("%s: chunk %d committed (%d rows)", path.name, i + 1, done_rows)
        # PostgreSQL: the next chunks' look-ups planned for the rows the store now holds (processor/store/stats.py)
        stats.refresh(engine)
        if progress is not None:
            progress(i + 1, done_rows)

    worker_mb = float(config.get("exchange", "worker_mb"))
    # Millions of short-lived rows, values and statements per chunk: the cyclic collector would rescan the
    # chunk again and again while it is stored; it runs once after each chunk instead.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if worker_mb >= 0 and path.stat().st_size >= worker_mb * (1 << 20) and worker.usable(run):
            # The next chunk is read, mapped and validated in a child process while this one stores.
            child = worker.ValidationWorker(run, committed, chunk_rows, sub_id)
            try:
                for i, li, n_rows, validated, findings in child.chunks():
                    store(i, li, n_rows, validated, findings)
                    child.committed(i)
                    del validated, findings
                    _collect()
            finally:
                child.close()
        else:
            for i, li, rows in run.pending_chunks(chunk_rows, committed, sub_id):
                validated, findings = run.validate_chunk(li, rows)
                store(i, li, len(rows), validated, findings)
                del validated, findings, rows
                _collect()
    finally:
        gc.unfreeze()
        if gc_was_enabled:
            gc.enable()
    return _finish(run, state_id, received)


def _collect() -> None:
    """The cyclic collector once after a chunk; what survives it is frozen (``gc.freeze``), so the next chunk's
    collection looks only at the objects made since (a full one rescanned the rule pack, the validator's memos and
    the file's identity numbers each time: 0.5 s a chunk, 25 s in a 1,000,000-row import)."""
    t = time.process_time()
    found = gc.collect()
    log.debug("gc.collect: %d objects in %.2fs CPU", found, time.process_time() - t)
    gc.freeze()


def _finish(run: _Importer, state_id: int, received: datetime) -> ImportOutcome:
    profile, engine, config = run.profile, run.engine, run.config
    max_findings = int(config.get("check", "max_findings"))
    with Session(engine, expire_on_commit=False) as session, session.begin():
        state = session.get(ExchangeImport, state_id)
        sub = session.get(Submission, state.submission_id)
        counts = state.counts or {}
        if profile.authoritative and profile.missing_teachers == "left" and counts.get("schools"):
            stored_ids = select(RecordVersion.teacher_id).where(RecordVersion.submission_id == sub.id)
            session.execute(update(Teacher).where(Teacher.unit_code.in_(counts["schools"]),
                                                  Teacher.status.in_(("active", "pending")),
                                                  Teacher.id.not_in(stored_ids))
                            .values(status="left").execution_options(synchronize_session=False))
        rows = session.scalars(select(FindingRow).where(FindingRow.submission_id == sub.id)
                               .order_by(FindingRow.id).limit(max_findings)).all()
        findings = [Finding(f.sheet, f.row, f.column, f.field, f.value, f.rule, f.severity, f.message, f.hint)
                    for f in rows]
        unit_code = state.unit_code or _root_unit(session)
        unit = session.get(Unit, unit_code) if unit_code else None
        titles = {sid: run.pack.sheets[sid].name for sid in run.pack.sheets}
        sheets = [SheetStat(titles.get(sid, sid), c["rows"], c["stored"]) for sid, c in (counts.get("sheets") or {}).items()]
        for f in findings:
            for s in sheets:
                if f.sheet == s.title:
                    s.errors += f.severity == ERROR
                    s.warnings += f.severity != ERROR
        status = status_for(state.rows, state.stored, state.errors)
        spec = run.pack.sheets[run.person_sheet]
        wb_data: Any = WorkbookData(path=run.path, format=profile.format, meta={}, kind=None, unit_code=unit_code,
                               blocks=[_ReportBlock(spec, lay) for lay in run.layouts], findings=[])
        ctx = ReportContext(original_name=run.name, received_at=received, sha256=sub.sha256, unit_code=unit_code,
                            unit_name=unit.name if unit else None, kind="exchange", kind_title=f"{profile.title}（导入）",
                            submission_id=sub.id, status=status, rows=state.rows, stored=state.stored, sheets=sheets,
                            notes=[_route_note(profile, state)], errors=state.errors, warnings=state.warnings,
                            instance_name=config.get("instance", "name"))
        report = None
        source: Path | None = run.path
        if state.rows > ANNOTATE_MAX_ROWS:
            # A province-size foreign file is not rebuilt cell by cell: the report lists the rows and cells.
            source, wb_data = None, None
            ctx.notes.append(f"文件共 {state.rows} 行，数据量较大，本报告未在原文件上逐格标注；请按“错误清单”所列的"
                             "行、列逐项修改原系统中的数据。")
        try:
            report = write_report(ctx, findings, outbox=config.outbox, wb_data=wb_data, source=source).report
        except Exception:  # noqa: BLE001 - the data is stored; a failing report must not undo it
            log.exception("%s: the import report could not be written", run.name)
        sub.status, sub.rows, sub.rows_stored = status, state.rows, state.stored
        sub.errors, sub.warnings = state.errors, state.warnings
        sub.report_path = str(report or "")
        sub.processed_at = datetime.now(UTC)
        state.status, state.finished_at = "done", datetime.now(UTC)
        audit(session, ACTOR, "exchange.import.done", "exchange_import", str(state.id), {
            "file": run.name, "profile": profile.name, "route": profile.route, "rows": state.rows,
            "stored": state.stored, "errors": state.errors, "warnings": state.warnings, "resumed": state.resumed})
        out = _outcome(session, state, sub, "done", profile)
        out.findings = findings
        return out


def _route_note(profile: Profile, state: ExchangeImport) -> str:
    route = "直接生效（权威来源）" if profile.authoritative else "进入逐级审核（待审核）"
    text = f"按交换档案 {profile.name}（{profile.title}，版本 {profile.version}）导入，入库的记录{route}。"
    if state.resumed:
        text += f"导入中途中断过 {state.resumed} 次，已从中断处继续，没有重复入库。"
    return text


def _root_unit(session: Session) -> str | None:
    return session.scalars(select(Unit.code).where(Unit.parent_code.is_(None)).order_by(Unit.code)).first()


def _outcome(session: Session, state: ExchangeImport, sub: Submission, status: str, profile: Profile) -> ImportOutcome:
    findings: list[Finding] = []
    if status == "duplicate":
        findings = [Finding(f.sheet, f.row, f.column, f.field, f.value, f.rule, f.severity, f.message, f.hint)
                    for f in session.scalars(select(FindingRow).where(FindingRow.submission_id == sub.id)
                                             .order_by(FindingRow.id).limit(1000))]
    return ImportOutcome(status=status, file=sub.original_name, profile=state.profile, route=profile.route,
                         import_id=state.id, submission_id=sub.id, unit=state.unit_code, rows=state.rows,
                         stored=state.stored, errors=state.errors, warnings=state.warnings, resumed=state.resumed,
                         chunks=state.chunks_done, report=Path(sub.report_path) if sub.report_path else None,
                         findings=findings, sheets=dict((state.counts or {}).get("sheets") or {}))


__all__ = ["ImportOutcome", "import_file", "DEFAULT_ID_TYPE"]
