"""The `tmis` command: one click group; each area's commands live in a module of their own."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from processor.cli import zh
from processor.cli.options import remember_group_config
from processor.errors import TmisError

zh.install()


class TmisGroup(click.Group):
    """Turns domain errors into one clean Chinese line and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TmisError as exc:
            click.echo(f"错误：{exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("已中断。", err=True)
            sys.exit(130)


@click.group(cls=TmisGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tmis")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              callback=remember_group_config, expose_value=False, is_eager=True,
              help="配置文件路径，对其后的子命令生效（子命令自己的 --config 优先；也可用环境变量 TMIS_CONFIG）。")
def main() -> None:
    """tmis：教师管理信息系统批处理服务。

    收取学校填报的官方模板（收件目录或邮件），校验并入库，把标出错误的工作簿退回学校，
    组织逐级审核，生成报表。每个命令都接受 --config 配置文件路径（或环境变量 TMIS_CONFIG）。

    \b
    快速开始：
      tmis init ./实例            新建一个实例目录
      tmis units import 单位.xlsx  导入单位与人员
      tmis template teachers --unit 3601020001 --out 模板.xlsx
      tmis check 已填模板.xlsx     只校验不入库
      tmis run --once             处理收件目录中等待的全部文件
    """
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _register() -> None:
    from processor.cli import (
        check,
        credits,
        demo,
        exchange,
        instance,
        mail,
        registration,
        report,
        review,
        rules_cmd,
        run,
        status,
        template,
        units,
        workflows,
    )

    for module in (instance, units, rules_cmd, template, check, run, review, demo, mail, report, exchange, workflows,
                   status, credits, registration):
        module.register(main)


_register()
