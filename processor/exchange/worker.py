"""The second core for `tmis exchange import`: a child process reads, maps and validates the next chunk while
the importing process stores the current one.

The importing process keeps everything that writes: each chunk is still stored in one transaction of its
own with the restart point, in file order, so a crash or a kill leaves exactly what the sequential import
would (the child dies with its parent). The child is forked once the refusals are done and the import's
submission exists; it runs the same ``_Importer.chunks``/``replay``/``validate_chunk`` as the sequential
path, with a Validator of its own reading the store on connections of its own, and hands over one
validated chunk at a time (at most one waits while the parent stores: memory stays bounded).

Validation sees the store as it would in the sequential order. While chunk N+1 is validated, chunk N may
not be committed yet; storing chunk N writes only the teachers of the identity numbers on its rows. So the
child's store look-ups (一人一号 elsewhere, persons known) first wait for the parent's commit of every
chunk in flight that holds one of the numbers asked about; other numbers get the same answer either way.

Used for flat layouts keyed by identity number (legacy-2011): a per-sheet layout's later sheets drop the
rows of persons whose 基本信息 failed when stored (``bad_ids``), and a teacher-number key resolves against
numbers stored by earlier chunks, both of which need the previous chunk's commit before validation."""

from __future__ import annotations

import ctypes
import gc
import json
import logging
import multiprocessing
import os
import pickle
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from processor.engine import RowRecord, SheetCounts, ValidationResult
from processor.findings import Finding
from processor.readers.detect import WorkbookData

log = logging.getLogger(__name__)

PersonKey = tuple[str | None, str]


class _GuardedLookup:
    """The engine's StoreLookup, answering only once no uncommitted chunk holds a number asked about."""

    def __init__(self, inner: Any, wait_for: Callable[[set[str]], None]) -> None:
        self.inner = inner
        self.wait_for = wait_for

    def persons_elsewhere(self, keys: list[PersonKey], unit_code: str) -> dict[PersonKey, tuple[str, str]]:
        self.wait_for({str(k[1]) for k in keys})
        return self.inner.persons_elsewhere(keys, unit_code)

    def persons_known(self, keys: list[PersonKey]) -> set[PersonKey]:
        self.wait_for({str(k[1]) for k in keys})
        return self.inner.persons_known(keys)


def usable(run: Any) -> bool:
    """Whether this import may validate in a child process (see the module docstring)."""
    return (run.profile.layout == "flat" and run.profile.key != "teacher_number"
            and all(layout.sheet is None for layout in run.layouts) and hasattr(os, "fork"))


# -- what crosses the pipe: plain tuples, rebuilt on the other side -------------------------------------

def _rows(recs: list[RowRecord]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """A sheet's records as (field codes, [(row, values, has_error, version JSON)]): the values as a tuple in the
    order of the codes (a dict of its own where a record's keys differ), and the JSON text a record version
    stores made here, on the child's core, for every row without an error (the storing process would make it)."""
    from processor.ingest import version_data

    codes = list(recs[0].values) if recs else []
    out = []
    dumps = json.dumps
    for r in recs:
        values = r.values
        packed = tuple(values.values()) if list(values) == codes else values
        out.append((r.excel_row, packed, r.has_error, None if r.has_error else dumps(version_data(values))))
    return codes, out


def _records(sid: str, codes: list[str], rows: list[tuple[Any, ...]]) -> list[RowRecord]:
    return [RowRecord(sid, r, v if type(v) is dict else dict(zip(codes, v, strict=True)), e, data)
            for r, v, e, data in rows]


def _pack(validated: list[Any], findings: list[Finding]) -> tuple[list[Any], list[Finding]]:
    out = []
    for school, wb, result, found, tn_cells in validated:
        blocks = [(b.spec.id, b.columns, b.width, b.absent_fields) for b in wb.blocks]
        rows = {sid: _rows(recs) for sid, recs in result.rows.items()}
        counts = {sid: (c.rows, c.errors, c.warnings) for sid, c in result.counts.items()}
        res = (result.findings, rows, counts, result.truncated, result.errors, result.warnings, result.error_rows)
        out.append((school, blocks, res, found, tn_cells))
    return out, findings


def _unpack(run: Any, li: int, payload: tuple[list[Any], list[Finding]]) -> tuple[list[Any], list[Finding]]:
    from processor.exchange.importer import _ChunkBlock

    packed, findings = payload
    layout = run.layouts[li]
    validated = []
    for school, blocks, res, found, tn_cells in packed:
        wb = WorkbookData(path=run.path, format=run.profile.format, meta={}, kind="teachers", unit_code=school,
                          blocks=[_ChunkBlock(run.pack.sheets[sid], layout.title, layout.header_row + 1, columns, [],
                                              width, absent) for sid, columns, width, absent in blocks],
                          findings=[], date1904=run.date1904)
        r_findings, rows, counts, truncated, errors, warnings, error_rows = res
        result = ValidationResult(
            r_findings, {sid: _records(sid, *packed_rows) for sid, packed_rows in rows.items()},
            {sid: SheetCounts(*c) for sid, c in counts.items()}, truncated, errors, warnings, error_rows)
        validated.append((school, wb, result, found, tn_cells))
    return validated, findings


def _numbers(validated: list[Any]) -> set[str]:
    """The identity numbers on a validated chunk's rows: the only teachers storing it can write."""
    out: set[str] = set()
    for _school, _wb, result, _found, _tn in validated:
        for recs in result.rows.values():
            out.update(str(n) for r in recs if (n := r.values.get("id_number")))
    return out


# -- the child ------------------------------------------------------------------------------------------

def _die_with_parent() -> None:
    try:  # Linux: the kernel kills the child when the importing process dies (kill -9 included)
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:
        os._exit(1)


def _child(conn: Any, run: Any, committed: int, chunk_rows: int, sub_id: int, url: str) -> None:
    from processor.engine import Validator
    from processor.ingest import StoreLookupImpl
    from processor.store.db import make_engine

    _die_with_parent()
    run.engine.dispose(close=False)  # the parent's connections stay the parent's
    engine = run.engine = make_engine(url, read_only=True)
    inflight: dict[int, set[str]] = {}  # chunk index → identity numbers, handed over and not yet committed

    def take(msg: Any) -> None:
        if msg[0] == "committed":
            for i in [i for i in inflight if i <= msg[1]]:
                del inflight[i]

    waited = [0.0]

    def wait_for(numbers: set[str]) -> None:
        while conn.poll():
            take(conn.recv())
        w = time.monotonic()
        while any(not held.isdisjoint(numbers) for held in inflight.values()):
            take(conn.recv())
        waited[0] += time.monotonic() - w

    config = run.config
    validator = Validator(run.pack, today=config.today, store_lookup=_GuardedLookup(StoreLookupImpl(engine), wait_for),
                          max_findings=int(config.get("check", "max_findings")))
    gc.disable()  # collected once per chunk (below), as in the parent
    try:
        for i, li, rows in run.pending_chunks(chunk_rows, committed, sub_id):
            t0 = time.process_time()
            validated, findings = run.validate_chunk(li, rows, validator=validator)
            t1 = time.process_time()
            numbers = _numbers(validated)
            payload = _pack(validated, findings)
            del validated, findings
            while conn.poll():
                take(conn.recv())
            inflight[i] = numbers
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
            t2 = time.process_time()
            w0 = time.monotonic()
            conn.send(("chunk", i, li, len(rows)))
            conn.send_bytes(data)  # blocks while the parent still stores the last one
            del payload, data
            log.debug("chunk %d: validated in %.2fs CPU, packed in %.2fs, waited %.2fs for commits and %.2fs to "
                      "hand it over", i + 1, t1 - t0, t2 - t1, waited[0], time.monotonic() - w0)
            waited[0] = 0.0
            gc.collect()
        import resource  # POSIX only, as os.fork (imported here: the importer imports this module everywhere)

        conn.send(("end", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024))
    except (BrokenPipeError, EOFError, ConnectionResetError):
        pass  # the parent is gone
    except BaseException:  # noqa: BLE001 - the parent raises it
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass
    finally:
        engine.dispose()
        conn.close()


# -- the parent -----------------------------------------------------------------------------------------

class ValidationWorker:
    """The child process, seen from the importing process: validated chunks in file order."""

    def __init__(self, run: Any, committed: int, chunk_rows: int, sub_id: int) -> None:
        ctx = multiprocessing.get_context("fork")
        self.conn, child_conn = ctx.Pipe(duplex=True)
        url = run.engine.url.render_as_string(hide_password=False)
        self.run = run
        self.child_peak_mb = 0
        self.ended = False  # the child said it handed over the file's last chunk
        self.proc = ctx.Process(target=_child, args=(child_conn, run, committed, chunk_rows, sub_id, url),
                                name="tmis-exchange-validate", daemon=True)
        self.proc.start()
        child_conn.close()

    def chunks(self) -> Iterator[tuple[int, int, int, list[Any], list[Finding]]]:
        """(chunk index, layout index, rows, validated groups, mapping findings) until the file ends."""
        while True:
            try:
                msg = self.conn.recv()
            except EOFError:
                raise RuntimeError(f"校验子进程意外退出（退出码 {self.proc.exitcode}）") from None
            if msg[0] == "end":
                self.ended = True
                self.child_peak_mb = msg[1]
                log.info("validating child process done, peak RSS %d MB", msg[1])
                return
            if msg[0] == "error":
                raise RuntimeError(f"校验子进程出错：\n{msg[1]}")
            _, i, li, n = msg
            w0 = time.monotonic()
            data = self.conn.recv_bytes()
            waited, t0 = time.monotonic() - w0, time.process_time()
            validated, findings = _unpack(self.run, li, pickle.loads(data))
            del data
            log.debug("chunk %d received in %.2fs, unpacked in %.2fs CPU", i + 1, waited, time.process_time() - t0)
            yield i, li, n, validated, findings

    def committed(self, i: int) -> None:
        """Chunk ``i`` is committed: look-ups waiting for its identity numbers may go on."""
        try:
            self.conn.send(("committed", i))
        except OSError:
            pass  # the child is done (or gone: chunks() says so)

    def close(self) -> None:
        """Wait for a child that is done; end one that is not (the parent failed or was interrupted)."""
        if self.ended:
            self.proc.join(timeout=30)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


__all__ = ["ValidationWorker", "usable"]
