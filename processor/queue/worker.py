"""`tmis run` on PostgreSQL: one worker among any number, on any number of machines.

Each worker runs, in one process:
- the procrastinate worker (main thread, asyncio): takes jobs — files, maintenance, schedules — one at a time;
- the inbox scanner (thread): watchdog events plus a rescan every ``[intake] rescan_seconds``; a file whose size
  and time have settled is claimed (processor.queue.claims) and registered as a job, then the next one;
- the heartbeat (thread): its ``workers`` row every ``[workers] heartbeat_seconds`` (procrastinate keeps its own
  heartbeat, which decides when a dead worker's job is queued again), and every ``[workers] analyze_seconds``
  the planner statistics of the tables that outgrew them (processor.store.stats);
- mail (thread, when ``[mail] enabled``): receiving, polling and sending as on SQLite; each spooled message is
  registered as a job instead of being processed in the mail thread.

SIGTERM / Ctrl+C: the scanner stops taking files, the job in hand is finished, then the worker exits.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from processor.queue import presence
from processor.queue.claims import claim_file, file_key, register, register_claim
from processor.queue.presence import worker_name
from processor.queue.tasks import Runtime, make_app, recover_claims

log = logging.getLogger(__name__)


class QueueWorker:
    """One `tmis run` process on a PostgreSQL store."""

    def __init__(self, config: Any, *, periodic: bool = True, name_suffix: str = "") -> None:
        from processor.intake import Intake

        self.config = config
        self.intake = Intake(config)
        self.engine, self.pack = self.intake.engine, self.intake.pack
        self.name = worker_name(config) + (f" ({name_suffix})" if name_suffix else "")
        self.runtime = Runtime(config, self.engine, self.pack, self.name, self.intake)
        self.app = make_app(config, periodic=periodic)
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.worker: Any = None
        self.claimed = 0
        self.mail: Any = None

    # -- the workers row -------------------------------------------------------------------------
    def announce(self) -> None:
        presence.announce(self.engine, self.name)

    def beat(self, state: str = "running") -> None:
        presence.beat(self.engine, self.name, state, queue_worker_id=getattr(self.worker, "worker_id", None))

    def _heartbeat(self) -> None:
        from processor.store import stats

        every = float(self.config.get("workers", "heartbeat_seconds"))
        analyze_every = float(self.config.get("workers", "analyze_seconds"))
        analyzed = time.monotonic()
        while not self.stop.wait(every):
            try:
                self.beat()
            except Exception:  # noqa: BLE001 - the store restarting: the next beat tries again
                log.warning("worker heartbeat failed; retrying", exc_info=True)
            if time.monotonic() - analyzed >= analyze_every:
                analyzed = time.monotonic()
                try:
                    stats.refresh(self.engine)  # the planner's statistics keep up with the store's growth
                except Exception:  # noqa: BLE001 - next round
                    log.warning("refreshing the planner statistics failed; retrying later", exc_info=True)

    # -- taking files ----------------------------------------------------------------------------
    def take_ready(self, *, trust_mtime: bool) -> int:
        """Claim and register every inbox file that may be taken now; how many are still being written."""
        ready, waiting = self.intake.ready_files(trust_mtime=trust_mtime)
        for path in ready:
            if self.stop.is_set():
                break
            self.intake.tracker.forget(path)
            try:
                claimed = claim_file(path, self.intake.dirs.processing)
            except OSError as exc:
                self.intake._cannot_claim(path, exc)
                continue
            if claimed is None:
                continue  # another worker took it
            if register_claim(self.engine, claimed) is not None:
                self.claimed += 1
        return waiting

    def take_spool(self) -> int:
        """Register every spooled mail message as a job (the unique key makes a second worker's attempt a no-op)."""
        from processor.mail.spool import Spool

        n = 0
        for item in Spool(self.config.state_dir).waiting():
            if register(self.engine, "mail", file_key("mail", item.key), item.path, item.path.name,
                        {"source": item.source}) is not None:
                n += 1
        return n

    def _scanner(self) -> None:
        from processor.intake import watching

        rescan = float(self.config.get("intake", "rescan_seconds"))
        stable = float(self.config.get("intake", "stable_seconds"))
        first = True
        with watching(self.config.inbox, self.wake):
            while not self.stop.is_set():
                self.wake.clear()
                try:
                    waiting = self.take_ready(trust_mtime=first)
                    first = False
                except Exception:  # noqa: BLE001 - the share vanished, the store restarting: next round
                    log.exception("inbox scan failed; continuing")
                    waiting = 0
                    self.stop.wait(1)
                self.wake.wait(min(max(stable / 2, 0.2), rescan) if waiting else rescan)

    def _mail_loop(self) -> None:
        poll_every = float(self.config.get("mail", "poll_seconds"))
        last_poll = 0.0
        while not self.stop.is_set():
            self.mail.wake.clear()
            if time.monotonic() - last_poll >= poll_every:
                last_poll = time.monotonic()
                self.mail.poll()
            try:
                self.take_spool()
            except Exception:  # noqa: BLE001
                log.exception("registering spooled mail failed; retrying")
            self.mail.send()
            self.mail.wake.wait(max(0.5, min(poll_every - (time.monotonic() - last_poll), 30.0)))

    # -- modes -----------------------------------------------------------------------------------
    def work(self, queues: list[str] | None = None) -> None:
        """Take jobs (of ``queues``, default all) until none is waiting; then return."""
        self._procrastinate(wait=False, install_signals=False, queues=queues)

    def _procrastinate(self, *, wait: bool, install_signals: bool, queues: list[str] | None = None) -> None:
        stalled = float(self.config.get("workers", "stalled_seconds"))
        beat = float(self.config.get("workers", "heartbeat_seconds"))

        async def run() -> None:
            async with self.app.open_async():
                from procrastinate.worker import Worker as QWorker

                if not wait:  # --once: the jobs of workers that died are taken too (the service's maintenance does it)
                    for job in await self.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled):
                        log.warning("job %s of a worker that stopped answering: taking it again", job.id)
                        await self.app.job_manager.retry_job(job)

                self.worker = QWorker(
                    app=self.app, name=self.name, queues=queues, concurrency=1, wait=wait,
                    fetch_job_polling_interval=float(self.config.get("workers", "poll_seconds")),
                    additional_context={"runtime": self.runtime}, install_signal_handlers=install_signals,
                    update_heartbeat_interval=beat, stalled_worker_timeout=stalled,
                    shutdown_graceful_timeout=None)
                await self.worker.run()

        asyncio.run(run())

    def serve(self) -> int:
        """Until SIGTERM / Ctrl+C; returns how many jobs this worker finished."""
        self.announce()
        threads = [threading.Thread(target=self._heartbeat, name="tmis-heartbeat", daemon=True),
                   threading.Thread(target=self._scanner, name="tmis-inbox", daemon=True)]
        if self.config.get("mail", "enabled"):
            from processor.mail.service import MailService

            self.mail = MailService(self.config)
            if self.config.get("mail", "listen"):
                from processor.mail.receive_smtp import start_receiver

                self.mail.controller = start_receiver(self.config, self.mail.intake.spool, self.mail.wake)
            threads.append(threading.Thread(target=self._mail_loop, name="tmis-mail", daemon=True))
        for t in threads:
            t.start()
        try:
            self._procrastinate(wait=True, install_signals=True)
        finally:
            self.stop.set()
            self.wake.set()
            if self.mail is not None:
                self.mail.wake.set()
            for t in threads:
                t.join(timeout=60)
            if self.mail is not None:
                self.mail.stop()
            try:
                self.beat("stopped")
            except Exception:  # noqa: BLE001
                log.warning("could not record the worker as stopped", exc_info=True)
        return len(self.runtime.outcomes)

    def once(self, max_wait: float | None = None) -> Any:
        """Everything waiting now (inbox, spooled mail, jobs in the queue); then exit. A RunSummary of the
        files this process processed."""
        from processor.intake import RunSummary, candidates

        self.announce()
        recover_claims(self.runtime)
        stable = float(self.config.get("intake", "stable_seconds"))
        deadline = time.monotonic() + (max_wait if max_wait is not None else 10 * stable + 30)
        summary = RunSummary()
        while True:
            waiting = self.take_ready(trust_mtime=True)
            if not waiting:
                break
            if time.monotonic() > deadline:
                summary.still_writing = [p.name for p in candidates(self.config.inbox)]
                break
            time.sleep(min(0.5, max(stable / 4, 0.05)))
        if self.config.get("mail", "enabled"):
            from processor.mail.service import MailService

            self.mail = MailService(self.config, engine=self.engine, pack=self.pack)
            self.mail.poll()
            self.take_spool()
        self.work()
        if self.mail is not None:
            self.mail.send()
        summary.outcomes = [o for o in self.runtime.outcomes if hasattr(o, "original_name")]
        summary.blocked = [p.name for p in self.intake._blocked if p.exists()]
        self.beat("stopped")
        return summary
