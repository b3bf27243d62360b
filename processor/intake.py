"""The inbox watcher (paperless-ngx consumer style): filter, stability, claim by rename, crash recovery, loop.

- A file is a candidate unless its name marks it as temporary (~$x.xlsx, .~lock.x#, *.part, *.tmp,
  *.crdownload, hidden dotfiles); directories and symbolic links are ignored.
- A candidate is taken once its size and modification time have not changed for ``intake.stable_seconds``
  (``StabilityTracker``); ``--once`` also takes at once a file last modified longer ago than that.
- Taking = claiming: an exclusive ``flock`` on the file, then ``os.rename`` into
  ``<state>/processing/<uuid>__<name>``. Only one worker can win the rename; the lock stays held while the
  file is processed, so another worker's recovery scan leaves it alone.
- Recovery: a file in processing/ that nobody holds a lock on was left by a worker that died; it is
  processed again from the start (see processor.pipeline for why that never stores anything twice).
- One bad file never stops the service: every failure is logged, and a file that breaks the pipeline
  itself is quarantined with a reason. Only an unreachable database leaves files in processing/ to be
  retried on the next scan.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from processor.errors import StoreError
from processor.pipeline import FAILED, Outcome, StateDirs, original_name_of, process_file, quarantine_failed

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the atomic rename alone keeps claims exclusive
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

TEMP_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".swp", ".filepart", "~")
TEMP_PREFIXES = ("~$", ".~lock.", ".", "~WRL")


def is_candidate_name(name: str) -> bool:
    """False for names that editors, browsers and copy tools use while a file is still being written."""
    low = name.lower()
    if not name or name.startswith(TEMP_PREFIXES):
        return False
    if low.endswith(TEMP_SUFFIXES):
        return False
    return not (name.startswith(".~lock") or name.endswith("#"))


def candidates(folder: Path) -> list[Path]:
    """Regular files of the folder (not recursive) that are not temporary, oldest first."""
    out: list[tuple[float, str, Path]] = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    for entry in entries:
        try:
            if not entry.is_file(follow_symlinks=False) or not is_candidate_name(entry.name):
                continue
            out.append((entry.stat(follow_symlinks=False).st_mtime, entry.name, Path(entry.path)))
        except FileNotFoundError:
            continue
    return [p for _, _, p in sorted(out)]


class StabilityTracker:
    """Releases a file only when its size and mtime have stayed the same for ``stable_seconds``."""

    def __init__(self, stable_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stable_seconds = stable_seconds
        self.clock = clock
        self._seen: dict[Path, tuple[int, int, float]] = {}

    def ready(self, path: Path, *, trust_mtime: bool = False) -> bool:
        """Observe the file now; True when it may be taken. ``trust_mtime``: a file whose last change lies
        ``stable_seconds`` in the past is ready at the first look (used by --once and the start-up scan)."""
        try:
            st = path.stat()
        except FileNotFoundError:
            self._seen.pop(path, None)
            return False
        now = self.clock()
        if trust_mtime and time.time() - st.st_mtime >= self.stable_seconds:
            return True
        sig = (st.st_size, st.st_mtime_ns)
        seen = self._seen.get(path)
        if seen is None or seen[:2] != sig:
            self._seen[path] = (*sig, now)
            return self.stable_seconds == 0
        return now - seen[2] >= self.stable_seconds

    def forget(self, path: Path) -> None:
        self._seen.pop(path, None)

    def prune(self, present: set[Path]) -> None:
        for p in list(self._seen):
            if p not in present:
                del self._seen[p]

    @property
    def waiting(self) -> int:
        return len(self._seen)


@dataclass
class Claim:
    """A file this worker owns: its path in processing/ and the lock that proves it."""

    path: Path
    original_name: str
    fd: int | None

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


def _lock(path: Path) -> int | None | bool:
    """An fd holding an exclusive lock on the file; False when someone else holds it or it is gone."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return False
    if fcntl is None:
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    return fd


def claim(path: Path, processing: Path) -> Claim | None:
    """Take a file from the inbox into processing/ (None when another worker took it first)."""
    fd = _lock(path)
    if fd is False:
        return None
    target = processing / f"{uuid.uuid4().hex}__{path.name}"
    try:
        os.rename(path, target)
    except FileNotFoundError:
        if isinstance(fd, int):
            os.close(fd)
        return None
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: the inbox is on another file system (a network share)
            if isinstance(fd, int):
                os.close(fd)
            raise
        import shutil

        tmp = processing / f".{target.name}.part"
        shutil.copy2(path, tmp)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.rename(tmp, target)
        path.unlink()
        if isinstance(fd, int):
            os.close(fd)
        fd = _lock(target)
        if fd is False:
            return None
    return Claim(target, original_name_of(target), fd if isinstance(fd, int) else None)


# A file left in processing/ is processed again at most this many times before it is quarantined.
MAX_RECOVERIES = 2


def attempts_file(path: Path) -> Path:
    """The hidden counter of recoveries beside a file in processing/ (dotfiles are never candidates)."""
    return path.with_name(f".{path.name}.attempts")


def _read_attempts(counter: Path) -> int:
    try:
        return int(counter.read_text(encoding="utf-8").strip() or 0)
    except (OSError, ValueError):
        return 0


def leftovers(processing: Path) -> list[Claim]:
    """Files in processing/ that no live worker holds: left by a crash, to be processed again."""
    out = []
    for path in candidates(processing):
        fd = _lock(path)
        if fd is False:
            continue
        if not path.exists():  # finished by another worker between the scan and the lock
            if isinstance(fd, int):
                os.close(fd)
            continue
        out.append(Claim(path, original_name_of(path), fd if isinstance(fd, int) else None))
    return out


@dataclass
class RunSummary:
    """Counts of one --once run (or of the service so far)."""

    outcomes: list[Outcome] = field(default_factory=list)
    still_writing: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # could not be taken from the inbox (permissions, locks)
    store_down: int = 0

    def counts(self) -> Counter[str]:
        return Counter(o.status for o in self.outcomes)

    def line(self) -> str:
        """One Chinese line: how many files and what became of them."""
        c = self.counts()
        parts = [f"接收 {c['accepted']}", f"部分接收 {c['partial']}", f"退回 {c['rejected']}",
                 f"无法识别 {c['unreadable']}", f"重复 {c['duplicate']}"]
        if c["applied"] or c["refused"]:  # return sheets (processor/review/takeback.py)
            parts.append(f"审核回执单采用 {c['applied']}、未采用 {c['refused']}")
        if c["recovered"]:
            parts.append(f"补完归档 {c['recovered']}")
        if c["failed"]:
            parts.append(f"内部错误已隔离 {c['failed']}")
        text = f"处理完成：共 {len(self.outcomes)} 个文件（{'，'.join(parts)}）"
        if self.still_writing:
            text += f"；{len(self.still_writing)} 个文件仍在写入，未处理"
        if self.blocked:
            text += f"；{len(self.blocked)} 个文件无法从收件目录取出（权限不足或被其他程序占用）：{'、'.join(self.blocked)}"
        if self.store_down:
            text += f"；{self.store_down} 个文件因数据库不可用留待下次处理"
        return text + "。"


class Intake:
    """One worker over the inbox of one instance."""

    def __init__(self, config: Any, *, engine: Any = None, pack: Any = None) -> None:
        self.config = config
        self.dirs = StateDirs(config.state_dir)
        self.dirs.make()
        config.inbox.mkdir(parents=True, exist_ok=True)
        config.outbox.mkdir(parents=True, exist_ok=True)
        if engine is None:
            from processor.store.db import open_store

            engine = open_store(config)
        if pack is None:
            from processor.rulepack.loader import load_pack_from_config

            pack = load_pack_from_config(config)
        self.engine = engine
        self.pack = pack
        self.stable_seconds = float(config.get("intake", "stable_seconds"))
        sweep_partial_reports(config.outbox)
        self.tracker = StabilityTracker(self.stable_seconds)
        self._blocked: dict[Path, float] = {}  # inbox files that could not be claimed → when last tried
        self.presence: Any = None  # run_once / serve: this service's row in workers (processor/queue/presence.py)

    # -- one file --------------------------------------------------------------------------------
    def handle(self, claim_: Claim) -> Outcome | None:
        """Process a claimed file; never raises. None when the store is unreachable (file left to retry)."""
        try:
            return process_file(claim_.path, self.config, self.pack, self.engine,
                                original_name=claim_.original_name)
        except (OperationalError, StoreError) as exc:
            log.error("%s: database unavailable (%s); the file stays in %s and is retried",
                      claim_.original_name, exc, self.dirs.processing)
            return None
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the service
            log.exception("%s: processing failed; quarantining it", claim_.original_name)
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            try:
                if claim_.path.exists():
                    quarantine_failed(claim_.path, self.config, "处理该文件时本系统发生内部错误", detail)
            except Exception:  # noqa: BLE001
                log.exception("%s: could not quarantine; it stays in processing/", claim_.original_name)
            return Outcome(FAILED, claim_.original_name, message=detail)
        finally:
            claim_.release()

    # -- scanning ---------------------------------------------------------------------------------
    def ready_files(self, *, trust_mtime: bool) -> tuple[list[Path], int]:
        """Inbox files that may be taken now, and how many are still being written."""
        files = candidates(self.config.inbox)
        self.tracker.prune(set(files))
        ready = [p for p in files if self.tracker.ready(p, trust_mtime=trust_mtime)]
        return ready, len(files) - len(ready)

    def process_ready(self, paths: list[Path], summary: RunSummary,
                      on_done: Callable[[Outcome | None], None] | None = None,
                      stop: threading.Event | None = None) -> int:
        """Claim and process the files; returns how many were claimed."""
        taken = 0
        for path in paths:
            if stop is not None and stop.is_set():
                break
            self.tracker.forget(path)
            try:
                c = claim(path, self.dirs.processing)
            except OSError as exc:
                self._cannot_claim(path, exc)
                continue
            if c is None:
                if path.exists():
                    self._cannot_claim(path, None)
                continue
            self._blocked.pop(path, None)
            taken += 1
            self._record(self.handle(c), summary, on_done)
        return taken

    def _cannot_claim(self, path: Path, exc: OSError | None) -> None:
        """A file that cannot be opened or moved (permissions, held by another program): said once, retried."""
        if path not in self._blocked:
            log.warning("%s: cannot take it from the inbox (%s); will retry", path.name,
                        exc or "locked or not readable")
        self._blocked[path] = time.monotonic()

    def recover(self, summary: RunSummary, on_done: Callable[[Outcome | None], None] | None = None,
                stop: threading.Event | None = None) -> None:
        """Process again whatever a crashed worker left in processing/; a file that was interrupted
        MAX_RECOVERIES + 1 times (it may itself crash the worker: memory, a parser abort) is quarantined
        instead, so it cannot keep the service in a crash loop."""
        for counter in self.dirs.processing.glob(".*.attempts"):
            if not counter.with_name(counter.name[1:].removesuffix(".attempts")).exists():
                counter.unlink(missing_ok=True)  # its file was finished just before a crash
        for c in leftovers(self.dirs.processing):
            if stop is not None and stop.is_set():
                c.release()
                return
            counter = attempts_file(c.path)
            tries = _read_attempts(counter)
            if tries >= MAX_RECOVERIES:
                log.error("%s: interrupted %d times while being processed; quarantining it", c.original_name,
                          tries + 1)
                try:
                    quarantine_failed(c.path, self.config, "处理该文件时服务已多次中断（可能是文件本身导致程序崩溃或内存耗尽）",
                                      f"interrupted {tries + 1} times")
                finally:
                    c.release()
                    counter.unlink(missing_ok=True)
                self._record(Outcome(FAILED, c.original_name, message=f"interrupted {tries + 1} times"),
                             summary, on_done)
                continue
            counter.write_text(str(tries + 1), encoding="utf-8")
            log.warning("%s: left in processing/ by an interrupted run; processing it again", c.original_name)
            outcome = self.handle(c)
            if outcome is None:  # the store was down: this attempt does not count
                counter.write_text(str(tries), encoding="utf-8")
            else:
                counter.unlink(missing_ok=True)
            self._record(outcome, summary, on_done)

    def _record(self, outcome: Outcome | None, summary: RunSummary,
                on_done: Callable[[Outcome | None], None] | None) -> None:
        if outcome is None:
            summary.store_down += 1
        else:
            summary.outcomes.append(outcome)
            if self.presence is not None:
                self.presence.done()
        if on_done is not None:
            on_done(outcome)

    @contextlib.contextmanager
    def _present(self, *, once: bool) -> Iterator[None]:
        """This service in ``workers`` while a mode runs (running, then stopped), as the queue's workers are."""
        from processor.queue.presence import Presence, service_name

        self.presence = Presence(self.engine, service_name(self.config, once=once),
                                 float(self.config.get("workers", "heartbeat_seconds")))
        self.presence.start()
        try:
            yield
        finally:
            self.presence.stop()
            self.presence = None

    # -- modes ------------------------------------------------------------------------------------
    def run_once(self, *, progress: Callable[[int, Outcome | None], None] | None = None,
                 max_wait: float | None = None) -> RunSummary:
        """Everything waiting: leftovers first, then the inbox until it is empty (waiting for files that are
        still being written, at most ``max_wait`` seconds, default 10 × stable_seconds + 30)."""
        with self._present(once=True):
            return self._run_once(progress, max_wait)

    def _run_once(self, progress: Callable[[int, Outcome | None], None] | None, max_wait: float | None) -> RunSummary:
        summary = RunSummary()
        total_hint = len(leftovers_names(self.dirs.processing)) + len(candidates(self.config.inbox))

        def done(outcome: Outcome | None) -> None:
            if progress is not None:
                progress(total_hint, outcome)

        self.recover(summary, done)
        deadline = time.monotonic() + (max_wait if max_wait is not None else 10 * self.stable_seconds + 30)
        while True:
            ready, waiting = self.ready_files(trust_mtime=True)
            ready = [p for p in ready if p not in self._blocked]
            if ready:
                self.process_ready(ready, summary, done)
                continue
            unstable = [p for p in candidates(self.config.inbox) if p not in self._blocked]
            if not waiting or not unstable:
                summary.blocked = [p.name for p in self._blocked if p.exists()]
                break
            if time.monotonic() > deadline:
                summary.still_writing = [p.name for p in candidates(self.config.inbox)]
                break
            time.sleep(min(0.5, max(self.stable_seconds / 4, 0.05)))
        return summary

    def serve(self, stop: threading.Event, *, wake: threading.Event | None = None) -> RunSummary:
        """The service loop: start-up recovery and scan, then on every wake-up (file-system event) or every
        ``intake.rescan_seconds``; returns after ``stop`` is set, once the current file is done."""
        with self._present(once=False):
            return self._serve(stop, wake or threading.Event())

    def _serve(self, stop: threading.Event, wake: threading.Event) -> RunSummary:
        rescan = float(self.config.get("intake", "rescan_seconds"))
        heartbeat = float(self.config.get("workers", "heartbeat_seconds"))
        summary = RunSummary()
        self._guarded(self.recover, summary, None, stop)
        first = True
        last_full = time.monotonic()
        while not stop.is_set():
            wake.clear()
            ready, waiting = self._guarded(self.ready_files, trust_mtime=first) or ([], 0)
            first = False
            now = time.monotonic()
            # A file that could not be claimed is tried again only after the rescan interval.
            ready = [p for p in ready if now - self._blocked.get(p, -rescan) >= rescan]
            if ready and self._guarded(self.process_ready, ready, summary, None, stop):
                continue
            if time.monotonic() - last_full >= rescan:
                last_full = time.monotonic()
                self._guarded(self.recover, summary, None, stop)  # e.g. files left while the store was down
            if self.presence is not None:
                self.presence.tick()
            timeout = min(max(self.stable_seconds / 2, 0.2), rescan, heartbeat) if waiting else min(rescan, heartbeat)
            wake.wait(timeout)
            if wake.is_set() and not stop.is_set():
                time.sleep(0.05)  # let a burst of events settle
        return summary

    @staticmethod
    def _guarded(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - the loop itself must survive (inbox on a share that vanished…)
            log.exception("intake loop step %s failed; continuing", getattr(fn, "__name__", fn))
            time.sleep(1)
            return None


def sweep_partial_reports(outbox: Path, older_than: float = 3600) -> int:
    """Remove half-written report files (.<name>.<id>.tmp) that a killed worker left in outbox/<unit>/."""
    removed = 0
    limit = time.time() - older_than
    for tmp in outbox.glob("*/.*.tmp"):
        try:
            if tmp.is_file() and tmp.stat().st_mtime < limit:
                tmp.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def leftovers_names(processing: Path) -> list[str]:
    return [p.name for p in candidates(processing)]


@contextlib.contextmanager
def watching(folder: Path, wake: threading.Event) -> Iterator[None]:
    """A watchdog Observer on the folder whose events only wake the loop (the scan decides what to do)."""
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    class Waker(FileSystemEventHandler):
        def on_any_event(self, event: Any) -> None:
            wake.set()

    observer = Observer()
    try:
        observer.schedule(Waker(), str(folder), recursive=False)
        observer.start()
    except Exception:  # noqa: BLE001 - no events (inotify limit, network share): the periodic rescan remains
        log.warning("cannot watch %s for events; relying on the periodic rescan", folder, exc_info=True)
        yield
        return
    try:
        yield
    finally:
        observer.stop()
        observer.join(timeout=5)
