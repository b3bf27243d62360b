"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from processor.config import Config, load_config


def config_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--config PATH (or TMIS_CONFIG); the loaded Config is passed as `config`."""

    def callback(ctx: click.Context, param: click.Parameter, value: Path | None) -> Config:
        return load_config(value, required=value is not None)

    return click.option(
        "--config", "config", type=click.Path(path_type=Path, dir_okay=False), default=None,
        callback=callback, expose_value=True, is_eager=False,
        help="配置文件路径（默认 ./config.toml，或环境变量 TMIS_CONFIG）。",
    )(f)
