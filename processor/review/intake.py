"""Where a school's stored rows enter the review chain (called by the pipeline inside its transaction)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.review.chain import Chain, Step
from processor.review.decide import VersionRef, settle
from processor.store.models import RecordVersion


def entry_step(session: Session, config: Any, school_code: str | None) -> Step | None:
    """The first reviewing step above the school (None: unknown school, or no reviewer at any level)."""
    if not school_code:
        return None
    return Chain.load(session, config.get("review", "levels")).first(school_code)


def settle_unreviewed(session: Session, config: Any, pack: Any, submission_id: int) -> None:
    """A school with no reviewing unit at any configured level: its stored rows are effective at once."""
    refs = [VersionRef(*row) for row in session.execute(
        select(RecordVersion.id, RecordVersion.teacher_id, RecordVersion.category, RecordVersion.seq,
               RecordVersion.unit_code, RecordVersion.review_level)
        .where(RecordVersion.submission_id == submission_id, RecordVersion.review_state == "pending"))]
    settle(session, chain=Chain.load(session, config.get("review", "levels")),
           person_sheet=(getattr(pack, "settings", {}) or {}).get("person_sheet", "basic"),
           scheme=config.get("numbering", "scheme"), now=datetime.now(UTC), passed=refs, returned=[])
