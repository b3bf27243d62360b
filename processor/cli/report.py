"""`tmis report`: the monthly progress report, the summary PDF, the bulletin, the roster, credits; rerender a report."""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

import click

from processor.audit import cli_actor
from processor.cli.options import config_option
from processor.config import Config


def _store(config: Config) -> tuple[Any, Any]:
    from processor.rulepack import load_pack_from_config
    from processor.store.db import open_store

    return open_store(config), load_pack_from_config(config)


def _forms_note(figures: dict[str, Any]) -> None:
    """The monthly forms were not issued (no TMIS_SIGNING_KEY): one plain line on standard error."""
    if figures.get("forms_not_issued"):
        click.echo(figures["forms_not_issued"], err=True)


def _emit(figures: dict[str, Any], files: list[Path], fmt: str) -> None:
    if fmt == "json":
        out = {"files": [str(p) for p in files], **figures}
        sys.stdout.write(json.dumps(out, ensure_ascii=False, default=str) + "\n")
        _forms_note(figures)
        return
    for path in files:
        click.echo(str(path))
    _forms_note(figures)
    click.echo(f"报表编号 {figures['run']}（tmis report rerender {figures['run']} 可按同样的数字重新生成）", err=True)


def _run(kind: str, config: Config, unit: str, month: str | None, fmt: str) -> None:
    from processor.reports.runs import make_report

    engine, pack = _store(config)
    try:
        code = unicodedata.normalize("NFKC", unit).strip()
        figures, files = make_report(kind, config, engine, pack, code, month, actor=cli_actor())
    finally:
        engine.dispose()
    _emit(figures, files, fmt)


_unit = click.option("--unit", "unit", required=True, metavar="代码", help="报表单位的代码（统计其下属各单位）。")
_month = click.option("--month", "month", required=True, metavar="YYYY-MM", help="报表月份，例如 2026-11。")
_format = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                       help="text 打印生成的文件路径；json 打印一个 JSON 对象（文件路径与报表中的全部数字）。")


@click.group("report")
def report() -> None:
    """生成报表（.xlsx 与 .pdf，写入 outbox/<单位代码>/）。"""


@report.command("monthly")
@_month
@_unit
@_format
@config_option
def monthly(month: str, unit: str, fmt: str, config: Config) -> None:
    """月报表：下属每个单位一行（学校数、已报送学校、收到教师、校验通过、各级待审核、已生效、完成率、
    按时情况、较上月变化）及合计，附各地交回的月报填报表内容。

    \b
    例：
      tmis report monthly --month 2026-11 --unit 360000
      tmis report monthly --month 2026-11 --unit 360100 --format json
    """
    _run("monthly", config, unit, month, fmt)


@report.command("summary")
@_month
@_unit
@_format
@config_option
def summary(month: str, unit: str, fmt: str, config: Config) -> None:
    """工作总结 PDF：封面、目录、进度表（完成率条）、教师队伍构成（表与图）、数据质量、未按时单位。

    \b
    例：
      tmis report summary --month 2026-11 --unit 360000
    """
    _run("summary", config, unit, month, fmt)


@report.command("bulletin")
@_month
@_unit
@_format
@config_option
def bulletin(month: str, unit: str, fmt: str, config: Config) -> None:
    """通报：下属各单位按完成率与及时率排名，一页 PDF 与 .xlsx，可直接印发。

    \b
    例：
      tmis report bulletin --month 2026-11 --unit 360000
    """
    _run("bulletin", config, unit, month, fmt)


@report.command("roster")
@_unit
@_format
@config_option
def roster(unit: str, fmt: str, config: Config) -> None:
    """联合工作组名单汇总：下属各单位交来的名单（最新一份），并列出尚未交名单的单位。

    \b
    例：
      tmis report roster --unit 360000 --format json
    """
    _run("roster", config, unit, None, fmt)


@report.command("credits")
@_unit
@click.option("--period", "period", required=True, metavar="YYYY-YYYY", help="统计期间（起止年份），例如 2021-2025。")
@_format
@config_option
def credits_cmd(unit: str, period: str, fmt: str, config: Config) -> None:
    """学分报表：单位下属各校教师在期间内计入的培训学分（按本省换算规则和上限），列出学分不足的教师。

    \b
    例：
      tmis report credits --unit 360102 --period 2021-2025
      tmis report credits --unit 360100 --period 2026-2026 --format json
    """
    _run("credits", config, unit, period, fmt)


@report.command("rerender")
@click.argument("run_id", type=int)
@_format
@config_option
def rerender_cmd(run_id: int, fmt: str, config: Config) -> None:
    """按记录的数字重新生成一份报表（数据之后有变化也一样）。RUN_ID 是生成报表时打印的报表编号。

    \b
    例：
      tmis report rerender 12
    """
    from processor.reports.runs import rerender
    from processor.store.db import open_store

    engine = open_store(config)
    try:
        figures, files = rerender(config, engine, run_id)
    finally:
        engine.dispose()
    _emit(figures, files, fmt)


def register(group: click.Group) -> None:
    """Add `report` to the tmis group."""
    group.add_command(report)
