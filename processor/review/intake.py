"""Where a school's stored rows enter the review chain (called by the pipeline inside its transaction)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.review.chain import Chain, Step
from processor.review.decide import VersionRef, refs_of, settle
from processor.store.models import RecordVersion

PAGE = 20_000


def entry_step(session: Session, config: Any, school_code: str | None) -> Step | None:
    """The first reviewing step above the school (None: unknown school, or no reviewer at any level)."""
    if not school_code:
        return None
    return Chain.load(session, config.get("review", "levels"), schools=[school_code]).first(school_code)


def settle_unreviewed(session: Session, config: Any, pack: Any, submission_id: int,
                      version_ids: list[int] | None = None) -> None:
    """A school with no reviewing unit at any configured level: its stored rows are effective at once.

    ``version_ids`` (what ingest just stored) limits the work to those versions; without it every pending
    version of the submission is settled. Either way in pages, so a province-size file stays bounded."""
    chain = Chain.load(session, config.get("review", "levels"))
    person_sheet = (getattr(pack, "settings", {}) or {}).get("person_sheet", "basic")
    cols = (RecordVersion.id, RecordVersion.teacher_id, RecordVersion.category, RecordVersion.seq,
            RecordVersion.unit_code, RecordVersion.review_level)

    def pages() -> Any:
        if version_ids is not None:
            for i in range(0, len(version_ids), PAGE):
                yield refs_of(session, version_ids[i:i + PAGE])
            return
        last = 0
        while True:
            refs = [VersionRef(*row) for row in session.execute(
                select(*cols).where(RecordVersion.submission_id == submission_id,
                                    RecordVersion.review_state == "pending", RecordVersion.id > last)
                .order_by(RecordVersion.id).limit(PAGE))]
            if not refs:
                return
            last = refs[-1].id
            yield refs

    for refs in pages():
        settle(session, chain=chain, person_sheet=person_sheet, scheme=config.get("numbering", "scheme"),
               now=datetime.now(UTC), passed=refs, returned=[])
