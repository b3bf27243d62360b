"""Helpers of the workflow tests: an instance with officers at the schools and counties of two cities, teachers
made effective through the real review chain, request forms and confirmation sheets filled as officers fill
them (openpyxl) and dropped into the inbox, then `tmis run --once`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from conftest import JIANGXI_OFFICERS, JIANGXI_UNITS, write_unit_workbook
from pipeline_helpers import SCHOOL_A, Env, make_env
from review_helpers import fill, issue, school_file, send

from processor.cli import main
from processor.workflows.demo import fill_form, fill_sheet  # noqa: F401 - filled as an officer fills them

KEY = "test-signing-key-0123456789abcdef"
SCHOOL_C_OFFICER = ("3601030001", "周红", "信息管理员", "zhouhong@xhcy.edu.cn", "13607910021")
SCHOOL_D_OFFICER = ("3602220001", "吴刚", "信息管理员", "wugang@flyz.edu.cn", "13607910031")
XIHU_OFFICER = ("360103", "钱伟", "信息管理员", "qianw@xhq.edu.cn", "")
FULIANG_OFFICER = ("360222", "郑洁", "信息管理员", "zhengjie@flx.edu.cn", "")
SCHOOL_A_VIEWER = ("3601020001", "李娜")
OFFICERS = [*JIANGXI_OFFICERS, SCHOOL_C_OFFICER, SCHOOL_D_OFFICER, XIHU_OFFICER, FULIANG_OFFICER]
# who fills what: unit code -> officer name
OFFICER_OF = {"360102": "王磊", "3601020001": "张伟", "3601030001": "周红", "3602220001": "吴刚",
              "360103": "钱伟", "360222": "郑洁"}


def workflow_env(config_path: Path, tmp_path: Path) -> Env:
    units = write_unit_workbook(tmp_path / "单位_业务.xlsx", JIANGXI_UNITS, OFFICERS)
    return make_env(config_path, units)


def env_with_teachers(config_path: Path, tmp_path: Path, monkeypatch: Any, *, n: int, seed: int,
                      **environ: str) -> Env:
    """The workflow instance (signing key set, ``environ`` overrides) with ``n`` effective teachers at
    南昌市第一中学 as ``env.persons``."""
    monkeypatch.setenv("TMIS_SIGNING_KEY", KEY)
    env = workflow_env(config_path, tmp_path)
    if environ:
        env.reload(**environ)
    env.persons = effective_teachers(env, tmp_path / "a", n=n, seed=seed)  # type: ignore[attr-defined]
    return env


def effective_teachers(env: Env, tmp_path: Path, n: int = 3, seed: int = 5,
                       school: tuple[str, str] = SCHOOL_A) -> list[Any]:
    """Teachers of ``school`` sent, reviewed by the county and effective (numbered)."""
    path, persons = school_file(env, tmp_path, n=n, seed=seed, school=school)
    assert send(env, path).status == "accepted"
    for sheet in issue(env):
        filled = fill(sheet.path, tmp_path / "审核" / sheet.path.name, reviewer=OFFICER_OF[sheet.unit_code],
                      every=("通过", ""))
        assert send(env, filled).status == "applied"
    return persons


def template(env: Env, kind: str, unit: str, out: Path) -> Path:
    result = CliRunner().invoke(main, ["template", kind, "--unit", unit, "--out", str(out),
                                       "--config", str(env.config_path)])
    assert result.exit_code == 0, result.output
    return out


def drop(env: Env, path: Path) -> Path:
    """Put a filled file into the inbox as the officer would."""
    target = env.inbox / path.name
    target.write_bytes(path.read_bytes())
    return target


def run_once(env: Env) -> str:
    result = CliRunner().invoke(main, ["run", "--once", "--config", str(env.config_path)])
    assert result.exit_code == 0, result.output
    return result.output


def last_outcome(env: Env) -> dict[str, Any]:
    """The JSON outcome written beside the report of the newest submission (what the officer got back)."""
    sub = env.submissions()[-1]
    assert sub.report_path, (sub.original_name, sub.status, sub.message)
    return json.loads(Path(sub.report_path).with_suffix(".json").read_text(encoding="utf-8"))


def open_sheets(env: Env, unit: str) -> list[Path]:
    """The confirmation sheets issued to ``unit`` (newest last)."""
    return sorted((env.outbox / unit).glob("*确认单_*.xlsx"), key=lambda p: p.stat().st_mtime_ns)


def teacher_json(env: Env, id_number: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["teacher", "show", id_number, "--format", "json",
                                       "--config", str(env.config_path)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)
