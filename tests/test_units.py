"""The unit tree: import from workbooks and CSV, findings for bad rows, change reports, show, list, template."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pytest
from conftest import JIANGXI_OFFICERS, JIANGXI_UNITS, write_unit_workbook
from sqlalchemy import Engine, func, select

from processor.cli import main
from processor.config import load_config
from processor.findings import Finding
from processor.store.db import make_engine, session_scope
from processor.store.models import AuditEntry, Officer, Teacher, Unit
from processor.units import import_units, is_within, level_of, parse_code, subtree_counts

HINT_PARENT_MISSING = "请在本文件中加上上级单位的一行，或先导入上级单位。"


def _import(runner, config: Path, path: Path):
    return runner.invoke(main, ["units", "import", str(path), "--config", str(config)])


def _store(config: Path) -> Engine:
    return make_engine(load_config(config).database_url)


def _findings(engine: Engine, path: Path) -> list[Finding]:
    with session_scope(engine) as session:
        result = import_units(session, path, "test")
    return result.findings


def _error(sheet, row, column, field, value, rule, message, hint) -> Finding:
    return Finding(sheet, row, column, field, value, rule, "error", message, hint)


FIRST_IMPORT = """单位.xlsx：读入单位 10 个、人员 5 名。
变化：新增单位 10 个，更名 0 个，调整上级 0 个；新增人员 5 名，变更 0 名，删除 0 名。
  新增单位 360000 江西省（省级）
  新增单位 360100 南昌市（地市级）
  新增单位 360200 景德镇市（地市级）
  新增单位 360102 东湖区（县级）
  新增单位 360103 西湖区（县级）
  新增单位 360222 浮梁县（县级）
  新增单位 3601020001 南昌市第一中学（学校）
  新增单位 3601020002 南昌市豫章小学（学校）
  新增单位 3601030001 南昌市西湖区朝阳小学（学校）
  新增单位 3602220001 浮梁县第一中学（学校）
  新增人员 360000 系统管理员 刘建华
  新增人员 360000 信息管理员 陈静
  新增人员 360102 信息管理员 王磊
  新增人员 3601020001 系统管理员 张伟
  新增人员 3601020001 信息查询员 李娜
"""


# ---------------------------------------------------------------------------------------------- codes


@pytest.mark.parametrize(("code", "level"), [
    ("000000", "nation"), ("100000", "nation"), ("360000", "province"), ("360100", "city"),
    ("360102", "county"), ("429004", "county"), ("3601020001", "school"), ("990000", None), ("36010", None),
])
def test_level_follows_from_the_code(code: str, level: str | None) -> None:
    assert level_of(code) == level


def test_code_typed_as_a_whole_number_is_recognised() -> None:
    assert parse_code(3601020001.0) == ("3601020001", None)
    assert parse_code("3601020001.0") == ("3601020001", None)
    assert parse_code(" ３６０１０２ ") == ("360102", None)


# ---------------------------------------------------------------------------------------------- import


def test_import_of_a_realistic_tree_with_officers(runner, store_instance: Path, unit_workbook: Path) -> None:
    result = _import(runner, store_instance, unit_workbook)
    assert (result.exit_code, result.output) == (0, FIRST_IMPORT)
    engine = _store(store_instance)
    try:
        with session_scope(engine) as session:
            units = {u.code: (u.name, u.level, u.parent_code) for u in session.scalars(select(Unit))}
            officers = sorted((o.unit_code, o.name, o.role, o.email, o.mobile) for o in session.scalars(select(Officer)))
    finally:
        engine.dispose()
    assert units == {code: (name, level_of(code), parent or None) for code, name, parent in JIANGXI_UNITS}
    roles = {"系统管理员": "sysadmin", "信息管理员": "manager", "信息查询员": "viewer"}
    assert officers == sorted((u, n, roles[r], e, m) for u, n, r, e, m in JIANGXI_OFFICERS)


def test_reimport_of_the_same_file_changes_nothing(runner, store_instance: Path, unit_workbook: Path) -> None:
    assert _import(runner, store_instance, unit_workbook).exit_code == 0
    again = _import(runner, store_instance, unit_workbook)
    assert (again.exit_code, again.output) == (0, "单位.xlsx：读入单位 10 个、人员 5 名。\n无变化。\n")
    engine = _store(store_instance)
    try:
        with session_scope(engine) as session:
            counts = (session.scalar(select(func.count()).select_from(Unit)),
                      session.scalar(select(func.count()).select_from(Officer)))
    finally:
        engine.dispose()
    assert counts == (10, 5)


def test_reimport_reports_what_changed(runner, store_instance: Path, tmp_path: Path, unit_workbook: Path) -> None:
    assert _import(runner, store_instance, unit_workbook).exit_code == 0
    units = [
        ("3601020002", "南昌市豫章路小学", "360102") if code == "3601020002"
        else ("3601030001", name, "360102") if code == "3601030001"
        else (code, name, parent)
        for code, name, parent in JIANGXI_UNITS
    ] + [("360203", "珠山区", "360200")]
    officers = [row for row in JIANGXI_OFFICERS if row[1] != "李娜"]
    officers = [(u, n, r, "wanglei@nc.edu.cn", m) if n == "王磊" else (u, n, r, e, m) for u, n, r, e, m in officers]
    officers.append(("3601020001", "周敏", "信息管理员", "zhoumin@ncyz.edu.cn", "13607910005"))
    changed = write_unit_workbook(tmp_path / "单位2.xlsx", units, officers)
    result = _import(runner, store_instance, changed)
    assert (result.exit_code, result.output) == (0, """单位2.xlsx：读入单位 11 个、人员 5 名。
变化：新增单位 1 个，更名 1 个，调整上级 1 个；新增人员 1 名，变更 1 名，删除 1 名。
  新增单位 360203 珠山区（县级）
  更名 3601020002：南昌市豫章小学 → 南昌市豫章路小学
  调整上级 3601030001 南昌市西湖区朝阳小学：360103 → 360102
  新增人员 3601020001 信息管理员 周敏
  变更人员 360102 信息管理员 王磊（邮箱）
  删除人员 3601020001 信息查询员 李娜
""")


def test_import_writes_audit_entries(runner, store_instance: Path, unit_workbook: Path) -> None:
    assert _import(runner, store_instance, unit_workbook).exit_code == 0
    engine = _store(store_instance)
    try:
        with session_scope(engine) as session:
            actions = dict(session.execute(select(AuditEntry.action, func.count()).group_by(AuditEntry.action)).all())
            summary = session.scalars(select(AuditEntry).where(AuditEntry.action == "units.import")).one()
    finally:
        engine.dispose()
    assert actions == {"unit.add": 10, "officer.add": 5, "units.import": 1}
    assert summary.actor.startswith("cli:")
    assert (summary.object_id, summary.detail["units"], summary.detail["added_units"]) == ("单位.xlsx", 10, 10)


def test_csv_import_leaves_officers_alone(runner, store_instance: Path, unit_workbook: Path, tmp_path: Path) -> None:
    assert _import(runner, store_instance, unit_workbook).exit_code == 0
    csv_file = tmp_path / "学校.csv"
    csv_file.write_text("代码,名称,上级代码\n3602220002,浮梁县第二中学,360222\n", encoding="utf-8")
    result = _import(runner, store_instance, csv_file)
    assert (result.exit_code, result.output) == (0, """学校.csv：读入单位 1 个、人员 0 名。
变化：新增单位 1 个，更名 0 个，调整上级 0 个；新增人员 0 名，变更 0 名，删除 0 名。
  新增单位 3602220002 浮梁县第二中学（学校）
""")
    engine = _store(store_instance)
    try:
        with session_scope(engine) as session:
            assert session.scalar(select(func.count()).select_from(Officer)) == 5
            assert session.scalar(select(func.count()).select_from(Unit)) == 11
    finally:
        engine.dispose()


def test_csv_in_gb18030_with_a_name_outside_gbk(runner, store_instance: Path, tmp_path: Path) -> None:
    csv_file = tmp_path / "单位.csv"
    rows = "代码,名称,上级代码\r\n360000,江西省,\r\n360100,南昌市,360000\r\n360102,东湖区,360100\r\n" \
           "3601020009,𠮷安路小学,360102\r\n"
    csv_file.write_bytes(rows.encode("gb18030"))
    result = _import(runner, store_instance, csv_file)
    assert result.exit_code == 0, result.output
    assert "  新增单位 3601020009 𠮷安路小学（学校）\n" in result.output
    engine = _store(store_instance)
    try:
        with session_scope(engine) as session:
            assert session.get(Unit, "3601020009").name == "𠮷安路小学"
    finally:
        engine.dispose()


def test_csv_in_utf8_with_bom(engine: Engine, tmp_path: Path) -> None:
    csv_file = tmp_path / "单位.csv"
    csv_file.write_text("名称,代码,上级代码,备注\n江西省,360000,,省本级\n", encoding="utf-8-sig")
    assert _findings(engine, csv_file) == []
    with session_scope(engine) as session:
        assert session.get(Unit, "360000").name == "江西省"


def test_header_below_a_title_row_with_columns_in_any_order(engine: Engine, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = " 单位 "
    ws.append(["江西省教育系统单位名单（2024 年）"])
    ws.append([])
    ws.append(["序号", "上级代码", "名 称", "代码（必填）"])
    ws.append([1, "", "江西省", "３６００００"])
    ws.append([2, 360000, " 南昌市\u3000", "360100\u200b"])
    ws.append([])
    ws.append([3, "360100", "南昌市第一中学", 3601020001.0])
    wb.save(tmp_path / "名单.xlsx")
    assert _findings(engine, tmp_path / "名单.xlsx") == []
    with session_scope(engine) as session:
        stored = sorted((u.code, u.name, u.parent_code) for u in session.scalars(select(Unit)))
    assert stored == [("360000", "江西省", None), ("360100", "南昌市", "360000"),
                      ("3601020001", "南昌市第一中学", "360100")]


def test_county_directly_under_its_province_is_allowed(engine: Engine, tmp_path: Path) -> None:
    path = write_unit_workbook(tmp_path / "湖北.xlsx", [("420000", "湖北省", ""), ("429004", "仙桃市", "420000")], None)
    assert _findings(engine, path) == []
    with session_scope(engine) as session:
        assert (session.get(Unit, "429004").level, session.get(Unit, "429004").parent_code) == ("county", "420000")


def test_parent_may_already_be_in_the_store(engine: Engine, tmp_path: Path) -> None:
    first = write_unit_workbook(tmp_path / "省.xlsx", [("360000", "江西省", "")], None)
    assert _findings(engine, first) == []
    second = write_unit_workbook(tmp_path / "市.xlsx", [("360100", "南昌市", "360000")], None)
    assert _findings(engine, second) == []
    with session_scope(engine) as session:
        assert is_within(session, "360100", "360000") is True
        assert is_within(session, "360000", "360100") is False
        assert subtree_counts(session, "360000") == {"city": 1}


# ---------------------------------------------------------------------------------------------- bad rows


def test_missing_parent(engine: Engine, tmp_path: Path) -> None:
    path = write_unit_workbook(tmp_path / "单位.xlsx", [("360400", "九江市", "360000")], None)
    assert _findings(engine, path) == [_error(
        "单位", 2, "C", "上级代码", "360000", "UNIT-PARENT-MISSING", "上级单位 360000 既不在本文件中，也不在库中",
        HINT_PARENT_MISSING)]


def test_county_code_not_under_its_city(engine: Engine, tmp_path: Path) -> None:
    units = [("360000", "江西省", ""), ("360100", "南昌市", "360000"), ("360402", "濂溪区", "360100")]
    path = write_unit_workbook(tmp_path / "单位.xlsx", units, None)
    assert _findings(engine, path) == [_error(
        "单位", 4, "C", "上级代码", "360100", "UNIT-PARENT-PREFIX",
        "县级单位 360402 的前 4 位 3604 与上级地市级单位 360100 不一致",
        "县级单位的前 4 位应与所属地市相同；省直辖县级单位的上级请填省级代码。请核对代码或上级代码。")]


def test_city_code_not_in_its_province(engine: Engine, tmp_path: Path) -> None:
    units = [("360000", "江西省", ""), ("420100", "武汉市", "360000")]
    path = write_unit_workbook(tmp_path / "单位.xlsx", units, None)
    assert _findings(engine, path) == [_error(
        "单位", 3, "C", "上级代码", "360000", "UNIT-PARENT-PREFIX",
        "地市级单位 420100 的前 2 位 42 与上级省级单位 360000 不一致",
        "地市和省直辖县级单位的前 2 位应与所属省相同，请核对代码或上级代码。")]


def test_parent_of_a_lower_level(engine: Engine, tmp_path: Path) -> None:
    units = [("360000", "江西省", ""), ("360100", "南昌市", "360000"), ("360102", "东湖区", "360100"),
             ("3601020001", "南昌市第一中学", "360102"), ("3601020002", "附属小学", "3601020001")]
    path = write_unit_workbook(tmp_path / "单位.xlsx", units, None)
    assert _findings(engine, path) == [_error(
        "单位", 6, "C", "上级代码", "3601020001", "UNIT-PARENT-LEVEL",
        "学校 3601020001 不能作为学校 3601020002 的上级", "学校的上级只能是：中央、省级、地市级、县级。")]


def test_code_that_lost_its_leading_zero_as_a_number(engine: Engine, tmp_path: Path) -> None:
    units = [("360000", "江西省", ""), ("360100", "南昌市", "360000"), ("360102", "东湖区", "360100"),
             (360102001.0, "南昌市东湖区某学校", "360102")]
    path = write_unit_workbook(tmp_path / "单位.xlsx", units, None)
    assert _findings(engine, path) == [_error(
        "单位", 5, "A", "代码", "360102001", "UNIT-CODE-ZEROS-LOST",
        "代码 360102001 是数字格式，开头的 0 已被去掉（只剩 9 位）",
        "请把该列设为文本格式，重新输入完整的 10 位代码（可能是 0360102001）。")]


def test_nation_code_typed_as_the_number_zero(engine: Engine, tmp_path: Path) -> None:
    path = write_unit_workbook(tmp_path / "单位.xlsx", [(0, "教育部", "")], None)
    assert _findings(engine, path) == [_error(
        "单位", 2, "A", "代码", "0", "UNIT-CODE-ZEROS-LOST", "代码 0 是数字格式，开头的 0 已被去掉（只剩 1 位）",
        "请把该列设为文本格式，重新输入完整的 6 位代码（可能是 000000）。")]


def test_code_of_the_wrong_length(engine: Engine, tmp_path: Path) -> None:
    path = write_unit_workbook(tmp_path / "单位.xlsx", [("36010", "南昌市", "")], None)
    assert _findings(engine, path) == [_error(
        "单位", 2, "A", "代码", "36010", "UNIT-CODE-FORMAT",
        "代码 36010 有 5 位数字，既不是 6 位行政区划代码，也不是 10 位学校标识码",
        "行政区划代码为 6 位数字（GB/T 2260），学校标识码为 10 位数字，请核对。")]


def test_duplicate_code(engine: Engine, tmp_path: Path) -> None:
    path = write_unit_workbook(tmp_path / "单位.xlsx", [("360000", "江西省", ""), ("360000", "江西", "")], None)
    assert _findings(engine, path) == [_error(
        "单位", 3, "A", "代码", "360000", "UNIT-CODE-DUPLICATE", "代码 360000 与第 2 行重复", "同一单位只能写一行，请删除重复的行。")]


def test_unit_name_longer_than_the_store_holds(engine: Engine, tmp_path: Path) -> None:
    path = write_unit_workbook(tmp_path / "单位.xlsx", [("360000", "江西省" * 70, "")], None)
    assert _findings(engine, path) == [_error(
        "单位", 2, "B", "名称", "江西省" * 70, "UNIT-NAME-LENGTH", "名称有 210 个字，超过 200 个",
        "请填写单位的规范全称，不要附加说明。")]


def test_two_system_administrators_in_one_unit(engine: Engine, tmp_path: Path) -> None:
    officers = [("360000", "刘建华", "系统管理员", "liujh@jxedu.gov.cn", ""),
                ("360000", "陈静", "系统管理员", "chenj@jxedu.gov.cn", "")]
    path = write_unit_workbook(tmp_path / "单位.xlsx", [("360000", "江西省", "")], officers)
    assert _findings(engine, path) == [_error(
        "人员", 3, "C", "角色", "系统管理员", "OFFICER-SYSADMIN-DUPLICATE",
        "单位 360000 已有系统管理员 刘建华（第 2 行），每个单位最多一名系统管理员", "请把其他人的角色改为信息管理员或信息查询员。")]


def test_every_row_error_is_reported_in_one_pass(engine: Engine, tmp_path: Path) -> None:
    units = [("360000", "江西省", ""), ("360100", "", "")]
    officers = [("360000", "刘建华", "系统管理员", "liujh@jxedu", ""),
                ("360000", "陈静", "系统管理员", "chenj@jxedu.gov.cn", "")]
    path = write_unit_workbook(tmp_path / "单位.xlsx", units, officers)
    assert [(f.sheet, f.row, f.column, f.rule) for f in _findings(engine, path)] == [
        ("单位", 3, "B", "UNIT-NAME-REQUIRED"), ("单位", 3, "C", "UNIT-PARENT-REQUIRED"),
        ("人员", 2, "D", "OFFICER-EMAIL"), ("人员", 3, "C", "OFFICER-SYSADMIN-DUPLICATE")]


def test_unknown_role(engine: Engine, tmp_path: Path) -> None:
    officers = [("360000", "陈静", "管理员", "chenj@jxedu.gov.cn", "")]
    path = write_unit_workbook(tmp_path / "单位.xlsx", [("360000", "江西省", "")], officers)
    assert _findings(engine, path) == [_error(
        "人员", 2, "C", "角色", "管理员", "OFFICER-ROLE", "角色「管理员」无效",
        "角色只能是 系统管理员、信息管理员、信息查询员 之一。")]


def test_bad_email(engine: Engine, tmp_path: Path) -> None:
    officers = [("360000", "陈静", "信息管理员", "chenj@jxedu", "")]
    path = write_unit_workbook(tmp_path / "单位.xlsx", [("360000", "江西省", "")], officers)
    assert _findings(engine, path) == [_error(
        "人员", 2, "D", "邮箱", "chenj@jxedu", "OFFICER-EMAIL", "邮箱 chenj@jxedu 格式不对",
        "请填写完整的邮箱地址，如 zhangsan@example.edu.cn。")]


def test_bad_mobile(engine: Engine, tmp_path: Path) -> None:
    officers = [("360000", "陈静", "信息管理员", "chenj@jxedu.gov.cn", 1390791000.0)]
    path = write_unit_workbook(tmp_path / "单位.xlsx", [("360000", "江西省", "")], officers)
    assert _findings(engine, path) == [_error(
        "人员", 2, "E", "手机", "1390791000", "OFFICER-MOBILE", "手机 1390791000 不是 11 位手机号码",
        "请填写以 1 开头的 11 位手机号码，如 13800138000；没有可留空。")]


def test_officer_of_an_unknown_unit(engine: Engine, tmp_path: Path) -> None:
    officers = [("360100", "陈静", "信息管理员", "chenj@jxedu.gov.cn", "")]
    path = write_unit_workbook(tmp_path / "单位.xlsx", [("360000", "江西省", "")], officers)
    assert _findings(engine, path) == [_error(
        "人员", 2, "A", "单位代码", "360100", "OFFICER-UNIT-MISSING", "单位 360100 既不在本文件的「单位」表中，也不在库中",
        "请先在「单位」表加上该单位，或核对单位代码。")]


def test_bad_rows_store_nothing_and_are_printed_as_a_table(runner, store_instance: Path, tmp_path: Path) -> None:
    units = JIANGXI_UNITS + [("360321", "莲花县", "360300")]
    officers = JIANGXI_OFFICERS + [("360102", "赵强", "管理员", "zhaoq@dhq.edu.cn", "")]
    path = write_unit_workbook(tmp_path / "单位.xlsx", units, officers)
    result = _import(runner, store_instance, path)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "单位.xlsx：发现 2 个错误，未导入任何数据。请改正后重新导入："
    assert re.search(r"「单位」C12\s+│\s+UNIT-PARENT-MISSING\s+│\s+360300\s+│\s+"
                     r"上级单位 360300 既不在本文件中，也不在库中。" + HINT_PARENT_MISSING, result.output)
    assert re.search(r"「人员」C7\s+│\s+OFFICER-ROLE\s+│\s+管理员\s+│\s+"
                     r"角色「管理员」无效。角色只能是 系统管理员、信息管理员、信息查询员 之一。", result.output)
    engine = _store(store_instance)
    try:
        with session_scope(engine) as session:
            assert session.scalar(select(func.count()).select_from(Unit)) == 0
            assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0
    finally:
        engine.dispose()


def test_missing_header_column_is_an_input_error(runner, instance: Path, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active.title = "单位"
    wb.active.append(["代码", "名称"])
    wb.save(tmp_path / "单位.xlsx")
    result = _import(runner, instance, tmp_path / "单位.xlsx")
    assert (result.exit_code, result.output) == (2, "错误：单位.xlsx：工作表「单位」：找不到表头（缺少列 上级代码）。"
                                                    "请在前 20 行内写一行列名 代码、名称、上级代码（顺序不限，可有其他列）。\n")


def test_workbook_without_a_unit_sheet(runner, instance: Path, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active.title = "Sheet1"
    wb.save(tmp_path / "单位.xlsx")
    result = _import(runner, instance, tmp_path / "单位.xlsx")
    assert (result.exit_code, result.output) == (2, "错误：单位.xlsx：找不到工作表「单位」（现有：Sheet1）。单位填在「单位」表，"
                                                    "人员填在「人员」表；可用 tmis units template --out 单位.xlsx 生成空表。\n")


def test_missing_file(runner, instance: Path, tmp_path: Path) -> None:
    result = _import(runner, instance, tmp_path / "无此文件.xlsx")
    assert (result.exit_code, result.output) == (2, f"错误：{tmp_path / '无此文件.xlsx'}：文件不存在。请检查路径和文件名。\n")


def test_import_before_the_database_exists(runner, tmp_path: Path, unit_workbook: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[instance]\nstate_dir = "状态"\n', encoding="utf-8")
    result = _import(runner, config, unit_workbook)
    assert (result.exit_code, result.output) == (
        2, f"错误：数据库 sqlite:///{tmp_path / '状态' / 'tmis.db'} 不存在。请先运行 tmis db upgrade（或 tmis init 新建实例）。\n")


# ---------------------------------------------------------------------------------------------- show, list


def _add_teachers(config: Path) -> None:
    engine = _store(config)
    try:
        with session_scope(engine) as session:
            session.add_all([
                Teacher(id_number="360102198506150023", name="黄丽", unit_code="3601020001", status="active"),
                Teacher(id_number="36010219900101002X", name="吴芳", unit_code="3601020001", status="pending"),
                Teacher(id_number="360103198001010016", name="孙强", unit_code="3601030001", status="active"),
                Teacher(id_number="360222197505050031", name="周平", unit_code="3602220001", status="left"),
            ])
    finally:
        engine.dispose()


def test_show_a_city(runner, store_instance: Path, unit_workbook: Path) -> None:
    assert _import(runner, store_instance, unit_workbook).exit_code == 0
    _add_teachers(store_instance)
    result = runner.invoke(main, ["units", "show", "360100", "--config", str(store_instance)])
    assert (result.exit_code, result.output) == (0, """单位：360100 南昌市
级别：地市级
上级：江西省（360000）
人员：0 名（未登记）
下属单位：县级 2 个，学校 3 个
教师：3 人（含下属单位，不含已调离）
""")


def test_show_a_school_with_its_officers(runner, store_instance: Path, unit_workbook: Path) -> None:
    assert _import(runner, store_instance, unit_workbook).exit_code == 0
    _add_teachers(store_instance)
    result = runner.invoke(main, ["units", "show", "3601020001", "--config", str(store_instance)])
    assert (result.exit_code, result.output) == (0, """单位：3601020001 南昌市第一中学
级别：学校
上级：江西省（360000） > 南昌市（360100） > 东湖区（360102）
人员：2 名
  系统管理员  张伟  zhangwei@ncyz.edu.cn  13607910004
  信息查询员  李娜  lina@ncyz.edu.cn  （无手机）
教师：2 人（含下属单位，不含已调离）
""")


def test_show_the_province(runner, store_instance: Path, unit_workbook: Path) -> None:
    assert _import(runner, store_instance, unit_workbook).exit_code == 0
    result = runner.invoke(main, ["units", "show", "360000", "--config", str(store_instance)])
    assert result.output.splitlines()[2:7] == [
        "上级：无（根单位）", "人员：2 名", "  系统管理员  刘建华  liujh@jxedu.gov.cn  13907910001",
        "  信息管理员  陈静  chenj@jxedu.gov.cn  13907910002", "下属单位：地市级 2 个，县级 3 个，学校 4 个"]


def test_show_an_unknown_unit(runner, instance: Path) -> None:
    result = runner.invoke(main, ["units", "show", "369999", "--config", str(instance)])
    assert (result.exit_code, result.output) == (
        2, "错误：单位 369999 不在库中。请用 tmis units list 查看已导入的单位，或先用 tmis units import 导入。\n")


def test_list_by_level_under_a_unit(runner, instance: Path, unit_workbook: Path) -> None:
    assert _import(runner, instance, unit_workbook).exit_code == 0
    result = runner.invoke(main, ["units", "list", "--level", "县级", "--under", "360100", "--config", str(instance)])
    assert result.exit_code == 0
    rows = [re.split(r"\s*│\s*", line.strip("│ ")) for line in result.output.splitlines() if line.startswith("│")]
    assert rows == [["360102", "东湖区", "县级", "360100"], ["360103", "西湖区", "县级", "360100"]]
    assert result.output.endswith("共 2 个单位。\n")


def test_list_prints_the_tree_depth_first_with_children_indented(runner, instance: Path, tmp_path: Path) -> None:
    units = JIANGXI_UNITS + [("3600000001", "江西师范大学附属中学", "360000")]
    assert _import(runner, instance, write_unit_workbook(tmp_path / "单位.xlsx", units, None)).exit_code == 0
    result = runner.invoke(main, ["units", "list", "--config", str(instance)])
    assert result.exit_code == 0
    rows = [line.split("│")[1:3] for line in result.output.splitlines() if line.startswith("│")]
    assert [(code.strip(), name.rstrip()) for code, name in rows] == [
        ("360000", " 江西省"), ("3600000001", "   江西师范大学附属中学"), ("360100", "   南昌市"),
        ("360102", "     东湖区"), ("3601020001", "       南昌市第一中学"), ("3601020002", "       南昌市豫章小学"),
        ("360103", "     西湖区"), ("3601030001", "       南昌市西湖区朝阳小学"), ("360200", "   景德镇市"),
        ("360222", "     浮梁县"), ("3602220001", "       浮梁县第一中学")]


def test_list_with_an_unknown_level(runner, instance: Path) -> None:
    result = runner.invoke(main, ["units", "list", "--level", "乡镇", "--config", str(instance)])
    assert (result.exit_code, result.output) == (2, "错误：级别「乡镇」无效。请用以下之一：nation（中央）、province（省级）、"
                                                    "city（地市级）、county（县级）、school（学校）。\n")


# ---------------------------------------------------------------------------------------------- template


def test_template_has_both_sheets_a_role_dropdown_and_text_columns(runner, tmp_path: Path) -> None:
    out = tmp_path / "导入表.xlsx"
    result = runner.invoke(main, ["units", "template", "--out", str(out)])
    assert (result.exit_code, result.output) == (
        0, f"已生成导入表 {out}：在「单位」「人员」表中填写后，用 tmis units import 导入表.xlsx 导入。\n")
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["单位", "人员", "说明"]
    units, people = wb["单位"], wb["人员"]
    assert [c.value for c in units[1]] == ["代码", "名称", "上级代码"]
    assert [c.value for c in people[1]] == ["单位代码", "姓名", "角色", "邮箱", "手机"]
    assert units.max_row == 1 and people.max_row == 1
    assert [units.column_dimensions[c].number_format for c in "ABC"] == ["@", "General", "@"]
    assert [people.column_dimensions[c].number_format for c in "ABCDE"] == ["@", "General", "General", "General", "@"]
    (validation,) = people.data_validations.dataValidation
    assert (validation.type, validation.formula1, str(validation.sqref)) == (
        "list", '"系统管理员,信息管理员,信息查询员"', "C2:C5000")
    examples = [[c.value for c in row] for row in wb["说明"].iter_rows() if row[0].value == "3601020001"]
    assert examples == [["3601020001", "南昌市第一中学", "360102", None, None],
                        ["3601020001", "李四", "信息管理员", "lisi@example.edu.cn", None]]


def test_filled_template_imports(runner, instance: Path, tmp_path: Path) -> None:
    out = tmp_path / "导入表.xlsx"
    assert runner.invoke(main, ["units", "template", "--out", str(out)]).exit_code == 0
    wb = openpyxl.load_workbook(out)
    for row in JIANGXI_UNITS:
        wb["单位"].append(list(row))
    for row in JIANGXI_OFFICERS:
        wb["人员"].append(list(row))
    wb.save(out)
    result = _import(runner, instance, out)
    assert (result.exit_code, result.output) == (0, FIRST_IMPORT.replace("单位.xlsx", "导入表.xlsx"))
