"""`tmis exchange import|export|profiles`: files from and for legacy systems and the national system."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from processor.cli.options import config_option
from processor.config import Config
from processor.errors import TmisError

EXIT_OK, EXIT_ERRORS, EXIT_REFUSED = 0, 1, 2


def register(group: click.Group) -> None:
    """Add the `exchange` group to the tmis group."""
    group.add_command(exchange)


@click.group("exchange")
def exchange() -> None:
    """数据交换：导入旧系统、全国系统的文件，按对方的布局导出。

    交换档案（rules/exchange/<名称>/）用数据描述对方的文件：格式与编码、表头对应的字段、代码对照、
    日期写法、识别教师的键、导入的记录是直接生效还是进入审核、能否获得个人信息。

    \b
    例：
      tmis exchange profiles
      tmis exchange import 旧系统导出.csv --profile legacy-2011 --unit 360102
      tmis exchange export --profile national --unit 360000 --since-last --out 报送全国.xlsx
    """


def _open(config: Config, name: str) -> tuple[Any, Any, Any]:
    from processor.exchange.profile import find_profile
    from processor.rulepack.loader import load_pack_from_config
    from processor.store.db import open_store

    pack = load_pack_from_config(config)
    profile = find_profile(config, name, pack)
    return pack, profile, open_store(config)


@exchange.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--profile", "profile_name", required=True, help="交换档案名称，例如 legacy-2011。")
@click.option("--unit", "unit_code", default=None, help="导入范围：文件中的学校都应在这个单位之下（可省略）。")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="输出格式：text 中文摘要；json 一个 JSON 对象。")
@config_option
def import_cmd(file: Path, profile_name: str, unit_code: str | None, fmt: str, config: Config) -> None:
    """按交换档案导入一个外部文件：逐行对照、校验（与学校报送相同的规则）、入库。

    文件按批读取、校验、入库，每批一个事务；中途被中断，再次运行同一命令会从中断处继续，
    已入库的行不会重复入库。编码或布局不对的文件在入库前就被拒收并说明原因。错误报告
    （指明原文件的行和列）写入 outbox/<单位代码>/。

    退出码：0 全部入库；1 有错误（有错的行未入库）；2 文件或档案被拒收。

    \b
    例：
      tmis exchange import 旧系统导出.csv --profile legacy-2011 --unit 360102
      tmis exchange import 全国系统.xlsx --profile national --format json
    """
    from processor.exchange.importer import import_file
    from processor.queue import is_postgresql

    if is_postgresql(config.database_url):
        _import_as_job(file, profile_name, unit_code, fmt, config)
        return
    try:
        pack, profile, engine = _open(config, profile_name)
        try:
            progress = None if fmt == "json" else _progress
            outcome = import_file(file, profile, config, pack, engine, unit_code=unit_code, progress=progress)
        finally:
            engine.dispose()
    except TmisError as exc:
        if fmt == "json":
            sys.stdout.write(json.dumps({"file": str(file), "profile": profile_name, "status": "refused",
                                         "reason": str(exc), "rows": 0, "stored": 0, "errors": 1, "warnings": 0,
                                         "findings": []}, ensure_ascii=False) + "\n")
            sys.exit(exc.exit_code)
        raise
    if fmt == "json":
        sys.stdout.write(json.dumps(outcome.to_dict(), ensure_ascii=False) + "\n")
    else:
        _print_import(outcome)
    sys.exit(EXIT_ERRORS if outcome.errors else EXIT_OK)


def _import_as_job(file: Path, profile_name: str, unit_code: str | None, fmt: str, config: Config) -> None:
    """PostgreSQL: the import is a job of the queue (processor.queue.exchange); the same output and exit codes."""
    from processor.exchange.importer import ImportOutcome
    from processor.findings import Finding
    from processor.queue.exchange import queue_import

    try:
        result = queue_import(config, file, profile_name, unit_code, None if fmt == "json" else _progress)
    except TmisError as exc:
        result = {"ok": True, "file": str(file), "profile": profile_name, "status": "refused", "reason": str(exc),
                  "exit_code": exc.exit_code, "rows": 0, "stored": 0, "errors": 1, "warnings": 0, "findings": []}
    if result.get("status") == "refused":
        if fmt == "json":
            out = {k: result[k] for k in ("profile", "status", "reason", "rows", "stored", "errors", "warnings",
                                          "findings")}
            sys.stdout.write(json.dumps({"file": str(file), **out}, ensure_ascii=False) + "\n")
        else:
            click.echo(f"错误：{result['reason']}", err=True)
        sys.exit(int(result.get("exit_code") or EXIT_REFUSED))
    if not result.get("ok") or "import" not in result:
        click.echo(f"错误：{file}：导入作业没有完成（{result.get('message') or result.get('status')}），请查看 tmis status 与日志。",
                   err=True)
        sys.exit(EXIT_REFUSED)
    if fmt == "json":
        sys.stdout.write(json.dumps({k: v for k, v in result.items() if k != "ok"}, ensure_ascii=False) + "\n")
    else:
        _print_import(ImportOutcome(
            status=result["status"], file=result["file"], profile=result["profile"], route=result["route"],
            import_id=result["import"], submission_id=result["submission"], unit=result["unit"], rows=result["rows"],
            stored=result["stored"], errors=result["errors"], warnings=result["warnings"], resumed=result["resumed"],
            chunks=result["chunks"], report=Path(result["report"]) if result["report"] else None,
            findings=[Finding(**f) for f in result["findings"]], sheets=result["sheets"]))
    sys.exit(EXIT_ERRORS if result["errors"] else EXIT_OK)


def _progress(chunk: int, rows: int) -> None:
    click.echo(f"已入库第 {chunk} 批（累计 {rows} 行）", err=True)


def _print_import(outcome: Any) -> None:
    if outcome.status == "duplicate":
        click.echo(f"{outcome.file}：该文件已按交换档案 {outcome.profile} 导入过（导入编号 {outcome.import_id}），"
                   "没有重复入库。")
    route = "直接生效" if outcome.route == "effective" else "待审核"
    click.echo(f"文件：{outcome.file}    交换档案：{outcome.profile}    入库记录：{route}")
    click.echo(f"数据行：{outcome.rows}    入库记录：{outcome.stored}    错误：{outcome.errors} 处    "
               f"警告：{outcome.warnings} 处" + (f"    （中断后继续 {outcome.resumed} 次）" if outcome.resumed else ""))
    for f in outcome.findings[:20]:
        if f.severity != "error":
            continue
        place = f"「{f.sheet}」{f.column or ''}{f.row or ''}" if f.sheet else "整个文件"
        click.echo(f"  {place} {f.rule}：{f.message}。{f.hint}")
    if outcome.report:
        click.echo(f"报告：{outcome.report}")


@exchange.command("export")
@click.option("--profile", "profile_name", required=True, help="交换档案名称，例如 national。")
@click.option("--unit", "unit_code", default=None, help="导出该单位及其下属单位的记录（省略则导出全部）。")
@click.option("--since", "since", default=None, help="只导出此日期（YYYY-MM-DD）以来有变化的教师。")
@click.option("--since-last", "since_last", is_flag=True, help="只导出上次向同一档案、同一单位导出以来有变化的教师。")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False), help="输出文件。")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="输出格式：text 中文摘要；json 一个 JSON 对象。")
@config_option
def export_cmd(profile_name: str, unit_code: str | None, since: str | None, since_last: bool, out: Path, fmt: str,
               config: Config) -> None:
    """按交换档案的布局和编码导出已生效的记录，旁边写一份清单（行数、sha256、时间范围、档案版本）。

    档案无权获得个人信息时，身份证件号和电话号码打码（如 110101********123X、138****5678）。

    \b
    例：
      tmis exchange export --profile national --unit 360000 --out 全省.xlsx
      tmis exchange export --profile legacy-2011 --unit 360102 --since-last --out 变化.csv
    """
    from processor.errors import InputError
    from processor.exchange.exporter import export_records, parse_since

    if since and since_last:
        raise InputError("--since 与 --since-last 只能选一个", hint="按日期导出用 --since，接着上次导出用 --since-last。")
    moment = parse_since(since) if since else None
    pack, profile, engine = _open(config, profile_name)
    try:
        outcome = export_records(profile, config, pack, engine, out=out, unit_code=unit_code, since=moment,
                                 since_last=since_last)
    finally:
        engine.dispose()
    if fmt == "json":
        sys.stdout.write(json.dumps(outcome.to_dict(), ensure_ascii=False) + "\n")
        return
    click.echo(f"已导出 {outcome.rows} 行（{outcome.teachers} 位教师）到 {outcome.file}")
    click.echo(f"清单：{outcome.manifest}")
    if outcome.masked:
        click.echo("交换档案无权获得个人信息：身份证件号和电话号码已打码。")
    for key, codes in outcome.unmapped.items():
        shown = "、".join(f"{c}（{n} 行）" for c, n in codes.items())
        click.echo(f"注意：{key} 的代码 {shown} 在档案的代码对照表中没有对方的写法，导出为空。")


@exchange.command("profiles")
@config_option
def profiles_cmd(config: Config) -> None:
    """列出可用的交换档案，并检查每个档案能否加载（有错时给出文件、行号和改法）。"""
    from processor.exchange.profile import ProfileError, load_profile, profiles_dir
    from processor.rulepack.loader import load_pack_from_config

    pack = load_pack_from_config(config)
    base = profiles_dir(config)
    bad = 0
    for directory in sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []:
        try:
            p = load_profile(directory, pack)
        except ProfileError as exc:
            bad += 1
            click.echo(f"{directory.name}：错误：{exc}")
            continue
        route = "直接生效" if p.authoritative else "进入审核"
        personal = "可获得个人信息" if p.personal_data else "个人信息打码"
        fmt = f"{p.format}（{p.encoding}）" if p.format == "csv" else p.format
        click.echo(f"{p.name}：{p.title}，版本 {p.version}，{fmt}，{route}，{personal}")
    sys.exit(EXIT_REFUSED if bad else EXIT_OK)
