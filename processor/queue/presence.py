"""The ``workers`` rows: which `tmis run` processes exist, when each was last seen, how many files it finished.

The same rows on both stores: on PostgreSQL every worker of every machine (processor/queue/worker.py, with a
heartbeat thread); on SQLite the one service of the instance (processor/intake.py: at start, after each file,
on idle ticks of the loop, and "stopped" at the end), so that `tmis status` can say whether it runs.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from processor.store.models import Worker

log = logging.getLogger(__name__)


def worker_name(config: Any) -> str:
    """A queue worker: ``[workers] name``, or host and pid (several workers may run on one machine)."""
    return str(config.get("workers", "name") or f"{socket.gethostname()}:{os.getpid()}")


def service_name(config: Any, *, once: bool) -> str:
    """SQLite's one service: ``[workers] name``, or the host; `tmis run --once` (often started by cron every few
    minutes) keeps one row of its own instead of a new one per process."""
    name = str(config.get("workers", "name") or socket.gethostname())
    return f"{name} --once" if once else name


def announce(engine: Engine, name: str) -> None:
    """This process, running from now on (a row of the same name is taken over: a restarted service)."""
    now = datetime.now(UTC)
    values = {"name": name, "host": socket.gethostname(), "pid": os.getpid(), "state": "running",
              "started_at": now, "last_seen": now, "jobs_done": 0}
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    with Session(engine) as session, session.begin():
        session.execute(insert(Worker).values(**values).on_conflict_do_update(
            index_elements=["name"], set_={k: v for k, v in values.items() if k != "name"}))


def beat(engine: Engine, name: str, state: str = "running", *, jobs: int = 0, **values: Any) -> None:
    """Last seen now (``state``; ``jobs`` more files finished; other columns as given)."""
    changes: dict[str, Any] = {"last_seen": datetime.now(UTC), "state": state, **values}
    if jobs:
        changes["jobs_done"] = Worker.jobs_done + jobs
    with Session(engine) as session, session.begin():
        session.execute(update(Worker).where(Worker.name == name).values(**changes))


class Presence:
    """The SQLite service's own row, kept without ever stopping the service: a write that fails (the store
    busy or gone) is logged and the next one tries again."""

    def __init__(self, engine: Engine, name: str, every: float) -> None:
        self.engine, self.name, self.every = engine, name, every
        self.last = 0.0

    def _safely(self, fn: Any, *args: Any, **kwargs: Any) -> None:
        try:
            fn(self.engine, self.name, *args, **kwargs)
            self.last = time.monotonic()
        except Exception:  # noqa: BLE001 - presence is for `tmis status`; the files matter more
            log.warning("could not update this worker's row in workers; trying again later", exc_info=True)

    def start(self) -> None:
        self._safely(announce)

    def done(self, n: int = 1) -> None:
        self._safely(beat, jobs=n)

    def tick(self) -> None:
        if time.monotonic() - self.last >= self.every:
            self._safely(beat)

    def stop(self) -> None:
        self._safely(beat, "stopped")


def process_alive(host: str, pid: int) -> bool | None:
    """Whether ``pid`` on ``host`` is a live tmis process: None when it cannot be told from here (another
    machine, or a system without /proc)."""
    if host != socket.gethostname() or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    except OSError:
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():
        return None if not Path("/proc").is_dir() else False
    try:
        text = cmdline.read_bytes().decode("utf-8", "replace")
    except OSError:
        return None
    return "tmis" in text or "processor" in text  # a recycled pid of another program is not our worker
