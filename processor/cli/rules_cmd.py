"""`tmis rules list` and `tmis rules check`: what the rule pack in force contains, and whether a rules folder loads."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from processor.cli.options import config_option
from processor.config import Config
from processor.errors import RulePackError, TmisError
from processor.rulepack import RuleDef, RulePack, SheetSpec, load_pack, load_pack_from_config

TYPE_NAMES = {
    "text": "文本", "code": "代码", "codes": "代码（多选）", "date": "日期", "month": "年月", "year": "年份",
    "int": "整数", "decimal": "小数", "yesno": "是否", "idnumber": "证件号",
}


def rule_applies_to(rule: RuleDef, sheet: SheetSpec) -> bool:
    """True when the rule runs on this sheet (its own sheet, or "*" with one of its fields, or any field)."""
    if rule.sheet == sheet.id:
        return True
    if rule.sheet != "*":
        return False
    return not rule.fields or any(sheet.has_field(f) for f in rule.fields)


def _disabled_by(pack: RulePack, rule: RuleDef) -> str | None:
    if rule.id in pack.disabled:
        return rule.id
    for f in rule.fields:
        key = f"{rule.id}@{rule.sheet}.{f}"
        if key in pack.disabled:
            return key
    return None


def pack_summary(pack: RulePack, sheet_id: str | None = None) -> dict[str, Any]:
    """The pack in force as plain data (the JSON output of `tmis rules list`)."""
    sheets = pack.ordered_sheets()
    if sheet_id is not None:
        if sheet_id not in pack.sheets:
            raise TmisError(f"没有编号为“{sheet_id}”的工作表",
                            hint=f"可用的工作表编号：{', '.join(s.id for s in sheets)}。")
        sheets = [pack.sheets[sheet_id]]
    used_tables = {f.table for s in sheets for f in s.fields if f.table}
    tables = [t for tid, t in sorted(pack.tables.items()) if sheet_id is None or tid in used_tables]
    rules, off = [], []
    for r in pack.rules:
        if sheet_id is not None and not any(rule_applies_to(r, s) for s in sheets):
            continue
        entry = {"id": r.id, "kind": r.kind, "sheet": r.sheet, "fields": list(r.fields), "severity": r.severity,
                 "source": r.source, "generated": r.generated, "file": r.file, "line": r.line}
        switch = _disabled_by(pack, r)
        if switch:
            off.append({**entry, "disabled_by": switch})
        else:
            rules.append(entry)
    return {
        "pack": {"name": pack.name, "version": pack.version, "template_version": pack.template_version},
        "layers": list(pack.layers),
        "sheets": [
            {"id": s.id, "name": s.name, "category": s.category, "order": s.order, "records": s.records,
             "new_teacher": s.new_teacher, "confidence": s.confidence, "file": s.file,
             "fields": [{"code": f.code, "label": f.label, "type": f.type, "required": f.required,
                         "derived": f.derived, "table": f.table, "variants": list(f.variants),
                         "confidence": f.confidence} for f in s.fields]}
            for s in sheets
        ],
        "tables": [{"id": t.id, "title": t.title, "count": len(t.entries),
                    "historical": len(t.historical), "confidence": t.confidence, "source": t.source}
                   for t in tables],
        "rules": rules,
        "disabled": sorted(pack.disabled),
        "disabled_rules": off,
    }


def _console() -> Console:
    # Outside a terminal (pipes, tests) rich would assume 80 columns and wrap the Chinese labels.
    return Console(width=None if sys.stdout.isatty() else 160, highlight=False)


def _print_text(summary: dict[str, Any]) -> None:
    out = _console()
    p = summary["pack"]
    out.print(f"规则包：{' → '.join(summary['layers'])}（版本 {p['version']}，模板版本 {p['template_version']}）")
    for s in summary["sheets"]:
        t = Table(title=f"{s['order']:>3} {s['name']}（{s['id']}，第 {s['category']} 类，"
                        f"{'每人一条' if s['records'] == 'one' else '每人多条'}"
                        f"{'，新任教师填报' if s['new_teacher'] else ''}）", title_justify="left")
        for col in ("字段代码", "中文名称", "类型", "必填", "代码表", "说明"):
            t.add_column(col)
        for f in s["fields"]:
            notes = []
            if f["derived"]:
                notes.append("系统生成")
            if f["variants"]:
                notes.append("仅 " + "、".join(f["variants"]))
            t.add_row(f["code"], f["label"], TYPE_NAMES.get(f["type"], f["type"]), "是" if f["required"] else "",
                      f["table"] or "", "；".join(notes))
        out.print(t)
    if summary["tables"]:
        t = Table(title=f"代码表（{len(summary['tables'])} 个）", title_justify="left")
        for col in ("代码表", "名称", "代码数", "旧称", "可信度", "来源"):
            t.add_column(col)
        for tb in summary["tables"]:
            t.add_row(tb["id"], tb["title"], str(tb["count"]), str(tb["historical"] or ""), tb["confidence"],
                      tb["source"])
        out.print(t)
    else:
        out.print("代码表：无")
    written = [r for r in summary["rules"] if not r["generated"]]
    t = Table(title=f"生效的规则（{len(written)} 条，另有由字段规格生成的规则 "
                    f"{len(summary['rules']) - len(written)} 条）", title_justify="left")
    for col in ("规则编号", "检查类型", "工作表", "字段", "级别", "来源"):
        t.add_column(col)
    for r in written:
        t.add_row(r["id"], r["kind"], r["sheet"], ", ".join(r["fields"]) or "（任意字段）",
                  "错误" if r["severity"] == "error" else "警告", r["source"])
    out.print(t)
    generated = Counter(r["id"] for r in summary["rules"] if r["generated"])
    if generated:
        out.print("由字段规格生成：" + "、".join(f"{rid} {n} 条" for rid, n in sorted(generated.items())))
    if summary["disabled"]:
        t = Table(title=f"已停用（{len(summary['disabled'])} 项）", title_justify="left")
        for col in ("停用项", "规则编号", "工作表", "字段", "来源"):
            t.add_column(col)
        hit = set()
        for r in summary["disabled_rules"]:
            hit.add(r["disabled_by"])
            t.add_row(r["disabled_by"], r["id"], r["sheet"], ", ".join(r["fields"]), r["source"])
        for rid in summary["disabled"]:
            if rid not in hit:
                t.add_row(rid, "", "", "", "（不涉及所列工作表）")
        out.print(t)
    else:
        out.print("已停用：无")


def register(group: click.Group) -> None:
    """Add this module's commands to the tmis group."""

    @group.group("rules")
    def rules() -> None:
        """规则包：查看生效的字段、代码表和规则，检查规则目录。"""

    @rules.command("list")
    @config_option
    @click.option("--sheet", "sheet_id", default=None, metavar="ID", help="只列出这一个工作表（编号，如 basic）。")
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                  help="输出格式。")
    def list_cmd(config: Config, sheet_id: str | None, fmt: str) -> None:
        """列出生效的规则包：核心包加省级定制包之后的工作表与字段、代码表、规则，以及停用的规则。

        \b
        例：
          tmis rules list
          tmis rules list --sheet basic
          tmis rules list --format json > 规则.json
        """
        summary = pack_summary(load_pack_from_config(config), sheet_id)
        if fmt == "json":
            click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        else:
            _print_text(summary)

    @rules.command("check")
    @config_option
    @click.argument("directory", type=click.Path(path_type=Path))
    def check_cmd(config: Config, directory: Path) -> None:
        """检查一个规则目录能否加载：核心包（含 pack.toml）或省级定制包（含 overlay.toml，叠加在配置的核心包上）；
        也可以检查一个学分换算规则文件（rules/credits/<省级单位代码>.toml）或整个学分规则目录。

        有错误时输出一行说明（文件、行号、问题和改法），退出码 2。

        \b
        例：
          tmis rules check rules/core
          tmis rules check rules/overlays/360000
          tmis rules check rules/credits/360000.toml
        """
        from processor.credits.rule import load_rule

        credit_files = [directory] if directory.suffix == ".toml" and directory.is_file() else []
        if directory.is_dir() and not (directory / "pack.toml").exists() and not (directory / "overlay.toml").exists():
            credit_files = sorted(p for p in directory.glob("*.toml") if re.fullmatch(r"\d{6}", p.stem))
        if credit_files:
            for path in credit_files:
                rule = load_rule(path)
                click.echo(f"学分换算规则有效：{path.name}（{rule.name}，版本 {rule.version}）；周期 {rule.cycle_years} 年，"
                           f"要求 {rule.required_credits} 学分，{len(rule.levels)} 个级别。")
            return
        if (directory / "pack.toml").exists():
            pack = load_pack(directory)
        elif (directory / "overlay.toml").exists():
            pack = load_pack(config.rules_core, directory)
        else:
            raise RulePackError("不是规则包目录", file=directory,
                                hint="核心包目录须有 pack.toml，省级定制包目录须有 overlay.toml。")
        written = sum(1 for r in pack.rules if not r.generated)
        click.echo(f"规则包有效：{' → '.join(pack.layers)}；{len(pack.sheets)} 个工作表，"
                   f"{len(pack.tables)} 个代码表，{written} 条规则（另有由字段规格生成的 "
                   f"{len(pack.rules) - written} 条），停用 {len(pack.disabled)} 项。")
