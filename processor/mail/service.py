"""Mail inside ``tmis run``: the SMTP receiver, IMAP and Maildir polling, the spool, the sender, the daily
mailings — one thread beside the inbox watcher; ``run_once`` does one round of everything for ``--once``."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from processor.mail.intake import MailIntake
from processor.mail.maildir import poll_maildir
from processor.mail.receive_imap import poll_imap
from processor.mail.sender import SmtpSettings, next_due, send_due

log = logging.getLogger(__name__)


class MailService:
    """Everything mail does for one instance."""

    def __init__(self, config: Any, *, engine: Any = None, pack: Any = None) -> None:
        self.config = config
        SmtpSettings.from_config(config)  # a contradictory [mail] section stops the start, in one clear line
        if engine is None:  # its own engine and pack: the inbox worker's validators are not shared across threads
            from processor.store.db import open_store

            engine = open_store(config)
        if pack is None:
            from processor.rulepack.loader import load_pack_from_config

            pack = load_pack_from_config(config)
        self.engine, self.pack = engine, pack
        self.intake = MailIntake(config, engine, pack)
        self.wake = threading.Event()
        self.controller: Any = None
        self._last_daily: str | None = None

    # -- pieces ----------------------------------------------------------------------------------
    def poll(self) -> int:
        taken = 0
        if self.config.get("mail", "imap_host"):
            try:
                taken += poll_imap(self.config, self.intake.spool)
            except Exception as exc:  # noqa: BLE001 - the mailbox is down: try again next round
                log.error("IMAP poll of %s failed: %s", self.config.get("mail", "imap_host"), exc)
        maildir = self.config.get("mail", "maildir")
        if maildir:
            try:
                taken += poll_maildir(self.config._path(maildir), self.intake.spool)
            except OSError as exc:
                log.error("Maildir %s could not be read: %s", maildir, exc)
        return taken

    def send(self) -> dict[str, int]:
        try:
            return send_due(self.config, self.engine)
        except Exception:  # noqa: BLE001
            log.exception("sending mail failed; retrying later")
            return {}

    def daily(self, now: datetime | None = None) -> None:
        now = (now or datetime.now(UTC)).astimezone()
        day = now.date().isoformat()
        hour = int(self.config.get("mail", "digest_hour"))
        if hour < 0 or self._last_daily == day or now.hour < hour:
            return
        from processor.mail.digest import run_daily

        try:
            run_daily(self.config, self.engine, now.date())
            self._last_daily = day
        except Exception:  # noqa: BLE001
            log.exception("daily mail could not be queued; trying again later")

    # -- modes -----------------------------------------------------------------------------------
    def run_once(self) -> dict[str, Any]:
        """One round: poll, process the spool, send what is due (one attempt each)."""
        taken = self.poll()
        results = self.intake.process_waiting()
        sent = self.send()
        return {"taken": taken, "messages": len(results), **sent}

    def start(self, stop: threading.Event) -> threading.Thread:
        """The SMTP receiver (when ``[mail] listen``) and the mail loop in a thread, until ``stop``."""
        if self.config.get("mail", "listen"):
            from processor.mail.receive_smtp import start_receiver

            self.controller = start_receiver(self.config, self.intake.spool, self.wake)
        thread = threading.Thread(target=self._loop, args=(stop,), name="tmis-mail", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def _loop(self, stop: threading.Event) -> None:
        poll_every = float(self.config.get("mail", "poll_seconds"))
        last_poll = 0.0
        while not stop.is_set():
            self.wake.clear()
            if time.monotonic() - last_poll >= poll_every:
                last_poll = time.monotonic()
                self.poll()
            try:
                self.intake.process_waiting()
            except Exception:  # noqa: BLE001
                log.exception("mail spool round failed")
            self.send()
            self.daily()
            timeout = poll_every - (time.monotonic() - last_poll)
            due = None
            try:
                due = next_due(self.engine)
            except Exception:  # noqa: BLE001
                log.exception("cannot read the outgoing queue")
            if due is not None:
                due = due if due.tzinfo else due.replace(tzinfo=UTC)
                timeout = min(timeout, (due - datetime.now(UTC)).total_seconds())
            self.wake.wait(max(0.05, min(timeout, 60.0)))
