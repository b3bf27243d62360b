"""Valid rows → teachers and record versions waiting for review above the school; store look-ups for the engine.

Decisions (documented in docs/architecture.md):
- ``accept_mode = "row"``: rows without errors are stored, rows with errors are not; ``"all"``: one error
  and nothing of the file is stored.
- A person is carried by the 基本信息 row (person sheet). When that row has an error, or the person is
  already held by another school (一人一号), none of the person's rows in this file is stored, and every
  other row of that person that had no error of its own gets a warning ``ROW-NOT-STORED`` saying why —
  so the school sees exactly which rows wait for which fix.
- A row of another sheet whose person has no 基本信息 row in the file is stored against the teacher this
  school already holds in the store; when there is none, the row gets ``ROW-NOT-STORED``.
- Re-sending replaces: for every (teacher, category) this file stores, the school's older pending
  versions become ``superseded`` — except versions listed on an open return sheet: the officer's decision
  on them must not be lost, so they stay and are decided; the newer version waits for the next sheet.
  Effective versions stay; the new ones are changes waiting for review.
- Stored rows wait at the first reviewing level above the school (``review_step``, see
  processor/review/chain.py): the school's own submission is its review (集体审核、校长负责).
- Only a sheet's first row per person is kept for one-record sheets (the engine flags the duplicates).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
from array import array
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np
from sqlalchemy import Engine, delete, exists, select, update
from sqlalchemy.orm import Session

from processor.findings import ERROR, WARNING, Finding, column_letter
from processor.reports import facts as report_facts
from processor.store import bulk
from processor.store.models import Finding as FindingRow
from processor.store.models import (
    IntakePerson,
    RecordVersion,
    ReportFact,
    ReturnSheet,
    ReturnSheetItem,
    Teacher,
    Unit,
)
from processor.store.spans import id_clauses

log = logging.getLogger(__name__)

PersonKey = tuple[str, str]  # (id_type, id_number)

CHUNK = 500  # keys per IN (...) query: well under SQLite's variable limit
LIVE_STATUSES = ("active", "pending", "absent", "rotating")  # on a school's roll (processor/workflows/kinds/common.py)
DEFAULT_ID_TYPE = "1"

# Status of a submission after ingest (see processor.store.models.Submission.status).
ACCEPTED, PARTIAL, REJECTED, UNREADABLE = "accepted", "partial", "rejected", "unreadable"


def _chunks(items: Sequence[Any], n: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _batches(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    """Lists of at most n items from an iterator (itertools.batched is Python 3.12+)."""
    it = iter(items)
    while part := list(islice(it, n)):
        yield part


class StoreLookupImpl:
    """The engine's view of the store for the 一人一号 and reference checks (batch queries, read only)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session: Session | None = None

    @contextmanager
    def using(self, session: Session) -> Iterator[None]:
        """Read through ``session`` meanwhile (the streaming ingest's own transaction) instead of a new one."""
        before, self._session = self._session, session
        try:
            yield
        finally:
            self._session = before

    def _teachers(self, numbers: Iterable[str]) -> list[tuple[str, str, str, str, str | None]]:
        """(id_type, id_number, unit_code, status, unit name) of the teachers holding these numbers."""
        wanted = sorted({n for n in numbers if n})
        out: list[tuple[str, str, str, str, str | None]] = []
        if not wanted:
            return out
        with nullcontext(self._session) if self._session is not None else Session(self.engine) as session:
            for part in _chunks(wanted):
                stmt = (
                    select(Teacher.id_type, Teacher.id_number, Teacher.unit_code, Teacher.status, Unit.name)
                    .join(Unit, Unit.code == Teacher.unit_code, isouter=True)
                    .where(Teacher.id_number.in_(part))
                )
                out.extend(tuple(r) for r in session.execute(stmt))
        return out

    def persons_elsewhere(self, keys: list[PersonKey], unit_code: str) -> dict[PersonKey, tuple[str, str]]:
        """Persons with a live (active or pending) teacher record at a school other than ``unit_code``.

        A key whose id_type is empty matches any document type."""
        by_number: dict[str, list[PersonKey]] = defaultdict(list)
        for key in keys:
            by_number[key[1]].append(key)
        found: dict[PersonKey, tuple[str, str]] = {}
        for id_type, number, unit, status, unit_name in self._teachers(by_number):
            if status not in LIVE_STATUSES or unit == unit_code:
                continue
            for key in by_number[number]:
                if not key[0] or key[0] == id_type:
                    found[key] = (unit, unit_name or unit)
        return found

    def persons_known(self, keys: list[PersonKey]) -> set[PersonKey]:
        """Persons whose 基本信息 is in the store (a teacher record exists). Empty id_type matches any type."""
        by_number: dict[str, list[PersonKey]] = defaultdict(list)
        for key in keys:
            by_number[key[1]].append(key)
        known: set[PersonKey] = set()
        for id_type, number, _unit, _status, _name in self._teachers(by_number):
            for key in by_number[number]:
                if not key[0] or key[0] == id_type:
                    known.add(key)
        return known


def json_safe(value: Any) -> Any:
    """A normalised value as JSON: dates → ISO strings, tuples → lists, Decimal → str."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, (tuple, list, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)


_PLAIN = frozenset((str, int, float, bool))


def version_data(values: dict[str, Any]) -> dict[str, Any]:
    """A row's values as a record version's ``data``: JSON-safe, empty values left out."""
    plain = _PLAIN
    return {k: v if type(v) in plain else json_safe(v) for k, v in values.items() if v is not None}


def version_json(values: dict[str, Any]) -> bulk.JSONText:
    """:func:`version_data` encoded as the store writes it."""
    return bulk.JSONText(json.dumps(version_data(values)))


@dataclass
class SheetCount:
    """Rows of one sheet in the file and how many of them were stored."""

    sheet_id: str
    title: str
    rows: int = 0
    stored: int = 0


@dataclass
class IngestResult:
    """What ingest did with one validated file."""

    status: str
    rows: int
    stored: int
    teachers_new: int = 0
    superseded: int = 0
    findings: list[Finding] = field(default_factory=list)  # added by ingest (ROW-NOT-STORED, PERSON-CONFLICT)
    sheets: list[SheetCount] = field(default_factory=list)
    note: str = ""
    version_ids: list[int] = field(default_factory=list)  # the versions stored, for settle_unreviewed


def status_for(rows: int, stored: int, errors: int) -> str:
    """accepted (no errors, everything stored), partial (some rows stored), rejected (nothing stored)."""
    if stored == 0:
        return REJECTED
    if errors == 0 and stored == rows:
        return ACCEPTED
    return PARTIAL


def _block_for(wb: Any, sheet_id: str) -> Any | None:
    for block in getattr(wb, "blocks", []) or []:
        if block.spec.id == sheet_id:
            return block
    return None


def _cell_of(block: Any, field_code: str) -> str | None:
    if block is None:
        return None
    index = block.columns.get(field_code)
    return column_letter(index) if index is not None else None


def _label(pack: Any, sheet_id: str, field_code: str) -> str:
    try:
        return pack.sheets[sheet_id].field(field_code).label
    except KeyError:
        return field_code


def ingest(session: Session, *, pack: Any, wb: Any, result: Any, submission: Any, unit_code: str,
           accept_mode: str = "row", store: bool = True, review_step: Any = None,
           effective: bool = False, numbering: str = "jiangxi") -> IngestResult:
    """Store the valid rows of a validated file for school ``unit_code`` in the caller's transaction.

    ``submission`` must be flushed (it has an id). ``store=False`` (unit not recognised, or a file-level
    error) stores nothing and only counts. ``review_step`` (a processor.review.chain.Step: level and unit)
    is where the stored versions wait; None leaves them pending at the school for the caller to settle.
    ``effective`` (an authoritative source, no review): the versions are stored effective at once, in the end
    state settling them would give (:meth:`Ingest.finish`; ``numbering``: the [numbering] scheme).
    Returns the counts, the status and the findings ingest added; the caller saves all findings
    (``save_findings``). The rows of ``result`` are fed to :class:`Ingest` as a streaming caller would."""
    errors = sum(1 for f in result.findings if f.severity == ERROR)
    run = Ingest(session, pack=pack, wb=wb, submission=submission, unit_code=unit_code, accept_mode=accept_mode,
                 store=store and not (accept_mode == "all" and errors), review_step=review_step, effective=effective,
                 numbering=numbering)
    person_sheet = run.person_sheet
    for sid in sorted(result.rows, key=lambda s: 0 if s == person_sheet else 1):  # persons first, as the engine
        for part in _batches(result.rows[sid], 20_000):
            run.add(sid, part)
    out = run.finish(result)
    if store and accept_mode == "all" and errors:
        out.note = "按“全有或全无”方式接收：文件中有错误，整份文件未入库。"
    return out


class NumberMap:
    """Identity number → int, for a province's million numbers in about 20 MB instead of about 110.

    A standard 18-character number is keyed as an int (the 17 digits times 11 plus the check character). The
    newest keys live in a dict; every ``FOLD`` of them are folded into two sorted int64 arrays (keys, values),
    searched by bisection. Any other number keeps its text as the key, in a dict of its own."""

    __slots__ = ("_d", "_text", "_keys", "_vals")
    FOLD = 65_536

    def __init__(self) -> None:
        self._d: dict[int, int] = {}
        self._text: dict[str, int] = {}
        self._keys = np.empty(0, dtype=np.int64)
        self._vals = np.empty(0, dtype=np.int64)

    @staticmethod
    def _key(number: str) -> int | str:
        if len(number) == 18 and number.isascii() and number[:17].isdigit():
            last = number[17]
            if last.isdigit():
                return int(number[:17]) * 11 + int(last)
            if last == "X":
                return int(number[:17]) * 11 + 10
        return number

    def _folded(self, key: int) -> int:
        """The position of ``key`` in the folded arrays, or -1."""
        keys = self._keys
        if not len(keys):
            return -1
        i = int(keys.searchsorted(key))
        return i if i < len(keys) and int(keys[i]) == key else -1

    def _fold(self) -> None:
        n = len(self._d)
        keys = np.concatenate((self._keys, np.fromiter(self._d.keys(), dtype=np.int64, count=n)))
        vals = np.concatenate((self._vals, np.fromiter(self._d.values(), dtype=np.int64, count=n)))
        order = keys.argsort(kind="stable")
        self._keys, self._vals = keys[order], vals[order]
        self._d = {}

    def _lookup(self, number: str) -> int | None:
        key = self._key(number)
        if isinstance(key, str):
            return self._text.get(key)
        hit = self._d.get(key)
        if hit is not None:
            return hit
        i = self._folded(key)
        return int(self._vals[i]) if i >= 0 else None

    def get(self, number: str, default: int) -> int:
        hit = self._lookup(number)
        return default if hit is None else hit

    def __contains__(self, number: str) -> bool:
        return self._lookup(number) is not None

    def __getitem__(self, number: str) -> int:
        hit = self._lookup(number)
        if hit is None:
            raise KeyError(number)
        return hit

    def __setitem__(self, number: str, value: int) -> None:
        key = self._key(number)
        if isinstance(key, str):
            self._text[key] = value
            return
        if key not in self._d:
            i = self._folded(key)
            if i >= 0:
                self._vals[i] = value
                return
        self._d[key] = value
        if len(self._d) >= self.FOLD:
            self._fold()

    def __len__(self) -> int:
        return len(self._d) + len(self._keys) + len(self._text)

    def missing(self, numbers: Iterable[str]) -> set[str]:
        """The numbers not in the map."""
        return {n for n in numbers if n not in self}


class Ingest:
    """Ingest chunk by chunk, as the engine hands over validated rows (``Validator.validate(on_chunk=…)``).

    Memory stays bounded whatever the file's size: each chunk is stored at once (bulk statements of
    processor/store/bulk.py, in the caller's transaction) and only the person registry is kept — identity
    number → teacher id of the file's 基本信息 rows, which the other sheets' rows resolve against. The
    engine validates the sheets other sheets refer to (基本信息) first, so every person is known before
    their other rows arrive. A row the engine marks as an error only after its chunk was handed over (a
    rule that needs the whole sheet) is taken out again in :meth:`finish`, with the person's other rows.
    ``accept_mode = "all"`` stores inside a SAVEPOINT that :meth:`finish` rolls back when the file has an
    error. Decisions are those of the module docstring."""

    def __init__(self, session: Session, *, pack: Any, wb: Any, submission: Any, unit_code: str,
                 accept_mode: str = "row", store: bool = True, review_step: Any = None,
                 effective: bool = False, numbering: str = "jiangxi") -> None:
        self.session, self.pack, self.wb, self.submission = session, pack, wb, submission
        self.unit_code, self.accept_mode, self.store = unit_code, accept_mode, store
        settings = getattr(pack, "settings", {}) or {}
        self.person_sheet: str = settings.get("person_sheet", "basic")
        self.effective = effective
        self.state = "effective" if effective else "pending"
        if effective:  # as processor/review/decide.py leaves a version made effective
            self.level, self.reviewer = "effective", None
        else:
            self.level = review_step.level if review_step is not None else "school"
            self.reviewer = review_step.unit_code if review_step is not None else unit_code
        self.since = dt.datetime.now(dt.UTC)
        self.counts: dict[str, SheetCount] = {}
        self.added: list[Finding] = []
        self.conflicts: list[Finding] = []  # PERSON-CONFLICT of ingest; dropped in finish where the engine said it
        self.basic = NumberMap()  # number → teacher id of its first 基本信息 row (0: not stored)
        self.basic_type: dict[str, str] = {}  # number → id_type of that row when not the default
        self.extra: dict[PersonKey, int] = {}  # a second document type under a number already met
        self.bad: dict[PersonKey, tuple[str, str]] = {}  # person → why its rows are not stored, and the fix
        self.bad_basic_by_name: dict[str, int] = {}
        self.seq: dict[PersonKey, int] = {}
        self.seq_sheet: str | None = None
        self.version_ids: array[int] = array("q")  # 8 bytes a version (a list of ints takes 36)
        # Excel rows stored, per sheet, ascending (8 bytes a row): the late errors to take out are looked up
        # among these only, not among every error row of the sheet.
        self.stored_rows: dict[str, array[int]] = {}
        # Teachers whose teacher_facts row finish() recomputes (with repeats); new teachers' rows come with their
        # 基本信息 version (report_facts.record_facts).
        self.stored_teachers: array[int] = array("q")
        # Teachers that were in the store before this file: only they can have older versions to supersede
        # (a province's first file creates a million teachers and supersedes nothing).
        self.known: set[int] = set()
        # effective: (version id, teacher id, category, seq) of the versions stored for known teachers, whose
        # record may have an effective version already (superseded in finish()); new teachers' cannot.
        self.known_versions: list[tuple[int, int, str, int]] = []
        # New teachers' education / title / subject values, applied to their teacher_facts rows in finish()
        # (report_facts.lower_facts) once per teacher.
        self.lowered: dict[int, list[list[str]]] = {}
        self.basic_versions: list[tuple[int, int]] = []  # effective: (version id, teacher id) of 基本信息 versions
        self.numbering = numbering
        self.out = IngestResult(status=REJECTED, rows=0, stored=0)
        self._intake_accepted: list[str] = []
        self._savepoint = session.begin_nested() if store and accept_mode == "all" else None

    # -- helpers ---------------------------------------------------------------------------------
    def _count(self, sid: str) -> SheetCount:
        c = self.counts.get(sid)
        if c is None:
            block = _block_for(self.wb, sid)
            c = self.counts[sid] = SheetCount(sid, block.title if block is not None
                                              else getattr(self.pack.sheets.get(sid), "name", sid))
        return c

    def _basic_title(self) -> str:
        c = self.counts.get(self.person_sheet)
        return c.title if c is not None else "基本信息"

    def _first_key(self, number: str) -> PersonKey | None:
        if number not in self.basic:
            return None
        return (self.basic_type.get(number, DEFAULT_ID_TYPE), number)

    def _tid(self, key: PersonKey) -> int:
        if key in self.extra:
            return self.extra[key]
        first = self._first_key(key[1])
        return self.basic.get(key[1], 0) if first == key else 0

    def _teachers(self, numbers: Iterable[str]) -> dict[PersonKey, tuple[int, str, str, str]]:
        """(id_type, number) → (id, unit_code, status, name) of the store's teachers with these numbers."""
        out: dict[PersonKey, tuple[int, str, str, str]] = {}
        for part in _chunks(sorted(set(numbers))):
            for tid, id_type, number, unit, status, name in self.session.execute(
                    select(Teacher.id, Teacher.id_type, Teacher.id_number, Teacher.unit_code, Teacher.status,
                           Teacher.name).where(Teacher.id_number.in_(part))):
                out[(id_type, number)] = (tid, unit, status, name)
        return out

    # -- one chunk -------------------------------------------------------------------------------
    def add(self, sheet_id: str, records: list[Any]) -> None:
        """Store one chunk of validated rows of one sheet (the engine's ``on_chunk``)."""
        count = self._count(sheet_id)
        count.rows += len(records)
        self.out.rows += len(records)
        if not self.store:
            return
        if sheet_id == self.person_sheet:
            accepted = self._persons(sheet_id, records, count.title)
        else:
            accepted = self._others(sheet_id, records, count.title)
        self._insert(sheet_id, count, accepted)

    def _persons(self, sid: str, records: list[Any], title: str) -> list[tuple[Any, int, int]]:
        block = _block_for(self.wb, sid)
        first_rows: list[tuple[Any, PersonKey]] = []
        intake_new: list[str] = []
        for rec in records:
            values = rec.values
            name = values.get("name")
            if rec.has_error and isinstance(name, str) and name:
                self.bad_basic_by_name.setdefault(name, rec.excel_row)
            number = values.get("id_number")
            if not number:
                if not rec.has_error:
                    self.added.append(_not_stored(title, rec, block, None,
                                                  f"身份证件号为 （空） 的人员在本文件的{title}中没有记录，本校在系统中也没有该人员",
                                                  f"请在{title}工作表中补填该人员的基本信息后重新报送。"))
                continue
            key = (str(values.get("id_type") or DEFAULT_ID_TYPE), str(number))
            first = self._first_key(key[1])
            if first is None:
                self.basic[key[1]] = 0
                if key[0] != DEFAULT_ID_TYPE:
                    self.basic_type[key[1]] = key[0]
                intake_new.append(key[1])
            elif key != first and key not in self.extra:
                self.extra[key] = 0
            else:
                continue  # a second row of the same person: only the first is kept (the engine flags it)
            if rec.has_error:
                self.bad[key] = (f"该人员的{title}（第 {rec.excel_row} 行）有错误",
                                 f"请先改正{title}工作表第 {rec.excel_row} 行的错误，再重新报送整份文件。")
            first_rows.append((rec, key))
        existing = self._teachers(k[1] for _, k in first_rows)
        accepted: list[tuple[Any, PersonKey, tuple[int, str, str, str] | None]] = []
        for rec, key in first_rows:
            t = existing.get(key)
            if t is not None and t[1] != self.unit_code and t[2] in LIVE_STATUSES:
                self.bad.setdefault(key, ("该人员已在其他学校有在职或待审核的记录（一人一号）",
                                          "如属调动，请由调入学校填写调动申请表（tmis template transfer）发起调动；如身份证件号填错，请改正后重新报送。"))
                school = self.session.get(Unit, t[1])
                self.conflicts.append(Finding(
                    sheet=title, row=rec.excel_row, column=_cell_of(block, "id_number"),
                    field="id_number", value=key[1], rule="PERSON-CONFLICT", severity=ERROR,
                    message=f"身份证件号为 {key[1]} 的人员已在{school.name if school else t[1]}"
                            f"（{t[1]}）有记录，一人只能有一条教师记录",
                    hint="如属调动，请由调入学校填写调动申请表（tmis template transfer）发起调动；如身份证件号填错，请改正后重新报送。"))
            if rec.has_error or key in self.bad:
                continue
            accepted.append((rec, key, t))
        # Teachers: new ones are pending at this school; known ones at this school get the new name.
        new_rows: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        now = dt.datetime.now(dt.UTC)
        tids: dict[PersonKey, int] = {}
        for rec, key, t in accepted:
            name = str(rec.values.get("name") or "")
            if t is None:
                new_rows.append({"id_type": key[0], "id_number": key[1], "name": name, "unit_code": self.unit_code,
                                 "status": "pending", "created_at": now, "updated_at": now})
                continue
            change: dict[str, Any] = {}
            if t[1] != self.unit_code:  # a person who left another school (status 'left') joins this one
                change.update(unit_code=self.unit_code, status="pending")
            if name and t[3] != name:
                change["name"] = name
            if change:
                changes.append({"id": t[0], **change, "updated_at": now})
            tids[key] = t[0]
            self.known.add(t[0])
        if new_rows:
            for row, tid in zip(new_rows, bulk.insert_with_ids(self.session, Teacher, new_rows), strict=True):
                tids[(row["id_type"], row["id_number"])] = tid
            self.out.teachers_new += len(new_rows)
        bulk.update_by_id(self.session, Teacher, changes)
        out = []
        for rec, key, _t in accepted:
            tid = tids[key]
            if key in self.extra:
                self.extra[key] = tid
                self._intake_accepted.append(key[1])
            else:
                self.basic[key[1]] = tid
            out.append((rec, tid, 1))
        if intake_new:
            stored = {key[1] for _rec, key, _t in accepted}
            report_facts.record_intake_persons(
                self.session, self.submission.id, self.unit_code,
                self.submission.received_at or dt.datetime.now(dt.UTC), intake_new, stored)
        return out

    def _others(self, sid: str, records: list[Any], title: str) -> list[tuple[Any, int, int]]:
        block = _block_for(self.wb, sid)
        basic_title = self._basic_title()
        if self.seq_sheet != sid:
            self.seq, self.seq_sheet = {}, sid
        one_record = getattr(self.pack.sheets.get(sid), "records", "many") == "one"
        # Numbers without a 基本信息 row in this file: the school's own teachers in the store.
        unknown = self.basic.missing({str(r.values.get("id_number")) for r in records if r.values.get("id_number")})
        own: dict[str, tuple[PersonKey, int]] = {}
        for key, t in self._teachers(unknown).items():
            if t[1] == self.unit_code and (key[1] not in own or key[0] == DEFAULT_ID_TYPE):
                own[key[1]] = (key, t[0])  # the resident identity card first when a number has several types
                self.known.add(t[0])
        out = []
        for rec in records:
            number = rec.values.get("id_number")
            number = str(number) if number else None
            key = None
            if number:
                key = self._first_key(number)
                if key is None and number in own:
                    key = own[number][0]
            if key is None:
                bad_row = self.bad_basic_by_name.get(rec.values.get("name"))  # type: ignore[arg-type]
                if not rec.has_error and bad_row is not None:
                    self.added.append(_not_stored(
                        title, rec, block, number,
                        f"{basic_title}第 {bad_row} 行（同名人员 {rec.values.get('name')}）有错误，"
                        f"该行的身份证件号与本行的 {number or '（空）'} 不一致或有误",
                        f"请先改正{basic_title}工作表第 {bad_row} 行，使两处身份证件号一致，再重新报送整份文件。"))
                elif not rec.has_error:
                    self.added.append(_not_stored(title, rec, block, number,
                                                  f"身份证件号为 {number or '（空）'} 的人员在本文件的"
                                                  f"{basic_title}中没有记录，本校在系统中也没有该人员",
                                                  f"请在{basic_title}工作表中补填该人员的基本信息后重新报送。"))
                continue
            seq = self.seq[key] = self.seq.get(key, 0) + 1
            if rec.has_error:
                continue
            if key in self.bad:
                why, fix = self.bad[key]
                self.added.append(_not_stored(title, rec, block, number, why, fix))
                continue
            if one_record and seq > 1:
                continue
            tid = self._tid(key) if number in self.basic else own[number][1]  # type: ignore[index]
            if tid:
                out.append((rec, tid, seq))
        return out

    def _insert(self, sid: str, count: SheetCount, accepted: list[tuple[Any, int, int]]) -> None:
        """Supersede the school's pending versions this chunk replaces, then insert the new versions."""
        if not accepted:
            return
        session = self.session
        on_open_sheet = (select(ReturnSheetItem.version_id)
                         .join(ReturnSheet, ReturnSheet.id == ReturnSheetItem.sheet_id)
                         .where(ReturnSheet.status == "open"))
        known = self.known
        for part in _chunks(sorted({tid for _rec, tid, _seq in accepted if tid in known})):
            # `unit_code || ''`: not the (unit_code, review_state) index, which would walk every pending version
            # of the school — this file's own earlier chunks included — for each 500 teachers; the
            # (teacher_id, category) index finds just theirs.
            res = session.execute(
                update(RecordVersion)
                .where(RecordVersion.unit_code.concat("") == self.unit_code, RecordVersion.category == sid,
                       RecordVersion.review_state == "pending", RecordVersion.teacher_id.in_(part),
                       RecordVersion.submission_id != self.submission.id,
                       RecordVersion.id.not_in(on_open_sheet))
                .values(review_state="superseded")
                .execution_options(synchronize_session=False)
            )
            self.out.superseded += res.rowcount or 0
        # Plain tuples of the varying columns, the others given once (bulk.insert_tuples): a dict per version cost
        # more than the insert itself.
        constants = {"category": sid, "unit_code": self.unit_code, "submission_id": self.submission.id,
                     "source_sheet": count.title, "review_state": self.state, "review_level": self.level,
                     "review_unit": self.reviewer, "level_since": self.since, "created_at": self.since}
        text = bulk.JSONText
        ids = bulk.allocate_ids(session, RecordVersion, len(accepted))
        rows = [(vid, tid, seq, rec.excel_row,
                 text(rec.data_json) if rec.data_json is not None else version_json(rec.values))
                for vid, (rec, tid, seq) in zip(ids, accepted, strict=True)]
        tids = [tid for _rec, tid, _seq in accepted]
        values = [rec.values for rec, _tid, _seq in accepted]
        # A teacher this file created gets its teacher_facts row with its 基本信息 version, lowered by its later
        # versions as they come (report_facts.record_version_facts); the others are recomputed in finish(), and
        # only for the categories teacher_facts reads.
        direct = sid == self.person_sheet == "basic"
        for i in range(0, len(rows), 5000):
            bulk.insert_tuples(session, RecordVersion, ("id", "teacher_id", "seq", "source_row", "data"),
                               rows[i:i + 5000], constants)
            report_facts.record_version_facts(session, sid, self.unit_code, self.state, ids[i:i + 5000],
                                              tids[i:i + 5000], values[i:i + 5000], known, self.lowered)
            if len(self.lowered) >= 20_000:  # bounded memory: lowering is incremental, any batch order gives the same
                report_facts.lower_facts(session, self.lowered)
        self.version_ids.extend(ids)
        if self.effective and sid == self.person_sheet:
            self.basic_versions.extend(zip(ids, tids, strict=True))
        if self.effective and known:
            self.known_versions.extend((vid, tid, sid, seq) for vid, (_rec, tid, seq) in zip(ids, accepted, strict=True)
                                       if tid in known)
        if direct:
            self.stored_teachers.extend(tid for _rec, tid, _seq in accepted if tid in known)
        elif sid in report_facts.FACT_CATEGORIES:  # the new teachers' rows lowered by record_facts already
            self.stored_teachers.extend(tid for _rec, tid, _seq in accepted if tid in known)
        self.stored_rows.setdefault(sid, array("l")).extend(rec.excel_row for rec, _tid, _seq in accepted)
        count.stored += len(rows)
        self.out.stored += len(rows)

    # -- the end of the file ---------------------------------------------------------------------
    def finish(self, result: Any) -> IngestResult:
        """Counts, status and the findings ingest added, once the engine is done with the file."""
        out = self.out
        order = {s.id: i for i, s in enumerate(self.pack.ordered_sheets())}
        for sid in getattr(result, "rows", {}) or {}:
            self._count(sid)
        for sid in getattr(result, "counts", {}) or {}:
            if sid in self.pack.sheets:
                self._count(sid)
        out.sheets = [self.counts[s] for s in sorted(self.counts, key=lambda s: order.get(s, 999))]
        if self.store:
            report_facts.lower_facts(self.session, self.lowered)  # before late errors recompute their teachers' rows
            self._late_errors(getattr(result, "error_rows", {}) or {})
            if self._intake_accepted:
                for part in _chunks(sorted(set(self._intake_accepted))):
                    self.session.execute(update(IntakePerson).where(IntakePerson.submission_id == self.submission.id,
                                                                    IntakePerson.id_number.in_(part))
                                         .values(accepted=True).execution_options(synchronize_session=False))
        flagged = {(f.sheet, f.row) for f in result.findings if f.rule == "PERSON-CONFLICT"}
        conflicts = [f for f in self.conflicts if (f.sheet, f.row) not in flagged]
        out.findings = conflicts + self.added
        errors = sum(1 for f in result.findings if f.severity == ERROR)
        if self._savepoint is not None:
            if errors or any(f.severity == ERROR for f in out.findings):
                self._savepoint.rollback()
                for c in self.counts.values():
                    c.stored = 0
                out.stored = out.teachers_new = out.superseded = 0
                self.version_ids = array("q")
                out.findings = []
                out.note = "按“全有或全无”方式接收：文件中有错误，整份文件未入库。"
            else:
                self._savepoint.commit()
        if self.store and out.stored and self.effective:
            self._settle_effective()
        if self.store and out.stored:
            # The report's teacher_facts in step, once per teacher of the file (after late errors took rows out).
            report_facts.refresh(self.session, self.stored_teachers)
        errors += sum(1 for f in out.findings if f.severity == ERROR)
        out.status = status_for(out.rows, out.stored, errors)
        out.version_ids = list(self.version_ids)
        return out

    def _settle_effective(self) -> None:
        """Versions stored effective at once get the rest of what processor/review/decide.py's settle would
        do: the record's (teacher, category, seq) older effective version becomes ``superseded`` (or this one,
        when the effective one is newer), and a teacher whose 基本信息 version is effective gets its teacher number
        and becomes active. Their teacher_facts rows follow in :meth:`finish` (refresh of the teachers touched)."""
        session, now = self.session, self.since
        stored = set(self.version_ids)
        mine = sorted((v for v in self.known_versions if v[0] in stored), key=lambda v: v[0])
        current: dict[tuple[int, str, int], int] = {}
        if mine:
            for where in id_clauses(RecordVersion.teacher_id, sorted({v[1] for v in mine})):
                for vid, tid, category, seq in session.execute(
                        select(RecordVersion.id, RecordVersion.teacher_id, RecordVersion.category, RecordVersion.seq)
                        .where(where, RecordVersion.review_state == "effective")):
                    if vid not in stored:
                        current[(tid, category, seq)] = vid
        superseded: list[int] = []
        lost: set[int] = set()  # this file's versions superseded at once (a newer one is effective already)
        for vid, tid, category, seq in mine:
            key = (tid, category, seq)
            held = current.get(key)
            if held is not None and held > vid:
                superseded.append(vid)
                lost.add(vid)
                continue
            if held is not None:
                superseded.append(held)
            current[key] = vid
        if superseded:
            touched = set()
            for where in id_clauses(RecordVersion.id, superseded):
                touched.update(session.scalars(select(RecordVersion.teacher_id).where(where)))
                session.execute(update(RecordVersion).where(where)
                                .values(review_state="superseded", review_level="effective", review_unit=None,
                                        level_since=now).execution_options(synchronize_session=False))
            self.stored_teachers.extend(touched)
        teachers = sorted({tid for vid, tid in self.basic_versions if vid in stored and vid not in lost})
        if teachers:
            from processor.review.numbering import Numberer

            numberer = Numberer(session, self.numbering)
            numberer.activate(teachers)

    def _late_errors(self, error_rows: dict[str, set[int]]) -> None:
        """Rows stored with their chunk that the engine marked as errors afterwards: take them out again
        (with every other row of a person whose 基本信息 row it was)."""
        session, sub = self.session, self.submission
        drop: dict[int, tuple[str, int, int]] = {}  # version id → (category, row, teacher id)
        for sid, rows in error_rows.items():
            stored = self.stored_rows.get(sid)
            if not stored:
                continue
            stored = array("l", sorted(stored))  # ascending already, but a sheet's chunks need not be in order
            late = [r for r in sorted(rows) if _holds(stored, r)]
            for part in _chunks(late):
                for vid, tid, row in session.execute(
                        select(RecordVersion.id, RecordVersion.teacher_id, RecordVersion.source_row)
                        .where(RecordVersion.submission_id == sub.id, RecordVersion.category == sid,
                               RecordVersion.source_row.in_(part))):
                    drop[vid] = (sid, row, tid)
        if not drop:
            return
        persons = sorted({tid for vid, (sid, _r, tid) in drop.items() if sid == self.person_sheet})
        title = self._basic_title()
        for part in _chunks(persons):
            for vid, sid, row, tid, number in session.execute(
                    select(RecordVersion.id, RecordVersion.category, RecordVersion.source_row,
                           RecordVersion.teacher_id, Teacher.id_number)
                    .join(Teacher, Teacher.id == RecordVersion.teacher_id)
                    .where(RecordVersion.submission_id == sub.id, RecordVersion.teacher_id.in_(part),
                           RecordVersion.category != self.person_sheet)):
                if vid in drop:
                    continue
                drop[vid] = (sid, row, tid)
                basic_row = next((r for v, (s, r, t) in drop.items() if t == tid and s == self.person_sheet), 0)
                block = _block_for(self.wb, sid)
                self.added.append(Finding(
                    sheet=self._count(sid).title, row=row, column=_cell_of(block, "id_number"), field="id_number",
                    value=number, rule="ROW-NOT-STORED", severity=WARNING,
                    message=f"本行暂未入库：该人员的{title}（第 {basic_row} 行）有错误",
                    hint=f"请先改正{title}工作表第 {basic_row} 行的错误，再重新报送整份文件。"))
        ids = sorted(drop)
        for part in _chunks(ids):
            session.execute(delete(ReportFact).where(ReportFact.version_id.in_(part)))
            session.execute(delete(RecordVersion).where(RecordVersion.id.in_(part)))
        for _vid, (sid, _row, _tid) in drop.items():
            self.counts[sid].stored -= 1
            self.out.stored -= 1
        gone = set(ids)
        self.version_ids = array("q", (v for v in self.version_ids if v not in gone))
        # Their teacher_facts rows from what is left (none for a teacher without a live 基本信息 version, so that
        # the teachers this file created only for the dropped rows can go below).
        report_facts.refresh(session, {tid for _sid, _row, tid in drop.values()})
        for part in _chunks(persons):
            numbers = list(session.scalars(select(Teacher.id_number).where(Teacher.id.in_(part))))
            session.execute(update(IntakePerson).where(IntakePerson.submission_id == sub.id,
                                                       IntakePerson.id_number.in_(numbers))
                            .values(accepted=False).execution_options(synchronize_session=False))
            # Teachers this file created only for the dropped rows go with them.
            left = delete(Teacher).where(Teacher.id.in_(part), ~exists().where(RecordVersion.teacher_id == Teacher.id))
            self.out.teachers_new -= session.execute(left).rowcount or 0


def _holds(ascending: array[int], value: int) -> bool:
    i = bisect_left(ascending, value)
    return i < len(ascending) and ascending[i] == value


def _not_stored(title: str, rec: Any, block: Any, number: str | None, why: str, fix: str) -> Finding:
    return Finding(sheet=title, row=rec.excel_row, column=_cell_of(block, "id_number"), field="id_number",
                   value=number, rule="ROW-NOT-STORED", severity=WARNING,
                   message=f"本行暂未入库：{why}", hint=fix)


def save_findings(session: Session, submission_id: int, findings: Iterable[Finding]) -> int:
    """Insert the findings of a submission in bulk; returns how many."""
    rows = [{
        "submission_id": submission_id, "sheet": f.sheet, "row": f.row, "column": f.column, "field": f.field,
        "value": f.value, "rule": f.rule, "severity": f.severity, "message": f.message, "hint": f.hint or "",
    } for f in findings]
    return bulk.insert_rows(session, FindingRow, rows)
