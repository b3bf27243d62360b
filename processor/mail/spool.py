"""The one spool every receiver writes into first: ``<state>/mail/spool/new/<key hash>.eml``.

A receiver acknowledges a message (SMTP 250, IMAP \\Seen or move, Maildir removal) only after ``put`` has
written it to disk and fsynced it, so a crash loses nothing. The file name is derived from the message's
key (its Message-ID, or the sha256 of the raw bytes when it has none), so the same message fetched twice
(IMAP after a crash before the mark) lands on the same name and is taken in once. After processing the
message moves to ``done/``; its fate is in the ``mail_in`` table."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path

_MSGID = re.compile(r"<[^<>\s]+>")


def message_key(raw: bytes) -> str:
    """Message-ID (normalised, with angle brackets) or ``sha256:<hex>`` of the raw message."""
    headers = BytesHeaderParser().parsebytes(raw)
    value = str(headers.get("Message-ID", "") or "")
    m = _MSGID.search(value)
    if m:
        return m.group(0)[:300]
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _file_name(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:40] + ".eml"


@dataclass
class Spooled:
    """A message in the spool: its raw file and the envelope facts the receiver knew."""

    path: Path
    key: str
    source: str
    envelope_from: str = ""

    @property
    def raw(self) -> bytes:
        return self.path.read_bytes()


class Spool:
    """``<state>/mail/spool/{tmp,new,done}`` with atomic, fsynced puts."""

    def __init__(self, state_dir: Path) -> None:
        self.root = Path(state_dir) / "mail" / "spool"
        self.tmp, self.new, self.done = self.root / "tmp", self.root / "new", self.root / "done"
        for p in (self.tmp, self.new, self.done):
            p.mkdir(parents=True, exist_ok=True)

    def put(self, raw: bytes, *, source: str, envelope_from: str = "") -> Spooled:
        """Store a received message durably; the same message (same key) twice is stored once."""
        key = message_key(raw)
        name = _file_name(key)
        target = self.new / name
        if target.exists() or (self.done / name).exists():
            return Spooled(target if target.exists() else self.done / name, key, source, envelope_from)
        tmp = self.tmp / f"{uuid.uuid4().hex}.eml"
        with tmp.open("wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        side = {"key": key, "source": source, "envelope_from": envelope_from}
        meta_tmp = tmp.with_suffix(".json")
        meta_tmp.write_text(json.dumps(side, ensure_ascii=False), encoding="utf-8")
        os.replace(meta_tmp, target.with_suffix(".json"))
        os.replace(tmp, target)  # the .eml appears last: a file in new/ always has its envelope beside it
        _fsync_dir(self.new)
        return Spooled(target, key, source, envelope_from)

    def waiting(self) -> list[Spooled]:
        """Messages in new/, oldest first."""
        out = []
        files = sorted(self.new.glob("*.eml"), key=lambda p: (p.stat().st_mtime, p.name))
        for path in files:
            try:
                side = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                side = {"key": message_key(path.read_bytes()), "source": "smtp"}
            out.append(Spooled(path, side["key"], side.get("source", "smtp"), side.get("envelope_from", "")))
        return out

    def finish(self, item: Spooled) -> Path:
        """Move a processed message to done/ (kept as the raw record of what was received)."""
        target = self.done / item.path.name
        if item.path.exists():
            os.replace(item.path, target)
        side = item.path.with_suffix(".json")
        if side.exists():
            os.replace(side, target.with_suffix(".json"))
        return target

    def find(self, key: str) -> Path | None:
        """The raw file of a message by key (new/ or done/)."""
        name = _file_name(key)
        for folder in (self.new, self.done):
            if (folder / name).exists():
                return folder / name
        return None


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
