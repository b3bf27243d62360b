"""`tmis exchange import` on PostgreSQL: the import is a job of the queue like every received file.

The command copies the file into ``<state>/processing/<uuid>/<name>`` (the operator keeps the original; the
name stays the one the operator gave, for the report and the archive) and registers it (``file_jobs`` row
``exchange:<uuid>/<name>`` and a job on the queue ``exchange``, one transaction). Then it works the queue
``exchange`` itself until it is empty — so the command needs no running worker — and reads the outcome from the
row; when a `tmis run` worker took the job first, the command waits for that worker to finish it. A worker
that dies in the middle leaves the job to be taken again (procrastinate's stalled-job retry, run by the
workers' maintenance); the import resumes after its last committed chunk (processor.exchange.importer).
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.errors import TmisError
from processor.queue.claims import register
from processor.store.models import FileJob

log = logging.getLogger(__name__)

EXCHANGE_QUEUE = "exchange"


def run_import_job(rt: Any, row: FileJob) -> dict[str, Any]:
    """In the worker: import the file of ``row``; the outcome as the command's JSON (plus ``ok``)."""
    from processor.exchange.importer import import_file
    from processor.exchange.profile import find_profile

    path = Path(row.path)
    params = row.params or {}
    try:
        profile = find_profile(rt.config, params["profile"], rt.pack)
        outcome = import_file(path, profile, rt.config, rt.pack, rt.engine, unit_code=params.get("unit"),
                              progress=rt.progress)
    except TmisError as exc:  # refused: nothing stored; the operator reads why
        result = {"ok": True, "file": row.original_name, "profile": params.get("profile"), "status": "refused",
                  "reason": str(exc), "exit_code": exc.exit_code, "rows": 0, "stored": 0, "errors": 1,
                  "warnings": 0, "findings": [], "message": str(exc)}
    else:
        result = {"ok": True, **outcome.to_dict()}
    shutil.rmtree(path.parent, ignore_errors=True)  # the archive keeps its own copy
    return result


def queue_import(config: Any, file: Path, profile_name: str, unit_code: str | None,
                 progress: Any = None) -> dict[str, Any]:
    """The command's side: register the import, work the exchange queue, return the outcome (the JSON dict)."""
    from processor.exchange.profile import find_profile
    from processor.pipeline import StateDirs
    from processor.queue.worker import QueueWorker

    worker = QueueWorker(config, periodic=False, name_suffix="exchange import")
    worker.runtime.progress = progress
    find_profile(config, profile_name, worker.pack)  # an unknown profile: said at once, nothing queued
    if not file.is_file():
        from processor.errors import InputError

        raise InputError(f"文件 {file} 不存在", file=str(file), hint="请检查文件路径。")
    dirs = StateDirs(config.state_dir)
    folder = dirs.processing / uuid.uuid4().hex
    folder.mkdir(parents=True)
    copy = folder / file.name
    shutil.copy2(file, copy)
    key = f"exchange:{folder.name}/{file.name}"
    register(worker.engine, "exchange", key, copy, file.name, {"profile": profile_name, "unit": unit_code},
             queue=EXCHANGE_QUEUE)
    announced = False
    while True:
        # Work the exchange queue (and put back the jobs of workers that died, this command's earlier runs too).
        worker.work(queues=[EXCHANGE_QUEUE])
        with Session(worker.engine) as session:
            row = session.scalars(select(FileJob).where(FileJob.key == key)).one()
            state, result, by = row.state, row.result, row.worker
        if state in ("done", "failed"):
            break
        if not announced:
            log.warning("exchange import %s is being processed by worker %s; waiting for it", key, by)
            announced = True
        time.sleep(5)
    worker.engine.dispose()
    return result or {"ok": False, "status": "failed", "file": file.name, "profile": profile_name}
