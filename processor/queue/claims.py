"""Taking a file from a shared inbox so that exactly one worker on any machine processes it.

1. Claim: ``rename(inbox/<name>, inbox/.tmis-claim-<uuid>__<name>)``. A rename is atomic on the file server
   (local disk, NFS, SMB): of two workers on two machines renaming the same file, one wins. On NFS a
   retransmitted RENAME can answer ENOENT to the worker that did win (the server's reply cache missed), so the
   outcome is decided by whether the worker's *own*, unique target name exists — never by the error alone.
   The claimed name is hidden (a dotfile), so no scan takes it as a new file.
2. Into the shared state folder: rename to ``<state>/processing/<uuid>__<name>`` (same file system), else copy,
   fsync, rename into place, unlink the claimed name (the inbox on another share).
3. One transaction: the ``file_jobs`` row keyed by ``inbox:<uuid>__<name>`` (unique) and the procrastinate job
   (its SQL function, called in our transaction, so the row and the job exist together or not at all).

A worker that dies between the steps leaves a claimed name in the inbox or a file in processing/ without a
row; the periodic maintenance (processor.queue.tasks) registers such files after ``[workers]
claim_grace_seconds``, under the database's unique key, so a file is registered once whoever finds it.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from processor.pipeline import CLAIM_PREFIX, move_file, original_name_of
from processor.store.models import FileJob

log = logging.getLogger(__name__)

CLAIMED_PREFIX = ".tmis-claim-"
QUEUE = "files"
FILE_TASK = "tmis.file"


def _claimed_name(name: str) -> str:
    return f"{uuid.uuid4().hex}__{name}"


def claim_file(path: Path, processing: Path) -> Path | None:
    """Take ``path`` out of the inbox into processing/; the claimed path, or None when another worker won."""
    name = _claimed_name(path.name)
    hidden = path.with_name(CLAIMED_PREFIX + name)
    try:
        os.rename(path, hidden)
    except FileNotFoundError:
        if not hidden.exists():  # another worker renamed it first
            return None
    return into_processing(hidden, processing)


def into_processing(hidden: Path, processing: Path) -> Path:
    """Move a claimed inbox file (``.tmis-claim-<uuid>__<name>``) into processing/ under ``<uuid>__<name>``."""
    target = processing / hidden.name.removeprefix(CLAIMED_PREFIX)
    try:
        return move_file(hidden, target)  # a rename; across file systems copy, fsync, rename, unlink
    except FileNotFoundError:
        if not target.exists():  # NFS: the retransmitted rename of a move that did happen
            raise
    return target


def file_key(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def defer_sql(session: Session, task: str, args: dict[str, Any], *, lock: str | None, queue: str = QUEUE,
              priority: int = 0) -> int:
    """Insert a procrastinate job in the session's transaction (procrastinate's own SQL function); its id."""
    return int(session.execute(text(
        "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, :priority, :lock, :qlock, "
        "CAST(:args AS jsonb), NULL)::procrastinate_job_to_defer_v1]))"),
        {"queue": queue, "task": task, "priority": priority, "lock": lock, "qlock": lock,
         "args": json.dumps(args, ensure_ascii=False)}).scalar_one())


def register(engine: Any, kind: str, key: str, path: Path | str, original_name: str,
             params: dict[str, Any] | None = None, *, queue: str = QUEUE) -> FileJob | None:
    """The file's row and its job, in one transaction; None when the key is registered already."""
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            row = FileJob(key=key, kind=kind, path=str(path), original_name=original_name[:500],
                          params=params or {}, state="waiting", attempts=0, rows=0, message="")
            session.add(row)
            session.flush()
            row.job_id = defer_sql(session, FILE_TASK, {"key": key}, lock=key, queue=queue)
        return row
    except IntegrityError:
        return None


def register_claim(engine: Any, claimed: Path, channel: str = "inbox") -> FileJob | None:
    """Register a file claimed into processing/ (``<uuid>__<name>``)."""
    return register(engine, "inbox", file_key("inbox", claimed.name), claimed, original_name_of(claimed),
                    {"channel": channel})


def unregistered_claims(engine: Any, processing: Path, inbox: Path, grace: float) -> list[Path]:
    """Claims a dead worker left without a job: hidden claimed names in the inbox and files in processing/
    whose key has no row, last changed (ctime: a rename changes it) more than ``grace`` seconds ago."""
    import time

    now = time.time()
    found: list[Path] = []
    for folder, wanted in ((inbox, lambda n: n.startswith(CLAIMED_PREFIX)),
                           (processing, lambda n: CLAIM_PREFIX.match(n) is not None)):
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and wanted(entry.name) and \
                        now - entry.stat(follow_symlinks=False).st_ctime >= grace:
                    found.append(Path(entry.path))
            except FileNotFoundError:
                continue
    if not found:
        return []
    keys = {file_key("inbox", p.name.removeprefix(CLAIMED_PREFIX)): p for p in found}
    with Session(engine) as session:
        known = set(session.scalars(select(FileJob.key).where(FileJob.key.in_(list(keys)))))
    return [p for k, p in keys.items() if k not in known]
