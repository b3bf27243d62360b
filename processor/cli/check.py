"""`tmis check FILE`: validate a filled template without storing anything (text summary or JSON)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from processor.config import Config
from processor.errors import InputError, StoreError
from processor.findings import ERROR, Finding

from .options import config_option

log = logging.getLogger(__name__)

FILE_UNREADABLE = "FILE-UNREADABLE"
FILE_UNRECOGNISED = "FILE-UNRECOGNISED"
EXIT_OK, EXIT_ERRORS, EXIT_UNREADABLE = 0, 1, 2


def register(group: click.Group) -> None:
    """Add this module's commands to the tmis group."""
    group.add_command(check)


def _store_lookup(config: Config) -> Any:
    """A StoreLookup when the configured database exists and answers; None otherwise (check needs no database)."""
    try:
        from processor.ingest import StoreLookupImpl
        from processor.store.db import open_store

        engine = open_store(config)
    except StoreError as exc:
        log.info("no store for tmis check: %s", exc)
        return None
    except Exception as exc:  # an unreachable database only switches the store checks off
        log.info("no store for tmis check: %s", exc)
        return None
    return StoreLookupImpl(engine)


def run_check(file: Path, config: Config) -> tuple[dict[str, Any], int, str | None]:
    """Read and validate one file: (the JSON report object, exit code, template title).

    An unreadable file (InputError) becomes one file-level finding FILE-UNREADABLE and exit code 2."""
    from processor.engine import Validator
    from processor.readers import Limits, read_workbook
    from processor.rulepack.loader import load_pack_from_config
    from processor.sidepacks import pack_for_kind

    pack = load_pack_from_config(config)
    try:
        # Read (behind the guards) first: nothing may parse a file before the guards have passed it.
        wb = read_workbook(file, pack, Limits.from_config(config))
        from processor.workflows import registry

        if registry.is_kind((wb.meta or {}).get("kind")):  # a request form: the workflow's own checks
            from processor.workflows.intake import check_file

            report, title = check_file(file, config, pack, dict(wb.meta))
            return report, (EXIT_ERRORS if report["errors"] else EXIT_OK), title
        side = pack_for_kind((wb.meta or {}).get("kind"))
        if side is not None:  # a roster, training plan or result, assessment register: its own pack (rules/…)
            pack = side
            wb = read_workbook(file, pack, Limits.from_config(config))
    except InputError as exc:
        place = f"{exc.place}：" if exc.place else ""
        finding = Finding(sheet=None, row=None, column=None, field=None, value=None, rule=FILE_UNREADABLE,
                          severity=ERROR, message=f"{place}{exc.message}",
                          hint=exc.hint or "请用 Excel 或 WPS 打开确认文件完好，另存为 .xlsx 后重新检查。")
        report = {"file": str(file), "kind": None, "unit": None, "rows": 0, "errors": 1, "warnings": 0,
                  "findings": [finding.to_dict()]}
        return report, EXIT_UNREADABLE, None
    if not wb.blocks:
        # Read, but no sheet is one of the template's: nothing was checked, so the file is not recognised.
        sheets = "、".join(s.name for s in pack.ordered_sheets()[:3])
        finding = Finding(sheet=None, row=None, column=None, field=None, value=None, rule=FILE_UNRECOGNISED,
                          severity=ERROR, message="文件中没有可识别的信息采集表，未做任何校验",
                          hint=f"请使用 tmis template 生成的官方模板填写（工作表名如 {sheets}，表头不要改动）。")
        findings = [finding, *wb.findings]
        report = {"file": str(file), "kind": wb.kind, "unit": wb.unit_code, "rows": 0,
                  "errors": sum(f.severity == ERROR for f in findings),
                  "warnings": sum(f.severity != ERROR for f in findings),
                  "findings": [f.to_dict() for f in findings]}
        return report, EXIT_UNREADABLE, None
    validator = Validator(pack, today=config.today, store_lookup=_store_lookup(config),
                          max_findings=int(config.get("check", "max_findings")))
    result = validator.validate(wb, keep_rows=False)
    report = {
        "file": str(file),
        "kind": wb.kind,
        "unit": wb.unit_code,
        "rows": result.total_rows,
        "errors": result.errors,
        "warnings": result.warnings,
        "findings": [f.to_dict() for f in result.findings],
    }
    if result.truncated:
        report["truncated"] = True
    title = str(pack.kinds.get(wb.kind, {}).get("title") or wb.kind) if wb.kind else None
    return report, EXIT_ERRORS if result.errors else EXIT_OK, title


def _console() -> Console:
    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=200)


def _place(f: dict[str, Any]) -> str:
    cell = f"{f['column'] or ''}{f['row'] or ''}"
    if f["sheet"]:
        return f"「{f['sheet']}」{cell}"
    return cell or "整个文件"


def _print_text(report: dict[str, Any], kind_title: str | None) -> None:
    console = _console()
    console.print(f"文件：{report['file']}")
    if report["kind"] or report["unit"]:
        console.print(f"模板：{kind_title or report['kind'] or '未识别'}    单位代码：{report['unit'] or '未注明'}")
    console.print(f"数据行：{report['rows']}    错误：{report['errors']} 处    警告：{report['warnings']} 处")
    findings = report["findings"]
    if not findings:
        console.print("[green]没有发现问题。[/green]")
        return
    table = Table(show_lines=False, header_style="bold")
    table.add_column("位置", no_wrap=True)
    table.add_column("级别", no_wrap=True)
    table.add_column("规则", no_wrap=True)
    table.add_column("值", overflow="fold")
    table.add_column("问题与修改方法", overflow="fold")
    for f in findings:
        level = "[red]错误[/red]" if f["severity"] == ERROR else "[yellow]警告[/yellow]"
        text = f["message"].rstrip("。") + "。" + (f["hint"] or "")
        table.add_row(_place(f), level, f["rule"], f["value"] or "", text)
    console.print(table)
    if report.get("truncated"):
        total = report["errors"] + report["warnings"]
        console.print(f"问题过多，只列出了前 {len(findings)} 条（共 {total} 条）。请先改正已列出的问题后再检查。")
    if report["errors"]:
        console.print("[red]有错误：请按上表逐项修改后重新检查或报送。[/red]")
    else:
        console.print("[green]没有错误（警告请核实）。[/green]")


@click.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="输出格式：text 中文摘要与问题表；json 一个 JSON 对象。")
@config_option
def check(file: Path, fmt: str, config: Config) -> None:
    """只校验、不入库：检查一个已填写的模板文件。

    退出码：0 没有错误（可有警告）；1 有错误；2 文件无法读取或无法识别。

    \b
    例：
      tmis check 已填模板.xlsx
      tmis check 已填模板.xlsx --format json > 结果.json
    """
    report, code, title = run_check(file, config)
    if fmt == "json":
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        if code == EXIT_UNREADABLE:
            for f in report["findings"]:
                click.echo(f"{'错误' if f['severity'] == ERROR else '警告'}：{report['file']}："
                           f"{f['message']}。{f['hint']}", err=True)
        else:
            _print_text(report, title)
    sys.exit(code)

