"""Moving versions along the chain: pending@level → pending@next … → effective, or → returned to the school.

- Effective: the version replaces the effective version of the same record (teacher, category, seq), which
  becomes ``superseded`` — unless that one is newer (a later submission that got there first), in which
  case this one is superseded instead. A teacher whose 基本信息 becomes effective for the first time gets
  the teacher number ([numbering]) and becomes ``active``.
- Returned: the version goes back to the school (level ``school``); any effective version stays untouched.
Everything happens in the caller's transaction, with bulk updates by primary key.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from processor.reports import facts as report_facts
from processor.review.chain import Chain
from processor.review.numbering import Numberer
from processor.store import bulk
from processor.store.models import RecordVersion
from processor.store.spans import id_clauses, split

CHUNK = 500


@dataclass(frozen=True)
class VersionRef:
    """The facts of a version that its move needs."""

    id: int
    teacher_id: int
    category: str
    seq: int
    school_code: str
    level: str


@dataclass
class Settled:
    """What a batch of decisions did."""

    moved_up: int = 0
    effective: int = 0
    returned: int = 0
    superseded: int = 0
    numbers: int = 0
    effective_ids: list[int] = field(default_factory=list)


def refs_of(session: Session, ids: list[int]) -> list[VersionRef]:
    out: list[VersionRef] = []
    for where in id_clauses(RecordVersion.id, ids, chunk=CHUNK):  # runs of consecutive ids: BETWEEN
        out.extend(VersionRef(*row) for row in session.execute(
            select(RecordVersion.id, RecordVersion.teacher_id, RecordVersion.category, RecordVersion.seq,
                   RecordVersion.unit_code, RecordVersion.review_level).where(where)))
    return out


def _bulk(session: Session, rows: list[dict[str, Any]]) -> None:
    """Apply the changes as if one after the other: per id the later change of a column wins. Versions that
    get the same values in a run of consecutive ids (a big file made effective) in one ranged UPDATE."""
    session.flush()
    merged: dict[int, dict[str, Any]] = {}
    for row in rows:
        prev = merged.get(row["id"])
        merged[row["id"]] = row if prev is None else {**prev, **row}
    same: dict[tuple[tuple[str, Any], ...], list[int]] = defaultdict(list)
    for vid, row in merged.items():
        values = dict(row)
        del values["id"]
        same[tuple(values.items())].append(vid)
    single: list[dict[str, Any]] = []
    for values, ids in same.items():
        long, rest = split(ids)
        for first, last in long:
            session.execute(update(RecordVersion).where(RecordVersion.id.between(first, last)).values(dict(values))
                            .execution_options(synchronize_session=False))
        single.extend({"id": vid, **dict(values)} for vid in rest)
    bulk.update_by_id(session, RecordVersion, single)
    # ORM copies of these versions loaded earlier in the session must show the new states.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, RecordVersion):
            session.expire(obj)


def settle(session: Session, *, chain: Chain, person_sheet: str, scheme: str, now: datetime,
           passed: list[VersionRef], returned: list[VersionRef]) -> Settled:
    """Apply decisions: ``passed`` move to the next level or become effective; ``returned`` go back."""
    out = Settled()
    changes: list[dict[str, Any]] = []
    to_effective: list[VersionRef] = []
    for ref in passed:
        step = chain.after(ref.school_code, ref.level)
        if step is None:
            to_effective.append(ref)
        else:
            changes.append({"id": ref.id, "review_level": step.level, "review_unit": step.unit_code,
                            "level_since": now})
            out.moved_up += 1
    for ref in returned:
        changes.append({"id": ref.id, "review_state": "returned", "review_level": "school",
                        "review_unit": ref.school_code, "level_since": now})
        out.returned += 1
    if to_effective:
        _make_effective(session, to_effective, changes, out, person_sheet=person_sheet, scheme=scheme, now=now)
    _bulk(session, changes)
    report_facts.settled(session, changes)  # the report's teacher_facts in step with the new states
    return out


def make_effective(session: Session, refs: list[VersionRef], *, person_sheet: str, scheme: str,
                   now: datetime) -> Settled:
    """Versions decided outside the review chain by the authority entitled to (a registration decision, …) become
    effective at once, superseding the record's effective version, exactly as at the end of the chain."""
    out = Settled()
    changes: list[dict[str, Any]] = []
    _make_effective(session, refs, changes, out, person_sheet=person_sheet, scheme=scheme, now=now)
    _bulk(session, changes)
    report_facts.settled(session, changes)
    return out


def _make_effective(session: Session, refs: list[VersionRef], changes: list[dict[str, Any]], out: Settled, *,
                    person_sheet: str, scheme: str, now: datetime) -> None:
    teacher_ids = sorted({r.teacher_id for r in refs})
    current: dict[tuple[int, str, int], int] = {}
    for where in id_clauses(RecordVersion.teacher_id, teacher_ids, chunk=CHUNK):
        for vid, tid, category, seq in session.execute(
                select(RecordVersion.id, RecordVersion.teacher_id, RecordVersion.category, RecordVersion.seq)
                .where(where, RecordVersion.review_state == "effective")):
            current[(tid, category, seq)] = vid
    first_basic: list[int] = []
    for ref in sorted(refs, key=lambda r: r.id):
        key = (ref.teacher_id, ref.category, ref.seq)
        held = current.get(key)
        base = {"review_level": "effective", "review_unit": None, "level_since": now}
        if held is not None and held > ref.id:  # a newer version of the record is effective already
            changes.append({"id": ref.id, "review_state": "superseded", **base})
            out.superseded += 1
            continue
        if held is not None:
            changes.append({"id": held, "review_state": "superseded", "review_level": "effective",
                            "review_unit": None, "level_since": now})
            out.superseded += 1
        changes.append({"id": ref.id, "review_state": "effective", **base})
        current[key] = ref.id
        out.effective += 1
        out.effective_ids.append(ref.id)
        if ref.category == person_sheet:
            first_basic.append(ref.teacher_id)
    if first_basic:
        numberer = Numberer(session, scheme)
        numberer.activate(sorted(set(first_basic)))
        out.numbers = numberer.assigned
