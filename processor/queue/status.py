"""`tmis status`: jobs waiting / running (by worker) / done / failed, the last hour's throughput, the workers.

PostgreSQL: waiting and running from the queue (procrastinate_jobs of task ``tmis.file``: todo, doing), done and
failed from ``file_jobs`` (and jobs the queue gave up on), what each worker has in hand, the ``workers`` rows. SQLite (one
process): the same questions answered from the folders — files waiting in the inbox, files in processing/
(held by the running worker, or left by an interrupted run), files done (submissions and re-sent copies),
files that broke the pipeline (quarantined without a submission) — and the worker's row when `tmis run` runs.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from processor.pipeline import CLAIM_PREFIX, StateDirs
from processor.queue.presence import process_alive
from processor.store.models import FileJob, Submission, Worker


def _aware(ts: datetime | None) -> datetime | None:
    return None if ts is None else ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _iso(ts: datetime | None) -> str | None:
    ts = _aware(ts)
    return ts.astimezone().isoformat(timespec="seconds") if ts else None


def _queue_jobs(session: Session) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Waiting and running from the queue; done and failed from the files' rows (a file that broke the pipeline
    is a job that succeeded in quarantining it, but a failed file), plus jobs the queue gave up on."""
    counts = dict(session.execute(text(
        "SELECT status::text, count(*) FROM procrastinate_jobs WHERE task_name = 'tmis.file' GROUP BY status")).all())
    rows = dict(session.execute(select(FileJob.state, func.count()).group_by(FileJob.state)).all())
    jobs = {"waiting": counts.get("todo", 0), "running": counts.get("doing", 0), "done": rows.get("done", 0),
            "failed": rows.get("failed", 0) + counts.get("failed", 0) + counts.get("aborted", 0)
            + counts.get("cancelled", 0)}
    running = [{"worker": w, "file": n, "since": _iso(s)} for w, n, s in session.execute(text(
        "SELECT f.worker, f.original_name, f.started_at FROM file_jobs f JOIN procrastinate_jobs j ON j.id = f.job_id "
        "WHERE j.status = 'doing' ORDER BY f.started_at")).all()]
    return jobs, running


def _held(path: Path) -> bool:
    """True when a live worker holds the flock on a file in processing/ (SQLite's single process)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _folder_jobs(config: Any, session: Session) -> tuple[dict[str, int], list[dict[str, Any]], dict[str, int]]:
    from processor.intake import candidates

    dirs = StateDirs(config.state_dir)
    inbox = candidates(config.inbox)
    processing = candidates(dirs.processing)
    held = [p for p in processing if _held(p)]
    quarantined = [p for p in candidates(dirs.quarantine) if not p.name.endswith(".reason.txt")]
    failed = [p for p in quarantined if CLAIM_PREFIX.match(p.name)]
    duplicates = candidates(dirs.duplicates)
    subs = session.scalar(select(func.count()).select_from(Submission)) or 0
    jobs = {"waiting": len(inbox), "running": len(held), "done": subs + len(duplicates), "failed": len(failed)}
    running = [{"worker": None, "file": CLAIM_PREFIX.sub("", p.name, count=1), "since": None} for p in held]
    folders = {"inbox": len(inbox), "processing": len(processing), "interrupted": len(processing) - len(held),
               "quarantine": len(quarantined), "duplicates": len(duplicates)}
    return jobs, running, folders


def collect(config: Any, engine: Engine, now: datetime | None = None) -> dict[str, Any]:
    """The status as one JSON-ready dict (the contract's keys: jobs, workers)."""
    now = now or datetime.now(UTC)
    since = now - timedelta(hours=1)
    stalled = float(config.get("workers", "stalled_seconds"))
    queue = engine.dialect.name == "postgresql"
    with Session(engine) as session:
        if queue:
            jobs, running = _queue_jobs(session)
            files, rows = session.execute(select(func.count(), func.coalesce(func.sum(FileJob.rows), 0))
                                          .where(FileJob.finished_at >= since)).one()
            folders = {}
        else:
            jobs, running, folders = _folder_jobs(config, session)
            files, rows = session.execute(select(func.count(), func.coalesce(func.sum(Submission.rows), 0))
                                          .where(Submission.processed_at >= since)).one()
        workers = []
        for w in session.scalars(select(Worker).order_by(Worker.name)):
            seen = _aware(w.last_seen)
            alive = w.state == "running" and seen is not None and (now - seen).total_seconds() <= stalled
            if not queue and w.state == "running":
                # SQLite's one service writes its row between files only (a big file takes minutes): on this
                # machine its process itself tells whether it runs.
                told = process_alive(w.host, w.pid)
                alive = told if told is not None else alive
                if alive:
                    for r in running:
                        r["worker"] = r["worker"] or w.name
            workers.append({"name": w.name, "host": w.host, "pid": w.pid,
                            "state": w.state if alive or w.state == "stopped" else "lost",
                            "last_seen": _iso(seen), "jobs_done": w.jobs_done,
                            "running": [r["file"] for r in running if r["worker"] == w.name]})
    out: dict[str, Any] = {"backend": engine.dialect.name, "jobs": jobs, "running": running,
                           "last_hour": {"files": int(files), "rows": int(rows),
                                         "files_per_minute": round(int(files) / 60, 2)},
                           "workers": workers}
    if folders:
        out["folders"] = folders
    return out


STATE_NAMES = {"running": "运行中", "stopped": "已停止", "lost": "无响应（可能已中止，其作业将由其他进程重做）"}


def render(status: dict[str, Any]) -> str:
    """The status in Chinese, for an operator."""
    j = status["jobs"]
    lines = [f"作业：等待 {j['waiting']}，处理中 {j['running']}，已完成 {j['done']}，失败 {j['failed']}"]
    folders = status.get("folders")
    if folders:
        lines.append(f"单进程模式（SQLite）：收件目录 {folders['inbox']} 个文件，处理中目录 {folders['processing']} 个"
                     f"（其中 {folders['interrupted']} 个是上次中断留下、下次启动时重做的），隔离 {folders['quarantine']} 个，"
                     f"重复报送 {folders['duplicates']} 个")
    if status["running"]:
        lines.append("正在处理：")
        for r in status["running"]:
            since = f"（{r['since'][11:19]} 起）" if r.get("since") else ""
            lines.append(f"  {r['worker'] or '本机进程'}：{r['file']}{since}")
    h = status["last_hour"]
    lines.append(f"最近一小时：处理 {h['files']} 个文件，{h['rows']} 行（每分钟 {h['files_per_minute']} 个文件）")
    if status["workers"]:
        lines.append("工作进程：")
        for w in status["workers"]:
            lines.append(f"  {w['name']}：{STATE_NAMES.get(w['state'], w['state'])}，最后活动 "
                         f"{(w['last_seen'] or '')[:19].replace('T', ' ')}，已完成 {w['jobs_done']} 个作业")
    else:
        lines.append("工作进程：无（tmis run 未运行过）")
    return "\n".join(lines)
