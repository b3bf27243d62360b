"""Keep what the Rust side of python-calamine prints (panic messages, backtraces) off the user's terminal.

A panic inside calamine becomes a Python exception that the readers turn into one Chinese line, but Rust's
panic hook first writes "thread '<unnamed>' panicked at …" (and, with RUST_BACKTRACE set, a backtrace) to
file descriptor 2. ``rust_stderr_to_log()`` points fd 2 at a temporary file for the duration of a parse and
sends whatever was written there to the log at debug level.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import IO

log = logging.getLogger(__name__)
_LOCK = threading.RLock()
_MAX_KEPT = 4000
# One spool per process, emptied after each parse: making a temporary file costs more than a small parse
# (about 12 ms per school file on the load test's machine). A forked child makes its own, since the open
# file, and its offset, would be shared with the parent.
_SPOOL: tuple[int, IO[bytes]] | None = None
_DEPTH = [0]  # blocks open (under _LOCK): a nested one gets a file of its own


def _spool() -> IO[bytes]:
    global _SPOOL
    if _DEPTH[0] > 1:
        return tempfile.TemporaryFile()
    if _SPOOL is None or _SPOOL[0] != os.getpid():
        _SPOOL = (os.getpid(), tempfile.TemporaryFile())
    return _SPOOL[1]


def no_rust_backtraces() -> None:
    """Ask Rust for no backtraces in this process (the panic hook reads RUST_BACKTRACE when it runs)."""
    os.environ["RUST_BACKTRACE"] = "0"


@contextlib.contextmanager
def rust_stderr_to_log(what: str) -> Iterator[None]:
    """Within the block, fd 2 goes to a temporary file; its content is logged (debug) afterwards."""
    no_rust_backtraces()
    try:
        fd = sys.stderr.fileno() if sys.stderr is not None else 2
    except (AttributeError, OSError, ValueError):  # a replaced sys.stderr (test runners): the real fd 2
        fd = 2
    with _LOCK:
        _DEPTH[0] += 1
        try:
            spool = _spool()
        except BaseException:
            _DEPTH[0] -= 1
            raise
        try:
            try:
                sys.stderr.flush()
            except (AttributeError, OSError, ValueError):
                pass
            saved = os.dup(fd)
            os.dup2(spool.fileno(), fd)
            try:
                yield
            finally:
                os.dup2(saved, fd)
                os.close(saved)
                spool.seek(0)
                text = spool.read(_MAX_KEPT).decode("utf-8", "replace").strip()
                if text:
                    log.debug("%s: the parser wrote to standard error: %s", what, text)
        finally:
            _DEPTH[0] -= 1
            if _DEPTH[0]:
                spool.close()
            else:
                spool.seek(0)
                spool.truncate()
