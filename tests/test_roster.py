"""Workgroup rosters: the template, `tmis check` of a filled one (each rule caught on its cell with the fix),
intake through the inbox, and the consolidated roster report with the units that have not sent one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from external import poppler
from openpyxl import load_workbook
from pipeline_helpers import Env, make_env

from processor.cli import main
from processor.pipeline import process_file

GOOD = [
    ["刘建华", "南昌市教育局", "副局长", "组长", "教师或人事管理牵头", "0791-86765432", "13907910001", "liujh@ncedu.gov.cn"],
    ["陈静", "发展规划科", "科长", "副组长", "发展规划、财务", "0791-86765433", "13907910002", "chenj@ncedu.gov.cn"],
    ["王磊", "信息中心", "主任", "成员", "教育信息化", "", "13807910003", "wanglei@ncedu.gov.cn"],
]


@pytest.fixture
def env(store_instance: Path, unit_workbook: Path) -> Env:
    e = make_env(store_instance, unit_workbook)
    yield e
    e.engine.dispose()


def _template(env: Env, path: Path, unit: str = "360100") -> Path:
    result = CliRunner().invoke(main, ["template", "roster", "--unit", unit, "--out", str(path),
                                       "--config", str(env.config_path)])
    assert result.exit_code == 0, result.output
    return path


def _fill(path: Path, rows: list[list[str]]) -> tuple[Path, int]:
    wb = load_workbook(path)
    ws = wb["联合工作组名单"]
    header = next(r for r in range(1, 10) if ws.cell(r, 1).value and "姓名" in str(ws.cell(r, 1).value))
    for i, row in enumerate(rows, start=header + 1):
        for c, value in enumerate(row, start=1):
            ws.cell(i, c, value or None)
    wb.save(path)
    return path, header


def test_roster_template_has_the_columns_of_the_notice(env: Env, tmp_path: Path) -> None:
    path = _template(env, tmp_path / "名单.xlsx")
    ws = load_workbook(path)["联合工作组名单"]
    header = next(r for r in range(1, 10) if ws.cell(r, 1).value and "姓名" in str(ws.cell(r, 1).value))
    labels = [str(ws.cell(header, c).value).lstrip("*") for c in range(1, 9)]
    assert labels == ["姓名", "部门", "职务", "组内职务", "分工", "办公电话", "手机", "邮箱"]


def _check(env: Env, path: Path) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["check", str(path), "--format", "json", "--config", str(env.config_path)])
    return result.exit_code, json.loads(result.stdout)


def test_a_good_roster_passes_check(env: Env, tmp_path: Path) -> None:
    path, _ = _fill(_template(env, tmp_path / "名单.xlsx"), GOOD)
    code, report = _check(env, path)
    assert (code, report["kind"], report["unit"], report["errors"]) == (0, "roster", "360100", 0), report


def test_each_roster_mistake_is_caught_on_its_cell_with_the_fix(env: Env, tmp_path: Path) -> None:
    rows = [
        ["刘建华", "南昌市教育局", "副局长", "组长", "教师或人事管理牵头", "0791-86765432", "13907910001", "liujh@ncedu.gov.cn"],
        ["陈静", "发展规划科", "科长", "组长", "发展规划", "0791-86765433", "1390791000", "chenj@ncedu.gov.cn"],
        ["刘建华", "南昌市教育局", "副局长", "成员", "其他", "", "13907910001", "liujh@ncedu.gov.cn"],
    ]
    path, header = _fill(_template(env, tmp_path / "名单.xlsx"), rows)
    code, report = _check(env, path)
    assert code == 1
    found = {(f["rule"], f["row"], f["column"]): f for f in report["findings"]}
    two = found[("ROSTER-ONE-LEADER", header + 2, "D")]
    assert two["message"] == f"工作组只能有一位组长，本表共有 2 位（第一位在第 {header + 1} 行）"
    assert "改为“副组长”或“成员”" in two["hint"]
    duties = [f for f in report["findings"] if f["rule"] == "ROSTER-DUTY-MISSING"]
    assert {(f["row"], f["column"], f["message"]) for f in duties} == {
        (header, "E", "工作组没有人负责“财务”"), (header, "E", "工作组没有人负责“教育信息化”")}
    assert any("为一位成员填上“财务”" in f["hint"] for f in duties)
    phone = found[("ROSTER-MOBILE", header + 2, "G")]
    assert phone["message"] == "手机号码“1390791000”不是 11 位手机号" and "11 位数字" in phone["hint"]
    dup = found[("ROSTER-DUPLICATE", header + 3, "A")]
    assert dup["message"] == f"刘建华 在本表中重复列出（第 {header + 1} 行已有同一人）"
    assert f"合并到第 {header + 1} 行" in dup["hint"]


def test_roster_from_the_inbox_is_stored_and_consolidated_with_the_units_missing(env: Env, tmp_path: Path) -> None:
    path, _ = _fill(_template(env, tmp_path / "南昌市名单.xlsx"), GOOD)
    out = process_file(path, env.config, env.pack, env.engine)
    assert (out.status, out.errors, out.stored) == ("accepted", 0, 3)
    assert out.archived_path is not None and out.archived_path.exists()
    assert json.loads(out.report_path.with_suffix(".json").read_text(encoding="utf-8"))["errors"] == 0
    result = CliRunner().invoke(main, ["report", "roster", "--unit", "360000", "--format", "json",
                                       "--config", str(env.config_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(m["unit"], m["name"], m["role"]) for m in report["members"]] == [
        ("360100", "刘建华", "组长"), ("360100", "陈静", "副组长"), ("360100", "王磊", "成员")]
    assert [m["unit"] for m in report["missing"]] == ["360000", "360102", "360103", "360200", "360222"]
    pdf = next(Path(f) for f in report["files"] if f.endswith(".pdf"))
    text = "".join(poppler(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split())
    assert "江西省教师信息管理联合工作组名单汇总" in text and "刘建华" in text and "景德镇市" in text
    fonts = poppler(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert all(" yes " in line for line in fonts.splitlines()[2:])


def test_a_roster_with_errors_is_refused_and_keeps_the_previous_one(env: Env, tmp_path: Path) -> None:
    good, _ = _fill(_template(env, tmp_path / "a.xlsx"), GOOD)
    process_file(good, env.config, env.pack, env.engine)
    bad, _ = _fill(_template(env, tmp_path / "b.xlsx"), [GOOD[1], GOOD[2]])  # no 组长
    out = process_file(bad, env.config, env.pack, env.engine)
    assert (out.status, out.errors) == ("rejected", 2)  # no leader, no 教师或人事管理牵头
    assert out.report_path.name.startswith("错误报告_南昌市_联合工作组名单")
    ws = load_workbook(out.report_path)["错误清单"]
    assert {ws.cell(r, 7).value for r in range(2, ws.max_row + 1)} == {"ROSTER-NO-LEADER", "ROSTER-DUTY-MISSING"}
    from sqlalchemy import text
    with env.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM roster_members WHERE unit_code = '360100'")).scalar() == 3
