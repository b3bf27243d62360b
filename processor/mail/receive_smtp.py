"""The built-in SMTP receiver (aiosmtpd) on ``[mail] listen_host:listen_port``: every message accepted is
in the spool, fsynced, before the client hears "250"; a failure to store it answers 451 (try later), so
the sending server keeps it."""

from __future__ import annotations

import logging
import threading
from typing import Any

from aiosmtpd.controller import Controller

from processor.mail.spool import Spool

log = logging.getLogger(__name__)


class SpoolHandler:
    """aiosmtpd handler: DATA → spool."""

    def __init__(self, spool: Spool, wake: threading.Event | None = None) -> None:
        self.spool = spool
        self.wake = wake

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            self.spool.put(raw, source="smtp", envelope_from=envelope.mail_from or "")
        except OSError as exc:
            log.error("cannot spool a message from %s: %s", envelope.mail_from, exc)
            return "451 4.3.0 Temporary failure storing the message, try again later"
        if self.wake is not None:
            self.wake.set()
        return "250 2.0.0 Message accepted"


def start_receiver(config: Any, spool: Spool, wake: threading.Event | None = None) -> Controller:
    """Start listening (own thread); call ``.stop()`` on the result to end it."""
    max_bytes = int(float(config.get("mail", "max_message_mb")) * (1 << 20))
    controller = Controller(SpoolHandler(spool, wake), hostname=config.get("mail", "listen_host"),
                            port=int(config.get("mail", "listen_port")), data_size_limit=max_bytes,
                            server_hostname=config.get("mail", "from_address").rpartition("@")[2] or None,
                            ready_timeout=10)
    try:
        controller.start()
    except (OSError, RuntimeError) as exc:
        from processor.errors import ConfigError

        raise ConfigError(f"内置收件服务无法在 {controller.hostname}:{controller.port} 上监听（{exc}）",
                          file=config.path or "config.toml", place="[mail] listen_host / listen_port",
                          hint="请换一个未被占用的端口，或把 [mail] listen 设为 false（只用 IMAP / Maildir 收信）。") from exc
    log.info("SMTP receiver listening on %s:%s", controller.hostname, controller.port)
    return controller
