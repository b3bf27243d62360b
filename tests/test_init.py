"""`tmis init`: a fresh instance folder with its config, folders and an upgraded database."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.cli import main
from processor.paths import DEFAULT_CONFIG
from processor.store.db import current_revision, head_revision


def test_init_makes_the_instance_folder(runner, tmp_path: Path) -> None:
    root = tmp_path / "江西实例"
    result = runner.invoke(main, ["init", str(root)])
    assert result.exit_code == 0
    assert result.output == (
        f"已创建实例目录 {root}：\n"
        f"  配置文件：{root / 'config.toml'}\n"
        f"  收件目录：{root / 'inbox'}/\n"
        f"  输出目录：{root / 'outbox'}/\n"
        f"  状态目录：{root / 'var'}/（archive/ 归档、quarantine/ 隔离区、processing/ 处理中）\n"
        f"  数据库：sqlite:///{root / 'var' / 'tmis.db'}（已升级到版本 {head_revision()}）\n"
        f"下一步：cd {root}，用 tmis units import 单位.xlsx 导入单位与人员。\n"
    )
    assert (root / "config.toml").read_bytes() == DEFAULT_CONFIG.read_bytes()
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()) == [
        "inbox", "outbox", "var", "var/archive", "var/processing", "var/quarantine"]
    assert current_revision(f"sqlite:///{root / 'var' / 'tmis.db'}") == head_revision()


def test_init_with_a_relative_path_from_another_folder(runner, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["init", "实例"])
    assert result.exit_code == 0
    assert current_revision(f"sqlite:///{tmp_path / '实例' / 'var' / 'tmis.db'}") == head_revision()


def test_init_refuses_to_overwrite_a_config(runner, instance: Path) -> None:
    instance.write_text('[instance]\nname = "已改过的配置"\n', encoding="utf-8")
    result = runner.invoke(main, ["init", str(instance.parent)])
    assert result.exit_code == 2
    assert result.output == (f"错误：{instance}：该目录已有配置文件，未作任何改动。"
                             "如确要用默认配置覆盖它，请加 --force；已有的数据不会被删除。\n")
    assert instance.read_text(encoding="utf-8") == '[instance]\nname = "已改过的配置"\n'


def test_init_force_replaces_the_config_and_keeps_the_data(runner, instance: Path) -> None:
    instance.write_text('[instance]\nname = "已改过的配置"\n', encoding="utf-8")
    kept = instance.parent / "var" / "archive" / "收到的文件.xlsx"
    kept.write_bytes(b"data")
    result = runner.invoke(main, ["init", "--force", str(instance.parent)])
    assert result.exit_code == 0
    assert instance.read_bytes() == DEFAULT_CONFIG.read_bytes()
    assert kept.read_bytes() == b"data"


def test_init_refuses_a_file_in_the_way(runner, tmp_path: Path) -> None:
    blocker = tmp_path / "实例"
    blocker.write_text("x", encoding="utf-8")
    result = runner.invoke(main, ["init", str(blocker)])
    assert result.exit_code == 2
    assert result.output == f"错误：{blocker}：同名文件已存在，不能作为实例目录。请换一个目录名。\n"


def test_commands_of_a_fresh_instance_find_its_database(runner, instance: Path) -> None:
    result = runner.invoke(main, ["db", "current", "--config", str(instance)])
    assert result.output == f"数据库 sqlite:///{instance.parent / 'var' / 'tmis.db'} 的版本为 {head_revision()}（最新）。\n"
