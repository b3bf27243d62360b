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
        out = send(env, fill(sheet.path, tmp_path / "审核" / sheet.path.name, every=("通过", "")))
        assert out.status == "applied", out.message
    return env


def template(env: Env, kind: str, path: Path, *args: str) -> Path:
    result = cli(env, "template", kind, "--out", str(path), *args)
    assert result.exit_code == 0, result.output
    return path


def fill_template(src: Path, out: Path, sheet: str, rows: list[dict[str, Any]]) -> Path:
    """Fill the data sheet of a template by header label (a leading * ignored), one dict per row."""
    wb = load_workbook(src)
    ws = wb[sheet]
    cols = {str(c.value).lstrip("*"): c.column for c in ws[1] if c.value}
    for i, row in enumerate(rows, start=2):
        for label, value in row.items():
            ws.cell(i, cols[label], value)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def report_json(outcome: Any) -> dict[str, Any]:
    return json.loads(Path(outcome.report_path).with_suffix(".json").read_text(encoding="utf-8"))
