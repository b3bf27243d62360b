"""Kill points for test_crash: a `tmis run` subprocess that SIGKILLs itself at a chosen moment of its progress.

The test starts the worker as ``python -c "import crash_hooks; crash_hooks.main()"`` with CRASH_KILL_AT set to
``<point>:<n>``; the process kills itself (SIGKILL: no cleanup, no finally, like the kernel's OOM killer or a
power cut) at the n-th time it reaches that point in this run:

- ``read``      the n-th file has been read and not yet validated (nothing written);
- ``chunk``     the n-th chunk of validated rows has been stored by the streaming ingest (its bulk inserts
                sent, the file's transaction still open: more chunks, the report and the commit to come);
- ``commit``    the n-th transaction that stores a submission has sent everything and is about to commit
                (the report for the school is already written);
- ``committed`` that transaction has committed, the file has not been moved yet;
- ``moved``     the n-th file has just been moved into the archive, duplicates or quarantine.

Nothing in tmis knows about this module: it hooks into SQLAlchemy's events and wraps two functions of the
pipeline, so the worker runs exactly the code it runs in production until it dies.
"""

from __future__ import annotations

import os
import signal
from typing import Any

POINTS = ("read", "chunk", "commit", "committed", "moved")


def _killer(point: str, n: int) -> Any:
    seen = {p: 0 for p in POINTS}

    def reached(here: str) -> None:
        if here != point:
            return
        seen[here] += 1
        if seen[here] == n:
            os.kill(os.getpid(), signal.SIGKILL)

    return reached


def install(spec: str) -> None:
    """Arm the kill point ``<point>:<n>`` in this process."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    import processor.ingest as ingest
    import processor.pipeline as pipeline
    import processor.readers as readers
    from processor.store.models import Submission

    point, _, count = spec.partition(":")
    if point not in POINTS or not count.isdigit() or int(count) < 1:
        raise SystemExit(f"CRASH_KILL_AT must be <{'|'.join(POINTS)}>:<n ≥ 1>, not {spec!r}")
    reached = _killer(point, int(count))
    storing = {"now": False}

    @event.listens_for(Session, "before_commit")
    def _before_commit(session: Session) -> None:
        storing["now"] = any(isinstance(o, Submission) for o in [*session.new, *session.identity_map.values()])

    @event.listens_for(Engine, "commit")
    def _commit(conn: Any) -> None:  # all statements sent, the database has not committed yet
        if storing["now"]:
            reached("commit")

    @event.listens_for(Session, "after_commit")
    def _after_commit(session: Session) -> None:
        if storing["now"]:
            storing["now"] = False
            reached("committed")

    @event.listens_for(Session, "after_rollback")
    def _after_rollback(session: Session) -> None:
        storing["now"] = False

    real_read, real_move = readers.read_workbook, pipeline.move_file

    def read_workbook(*args: Any, **kwargs: Any) -> Any:
        wb = real_read(*args, **kwargs)
        reached("read")
        return wb

    def move_file(*args: Any, **kwargs: Any) -> Any:
        target = real_move(*args, **kwargs)
        reached("moved")
        return target

    real_add = ingest.Ingest.add

    def add(self: Any, sheet_id: str, records: list[Any]) -> None:
        real_add(self, sheet_id, records)
        if self.store and records:
            reached("chunk")

    readers.read_workbook = read_workbook
    pipeline.move_file = move_file
    ingest.Ingest.add = add  # type: ignore[method-assign]


def main() -> None:
    """`tmis` with the kill point of CRASH_KILL_AT armed (none when it is not set)."""
    spec = os.environ.get("CRASH_KILL_AT")
    if spec:
        install(spec)
    from processor.cli import main as tmis

    tmis()
