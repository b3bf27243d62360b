"""`tmis credits show|projects`: a teacher's credit account (学分银行) and the training projects of a unit."""

from __future__ import annotations

import json
import sys
import unicodedata
from typing import Any

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from processor.cli.options import config_option
from processor.config import Config

_format = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                       help="text 给人看；json 打印一个 JSON 对象。")


def _json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


@click.group("credits")
def credits_group() -> None:
    """培训学分：教师的学分账户（学分银行）与培训项目。"""


@credits_group.command("show")
@click.argument("id_number")
@_format
@config_option
def show(id_number: str, fmt: str, config: Config) -> None:
    """一名教师的学分账户：每一笔学分（年度、项目、级别、学时、学分）及其来历——培训计划、培训结果表、
    谁在何时确认、按哪一版换算规则折算。

    \b
    例：
      tmis credits show 360102198503070016
      tmis credits show 360102198503070016 --format json
    """
    from processor.credits.bank import account
    from processor.store.db import open_store

    engine = open_store(config)
    try:
        with Session(engine) as session:
            data = account(session, unicodedata.normalize("NFKC", id_number))
    finally:
        engine.dispose()
    if fmt == "json":
        _json(data)
        return
    click.echo(f"{data['name']}（{data['id_number']}），单位 {data['unit']}，累计 {data['total']} 学分")
    for e in data["entries"]:
        c = e["confirmation"]
        click.echo(f"  {e['year']} 年  {e['level_name']}  {e['project']['name']}（{e['project']['owner_name']}）"
                   f"  {e['hours']} 学时 → {e['credits']} 学分；结果表 {e['result']['file']}；"
                   f"{c['unit_name']} {c['by']} {c['at']} 确认（{c['request']}）")
    if not data["entries"]:
        click.echo("  （尚无学分记录）")


@credits_group.command("projects")
@click.option("--unit", "unit", required=True, metavar="代码", help="立项单位代码。")
@_format
@config_option
def projects(unit: str, fmt: str, config: Config) -> None:
    """一个单位立项的培训项目：编号（tmis template training-result --project 编号 用它生成结果表）、级别、学时、
    收到的结果表和已确认的人数。

    \b
    例：
      tmis credits projects --unit 360100
    """
    from processor.credits.plan import LEVEL_NAMES
    from processor.store.db import open_store
    from processor.store.models import CreditEntry, TrainingProject, TrainingResult

    code = unicodedata.normalize("NFKC", unit).strip()
    engine = open_store(config)
    try:
        with Session(engine) as session:
            rows = session.scalars(select(TrainingProject).where(TrainingProject.unit_code == code)
                                   .order_by(TrainingProject.id)).all()
            results = dict(session.execute(select(TrainingResult.project_id, func.count()).group_by(
                TrainingResult.project_id)).all())
            credited = dict(session.execute(select(CreditEntry.project_id, func.count()).group_by(
                CreditEntry.project_id)).all())
            data = {"unit": code, "projects": [
                {"id": p.id, "code": p.project_code, "name": p.name, "level": p.level,
                 "level_name": LEVEL_NAMES[p.level], "provider": p.provider, "hours": p.hours,
                 "start": p.start_date, "end": p.end_date, "school": p.school_code, "confirm_unit": p.confirm_unit,
                 "results": results.get(p.id, 0), "credited": credited.get(p.id, 0)} for p in rows]}
    finally:
        engine.dispose()
    if fmt == "json":
        _json(data)
        return
    for p in data["projects"]:
        click.echo(f"{p['id']:>5}  {p['code']}  {p['name']}  {p['level_name']}  {p['hours']} 学时  "
                   f"{p['start']}～{p['end']}  结果表 {p['results']} 份，已计学分 {p['credited']} 人")
    if not data["projects"]:
        click.echo(f"单位 {code} 尚无培训项目（用 tmis template training-plan --unit {code} 生成培训计划表）。")


def register(group: click.Group) -> None:
    """Add `credits` to the tmis group."""
    group.add_command(credits_group)
