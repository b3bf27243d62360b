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
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from processor.findings import ERROR, WARNING, Finding, column_letter
from processor.reports import facts as report_facts
from processor.store.models import Finding as FindingRow
from processor.store.models import RecordVersion, ReturnSheet, ReturnSheetItem, Teacher, Unit

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

    def _teachers(self, numbers: Iterable[str]) -> list[tuple[str, str, str, str, str | None]]:
        """(id_type, id_number, unit_code, status, unit name) of the teachers holding these numbers."""
        wanted = sorted({n for n in numbers if n})
        out: list[tuple[str, str, str, str, str | None]] = []
        if not wanted:
            return out
        with Session(self.engine) as session:
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
           accept_mode: str = "row", store: bool = True, review_step: Any = None) -> IngestResult:
    """Store the valid rows of a validated file for school ``unit_code`` in the caller's transaction.

    ``submission`` must be flushed (it has an id). ``store=False`` (unit not recognised, or a file-level
    error) stores nothing and only counts. ``review_step`` (a processor.review.chain.Step: level and unit)
    is where the stored versions wait; None leaves them pending at the school for the caller to settle.
    Returns the counts, the status and the findings ingest added; the caller saves all findings
    (``save_findings``)."""
    settings = getattr(pack, "settings", {}) or {}
    person_sheet = settings.get("person_sheet", "basic")
    rows_by_sheet: dict[str, list[Any]] = result.rows
    sheet_order = {s.id: i for i, s in enumerate(pack.ordered_sheets())}
    counts = {
        sid: SheetCount(sid, (_block_for(wb, sid).title if _block_for(wb, sid) is not None
                              else getattr(pack.sheets.get(sid), "name", sid)))
        for sid in sorted(rows_by_sheet, key=lambda s: sheet_order.get(s, 999))
    }
    total = 0
    for sid, records in rows_by_sheet.items():
        counts[sid].rows = len(records)
        total += len(records)
    errors = sum(1 for f in result.findings if f.severity == ERROR)
    out = IngestResult(status=REJECTED, rows=total, stored=0, sheets=list(counts.values()))
    if not store or (accept_mode == "all" and errors):
        if accept_mode == "all" and errors and store:
            out.note = "按“全有或全无”方式接收：文件中有错误，整份文件未入库。"
        return out

    added: list[Finding] = []

    # 1. Persons of the file, from the person sheet.
    basic_rows: list[Any] = rows_by_sheet.get(person_sheet, [])
    person_of_number: dict[str, PersonKey] = {}  # id_number → key (first 基本信息 row wins)
    basic_row_of: dict[PersonKey, Any] = {}
    bad_persons: dict[PersonKey, str] = {}  # key → why its rows are not stored
    for rec in basic_rows:
        number = rec.values.get("id_number")
        if not number:
            continue
        key = (str(rec.values.get("id_type") or DEFAULT_ID_TYPE), str(number))
        person_of_number.setdefault(key[1], key)
        if key in basic_row_of:
            continue
        basic_row_of[key] = rec
        if rec.has_error:
            bad_persons[key] = (f"该人员的{counts[person_sheet].title}（第 {rec.excel_row} 行）有错误",
                                f"请先改正{counts[person_sheet].title}工作表第 {rec.excel_row} 行的错误，再重新报送整份文件。")

    # Numbers used on other sheets without a 基本信息 row in this file: the school's own teachers in the store.
    numbers_elsewhere = sorted({str(r.values.get("id_number")) for sid, recs in rows_by_sheet.items()
                                if sid != person_sheet for r in recs
                                if r.values.get("id_number") and str(r.values.get("id_number")) not in person_of_number})
    existing: dict[PersonKey, Teacher] = {}
    numbers = sorted({k[1] for k in basic_row_of} | set(numbers_elsewhere))
    for part in _chunks(numbers):
        for t in session.scalars(select(Teacher).where(Teacher.id_number.in_(part))):
            existing[(t.id_type, t.id_number)] = t
    own_by_number: dict[str, PersonKey] = {}
    for key, t in existing.items():
        if t.unit_code == unit_code and key[1] in numbers_elsewhere:
            # Prefer the resident identity card when one number exists under several document types.
            if key[1] not in own_by_number or key[0] == DEFAULT_ID_TYPE:
                own_by_number[key[1]] = key

    # 2. 一人一号: a live record at another school blocks the person (the engine flags it too).
    flagged = {(f.sheet, f.row) for f in result.findings if f.rule == "PERSON-CONFLICT"}
    for key, rec in basic_row_of.items():
        t = existing.get(key)
        if t is None or t.unit_code == unit_code or t.status not in LIVE_STATUSES:
            continue
        block = _block_for(wb, person_sheet)
        title = counts[person_sheet].title
        bad_persons.setdefault(key, ("该人员已在其他学校有在职或待审核的记录（一人一号）",
                                     "如属调动，请由调入学校填写调动申请表（tmis template transfer）发起调动；如身份证件号填错，请改正后重新报送。"))
        if rec.has_error and (title, rec.excel_row) in flagged:
            continue
        if (title, rec.excel_row) not in flagged:
            school = session.get(Unit, t.unit_code)
            added.append(Finding(
                sheet=title, row=rec.excel_row, column=_cell_of(block, "id_number"),
                field="id_number", value=key[1], rule="PERSON-CONFLICT", severity=ERROR,
                message=f"身份证件号为 {key[1]} 的人员已在{school.name if school else t.unit_code}"
                        f"（{t.unit_code}）有记录，一人只能有一条教师记录",
                hint="如属调动，请由调入学校填写调动申请表（tmis template transfer）发起调动；如身份证件号填错，请改正后重新报送。"))

    # A sub-record whose number matches no 基本信息 row may belong to a person whose 基本信息 row has an error
    # (often the identity number itself): point at that row rather than saying the person is missing.
    bad_basic_by_name: dict[str, int] = {}
    for rec in rows_by_sheet.get(person_sheet, []):
        name = rec.values.get("name")
        if rec.has_error and isinstance(name, str) and name:
            bad_basic_by_name.setdefault(name, rec.excel_row)

    # 3. Decide row by row.
    accepted: dict[str, list[tuple[Any, PersonKey, int]]] = defaultdict(list)  # sheet → (rec, key, seq)
    for sid, records in rows_by_sheet.items():
        block = _block_for(wb, sid)
        title = counts[sid].title
        one_record = getattr(pack.sheets.get(sid), "records", "many") == "one"
        seen: dict[PersonKey, int] = defaultdict(int)
        for rec in records:
            number = rec.values.get("id_number")
            number = str(number) if number else None
            if sid == person_sheet:
                key = (str(rec.values.get("id_type") or DEFAULT_ID_TYPE), number) if number else None
            else:
                key = person_of_number.get(number) or own_by_number.get(number) if number else None
            if key is None:
                basic_title = counts.get(person_sheet, SheetCount('', '基本信息')).title
                bad_row = bad_basic_by_name.get(rec.values.get("name"))  # type: ignore[arg-type]
                if not rec.has_error and bad_row is not None:
                    added.append(_not_stored(
                        title, rec, block, number,
                        f"{basic_title}第 {bad_row} 行（同名人员 {rec.values.get('name')}）有错误，"
                        f"该行的身份证件号与本行的 {number or '（空）'} 不一致或有误",
                        f"请先改正{basic_title}工作表第 {bad_row} 行，使两处身份证件号一致，再重新报送整份文件。"))
                elif not rec.has_error:
                    added.append(_not_stored(title, rec, block, number,
                                             f"身份证件号为 {number or '（空）'} 的人员在本文件的"
                                             f"{counts.get(person_sheet, SheetCount('', '基本信息')).title}中没有记录，"
                                             "本校在系统中也没有该人员",
                                             f"请在{counts.get(person_sheet, SheetCount('', '基本信息')).title}"
                                             "工作表中补填该人员的基本信息后重新报送。"))
                continue
            seen[key] += 1
            seq = seen[key]
            if rec.has_error:
                continue
            if sid != person_sheet and key in bad_persons:
                why, fix = bad_persons[key]
                added.append(_not_stored(title, rec, block, number, why, fix))
                continue
            if sid == person_sheet and key in bad_persons:
                continue
            if one_record and seq > 1:
                continue
            accepted[sid].append((rec, key, seq))

    # 4. Teachers: new ones are pending at this school; known ones at this school get the new name.
    teacher_status = "pending"  # active once its 基本信息 becomes effective (processor.review.decide)
    teacher_id: dict[PersonKey, int] = {}
    new_rows: list[dict[str, Any]] = []
    for rec, key, _seq in accepted.get(person_sheet, []):
        t = existing.get(key)
        name = str(rec.values.get("name") or "")
        if t is None:
            new_rows.append({"id_type": key[0], "id_number": key[1], "name": name, "unit_code": unit_code,
                             "status": teacher_status})
        else:
            if t.unit_code != unit_code:  # a person who left another school (status 'left') joins this one
                t.unit_code, t.status = unit_code, teacher_status
            if name and t.name != name:
                t.name = name
            teacher_id[key] = t.id
    for key, t in existing.items():
        if t.unit_code == unit_code:
            teacher_id.setdefault(key, t.id)
    if new_rows:
        # Core executemany, then the ids by number: RETURNING with parameter order made SQLite run one INSERT
        # per teacher (a province-size import spent most of its store time there).
        conn = session.connection()
        for part in _chunks(new_rows, 2000):
            conn.execute(insert(Teacher.__table__), list(part))
            for numbers in _chunks(sorted({r["id_number"] for r in part})):
                for tid, id_type, number in conn.execute(select(Teacher.id, Teacher.id_type, Teacher.id_number)
                                                         .where(Teacher.id_number.in_(numbers))):
                    teacher_id[(id_type, number)] = tid
        out.teachers_new = len(new_rows)
    session.flush()

    # 5. Supersede the school's pending versions that this file replaces, then insert the new versions in
    # batches as they are built (a province-size file never holds every version row in memory at once).
    replaced: dict[str, set[int]] = defaultdict(set)
    for sid, items in accepted.items():
        for _rec, key, _seq in items:
            tid = teacher_id.get(key)
            if tid is not None:
                replaced[sid].add(tid)
    on_open_sheet = (select(ReturnSheetItem.version_id).join(ReturnSheet, ReturnSheet.id == ReturnSheetItem.sheet_id)
                     .where(ReturnSheet.status == "open"))
    for sid, tids in replaced.items():
        for part in _chunks(sorted(tids)):
            res = session.execute(
                update(RecordVersion)
                .where(RecordVersion.unit_code == unit_code, RecordVersion.category == sid,
                       RecordVersion.review_state == "pending", RecordVersion.teacher_id.in_(part),
                       RecordVersion.id.not_in(on_open_sheet))
                .values(review_state="superseded")
                .execution_options(synchronize_session=False)
            )
            out.superseded += res.rowcount or 0

    level = review_step.level if review_step is not None else "school"
    reviewer = review_step.unit_code if review_step is not None else unit_code
    since = dt.datetime.now(dt.UTC)

    def version_rows() -> Iterator[dict[str, Any]]:
        for sid, items in accepted.items():
            title = counts[sid].title
            for rec, key, seq in items:
                tid = teacher_id.get(key)
                if tid is None:
                    continue
                counts[sid].stored += 1
                yield {
                    "teacher_id": tid, "category": sid, "seq": seq, "unit_code": unit_code,
                    "submission_id": submission.id, "source_sheet": title, "source_row": rec.excel_row,
                    "data": {k: json_safe(v) for k, v in rec.values.items() if v is not None},
                    "review_state": "pending", "review_level": level, "review_unit": reviewer,
                    "level_since": since,
                }

    out.stored = 0
    returning = insert(RecordVersion).returning(RecordVersion.id, sort_by_parameter_order=True)
    for part in _batches(version_rows(), 5000):
        ids = session.execute(returning, part).scalars().all()
        report_facts.record_facts(session, ids, part)
        out.stored += len(part)
    stored_numbers = {key[1] for rec, key, _seq in accepted.get(person_sheet, []) if teacher_id.get(key)}
    report_facts.record_intake_persons(session, submission.id, unit_code, submission.received_at or dt.datetime.now(dt.UTC),
                                       (k[1] for k in basic_row_of), stored_numbers)
    out.findings = added
    errors += sum(1 for f in added if f.severity == ERROR)
    out.status = status_for(total, out.stored, errors)
    return out


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
    for part in _chunks(rows, 5000):
        session.execute(insert(FindingRow), list(part))
    return len(rows)
