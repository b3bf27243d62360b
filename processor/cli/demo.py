"""`tmis demo`: a demo province, sample workbooks with realistic mistakes, the pipeline run once."""

from __future__ import annotations

from pathlib import Path

import click


def register(group: click.Group) -> None:
    """Add this module's commands to the tmis group."""
    group.add_command(demo)


@click.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path, file_okay=False), default=Path("demo"),
              show_default=True, help="演示实例目录（不存在则新建）。")
@click.option("--schools", type=click.IntRange(1, 500), default=50, show_default=True, help="投放文件的学校数。")
@click.option("--seed", type=int, default=2026, show_default=True, help="随机种子：相同种子生成相同的样例数据。")
@click.option("--force", is_flag=True, help="演示目录已存在时清空后重建（只清空 tmis demo 建立的目录）。")
def demo(directory: Path, schools: int, seed: int, force: bool) -> None:
    """演示：建一个江西演示省实例，生成各校填报的工作簿（含真实常见错误），处理一遍并说明结果去向。

    演示省使用真实的 GB/T 2260 行政区划代码（江西省 360000 及下属设区市、县区），约 50 所学校，
    每个单位配有管理员（姓名与示例邮箱）。多数学校的文件无误，不少学校带有 Excel 与人工常见的错误
    （身份证号被存成数字、校验位错误、年月写成 2016.1、进本校早于参加工作等）；另有一份 .xls
    （需要 LibreOffice，没有则跳过）、一份 GB18030 编码的 CSV、一份重复提交、一份不是表格的文件和一份
    新任教师表。然后像 tmis run --once 一样处理收件目录，并打印各类输出的位置。

    \b
    示例：
      tmis demo
      tmis demo --dir /tmp/演示 --schools 10 --seed 7
      tmis demo --force
    """
    from processor.demo import run_demo, summary_lines

    result = run_demo(directory, schools=schools, seed=seed, force=force)
    click.echo("")
    for line in summary_lines(result):
        click.echo(line)
