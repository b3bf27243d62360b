"""`tmis review issue|status`, `tmis teacher show`, `tmis audit verify`: the review chain and its accountability."""

from __future__ import annotations

import json
import sys

import click

from processor.cli.options import config_option
from processor.config import Config


def _store(config: Config):  # noqa: ANN202 - an Engine
    from processor.store.db import open_store

    return open_store(config)


def _pack(config: Config):  # noqa: ANN202 - a RulePack
    from processor.rulepack.loader import load_pack_from_config

    return load_pack_from_config(config)


def register(group: click.Group) -> None:
    """Add the `review`, `teacher` and `audit` groups to the tmis group."""

    @group.group("review")
    def review() -> None:
        """逐级审核：签发审核回执单、查看待审情况。"""

    @review.command("issue")
    @click.option("--unit", "unit", default=None, help="只为这个审核单位签发（单位代码）。")
    @config_option
    def issue(unit: str | None, config: Config) -> None:
        """为每个有待审记录的审核单位签发审核回执单，写入 outbox/<单位代码>/，并打印文件路径。

        \b
        已列在未过期回执单上的记录不再重复列出；过期的回执单作废，其中的记录列入新回执单。
        需要环境变量 TMIS_SIGNING_KEY（回执单用它签名）。
        例：
          tmis review issue --config 实例/config.toml
          tmis review issue --unit 360102 --config 实例/config.toml
        """
        from processor.review.history import subtree
        from processor.review.sheet import issue_sheets

        engine = _store(config)
        try:
            if unit:
                from sqlalchemy.orm import Session

                with Session(engine) as session:
                    subtree(session, unit)  # an unknown unit is one clean line
            sheets = issue_sheets(engine, config, _pack(config), unit=unit, actor=_actor())
        finally:
            engine.dispose()
        for s in sheets:
            click.echo(str(s.path))
        if not sheets:
            click.echo("没有需要签发的回执单：没有待审记录，或待审记录都已列在未过期的回执单上。", err=True)

    @review.command("status")
    @click.option("--unit", "unit", default=None, help="只看这个单位及其下属单位（单位代码）。")
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
    @config_option
    def status(unit: str | None, fmt: str, config: Config) -> None:
        """各审核单位待审的记录数、最久等了多少天、未收回的回执单。

        \b
        例：
          tmis review status --format json --config 实例/config.toml
        """
        from sqlalchemy.orm import Session

        from processor.review.chain import level_title
        from processor.review.history import review_status

        engine = _store(config)
        try:
            with Session(engine) as session:
                data = review_status(session, unit)
        finally:
            engine.dispose()
        if fmt == "json":
            click.echo(json.dumps(data, ensure_ascii=False))
            return
        if not data["units"]:
            click.echo("没有待审记录。")
        for row in data["units"]:
            click.echo(f"{row['unit']} {row['name']}（{level_title(row['level'])}）：待审 {row['pending']} 条，"
                       f"最久 {row['oldest_days']} 天，未收回的回执单 {row['open_sheets']} 张")

    @group.group("teacher")
    def teacher() -> None:
        """查询教师的档案与每一版记录的来历。"""

    @teacher.command("show")
    @click.argument("id_number")
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
    @config_option
    def show(id_number: str, fmt: str, config: Config) -> None:
        """一名教师的生效记录和每一版记录的历史（哪个文件、谁报送，每级谁审核、何时、哪张回执单），以及
        变动、调动、交流轮岗等申请的每一步（谁确认、何时、哪张确认单）。

        \b
        例：
          tmis teacher show 360102198001011235 --format json --config 实例/config.toml
        """
        from sqlalchemy.orm import Session

        from processor.review.history import teacher_record

        engine = _store(config)
        try:
            with Session(engine) as session:
                data = teacher_record(session, _pack(config), id_number)
        finally:
            engine.dispose()
        if fmt == "json":
            click.echo(json.dumps(data, ensure_ascii=False, default=str))
            return
        click.echo(f"{data['name']}（{data['id_number']}），单位 {data['unit']}，教师编号 {data['teacher_number'] or '（尚未分配）'}")
        for v in data["versions"]:
            steps = "；".join(f"{h['level']} {h['unit']} {h['decision']} {h['by']} {h['at']}" for h in v["history"])
            click.echo(f"  {v['category']} 第 {v['seq']} 条 [{v['state']}{'@' + v['level'] if v['level'] else ''}]：{steps}")
        from processor.workflows.state import ACTION_NAMES, STATE_NAMES

        for r in data["requests"]:
            waiting = f"，待 {r['waiting_at']} 确认" if r["waiting_at"] else ""
            click.echo(f"  {r['title']} {r['id']} [{STATE_NAMES.get(r['state'], r['state'])}{waiting}]")
            for h in r["history"]:
                click.echo(f"    {h['at']} {h['unit']} {ACTION_NAMES.get(h['action'], h['action'])}"
                           + (f" {h['by']}" if h["by"] else "") + (f"：{h['note']}" if h["note"] else "")
                           + (f"（确认单 {h['sheet']}）" if h["sheet"] else ""))

    @group.group("audit")
    def audit_group() -> None:
        """审计日志。"""

    @audit_group.command("verify")
    @config_option
    def verify(config: Config) -> None:
        """检查审计日志的哈希链：完整时退出码 0，有条目被修改或删除时退出码 1 并指出第一条。

        \b
        例：
          tmis audit verify --config 实例/config.toml
        """
        from sqlalchemy.orm import Session

        from processor.audit import verify_chain

        engine = _store(config)
        try:
            with Session(engine) as session:
                report = verify_chain(session)
        finally:
            engine.dispose()
        if report.intact:
            click.echo(f"审计日志完整：共 {report.entries} 条，最新一条的哈希 {report.head or '（无）'}"
                       "（可记下此值，日后用来发现末尾条目被删除）。")
            return
        click.echo(f"审计日志被篡改：编号 {report.broken_id} 的条目{report.reason}（已核对 {report.entries - 1} 条完好）。",
                   err=True)
        sys.exit(1)


def _actor() -> str:
    from processor.audit import cli_actor

    return cli_actor()
