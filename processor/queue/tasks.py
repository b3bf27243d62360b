"""The procrastinate app of one instance: the jobs every `tmis run` on PostgreSQL takes.

Jobs (queue ``files``; each is a ``file_jobs`` row, locked by its key so that one worker at a time has it):
- ``tmis.file`` — one received file: an inbox claim, a spooled mail message, an exchange import. Processed
  under a session-level PostgreSQL advisory lock keyed by the file's identity (held on its own connection, so
  it goes when the worker dies) and by the code that processes it today, in its own transaction(s): a job
  retried after a crash redoes the file from the start or only finishes its move (processor.pipeline).
  A file interrupted ``MAX_RECOVERIES + 1`` times (one that itself kills workers) is quarantined with a reason.

Periodic jobs (queue ``maintenance``, priority above files; procrastinate defers each tick once for all
workers — a unique row per (task, tick) — and ``lock`` keeps two from running at once):
- ``tmis.maintain`` every 10 s: jobs of workers whose heartbeat is older than ``[workers] stalled_seconds``
  go back to the queue (procrastinate's stalled-job retry), claims a dead worker left without a job are
  registered.
- ``tmis.scheduled`` every minute: each schedule in ``SCHEDULES`` whose period is due, exactly once per
  period: a ``schedule_runs`` row (unique per schedule and period) is inserted in a transaction held open
  while the work runs, so a second worker waits on the key and then skips it, and a worker that dies
  leaves no row (the next tick does the work).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from processor.errors import StoreError
from processor.queue.claims import FILE_TASK, QUEUE, register_claim, unregistered_claims
from processor.store.models import FileJob, ScheduleRun, Submission, Worker

log = logging.getLogger(__name__)

MAINTENANCE_QUEUE = "maintenance"
MAINTAIN_TASK, SCHEDULED_TASK = "tmis.maintain", "tmis.scheduled"
FILE_LOCK_CLASS = 0x746D6A62  # advisory lock class of file jobs ("tmjb"); the object is hashtext(key)
MAX_RECOVERIES = 2  # as processor.intake: a file interrupted three times is quarantined


class RetryLater(Exception):
    """The store (or a lock) is not available now: the job goes back to the queue and is tried again."""


def conninfo(url: str) -> str:
    """A libpq connection string for procrastinate from our SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Runtime:
    """What the jobs of one worker process use: its configuration, store, rule pack and name."""

    config: Any
    engine: Engine
    pack: Any
    name: str
    intake: Any  # processor.intake.Intake (its handle() and the state folders)
    outcomes: list[Any] = field(default_factory=list)  # files of this process (the --once summary)
    mail_messages: int = 0
    progress: Callable[[int, int], None] | None = None  # an exchange import's chunks (the command's own worker)
    _mail: Any = None

    @property
    def mail_intake(self) -> Any:
        if self._mail is None:
            from processor.mail.intake import MailIntake

            self._mail = MailIntake(self.config, self.engine, self.pack)
        return self._mail


# ---------------------------------------------------------------------------------------------- file jobs
@contextmanager
def file_lock(engine: Engine, key: str) -> Iterator[None]:
    """A session-level advisory lock on the file's key, on a connection of its own for the whole job."""
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:c, hashtext(:k))"), {"c": FILE_LOCK_CLASS, "k": key})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:c, hashtext(:k))"), {"c": FILE_LOCK_CLASS, "k": key})
            conn.commit()


def _start(engine: Engine, key: str, worker: str) -> FileJob | None:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        row = session.scalars(select(FileJob).where(FileJob.key == key).with_for_update()).first()
        if row is None or row.state in ("done", "failed"):
            return row
        row.state, row.worker, row.attempts = "running", worker, row.attempts + 1
        row.started_at = datetime.now(UTC)
        return row


def _finish(engine: Engine, row: FileJob, worker: str, state: str, outcome: str, *, submission_id: int | None = None,
            rows: int = 0, message: str = "", result: dict[str, Any] | None = None) -> None:
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        session.execute(update(FileJob).where(FileJob.id == row.id).values(
            state=state, outcome=outcome, submission_id=submission_id, rows=rows, message=message[:2000],
            result=result, finished_at=now, worker=worker))
        session.execute(update(Worker).where(Worker.name == worker).values(
            jobs_done=Worker.jobs_done + 1, last_seen=now))


def run_file_job(context: Any, key: str) -> None:
    """The task ``tmis.file``."""
    rt: Runtime = context.additional_context["runtime"]
    try:
        with file_lock(rt.engine, key):
            row = _start(rt.engine, key, rt.name)
            if row is None:
                log.error("file job %s has no row; nothing to do", key)
                return
            if row.state in ("done", "failed"):
                return  # finished by an earlier attempt (its worker died after recording it)
            if row.kind == "inbox":
                _inbox_file(rt, row)
            elif row.kind == "mail":
                _mail_message(rt, row)
            elif row.kind == "exchange":
                _exchange_import(rt, row)
            else:
                _finish(rt.engine, row, rt.name, "failed", "failed", message=f"unknown job kind {row.kind}")
    except (OperationalError, StoreError, RetryLater) as exc:
        log.error("file job %s: database unavailable (%s); the job is retried", key, exc)
        _not_an_interruption(rt.engine, key)
        raise RetryLater(str(exc)) from exc


def _not_an_interruption(engine: Engine, key: str) -> None:
    """A start that ended because the store went away does not count towards MAX_RECOVERIES (best effort: the
    store may still be away, then the start counts)."""
    try:
        with Session(engine) as session, session.begin():
            session.execute(update(FileJob).where(FileJob.key == key, FileJob.state == "running",
                                                  FileJob.attempts > 0)
                            .values(state="waiting", attempts=FileJob.attempts - 1))
    except Exception:  # noqa: BLE001
        log.warning("file job %s: could not record the retry; this start counts as an interruption", key)


def _outcome_of_submission(sub: Submission) -> Any:
    from processor.pipeline import RECOVERED, Outcome

    return Outcome(RECOVERED, sub.original_name, sub.sha256, sub.id, sub.unit_code,
                   Path(sub.archived_path) if sub.archived_path else None,
                   Path(sub.report_path) if sub.report_path else None, sub.rows, sub.rows_stored, sub.errors,
                   sub.warnings, "已由上一次处理完成", extra={"previous_status": sub.status})


def _inbox_file(rt: Runtime, row: FileJob) -> None:
    from processor.intake import Claim
    from processor.pipeline import FAILED, Outcome, quarantine_failed, sha256_of

    path = Path(row.path)
    if not path.exists():
        # The previous attempt stored and moved the file, then died before recording it here.
        with Session(rt.engine) as session:
            sub = session.scalars(select(Submission).where(Submission.sha256 == row.sha256)).first() \
                if row.sha256 else None
            outcome = _outcome_of_submission(sub) if sub is not None else None
        if outcome is None:
            _finish(rt.engine, row, rt.name, "failed", "lost",
                    message=f"{row.path} is gone and no submission has its content")
            return
        _record(rt, row, outcome)
        return
    if row.attempts > MAX_RECOVERIES + 1:
        log.error("%s: interrupted %d times while being processed; quarantining it", row.original_name,
                  row.attempts - 1)
        reason = "处理该文件时服务已多次中断（可能是文件本身导致程序崩溃或内存耗尽）"
        quarantine_failed(path, rt.config, reason, f"interrupted {row.attempts - 1} times")
        _record(rt, row, Outcome(FAILED, row.original_name, message=f"{reason}：已中断 {row.attempts - 1} 次，文件已隔离"))
        return
    if row.sha256 is None:
        sha = sha256_of(path)
        with Session(rt.engine) as session, session.begin():
            session.execute(update(FileJob).where(FileJob.id == row.id).values(sha256=sha))
    outcome = rt.intake.handle(Claim(path, row.original_name, None))
    if outcome is None:  # the store went away during the file: it stays in processing/, the job comes back
        raise RetryLater(f"{row.original_name}: store unavailable")
    _record(rt, row, outcome)


def _record(rt: Runtime, row: FileJob, outcome: Any) -> None:
    rt.outcomes.append(outcome)
    state = "failed" if outcome.status == "failed" else "done"
    _finish(rt.engine, row, rt.name, state, outcome.status, submission_id=outcome.submission_id,
            rows=outcome.rows, message=outcome.message or "")


def _mail_message(rt: Runtime, row: FileJob) -> None:
    intake = rt.mail_intake
    key = row.key.removeprefix("mail:")
    item = next((i for i in intake.spool.waiting() if i.key == key), None)
    if item is None:
        _finish(rt.engine, row, rt.name, "done", "done", message="already finished")
        return
    result = intake.process(item)
    files = len(result.files)
    rt.mail_messages += 1
    _finish(rt.engine, row, rt.name, "done", result.state, rows=sum(f.rows for f in result.files),
            message=result.reason or f"{files} attachment(s)")


def _exchange_import(rt: Runtime, row: FileJob) -> None:
    from processor.queue.exchange import run_import_job

    result = run_import_job(rt, row)
    _finish(rt.engine, row, rt.name, "done" if result.get("ok") else "failed", str(result.get("status", "")),
            submission_id=result.get("submission"), rows=int(result.get("rows") or 0),
            message=str(result.get("message") or ""), result=result)


# ------------------------------------------------------------------------------------------- maintenance
async def maintain(context: Any, timestamp: int) -> None:
    """The task ``tmis.maintain``: stalled jobs back to the queue, orphan claims registered."""
    rt: Runtime = context.additional_context["runtime"]
    manager = context.app.job_manager
    stalled = float(rt.config.get("workers", "stalled_seconds"))
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled):
        log.warning("job %s (%s %s) belonged to a worker that stopped answering; queued again", job.id,
                    job.task_name, job.task_kwargs)
        await manager.retry_job(job)
    await manager.prune_stalled_workers(stalled)
    await asyncio.to_thread(recover_claims, rt)


def recover_claims(rt: Runtime) -> int:
    """Register the claims of workers that died between claiming a file and registering its job."""
    from processor.queue.claims import CLAIMED_PREFIX, into_processing

    grace = float(rt.config.get("workers", "claim_grace_seconds"))
    done = 0
    for path in unregistered_claims(rt.engine, rt.intake.dirs.processing, rt.config.inbox, grace):
        try:
            if path.name.startswith(CLAIMED_PREFIX):
                path = into_processing(path, rt.intake.dirs.processing)
        except FileNotFoundError:
            continue  # taken on by another worker meanwhile
        if register_claim(rt.engine, path) is not None:
            log.warning("%s: claimed by a worker that stopped before registering it; registered now", path.name)
            done += 1
    return done


# --------------------------------------------------------------------------------------------- schedules
def _review_issue(engine: Engine, config: Any, pack: Any, now: datetime) -> Any:
    from processor.review.schedule import issue_slot, missing_key_reason, run_if_due

    if issue_slot(config, now) is None or missing_key_reason(config):
        return None
    return run_if_due(engine, config, pack, now)


def _monthly_report(engine: Engine, config: Any, pack: Any, now: datetime) -> Any:
    from processor.reports.schedule import run_due

    return run_due(config, engine, pack, now)


def _daily_mail(engine: Engine, config: Any, pack: Any, now: datetime) -> Any:
    if not config.get("mail", "enabled"):
        return None
    hour = int(config.get("mail", "digest_hour"))
    local = now.astimezone()
    if hour < 0 or local.hour < hour:
        return None
    from processor.mail.digest import run_daily

    return run_daily(config, engine, local.date())


def _deadline_reminders(engine: Engine, config: Any, pack: Any, now: datetime) -> Any:
    from processor.deadlines.remind import run_if_due

    return run_if_due(engine, config, now)  # its own deadline_reminders row keeps each reminder to once


# name → (period of a moment, the work). The period is the unique key: the work runs once per period. A
# schedule with its own exactly-once key (the monthly report's scheduled_reports row) may use a finer period.
SCHEDULES: list[tuple[str, Callable[[datetime], str], Callable[[Engine, Any, Any, datetime], Any]]] = [
    ("review-issue", lambda now: f"{now.astimezone():%Y-%m-%d}", _review_issue),
    ("monthly-report", lambda now: f"{now.astimezone():%Y-%m-%d}", _monthly_report),
    ("daily-mail", lambda now: f"{now.astimezone():%Y-%m-%d}", _daily_mail),
    ("deadline-reminders", lambda now: f"{now.astimezone():%Y-%m-%d}", _deadline_reminders),
]


def run_schedules(engine: Engine, config: Any, pack: Any, now: datetime | None = None) -> dict[str, str]:
    """Each schedule once per period across all workers; what each did ('done', 'not due', 'skipped')."""
    now = now or datetime.now(UTC)
    said: dict[str, str] = {}
    for name, period_of, work in SCHEDULES:
        period = period_of(now)
        try:
            said[name] = _once(engine, config, pack, now, name, period, work)
        except Exception:  # noqa: BLE001 - one schedule failing must not stop the others; the next tick retries
            log.exception("scheduled %s for %s failed; will try again", name, period)
            said[name] = "failed"
    return said


def _once(engine: Engine, config: Any, pack: Any, now: datetime, name: str, period: str,
          work: Callable[[Engine, Any, Any, datetime], Any]) -> str:
    with Session(engine) as session:
        if session.scalars(select(ScheduleRun.id).where(ScheduleRun.name == name,
                                                        ScheduleRun.period == period)).first() is not None:
            return "skipped"
    with engine.connect() as conn:
        try:
            conn.execute(ScheduleRun.__table__.insert().values(name=name, period=period, at=datetime.now(UTC)))
        except IntegrityError:
            conn.rollback()
            return "skipped"  # another worker did it while this one waited on the key
        result = work(engine, config, pack, now)
        if result is None:
            conn.rollback()  # not due yet in this period: ask again next tick
            return "not due"
        conn.commit()
    return "done"


def scheduled(context: Any, timestamp: int) -> None:
    """The task ``tmis.scheduled``."""
    rt: Runtime = context.additional_context["runtime"]
    said = run_schedules(rt.engine, rt.config, rt.pack, datetime.fromtimestamp(timestamp, UTC))
    log.debug("schedules at %s: %s", timestamp, said)


# ------------------------------------------------------------------------------------------------ the app
def make_app(config: Any, *, periodic: bool = True) -> Any:
    """The procrastinate App on the instance's PostgreSQL store (``periodic``: with the periodic jobs)."""
    from procrastinate import App, PsycopgConnector, RetryStrategy

    app = App(connector=PsycopgConnector(conninfo=conninfo(config.database_url), min_size=1, max_size=4))
    retry = RetryStrategy(max_attempts=40, wait=5, linear_wait=5, retry_exceptions={RetryLater})
    app.task(name=FILE_TASK, queue=QUEUE, pass_context=True, retry=retry)(run_file_job)
    if periodic:
        maintain_task = app.task(name=MAINTAIN_TASK, queue=MAINTENANCE_QUEUE, pass_context=True,
                                 lock=MAINTAIN_TASK, queueing_lock=MAINTAIN_TASK, priority=10)(maintain)
        app.periodic(cron="* * * * * */10", periodic_id="maintain")(maintain_task)
        scheduled_task = app.task(name=SCHEDULED_TASK, queue=MAINTENANCE_QUEUE, pass_context=True,
                                  lock=SCHEDULED_TASK, queueing_lock=SCHEDULED_TASK, priority=10)(scheduled)
        app.periodic(cron="* * * * *", periodic_id="scheduled")(scheduled_task)
    return app
