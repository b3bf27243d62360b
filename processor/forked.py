"""Validation of a big file in a forked child while this process stores what it hands over (issue 12).

Reading and validating a province-size file and storing it each take about the same CPU time; in one
process they run one after the other. Here the child (``os.fork``: it inherits the read workbook, the rule
pack and the validator as they are, nothing is pickled on the way in) reads and validates, and sends each
validated chunk through a pipe; the parent stores each chunk as it arrives, in the file's one transaction,
exactly as the engine's ``on_chunk`` would have in one process. The findings and counts come last.

What stays as in one process:
- Every chunk is handed over in the engine's order, so the person sheet is stored before the sheets that
  refer to it, and ingest decides row by row as before. A few messages at most wait to be stored: when
  storing is slower, the child waits (memory stays bounded on both sides).
- The child's store look-ups (一人一号 against other schools, references to persons already in the store)
  use connections of their own, never the parent's: they see what is committed, which is what they need —
  the file's own persons come from the engine's own per-file sets, not from the store.
- The database is written by the parent only, in its transaction: a kill of either process stores nothing.

When the child fails (killed, out of memory, an exception, silent for ``silence_seconds``) the parent raises
:class:`ChildFailed`; the caller rolls its transaction back and validates in one process instead.
Used where ``os.fork`` exists (not on Windows) and the machine has more than one core."""

from __future__ import annotations

import gc
import json
import logging
import os
import pickle
import queue
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing import get_context
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)

# Rows per message: the parent holds one message's rows at a time (an engine chunk is 20,000 rows).
MESSAGE_ROWS = 5000
# Messages taken off the pipe ahead of the one being stored (a few MB each): the child runs this far ahead.
QUEUED_MESSAGES = 4
# The child makes the version JSON of every ENCODE_EVERY-th message, the parent that of the others: reading
# and validating take about as long as storing, and encoding the JSON is a tenth of either; halving it
# between the two keeps both cores equally busy (1,000,000 rows: child 72 s, parent 60 s of CPU otherwise).
ENCODE_EVERY = 2
_INHERITED: list[Any] = []  # in a child: the parent's engines, kept from the garbage collector


class ChildFailed(RuntimeError):
    """The validating child ended without its result."""


def available() -> bool:
    """Whether a forked child can validate beside this process here."""
    return hasattr(os, "fork") and (os.cpu_count() or 1) > 1


def validate(validator: Any, wb: Any, on_chunk: Callable[[str, list[Any]], None], *,
             silence_seconds: float = 900.0) -> Any:
    """``validator.validate(wb, keep_rows=False, on_chunk=on_chunk)``, with the validation in a child.

    Returns the engine's ValidationResult; raises ChildFailed when the child does not deliver it, and
    whatever ``on_chunk`` raises (the child is stopped first)."""
    ctx = get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(send, validator, wb), name="tmis-validate")
    # Until the child is done, the collector leaves what existed at the fork alone: scanning it would touch,
    # and so copy, every page the two processes share.
    gc.freeze()
    try:
        child.start()
    except BaseException:
        gc.unfreeze()
        raise
    send.close()
    # A thread takes the messages off the pipe as they come (blocked in read(), it holds no lock Python code
    # needs), so that the child never waits while this process stores: the engine hands over a 20,000-row
    # chunk at once, then validates the next one while these are stored.
    inbox: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUED_MESSAGES)
    reader = threading.Thread(target=_receive, args=(receive, inbox), name="tmis-validate-pipe", daemon=True)
    reader.start()
    try:
        while True:
            try:
                message = inbox.get(timeout=silence_seconds)
            except queue.Empty:
                raise ChildFailed(f"validating child silent for {silence_seconds:.0f} s") from None
            if message is None:
                child.join(5)
                raise ChildFailed(f"validating child ended without a result (exit code {child.exitcode})")
            kind, *payload = pickle.loads(message)
            if kind == "chunk":
                on_chunk(payload[0], _unpack(*payload))
            elif kind == "done":
                child.join(30)
                import resource  # POSIX, as os.fork

                used = resource.getrusage(resource.RUSAGE_CHILDREN)
                log.info("validated in a child (pid %s): %.1f s CPU of this process's children so far",
                         child.pid, used.ru_utime + used.ru_stime)
                return payload[0]
            else:
                raise ChildFailed(f"validating child failed: {payload[0]}")
    finally:
        if child.is_alive():
            child.kill()
            child.join(5)
        deadline = time.monotonic() + 10
        while reader.is_alive() and time.monotonic() < deadline:  # the child is gone: the thread sees the end
            try:
                inbox.get(timeout=0.1)  # a thread waiting for room in a full queue gets it
            except queue.Empty:
                pass
        receive.close()
        gc.unfreeze()


def _receive(receive: Connection, inbox: queue.Queue[bytes | None]) -> None:
    """In a thread of the parent: every message of the pipe into ``inbox``, then None at its end."""
    try:
        while True:
            inbox.put(receive.recv_bytes())
    except (EOFError, OSError):
        inbox.put(None)


def _child(conn: Connection, validator: Any, wb: Any) -> None:
    """In the forked child: validate, sending chunks and then the result. The parent's connections are never
    used nor closed here (closing one would end the parent's transaction): the look-ups get an engine of
    their own, and the parent's stays referenced until the child exits."""
    own = None
    try:
        store = getattr(validator.env, "store", None)
        engine = getattr(store, "engine", None)
        if engine is not None:
            from processor.store.db import make_engine

            # Connections of our own. The parent's stay referenced (never collected, so never closed here:
            # closing a psycopg connection sends the server its end, closing SQLite's may checkpoint).
            _INHERITED.append(engine)
            store.engine = own = make_engine(engine.url.render_as_string(hide_password=False), read_only=True)
        if store is not None and hasattr(store, "_session"):
            store._session = None  # a session of the parent's: its connection is not ours

        sent = [0]

        def on_chunk(sheet_id: str, records: list[Any]) -> None:
            for i in range(0, len(records), MESSAGE_ROWS):
                sent[0] += 1
                part = _pack(records[i:i + MESSAGE_ROWS], encode=sent[0] % ENCODE_EVERY == 0)
                conn.send_bytes(pickle.dumps(("chunk", sheet_id, *part), pickle.HIGHEST_PROTOCOL))

        result = validator.validate(wb, keep_rows=False, on_chunk=on_chunk)
        conn.send_bytes(pickle.dumps(("done", result), pickle.HIGHEST_PROTOCOL))
    except BaseException as exc:  # noqa: BLE001 - everything goes to the parent, which decides
        log.exception("validating child failed")
        try:
            conn.send_bytes(pickle.dumps(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")))
        except Exception:  # noqa: BLE001 - the parent sees the end of the pipe instead
            pass
    finally:
        conn.close()
        if own is not None:
            own.dispose()


def _pack(records: list[Any], *, encode: bool) -> tuple[list[str], list[tuple[Any, ...]]]:
    """A chunk as plain tuples (a tenth of the pickling cost of the records themselves): (field codes,
    [(row, has_error, values, data_json)]); with ``encode`` each row's version JSON is made here, on the
    child's core (else None: the parent makes it)."""
    from processor.ingest import version_data

    codes = list(records[0].values) if records else []
    if not encode:
        return codes, [(r.excel_row, r.has_error, tuple(r.values.values()), None) for r in records]
    return codes, [(r.excel_row, r.has_error, tuple(r.values.values()), json.dumps(version_data(r.values)))
                   for r in records]


def _unpack(sheet_id: str, codes: list[str], rows: list[tuple[Any, ...]]) -> list[Any]:
    from processor.engine import RowRecord

    return [RowRecord(sheet_id, row, dict(zip(codes, values, strict=True)), has_error, data)
            for row, has_error, values, data in rows]
