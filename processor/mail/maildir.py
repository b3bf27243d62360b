"""A Maildir that the site's own mail server (or fetchmail) fills: each message is written to the spool,
then removed from the Maildir (the spool's done/ keeps the raw copy)."""

from __future__ import annotations

import logging
import mailbox
from pathlib import Path

from processor.mail.spool import Spool

log = logging.getLogger(__name__)


def poll_maildir(folder: Path, spool: Spool) -> int:
    """Take every message of the Maildir (new/ and cur/) into the spool; returns how many."""
    if not (folder / "new").is_dir() or not (folder / "cur").is_dir():
        log.warning("%s is not a Maildir (no new/ and cur/ in it); skipped", folder)
        return 0
    box = mailbox.Maildir(str(folder), factory=None, create=False)
    taken = 0
    for key in list(box.keys()):
        try:
            with box.get_file(key) as fh:
                raw = fh.read()
        except (KeyError, FileNotFoundError):
            continue  # taken by another worker meanwhile
        spool.put(raw, source="maildir")
        try:
            box.remove(key)
        except (KeyError, FileNotFoundError):
            pass
        taken += 1
    return taken
