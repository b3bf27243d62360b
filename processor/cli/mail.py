"""`tmis mail queue|retry|quarantine|digest`: the outgoing queue and quarantined mail."""

from __future__ import annotations

import json
import sys

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.audit import cli_actor
from processor.config import Config
from processor.errors import InputError
from processor.store.db import open_store
from processor.store.models import MailIn, MailOut

from .options import config_option


def register(group: click.Group) -> None:
    """Add `mail` to the tmis group."""
    group.add_command(mail)


@click.group()
def mail() -> None:
    """邮件：发件队列、重发、隔离邮件、每日汇总。"""


def _local(ts: object) -> str:
    from processor.mail.digest import _local as fmt

    return fmt(ts) if ts else ""  # type: ignore[arg-type]


@mail.command("queue")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", help="输出格式。")
@click.option("--state", type=click.Choice(["waiting", "sent", "failed"]), default=None, help="只列出该状态的邮件。")
@config_option
def queue(fmt: str, state: str | None, config: Config) -> None:
    """列出发件队列：每封邮件的编号、收件人、主题、状态（waiting 等待发送 / sent 已发送 / failed 发送失败）和已尝试次数。

    \b
    例：
      tmis mail queue
      tmis mail queue --format json
      tmis mail queue --state failed
    """
    from processor.mail.outgoing import STATE_NAMES

    engine = open_store(config)
    with Session(engine) as session:
        query = select(MailOut).order_by(MailOut.id)
        if state:
            query = query.where(MailOut.state == state)
        rows = list(session.scalars(query))
    engine.dispose()
    if fmt == "json":
        click.echo(json.dumps({"messages": [
            {"id": r.id, "to": r.to_addr, "subject": r.subject, "state": r.state, "attempts": r.attempts,
             "kind": r.kind, "created_at": r.created_at.isoformat(timespec="seconds"),
             "sent_at": r.sent_at.isoformat(timespec="seconds") if r.sent_at else None,
             "last_error": r.last_error, "attachments": [a["name"] for a in r.attachments or []]}
            for r in rows]}, ensure_ascii=False))
        return
    if not rows:
        click.echo("发件队列为空。")
        return
    for r in rows:
        line = f"{r.id}\t{STATE_NAMES.get(r.state, r.state)}\t尝试 {r.attempts} 次\t{r.to_addr}\t{r.subject}"
        if r.state != "sent" and r.last_error:
            line += f"\t最近一次错误：{r.last_error}"
        click.echo(line)
    failed = sum(1 for r in rows if r.state == "failed")
    if failed:
        click.echo(f"共 {failed} 封发送失败，可用 tmis mail retry 编号 重发。")


@mail.command("retry")
@click.argument("message_id", type=int)
@config_option
def retry_cmd(message_id: int, config: Config) -> None:
    """把一封发送失败（或仍在等待）的邮件放回队列，立即重新发送（由运行中的 tmis run 发出）。

    \b
    例：
      tmis mail retry 12
    """
    from processor.mail.sender import retry

    engine = open_store(config)
    with Session(engine) as session, session.begin():
        row = retry(session, message_id, cli_actor())
        if row is None:
            raise InputError(f"发件队列中没有编号为 {message_id} 的邮件", hint="请用 tmis mail queue 查看编号。")
        state, to = row.state, row.to_addr
    engine.dispose()
    if state == "sent":
        click.echo(f"邮件 {message_id}（{to}）已经发送过，不再重发。")
        return
    click.echo(f"邮件 {message_id}（{to}）已放回发件队列，将立即重新发送。")


@mail.command("quarantine")
@click.option("--release", "release_id", type=int, default=None, help="放行并处理该编号的隔离邮件。")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", help="输出格式。")
@config_option
def quarantine(release_id: int | None, fmt: str, config: Config) -> None:
    """列出被隔离的邮件（发件人不是登记人员、认证失败、越权报送），或用 --release 放行一封：
    放行后其附件照常校验入库，并给发件人回复。

    \b
    例：
      tmis mail quarantine
      tmis mail quarantine --release 7
    """
    engine = open_store(config)
    try:
        if release_id is not None:
            from processor.mail.intake import release
            from processor.rulepack.loader import load_pack_from_config

            result = release(config, engine, load_pack_from_config(config), release_id)
            if result is None:
                raise InputError(f"没有编号为 {release_id} 的隔离邮件", hint="请用 tmis mail quarantine 查看编号。")
            names = "、".join(f"{f.name}（{f.status_name}）" for f in result.files) or "无可处理的附件"
            click.echo(f"已放行邮件 {release_id}：{names}；回复已放入发件队列（编号 {result.reply_id}）。")
            return
        with Session(engine) as session:
            rows = list(session.scalars(select(MailIn).where(MailIn.state == "quarantined").order_by(MailIn.id)))
    finally:
        engine.dispose()
    if fmt == "json":
        click.echo(json.dumps({"messages": [
            {"id": r.id, "from": r.sender, "subject": r.subject, "reason": r.reason, "source": r.source,
             "received_at": r.received_at.isoformat(timespec="seconds")} for r in rows]}, ensure_ascii=False))
        return
    if not rows:
        click.echo("没有被隔离的邮件。")
        return
    for r in rows:
        click.echo(f"{r.id}\t{_local(r.received_at)}\t{r.sender or '（无发件人）'}\t{r.subject}\t原因：{r.reason}")
    sys.stdout.flush()


@mail.command("digest")
@config_option
def digest(config: Config) -> None:
    """立即生成今天的县级报送汇总邮件（发给各县级单位的人员）和隔离邮件清单（发给 [mail] admin_address），
    放入发件队列；同一天重复运行不会重复发送。tmis run 每天 [mail] digest_hour 点自动做这件事。

    \b
    例：
      tmis mail digest
    """
    from processor.mail.digest import run_daily

    engine = open_store(config)
    try:
        done = run_daily(config, engine)
    finally:
        engine.dispose()
    listed = "，隔离邮件清单 1 封" if done["quarantine_list"] else ""
    click.echo(f"已放入发件队列：县级汇总 {len(done['digests'])} 封{listed}。")
