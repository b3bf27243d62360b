"""The audit trail: who did what to which object, appended to audit_log as a hash chain.

The database forbids UPDATE and DELETE on audit_log (triggers), and every entry carries the hash of the one
before it (``prev_hash``) and its own hash over that and its content (``hash``), so that an entry edited or
removed behind the database's back — triggers dropped by someone with the database password — breaks the
chain, which ``verify_chain`` (``tmis audit verify``) finds. Removing the newest entries is found only
against a head hash noted elsewhere: ``tmis audit verify`` prints it.

Writers are serialised so that the chain never forks: SQLite already runs one writer at a time (BEGIN
IMMEDIATE); on PostgreSQL the first entry of a transaction takes a transaction-scoped advisory lock.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from processor.store.models import AuditEntry

# Any constant: the key of the PostgreSQL advisory lock that serialises writers of the audit chain.
CHAIN_LOCK_KEY = 0x746D6973  # "tmis"
_HEAD_KEY = "tmis.audit_head"


def _canonical_time(at: datetime) -> str:
    """UTC with microseconds; SQLite hands datetimes back without a time zone (they were stored as UTC)."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")


def entry_hash(prev_hash: str, at: datetime, actor: str, action: str, object_type: str, object_id: str,
               detail: Any) -> str:
    """SHA-256 (hex) of one entry chained to the one before (format 1; migration 0003 uses it too)."""
    body = json.dumps([1, prev_hash, _canonical_time(at), actor, action, object_type, object_id, detail],
                      ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _head(session: Session) -> str:
    """The hash of the newest entry, locking the chain for the rest of this transaction."""
    transaction = session.get_transaction()
    held = session.info.get(_HEAD_KEY)
    if held is not None and held[0] is transaction:
        return str(held[1])
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    last = session.scalars(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
    return last or ""


def audit(session: Session, actor: str, action: str, object_type: str = "", object_id: str = "",
          detail: dict[str, Any] | None = None) -> AuditEntry:
    """Append one entry in the caller's transaction (it is stored only if the transaction commits).

    ``action`` is a stable English dotted code such as ``unit.add`` or ``officer.remove``; ``detail`` holds
    JSON-serialisable facts (old and new values, file name)."""
    clean = json.loads(json.dumps(dict(detail or {}), ensure_ascii=False, default=str))
    at = datetime.now(UTC)
    prev = _head(session)
    digest = entry_hash(prev, at, actor, action, object_type, str(object_id), clean)
    entry = AuditEntry(at=at, actor=actor, action=action, object_type=object_type, object_id=str(object_id),
                       detail=clean, prev_hash=prev, hash=digest)
    session.add(entry)
    session.info[_HEAD_KEY] = (session.get_transaction(), digest)
    return entry


@dataclass
class ChainReport:
    """Result of verifying the chain: entries checked, the first broken one (id, reason), the head hash."""

    entries: int
    broken_id: int | None = None
    reason: str = ""
    head: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_id is None


def _entries(session: Session, batch: int = 5000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = list(session.scalars(select(AuditEntry).where(AuditEntry.id > last).order_by(AuditEntry.id)
                                    .limit(batch)))
        if not rows:
            return
        yield from rows
        last = rows[-1].id
        session.expunge_all()


def verify_chain(session: Session) -> ChainReport:
    """Walk the chain in id order; the first entry whose hash or link does not hold is named."""
    prev = ""
    count = 0
    for entry in _entries(session):
        count += 1
        if entry.prev_hash != prev:
            return ChainReport(count, entry.id, "与前一条的链接不符（前一条被删除或修改）", prev)
        expected = entry_hash(entry.prev_hash, entry.at, entry.actor, entry.action, entry.object_type,
                              entry.object_id, entry.detail)
        if entry.hash != expected:
            return ChainReport(count, entry.id, "内容与其哈希不符（该条被修改）", prev)
        prev = entry.hash
    return ChainReport(count, head=prev)


def cli_actor() -> str:
    """The actor recorded for a command typed at the console: ``cli:<operating-system user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = os.environ.get("USER") or "unknown"
    return f"cli:{user}"
