"""`tmis run`: the service (inbox watcher; mail when `[mail] enabled`) until stopped, or `--once` for everything waiting."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import click

from processor.cli.options import config_option
from processor.config import Config

log = logging.getLogger(__name__)


def _setup_logging(config: Config) -> None:
    level = getattr(logging, config.get("logging", "level"), logging.INFO)
    logging.getLogger().setLevel(level)
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
    if level > logging.DEBUG:
        logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl SQLiteImpl." on every start


def _progress_once(intake: Any) -> Any:
    """run_once with a rich progress bar (only when standard error is a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]处理收件"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), transient=True) as bar:
        from processor.intake import candidates

        waiting = len(candidates(intake.config.inbox)) + len(candidates(intake.dirs.processing))
        task = bar.add_task("", total=waiting or None)

        def step(total: int, outcome: Any) -> None:
            bar.update(task, total=max(total, bar.tasks[0].completed + 1), advance=1,
                       description=outcome.original_name if outcome is not None else "")

        return intake.run_once(progress=step)


def _scheduled_reports(intake: Any) -> None:
    """The month's scheduled report when due ([reports] monthly_day); a failure is logged, never fatal."""
    from processor.reports.schedule import run_due

    try:
        run_id = run_due(intake.config, intake.engine, intake.pack)
    except Exception:  # noqa: BLE001 - the service goes on; the next check tries again
        log.exception("scheduled monthly report failed; will try again")
        return
    if run_id is not None:
        click.echo(f"已按计划生成月报表（报表编号 {run_id}）。", err=True)


def _deadline_reminders(intake: Any) -> None:
    """The reminders due before a deadline ([deadlines] remind_days; mail enabled); a failure is logged, never fatal."""
    from processor.deadlines.remind import run_if_due

    try:
        run_if_due(intake.engine, intake.config)
    except Exception:  # noqa: BLE001 - the service goes on; the next check tries again
        log.exception("deadline reminders failed; will try again")


def _scheduler(intake: Any, stop: threading.Event) -> None:
    interval = max(float(intake.config.get("intake", "rescan_seconds")), 60.0)
    while not stop.is_set():
        _scheduled_reports(intake)
        _deadline_reminders(intake)
        stop.wait(interval)


def _run_queue(config: Config, once: bool) -> None:
    """`tmis run` on PostgreSQL: a worker of the job queue (processor.queue.worker)."""
    from processor.queue.worker import QueueWorker

    if once:
        worker = QueueWorker(config, periodic=False)
        summary = worker.once()
        click.echo(summary.line())
        if worker.mail is not None:
            click.echo(f"邮件：处理 {worker.runtime.mail_messages} 封。")
        from processor.queue.status import collect

        jobs = collect(config, worker.engine)["jobs"]
        if jobs["running"] or jobs["waiting"]:
            click.echo(f"另有 {jobs['running'] + jobs['waiting']} 个文件在其他工作进程手中或排队（进程中止的，"
                       f"{config.get('workers', 'stalled_seconds'):g} 秒后由其他进程重做），详见 tmis status。")
        return
    from processor.review.schedule import missing_key_reason

    no_key = missing_key_reason(config)  # the daily issue of return sheets needs TMIS_SIGNING_KEY
    if no_key:
        click.echo(no_key, err=True)
    worker = QueueWorker(config)
    click.echo(f"tmis 服务已启动（作业队列，进程 {worker.name}）：收件目录 {config.inbox}，回执目录 {config.outbox}。"
               "按 Ctrl+C 停止。", err=True)
    done = worker.serve()
    click.echo(f"服务已停止：本进程处理了 {done} 个文件。", err=True)


def register(group: click.Group) -> None:
    """Add `run` to the tmis group."""

    @group.command("run")
    @click.option("--once", is_flag=True, help="处理收件目录中等待的全部文件后退出。")
    @config_option
    def run(once: bool, config: Config) -> None:
        """运行服务：监视收件目录，收到的文件逐个校验、入库、回执，直到收到停止信号。

        \b
        文件的大小和修改时间持续 intake.stable_seconds 秒不变才会被处理；临时文件（~$*.xlsx、
        .~lock.*#、*.part、*.tmp、*.crdownload、隐藏文件）不处理。除文件系统事件外，每隔
        intake.rescan_seconds 秒重新扫描一次。收到 SIGTERM 或 Ctrl+C 时处理完当前文件再退出。
        上次异常中止时没处理完的文件会在启动时重新处理，不会重复入库。
        数据库为 PostgreSQL 时，可以在任意台机器上同时运行任意个 tmis run（共用数据库、收件目录和状态目录）：
        每个收到的文件是数据库中的一个作业，只由其中一个进程处理；某个进程中止时，它手上的作业在
        [workers] stalled_seconds 秒后由其他进程重做。定时工作（审核回执单、月报表、每日邮件、截止日提醒）每个周期只做一次。
        运行情况见 tmis status。
        每天 review.issue_time（默认 07:00）为有待审记录的审核单位签发审核回执单；没有设置环境变量
        TMIS_SIGNING_KEY 时不启动定时签发（给出一行原因），收件处理照常。每月 reports.monthly_day（默认 25 日）
        起生成当月的月报表（每月一次）。启用邮件时，在 [deadlines] remind_days（默认截止日前 14 天和 3 天）
        向截止日前尚未完成的学校及其所在县发提醒邮件（每个截止日的每个提醒日只发一次）。
        --once 只处理收件（启用邮件时再收发一轮），不签发、不生成报表、不发提醒。

        \b
        例：
          tmis run --config 实例/config.toml          作为服务运行
          tmis run --once --config 实例/config.toml   处理完等待的文件后退出（退出码 0）
        """
        from processor.intake import Intake, watching
        from processor.queue import is_postgresql

        _setup_logging(config)
        if is_postgresql(config.database_url):
            _run_queue(config, once)
            return
        intake = Intake(config)
        if once:
            if sys.stderr.isatty():
                summary = _progress_once(intake)
            else:
                summary = intake.run_once()
            for o in summary.outcomes:
                log.debug("%s → %s", o.original_name, o.status)
            click.echo(summary.line())
            if config.get("mail", "enabled"):
                from processor.mail.service import MailService

                done = MailService(config, engine=intake.engine, pack=intake.pack).run_once()
                click.echo(f"邮件：收取 {done['taken']} 封，处理 {done['messages']} 封，发出 {done.get('sent', 0)} 封"
                           f"（待重试 {done.get('retry', 0)}，失败 {done.get('failed', 0)}）。")
            return

        from processor.review.schedule import Scheduler, issue_slot, missing_key_reason

        stop, wake = threading.Event(), threading.Event()
        scheduler = None
        no_key = missing_key_reason(config)  # the daily issue of return sheets needs TMIS_SIGNING_KEY
        if no_key:
            click.echo(no_key, err=True)
        elif issue_slot(config, datetime.now(UTC)) is not None:
            scheduler = Scheduler(intake.engine, config, intake.pack, stop)
            scheduler.start()

        def on_signal(signum: int, _frame: Any) -> None:
            if stop.is_set():  # a second signal: stop now; the file in hand is redone on the next start
                raise KeyboardInterrupt
            log.warning("signal %s received; stopping after the current file", signum)
            stop.set()
            wake.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        click.echo(f"tmis 服务已启动：收件目录 {config.inbox}，回执目录 {config.outbox}。按 Ctrl+C 停止。", err=True)
        mail_service = mail_thread = None
        report_thread = threading.Thread(target=_scheduler, args=(intake, stop), name="tmis-reports", daemon=True)
        report_thread.start()
        try:
            if config.get("mail", "enabled"):
                from processor.mail.service import MailService

                mail_service = MailService(config)
                mail_thread = mail_service.start(stop)
                click.echo(f"邮件已启用：SMTP 收件 {config.get('mail', 'listen_host')}:{config.get('mail', 'listen_port')}"
                           if config.get("mail", "listen") else "邮件已启用。", err=True)
            with watching(config.inbox, wake):
                summary = intake.serve(stop, wake=wake)
        finally:
            stop.set()
            if mail_service is not None:
                mail_service.wake.set()
                if mail_thread is not None:
                    mail_thread.join(timeout=60)  # let the message in hand finish (a kill would also be safe)
                mail_service.stop()
            if scheduler is not None:
                scheduler.join(timeout=60)
            for s, handler in previous.items():
                signal.signal(s, handler)
        click.echo(f"服务已停止。{summary.line()}", err=True)
