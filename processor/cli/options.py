"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from processor.config import Config, load_config

GROUP_CONFIG_KEY = "tmis.group_config"


def group_config_path(ctx: click.Context) -> Path | None:
    """The --config given to the tmis group before the subcommand (None when it was not given)."""
    value = ctx.find_root().meta.get(GROUP_CONFIG_KEY)
    return Path(value) if value is not None else None


def remember_group_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Callback of the group's --config: keep the path for every subcommand's config_option."""
    if value is not None:
        ctx.find_root().meta[GROUP_CONFIG_KEY] = value
    return value


def config_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--config PATH (or TMIS_CONFIG); the loaded Config is passed as `config`."""

    def callback(ctx: click.Context, param: click.Parameter, value: Path | None) -> Config:
        if value is None:  # `tmis --config X <command>`: the group's option, unless the command has its own
            value = group_config_path(ctx)
        return load_config(value, required=value is not None)

    return click.option(
        "--config", "config", type=click.Path(path_type=Path, dir_okay=False), default=None,
        callback=callback, expose_value=True, is_eager=False,
        help="配置文件路径（默认 ./config.toml，或环境变量 TMIS_CONFIG）。",
    )(f)
