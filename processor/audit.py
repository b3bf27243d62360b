"""The audit trail: who did what to which object, appended to audit_log (the database forbids changes)."""

from __future__ import annotations

import getpass
import os
from typing import Any

from sqlalchemy.orm import Session

from processor.store.models import AuditEntry


def audit(session: Session, actor: str, action: str, object_type: str = "", object_id: str = "",
          detail: dict[str, Any] | None = None) -> AuditEntry:
    """Append one entry in the caller's transaction (it is stored only if the transaction commits).

    ``action`` is a stable English dotted code such as ``unit.add`` or ``officer.remove``; ``detail`` holds
    JSON-serialisable facts (old and new values, file name).
    """
    entry = AuditEntry(actor=actor, action=action, object_type=object_type, object_id=str(object_id),
                       detail=dict(detail or {}))
    session.add(entry)
    return entry


def cli_actor() -> str:
    """The actor recorded for a command typed at the console: ``cli:<operating-system user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = os.environ.get("USER") or "unknown"
    return f"cli:{user}"
