"""Helpers of the training-credit, registration and sampling tests: an instance whose teachers are effective,
the templates tmis writes, filled as an officer or a provider fills them (openpyxl), sent through the pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from openpyxl import load_workbook
from pipeline_helpers import SCHOOL_A, SCHOOL_B, Env
from review_helpers import fill, issue, review_env, school_file, send

from processor.cli import main

__all__ = ["SCHOOL_A", "SCHOOL_B", "Env", "cli", "effective_env", "fill_template", "send"]


def cli(env: Env, *args: str) -> Any:
    """Run a tmis command on the instance (exit code, stdout, stderr)."""
    return CliRunner().invoke(main, [*args, "--config", str(env.config_path)])


def effective_env(config_path: Path, tmp_path: Path, schools: tuple[tuple[str, str], ...] = (SCHOOL_A, SCHOOL_B),
                  n: int = 3) -> Env:
    """An instance (county review) whose schools' teachers are all effective; env.persons[school code]."""
    env = review_env(config_path, tmp_path, levels="county")
    env.persons = {}  # type: ignore[attr-defined]
    for i, school in enumerate(schools):
        path, persons = school_file(env, tmp_path, n=n, seed=41 + i, school=school)
        assert send(env, path).status == "accepted"
        env.persons[school[0]] = persons  # type: ignore[attr-defined]
    for sheet in issue(env):
        reviewer = {"360102": "王磊", "360103": "钱伟"}[sheet.unit_code]
        out = send(env, fill(sheet.path, tmp_path / "审核" / sheet.path.name, reviewer=reviewer, every=("通过", "")))
        assert out.status == "applied", out.message
    return env


def template(env: Env, kind: str, path: Path, *args: str) -> Path:
    result = cli(env, "template", kind, "--out", str(path), *args)
    assert result.exit_code == 0, result.output
    return path


def fill_template(src: Path, out: Path, sheet: str, rows: list[dict[str, Any]]) -> Path:
    """Fill the data sheet of a template by header label, one dict per row (processor.credits.demo.fill_rows)."""
    from processor.credits.demo import fill_rows

    return fill_rows(src, out, sheet, rows)


def report_json(outcome: Any) -> dict[str, Any]:
    return json.loads(Path(outcome.report_path).with_suffix(".json").read_text(encoding="utf-8"))


def fill_inputs(src: Path, out: Path, *, confirmer: str | None, rows: dict[str, dict[str, str]],
                day: str | None = "today") -> Path:
    """Fill a confirmation sheet whose inputs are the kind's own (注册结论, 核查结果 …): 确认人, 确认日期 and, for
    each listed teacher (by 身份证件号), the given input columns by header label."""
    from datetime import date

    wb = load_workbook(src)
    ws = wb["确认单"]
    header = next(r for r in range(1, 30) if ws.cell(r, 1).value == "申请编号")
    cols = {str(c.value): c.column for c in ws[header] if c.value}
    for r in range(1, header):
        label = ws.cell(r, 1).value
        if label == "确认人：" and confirmer is not None:
            ws.cell(r, 2, confirmer)
        if label == "确认日期：" and day is not None:
            ws.cell(r, 2, date.today().isoformat() if day == "today" else day)
    for r in range(header + 1, ws.max_row + 1):
        values = rows.get(str(ws.cell(r, cols["身份证件号"]).value or ""))
        for label, value in (values or {}).items():
            ws.cell(r, cols[label], value)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def sheet_of(env: Env, unit: str, title: str) -> Path:
    """The newest confirmation sheet of kind ``title`` (学分确认, 定期注册, 随机抽查) issued to ``unit``."""
    return sorted((env.outbox / unit).glob(f"{title}确认单_*.xlsx"), key=lambda p: p.stat().st_mtime_ns)[-1]
