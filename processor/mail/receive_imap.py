"""IMAP polling (as paperless-ngx consumes mail): imaps, STARTTLS or plain; password from TMIS_IMAP_PASSWORD.

Each unseen message of ``imap_folder`` is fetched with BODY.PEEK (not marking it), written to the spool,
and only then marked \\Seen — or moved to ``imap_done_folder`` when that is set. A crash between the two
fetches the message again next time; the spool takes it in once (same Message-ID)."""

from __future__ import annotations

import imaplib
import logging
import ssl
from typing import Any

from processor.errors import ConfigError
from processor.mail.spool import Spool

log = logging.getLogger(__name__)


def _connect(config: Any) -> imaplib.IMAP4:
    host, port = config.get("mail", "imap_host"), int(config.get("mail", "imap_port"))
    security = config.get("mail", "imap_security")
    if security == "ssl":
        conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(host, port, ssl_context=ssl.create_default_context(), timeout=60)
    else:
        conn = imaplib.IMAP4(host, port, timeout=60)
        if security == "starttls":
            conn.starttls(ssl_context=ssl.create_default_context())
    return conn


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def poll_imap(config: Any, spool: Spool) -> int:
    """Fetch every unseen message into the spool; returns how many were taken."""
    password = config.secrets.get("imap_password", "")
    if not password:
        raise ConfigError("未设置 IMAP 密码", file="环境变量 TMIS_IMAP_PASSWORD",
                          hint="请在运行 tmis 的环境中设置 TMIS_IMAP_PASSWORD（不要写进 config.toml）。")
    folder, done = config.get("mail", "imap_folder"), config.get("mail", "imap_done_folder")
    taken = 0
    conn = _connect(config)
    try:
        conn.login(config.get("mail", "imap_user"), password)
        typ, _ = conn.select(_quote(folder))
        if typ != "OK":
            raise ConfigError(f"IMAP 邮箱中没有文件夹“{folder}”", file=config.path or "config.toml",
                              place="[mail] imap_folder", hint="请改成邮箱中实际存在的文件夹名，例如 INBOX。")
        if done:
            conn.create(_quote(done))  # NO when it exists already: fine
        typ, data = conn.uid("SEARCH", None, "UNSEEN")
        uids = (data[0] or b"").split() if typ == "OK" else []
        for uid in uids:
            typ, parts = conn.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((p[1] for p in parts or [] if isinstance(p, tuple) and len(p) > 1), None)
            if typ != "OK" or raw is None:
                log.warning("IMAP message %s could not be fetched (%s)", uid, typ)
                continue
            spool.put(raw, source="imap")
            if done:
                try:
                    typ, _ = conn.uid("MOVE", uid, _quote(done))
                except imaplib.IMAP4.error:  # a server without the MOVE extension (RFC 6851)
                    typ = "NO"
                if typ != "OK":
                    conn.uid("COPY", uid, _quote(done))
                    conn.uid("STORE", uid, "+FLAGS", "(\\Deleted \\Seen)")
                    conn.expunge()
            else:
                conn.uid("STORE", uid, "+FLAGS", "(\\Seen)")
            taken += 1
    finally:
        try:
            conn.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
    return taken
