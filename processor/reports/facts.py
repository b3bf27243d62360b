"""What ingest records for reports: the persons named on each file's 基本信息 rows (received, stored or not)
and, per stored record version, the handful of values that the composition tables count."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from processor.store import bulk
from processor.store.models import IntakePerson, ReportFact

BIANZHI = "在编"  # the employment value of a person in the establishment (是否在编 = 1)


def _text(value: Any, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
        if value is None:
            return None
    return str(value)[:limit]


def _year(value: Any) -> int | None:
    text = str(value or "")
    return int(text[:4]) if len(text) >= 4 and text[:4].isdigit() else None


def fact_of(category: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """The report columns of one version's data, or None when its category feeds no report."""
    if category == "basic":
        employment = BIANZHI if str(data.get("is_in_bianzhi") or "") == "1" else _text(data.get("employment_form"), 10)
        return {"sex": _text(data.get("sex"), 4), "birth_year": _year(data.get("birth_date")),
                "ethnicity": _text(data.get("ethnicity"), 4), "employment": employment}
    if category == "study":
        return {"education": _text(data.get("education"), 4)}
    if category == "title":
        return {"title": _text(data.get("title"), 4)}
    if category == "teaching":
        return {"subject": _text(data.get("courses"), 10)}
    return None


def record_facts(session: Session, version_ids: Sequence[int], rows: Sequence[dict[str, Any]]) -> int:
    """Insert the report facts of freshly inserted versions (``rows`` as inserted, ids in the same order)."""
    out = []
    for vid, row in zip(version_ids, rows, strict=True):
        fact = fact_of(row["category"], row["data"])
        if fact is not None:
            out.append({"version_id": vid, "teacher_id": row["teacher_id"], "unit_code": row["unit_code"],
                        "category": row["category"], "sex": None, "birth_year": None, "ethnicity": None,
                        "employment": None, "education": None, "title": None, "subject": None, **fact})
    return bulk.insert_rows(session, ReportFact, out)


def record_intake_persons(session: Session, submission_id: int, unit_code: str, received_at: datetime,
                          numbers: Iterable[str], accepted: set[str]) -> int:
    """One row per distinct identity number on the file's 基本信息 rows, marked when its row was stored."""
    rows = [{"submission_id": submission_id, "unit_code": unit_code, "received_at": received_at,
             "id_number": n[:40], "accepted": n in accepted} for n in sorted(set(numbers))]
    return bulk.insert_rows(session, IntakePerson, rows)
