"""`tmis init` (a fresh instance folder) and `tmis db upgrade|current` (the database schema)."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from processor.config import Config, load_config
from processor.errors import InputError
from processor.paths import DEFAULT_CONFIG
from processor.store.db import current_revision, head_revision, mask_url, upgrade

from .options import config_option

# Sub-folders of the state folder: received files kept for good, files set aside with a reason,
# files claimed by a worker and being processed.
STATE_SUBDIRS = ("archive", "quarantine", "processing")


def init_instance(directory: Path, *, force: bool = False) -> tuple[Config, list[tuple[str, Path]]]:
    """Create an instance folder and its database; returns the loaded config and what was made.

    Refuses (InputError, exit code 2) to overwrite an existing config.toml unless ``force``. Existing folders and data are
    kept as they are.
    """
    directory = directory.expanduser().resolve()
    config_path = directory / "config.toml"
    if config_path.exists() and not force:
        raise InputError("该目录已有配置文件，未作任何改动", file=config_path,
                         hint="如确要用默认配置覆盖它，请加 --force；已有的数据不会被删除。")
    if directory.exists() and not directory.is_dir():
        raise InputError("同名文件已存在，不能作为实例目录", file=directory, hint="请换一个目录名。")
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEFAULT_CONFIG, config_path)
    config = load_config(config_path, required=True)
    made: list[tuple[str, Path]] = [("配置文件", config_path)]
    for label, folder in (("收件目录", config.inbox), ("输出目录", config.outbox), ("状态目录", config.state_dir)):
        folder.mkdir(parents=True, exist_ok=True)
        made.append((label, folder))
    for sub in STATE_SUBDIRS:
        (config.state_dir / sub).mkdir(exist_ok=True)
    upgrade(config.database_url)
    return config, made


def register(group: click.Group) -> None:
    """Add this module's commands to the tmis group."""
    group.add_command(init)
    group.add_command(db)


@click.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="覆盖目录中已有的 config.toml（数据、收件与归档保持不动）。")
def init(directory: Path, force: bool) -> None:
    """新建一个实例目录：config.toml、inbox/、outbox/、状态目录 var/ 及数据库。

    配置文件复制自 tmis 自带的 config.toml（每个键都有说明）；数据库默认是状态目录下的
    SQLite 文件 tmis.db，并立即升级到最新版本。已有 config.toml 时不覆盖，除非加 --force。

    \b
    示例：
      tmis init ./江西实例
      cd ./江西实例 && tmis units import 单位.xlsx
    """
    config, made = init_instance(directory, force=force)
    root = made[0][1].parent
    click.echo(f"已创建实例目录 {root}：")
    for label, path in made:
        suffix = "/" if path.is_dir() else ""
        note = "（archive/ 归档、quarantine/ 隔离区、processing/ 处理中）" if label == "状态目录" else ""
        click.echo(f"  {label}：{path}{suffix}{note}")
    click.echo(f"  数据库：{mask_url(config.database_url)}（已升级到版本 {head_revision()}）")
    click.echo(f"下一步：cd {root}，用 tmis units import 单位.xlsx 导入单位与人员。")


@click.group()
def db() -> None:
    """数据库：升级到本程序要求的版本，或查看当前版本。"""


@db.command("upgrade")
@config_option
def db_upgrade(config: Config) -> None:
    """把数据库升级到最新版本（新库则建表）。可重复运行。

    \b
    示例：
      tmis db upgrade --config ./江西实例/config.toml
      TMIS_DATABASE_URL=postgresql+psycopg://tmis@127.0.0.1/tmis tmis db upgrade
    """
    url = config.database_url
    before = current_revision(url)
    after = upgrade(url)
    if before == after:
        click.echo(f"数据库 {mask_url(url)} 已是最新版本 {after}，无需升级。")
    else:
        click.echo(f"数据库 {mask_url(url)} 已从 {before or '空库'} 升级到版本 {after}。")


@db.command("current")
@config_option
def db_current(config: Config) -> None:
    """显示数据库当前的版本，以及本程序要求的版本。

    \b
    示例：
      tmis db current --config ./江西实例/config.toml
    """
    url = config.database_url
    current = current_revision(url)
    head = head_revision()
    if current is None:
        click.echo(f"数据库 {mask_url(url)} 尚未初始化（本程序要求版本 {head}）。请运行 tmis db upgrade。")
    elif current == head:
        click.echo(f"数据库 {mask_url(url)} 的版本为 {current}（最新）。")
    else:
        click.echo(f"数据库 {mask_url(url)} 的版本为 {current}，本程序要求 {head}。请运行 tmis db upgrade。")
