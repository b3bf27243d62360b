"""Sending the outgoing queue with aiosmtplib (plain, STARTTLS or TLS; login from TMIS_SMTP_PASSWORD).

A message due (``waiting`` and ``next_attempt_at`` passed) is first claimed by moving its
``next_attempt_at`` a lease into the future with a conditional UPDATE (one worker wins, on SQLite and
PostgreSQL alike); then it is handed to the server; the server's acceptance and the row becoming ``sent``
are one step with nothing between them but the commit. A failure counts an attempt and waits
``retry_seconds × 2^(attempts-1)`` (at most an hour); a permanent refusal (5xx) or ``max_attempts``
tries make it ``failed`` — kept, shown by ``tmis mail queue``, re-queued by ``tmis mail retry``.
Every message carries its own Message-ID, so a receiving system can recognise the one resend that a
crash between the server's "250" and the commit could cause."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosmtplib
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from processor.audit import audit
from processor.errors import ConfigError
from processor.mail.outgoing import FAILED, SENT, WAITING, build_message
from processor.store.models import MailOut

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_DELAY = 3600.0


@dataclass
class SmtpSettings:
    """Where and how to send (``[mail] smtp_*``, ``starttls``, ``tls``; password from the environment)."""

    host: str
    port: int
    user: str
    password: str
    starttls: bool
    tls: bool
    from_address: str
    from_name: str
    max_attempts: int
    retry_seconds: float

    @classmethod
    def from_config(cls, config: Any) -> SmtpSettings:
        get = config.get
        if get("mail", "starttls") and get("mail", "tls"):
            raise ConfigError("[mail] starttls 与 tls 不能同时为 true", file=config.path or "config.toml",
                              hint="465 端口用 tls = true；587 端口用 starttls = true。")
        return cls(get("mail", "smtp_host"), int(get("mail", "smtp_port")), get("mail", "smtp_user"),
                   config.secrets.get("smtp_password", ""), bool(get("mail", "starttls")), bool(get("mail", "tls")),
                   get("mail", "from_address"), get("instance", "name"), int(get("mail", "max_attempts")),
                   float(get("mail", "retry_seconds")))


def _delay(settings: SmtpSettings, attempts: int) -> float:
    return min(settings.retry_seconds * (2 ** max(attempts - 1, 0)), MAX_DELAY)


def _claim(engine: Any, row_id: int, seen: datetime) -> bool:
    with Session(engine) as session, session.begin():
        done = session.execute(update(MailOut).where(MailOut.id == row_id, MailOut.state == WAITING,
                                                     MailOut.next_attempt_at == seen)
                               .values(next_attempt_at=datetime.now(UTC) + LEASE))
        return done.rowcount == 1


async def _deliver(settings: SmtpSettings, to_addr: str, data: bytes) -> None:
    kwargs: dict[str, Any] = {"hostname": settings.host, "port": settings.port, "timeout": 30,
                              "use_tls": settings.tls, "start_tls": settings.starttls if not settings.tls else False}
    if settings.user:
        kwargs.update(username=settings.user, password=settings.password)
    await aiosmtplib.send(data, sender=settings.from_address, recipients=[to_addr], **kwargs)


def _permanent(exc: BaseException) -> bool:
    code = getattr(exc, "code", None)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [getattr(e, "code", 0) for e in exc.recipients]
        return bool(codes) and all(500 <= c < 600 for c in codes)
    return isinstance(code, int) and 500 <= code < 600 and not isinstance(exc, aiosmtplib.SMTPAuthenticationError)


def send_due(config: Any, engine: Any, *, limit: int = 100) -> dict[str, int]:
    """Send every message that is due now; returns counts {"sent", "retry", "failed"}."""
    settings = SmtpSettings.from_config(config)
    counts = {"sent": 0, "retry": 0, "failed": 0}
    now = datetime.now(UTC)
    with Session(engine) as session:
        due = [(r.id, r.next_attempt_at) for r in session.scalars(
            select(MailOut).where(MailOut.state == WAITING, MailOut.next_attempt_at <= now)
            .order_by(MailOut.next_attempt_at, MailOut.id).limit(limit))]
    for row_id, seen in due:
        if not _claim(engine, row_id, seen):
            continue
        with Session(engine) as session:
            row = session.get(MailOut, row_id)
            try:
                data = build_message(row, settings.from_address, settings.from_name)
                error: BaseException | None = None
            except OSError as exc:  # an attachment vanished: nothing will make it come back
                data, error = b"", exc
        if error is None:
            try:
                asyncio.run(_deliver(settings, row.to_addr, data))
            except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
                error = exc
        with Session(engine) as session, session.begin():
            row = session.get(MailOut, row_id)
            row.attempts += 1
            if error is None:
                row.state, row.sent_at, row.last_error = SENT, datetime.now(UTC), ""
                counts["sent"] += 1
                audit(session, "mail", "mail.sent", "mail_out", str(row_id), {"to": row.to_addr,
                                                                             "attempts": row.attempts})
                continue
            row.last_error = f"{type(error).__name__}: {error}"[:2000]
            if isinstance(error, OSError) and not data or _permanent(error) or row.attempts >= settings.max_attempts:
                row.state = FAILED
                counts["failed"] += 1
                audit(session, "mail", "mail.failed", "mail_out", str(row_id),
                      {"to": row.to_addr, "attempts": row.attempts, "error": row.last_error})
                log.error("mail %s to %s failed for good after %d attempts: %s", row_id, row.to_addr,
                          row.attempts, row.last_error)
            else:
                row.next_attempt_at = datetime.now(UTC) + timedelta(seconds=_delay(settings, row.attempts))
                counts["retry"] += 1
                log.warning("mail %s to %s not sent (attempt %d): %s; retrying later", row_id, row.to_addr,
                            row.attempts, row.last_error)
    return counts


def next_due(engine: Any) -> datetime | None:
    """When the next waiting message becomes due (None when nothing waits)."""
    with Session(engine) as session:
        return session.scalars(select(MailOut.next_attempt_at).where(MailOut.state == WAITING)
                               .order_by(MailOut.next_attempt_at).limit(1)).first()


def retry(session: Session, message_id: int, actor: str) -> MailOut | None:
    """A failed (or waiting) message due again now; None when there is no such message."""
    row = session.get(MailOut, message_id)
    if row is None:
        return None
    if row.state != SENT:
        audit(session, actor, "mail.retry", "mail_out", str(row.id),
              {"to": row.to_addr, "attempts_before": row.attempts, "last_error": row.last_error})
        # A fresh round of max_attempts tries; the earlier attempts are in the audit log.
        row.state, row.next_attempt_at, row.attempts = WAITING, datetime.now(UTC), 0
    return row
