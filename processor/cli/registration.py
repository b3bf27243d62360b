"""`tmis registration list|issue` (教师资格定期注册) and `tmis audit sample` (随机抽查)."""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from processor.audit import cli_actor
from processor.cli.options import config_option
from processor.config import Config

_format = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                       help="text 给人看；json 打印一个 JSON 对象。")
_unit = click.option("--unit", "unit", required=True, metavar="代码", help="单位代码（县、市或省级教育行政部门）。")
_cycle = click.option("--cycle", "cycle", required=True, metavar="YYYY", help="注册周期的起始年份，例如 2021（2021—2025）。")


def _code(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


def _stores(config: Config) -> tuple[Any, Any]:
    from processor.rulepack import load_pack_from_config
    from processor.store.db import open_store

    return open_store(config), load_pack_from_config(config)


@click.group("registration")
def registration() -> None:
    """教师资格定期注册：到期名单（含学分、年度考核、师德情况），签发注册决定单。"""


@registration.command("list")
@_unit
@_cycle
@_format
@config_option
def list_cmd(unit: str, cycle: str, fmt: str, config: Config) -> None:
    """本周期到期应注册的教师（每张教师资格证一行），以及档案中每项条件的情况：周期内经确认的培训学分与本省要求、
    每年的年度考核结果、师德考核记录，给出建议结论。名单写成工作簿放在 outbox/<单位代码>/。

    \b
    例：
      tmis registration list --unit 360102 --cycle 2021
      tmis registration list --unit 360102 --cycle 2021 --format json
    """
    from processor.registration.due import due, write_workbook

    engine, pack = _stores(config)
    try:
        with Session(engine) as session:
            data = due(session, config, pack, _code(unit), cycle)
    finally:
        engine.dispose()
    path = write_workbook(data, Path(config.outbox) / data["unit"])
    data["file"] = str(path)
    if fmt == "json":
        _json(data)
        return
    click.echo(str(path))
    click.echo(f"{data['name']} {data['years'][0]}—{data['years'][1]} 年注册周期：到期 {data['due']} 人次，"
               f"三项条件都符合 {data['ready']} 人次（要求 {data['required']} 学分）", err=True)


@registration.command("issue")
@_unit
@_cycle
@_format
@config_option
def issue_cmd(unit: str, cycle: str, fmt: str, config: Config) -> None:
    """签发注册决定单（签名的确认单，发给本单位的信息管理员、系统管理员）：列出尚未决定的到期教师及其条件，
    由本单位逐人选择注册结论（合格 / 暂缓注册 / 不予注册）后交回收件目录；结论写入教师资格记录。需要 TMIS_SIGNING_KEY。

    \b
    例：
      tmis registration issue --unit 360102 --cycle 2021
    """
    from processor.registration.decide import issue

    engine, pack = _stores(config)
    try:
        with Session(engine) as session, session.begin():
            data = issue(session, config, pack, _code(unit), cycle, filed_by=cli_actor())
    finally:
        engine.dispose()
    if fmt == "json":
        _json(data)
        return
    for s in data["sheets"]:
        click.echo(s["path"])
    click.echo(f"到期 {data['due']} 人次，本次列入注册决定单 {len(data['opened'])} 人次", err=True)


@click.command("sample")
@_unit
@click.option("--schools", "schools", type=int, required=True, metavar="N", help="抽查的学校数。")
@click.option("--teachers", "teachers", type=int, required=True, metavar="M", help="每所学校抽查的教师数。")
@click.option("--seed", "seed", default=None, metavar="S", help="随机种子；同一种子、同样的档案得到同样的样本。不给时随机生成并打印。")
@_format
@config_option
def sample_cmd(unit: str, schools: int, teachers: int, seed: str | None, fmt: str, config: Config) -> None:
    """随机抽查：从单位下属学校中抽 N 所学校、每校 M 名已生效的教师，签发核查单（签名的确认单）给本单位；
    核查人逐人填写一致 / 不一致（不一致写明问题字段和说明）后交回。全部核查完毕后，不一致的发给学校整改，
    并生成本单位的抽查通报。样本由种子决定，与数据库中的行序无关，可复核。需要 TMIS_SIGNING_KEY。

    \b
    例：
      tmis audit sample --unit 360102 --schools 3 --teachers 5 --seed 2026-q4
    """
    from processor.sampling.check import start
    from processor.sampling.draw import new_seed

    seed = seed or new_seed()
    engine, pack = _stores(config)
    try:
        with Session(engine) as session, session.begin():
            data = start(session, config, pack, _code(unit), schools, teachers, seed, filed_by=cli_actor())
    finally:
        engine.dispose()
    if fmt == "json":
        _json(data)
        return
    for school in data["schools"]:
        names = "、".join(t["name"] for t in school["teachers"])
        click.echo(f"{school['code']} {school['name']}：{names}")
    for s in data["sheets"]:
        click.echo(s["path"])
    click.echo(f"第 {data['sample']} 号抽查，种子 {data['seed']}（用同一种子可重新抽出同样的样本）", err=True)


def register(group: click.Group) -> None:
    """Add `registration` to the tmis group and `sample` to its `audit` group."""
    group.add_command(registration)
    audit_group = group.commands.get("audit")
    if isinstance(audit_group, click.Group):
        audit_group.add_command(sample_cmd)
