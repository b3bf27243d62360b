"""`tmis status`: the job queue and its workers (PostgreSQL), or the single worker's folders (SQLite)."""

from __future__ import annotations

import json

import click

from processor.cli.options import config_option
from processor.config import Config


def register(group: click.Group) -> None:
    """Add `status` to the tmis group."""

    @group.command("status")
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", help="输出格式。")
    @config_option
    def status(fmt: str, config: Config) -> None:
        """运行情况：作业（等待、处理中、已完成、失败）、各进程正在处理的文件、最近一小时的处理量、各工作进程最后活动时间。

        \b
        数据库为 PostgreSQL 时统计作业队列（任意台机器上的全部 tmis run）；为 SQLite 时统计收件目录、
        处理中目录、归档与隔离目录。
        例：
          tmis status --config 实例/config.toml
          tmis status --format json
        """
        from processor.queue.status import collect, render
        from processor.store.db import open_store

        engine = open_store(config)
        try:
            data = collect(config, engine)
        finally:
            engine.dispose()
        if fmt == "json":
            click.echo(json.dumps(data, ensure_ascii=False))
        else:
            click.echo(render(data))
