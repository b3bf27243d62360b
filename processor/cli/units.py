"""`tmis units import|show|list|template`: the unit tree and its officers."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from processor import units as unit_tree
from processor.audit import cli_actor
from processor.config import Config
from processor.findings import Finding
from processor.store.db import open_store, session_scope
from processor.store.models import LEVELS, ROLE_NAMES

from .options import config_option


def register(group: click.Group) -> None:
    """Add this module's commands to the tmis group."""
    group.add_command(units)


@click.group()
def units() -> None:
    """单位树与人员：导入、查看、列表、导入模板。"""


def _console() -> Console:
    # Unbounded when the output goes to a file or pipe: each finding stays on one line and can be searched.
    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=1000)


def _place(finding: Finding) -> str:
    cell = f"{finding.column or ''}{finding.row or ''}"
    return f"「{finding.sheet}」{cell}" if finding.sheet else cell


def print_findings(findings: list[Finding], console: Console | None = None) -> None:
    """Findings as a table: where, which rule, the value, what is wrong and how to fix it."""
    console = console or _console()
    table = Table(show_lines=False, header_style="bold")
    table.add_column("位置", no_wrap=True)
    table.add_column("规则", no_wrap=True)
    table.add_column("值", no_wrap=True)
    table.add_column("问题与修改方法")
    for f in findings:
        table.add_row(_place(f), f.rule, f.value or "", f"{f.message}。{f.hint}")
    console.print(table)


@units.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@config_option
def import_cmd(file: Path, config: Config) -> None:
    """导入或更新单位树与人员（全有或全无：有任何错误则一条都不导入）。

    FILE 为 .xlsx 工作簿（「单位」表：代码、名称、上级代码；「人员」表：单位代码、姓名、角色、
    邮箱、手机），或只含「单位」三列的 CSV（UTF-8 或 GB18030）。列的顺序不限，多余的列忽略。
    级别由代码决定：6 位行政区划代码（省级以 0000 结尾、地市以 00 结尾、其余为县级，000000 为中央），
    10 位学校标识码。可重复导入：按代码更新名称与上级；「人员」表中出现的单位，其人员以文件为准。

    \b
    示例：
      tmis units template --out 单位.xlsx     生成空白导入表
      tmis units import 单位.xlsx
      tmis units import 学校.csv
    """
    data = unit_tree.read_unit_file(file)  # a file that cannot be read is reported before the database is opened
    engine = open_store(config)
    try:
        with session_scope(engine) as session:
            result = unit_tree.import_units(session, data, cli_actor())
    finally:
        engine.dispose()
    if result.errors:
        click.echo(f"{file.name}：发现 {len(result.errors)} 个错误，未导入任何数据。请改正后重新导入：")
        print_findings(result.findings)
        sys.exit(1)
    click.echo(f"{file.name}：读入单位 {result.units} 个、人员 {result.officers} 名。")
    for line in describe_changes(result.changes):
        click.echo(line)


def describe_changes(changes: unit_tree.Changes) -> list[str]:
    """The changes of an import as Chinese lines ("无变化。" when there are none)."""
    if changes.empty:
        return ["无变化。"]
    c = changes
    lines = [
        f"变化：新增单位 {len(c.added_units)} 个，更名 {len(c.renamed_units)} 个，调整上级 {len(c.moved_units)} 个；"
        f"新增人员 {len(c.added_officers)} 名，变更 {len(c.changed_officers)} 名，删除 {len(c.removed_officers)} 名。"
    ]
    for code, name, level in changes.added_units:
        lines.append(f"  新增单位 {code} {name}（{unit_tree.level_name(level)}）")
    for code, old, new in changes.renamed_units:
        lines.append(f"  更名 {code}：{old} → {new}")
    for code, name, old, new in changes.moved_units:
        lines.append(f"  调整上级 {code} {name}：{old or '无'} → {new or '无'}")
    for unit_code, role, name in changes.added_officers:
        lines.append(f"  新增人员 {unit_code} {ROLE_NAMES[role]} {name}")
    labels = {"email": "邮箱", "mobile": "手机"}
    for unit_code, role, name, fields in changes.changed_officers:
        lines.append(f"  变更人员 {unit_code} {ROLE_NAMES[role]} {name}（{'、'.join(labels[f] for f in fields)}）")
    for unit_code, role, name in changes.removed_officers:
        lines.append(f"  删除人员 {unit_code} {ROLE_NAMES[role]} {name}")
    return lines


@units.command("show")
@click.argument("code")
@config_option
def show_cmd(code: str, config: Config) -> None:
    """查看一个单位：级别、上级链、人员，以及下属各级单位数和教师人数。

    人员的手机与邮箱完整显示：本命令只供能访问服务器与数据库的管理人员使用，
    他们本就能看到全部数据；邮件和对外文件中的手机号另行打码。

    \b
    示例：
      tmis units show 360102
    """
    engine = open_store(config)
    try:
        with session_scope(engine) as session:
            lines = describe_unit(session, code)
    finally:
        engine.dispose()
    for line in lines:
        click.echo(line)


def describe_unit(session: Session, code: str) -> list[str]:
    """The `tmis units show` text of one unit."""
    unit = unit_tree.require_unit(session, code)
    lines = [f"单位：{unit.code} {unit.name}", f"级别：{unit_tree.level_name(unit.level)}"]
    chain = unit_tree.ancestors(session, unit)
    lines.append("上级：" + (" > ".join(f"{u.name}（{u.code}）" for u in reversed(chain)) if chain else "无（根单位）"))
    officers = unit_tree.officers_of(session, unit.code)
    lines.append(f"人员：{len(officers)} 名" + ("" if officers else "（未登记）"))
    for o in officers:
        lines.append(f"  {ROLE_NAMES.get(o.role, o.role)}  {o.name}  {o.email}  {o.mobile or '（无手机）'}")
    counts = unit_tree.subtree_counts(session, unit.code)
    below = LEVELS[LEVELS.index(unit.level) + 1:] if unit.level in LEVELS else ()
    if below:
        lines.append("下属单位：" + "，".join(f"{unit_tree.level_name(lv)} {counts.get(lv, 0)} 个" for lv in below))
    lines.append(f"教师：{unit_tree.teacher_count(session, unit.code)} 人（含下属单位，不含已调离）")
    return lines


@units.command("list")
@click.option("--level", "level_text", default=None, help="只列出这一级：nation/province/city/county/school 或 中央/省级/地市级/县级/学校。")
@click.option("--under", default=None, help="只列出这个单位下面的单位（不含它本身）。")
@config_option
def list_cmd(level_text: str | None, under: str | None, config: Config) -> None:
    """按单位树列出单位（上级在前，下级缩进列在其下，同级按代码排序），可按级别和上级单位筛选。

    \b
    示例：
      tmis units list --level 县级
      tmis units list --under 360100 --level school
    """
    level = unit_tree.parse_level(level_text) if level_text else None
    engine = open_store(config)
    try:
        with session_scope(engine) as session:
            if under:
                under = unit_tree.require_unit(session, under).code
            found = unit_tree.list_units(session, level=level, under=under)
    finally:
        engine.dispose()
    if not found:
        click.echo("没有符合条件的单位。")
        return
    table = Table(header_style="bold")
    for title in ("代码", "名称", "级别", "上级代码"):
        table.add_column(title, no_wrap=title != "名称")
    for depth, u in found:
        table.add_row(u.code, "  " * depth + u.name, unit_tree.level_name(u.level), u.parent_code or "")
    _console().print(table)
    click.echo(f"共 {len(found)} 个单位。")


@units.command("template")
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="输出的 .xlsx 文件。")
@config_option
def template_cmd(out: Path, config: Config) -> None:
    """生成空白的单位与人员导入表（「单位」「人员」两张表，另附「说明」和示例）。

    \b
    示例：
      tmis units template --out 单位.xlsx
    """
    path = unit_tree.write_template(out)
    click.echo(f"已生成导入表 {path}：在「单位」「人员」表中填写后，用 tmis units import {path.name} 导入。")
