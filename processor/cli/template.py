"""`tmis template`: write an official fill-in template for one unit."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import click
from sqlalchemy import inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from processor.cli.options import config_option
from processor.config import Config
from processor.errors import StoreError
from processor.rulepack import load_pack_from_config
from processor.store.models import Unit
from processor.workbook.template import TemplateError, kinds_text, template_file_name, write_template


def _missing_unit(code: str) -> TemplateError:
    return TemplateError(f"单位代码 {code} 不在单位库中", hint="请先用 tmis units import 导入单位。")


def lookup_unit_name(config: Config, code: str) -> str:
    """The name of unit `code` from the store; TemplateError when the store or the unit does not exist."""
    from processor.store.db import make_engine, mask_url

    url = config.database_url
    if url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        database = make_url(url).database
        # Never create an empty database file just to find out that the unit is not there.
        if not database or database == ":memory:" or not Path(database).is_file():
            raise _missing_unit(code)
    engine = make_engine(url)
    try:
        try:
            if not inspect(engine).has_table(Unit.__tablename__):
                raise _missing_unit(code)
            with Session(engine) as session:
                name = session.scalar(select(Unit.name).where(Unit.code == code))
        except SQLAlchemyError as exc:
            raise StoreError(f"无法读取单位库（{type(exc).__name__}）", file=mask_url(url),
                             hint="请检查 config.toml 中 [database] url 以及数据库是否已启动。") from exc
    finally:
        engine.dispose()
    if name is None:
        raise _missing_unit(code)
    return name


def _output_path(out: str, default_name: str) -> Path:
    """--out as given: an existing directory or one written with a trailing slash gets the default name."""
    path = Path(out)
    if path.is_dir() or out.endswith(("/", "\\")):
        return path / default_name
    if not path.suffix:
        return path.with_name(path.name + ".xlsx")
    return path


@click.command("template")
@click.argument("kind")
@click.option("--unit", "unit_code", default=None, metavar="代码",
              help="填报单位代码（10 位学校标识码或 6 位行政区划代码），须已用 tmis units import 导入。")
@click.option("--project", "project_id", type=int, default=None, metavar="编号",
              help="training-result：培训项目编号（tmis credits projects 可查），模板发给该项目的培训机构。")
@click.option("--out", "out", type=click.Path(), default=".", show_default=True,
              help="输出的 .xlsx 文件；给目录时文件名为 <模板名称>_<单位名称>_<代码>.xlsx。")
@click.option("--school-type", "school_type", default=None, metavar="类型",
              help="学校类型变体（如规则包中定义的幼儿园、特教等），只保留该类型的字段；默认包含全部字段。")
@config_option
def template_cmd(kind: str, unit_code: str | None, out: str, school_type: str | None, project_id: int | None,
                 config: Config) -> None:
    """生成官方填报模板（Excel 工作簿），发给学校填写。

    KIND 是模板种类：teachers（教师信息采集表，全部信息类别）、new-teachers（新任教师信息采集表，
    只含基本信息和联系方式）、roster（联合工作组名单，由市、县等单位填写）、training-plan（培训计划，由教育行政部门
    或学校填写培训项目）、training-result（一个培训项目的培训结果表，用 --project 指定项目，发给培训机构）、
    assessment（年度考核与师德考核登记表，由学校或主管部门填写）；业务申请表：status-change
    （变动申请）、transfer（调动申请，由调入学校填写）、rotation（交流轮岗申请，由派出学校填写）；省级定制包可以增加种类。模板完全按规则包的字段规格生成：首张“说明”表
    写明填写要求和每列的含义，每个信息类别一张表，带 * 的列必填，代码列有下拉列表，身份证件号等列已设为
    文本格式；隐藏的元数据让系统收到文件时认出模板种类、版本和单位。

    \b
    示例：
      tmis template teachers --unit 3601020001 --out 模板/
      tmis template new-teachers --unit 3601020001 --out 新任教师信息采集表.xlsx
      tmis template training-plan --unit 360100 --out 培训计划.xlsx
      tmis template training-result --project 3 --out 培训结果.xlsx
      tmis template transfer --unit 3601030001 --out 调动申请表.xlsx
    """
    from processor.sidepacks import kinds_text as side_kinds
    from processor.sidepacks import pack_for_kind
    from processor.workflows import registry

    if kind == "training-result":
        from processor.credits.plan import write_result_template

        if project_id is None:
            raise TemplateError("培训结果表要指定培训项目", hint="请加上 --project 项目编号（tmis credits projects --unit 代码 可查）。")
        path, title, unit_name = write_result_template(config, project_id, out)
        click.echo(f"已生成培训结果表：{path}")
        click.echo(f"项目：{title}；立项单位：{unit_name}")
        return
    if registry.is_kind(kind) and registry.get(kind).fields:  # kinds opened by tmis itself have no form
        if not unit_code:
            raise TemplateError("缺少 --unit", hint="请用 --unit 指定填报单位代码，例如 --unit 3601030001。")
        _request_form(kind, unit_code, out, config)
        return
    pack = pack_for_kind(kind) or load_pack_from_config(config)
    if kind not in pack.kinds:
        forms = "、".join(k.kind for k in registry.all_kinds() if k.fields)
        raise TemplateError(f"未知的模板种类“{kind}”",
                            hint=f"可用的种类：{kinds_text(pack)}、{side_kinds()}；业务申请表：{forms}。")
    if not unit_code:
        raise TemplateError("缺少 --unit", hint="请用 --unit 指定填报单位代码，例如 --unit 3601020001。")
    code = unicodedata.normalize("NFKC", unit_code).strip()
    unit_name = lookup_unit_name(config, code)
    path = _output_path(out, template_file_name(pack, kind, code, unit_name))
    written = write_template(path, pack, kind, code, unit_name, school_type=school_type)
    sheets = pack.sheets_for_kind(kind)
    click.echo(f"已生成{pack.kinds[kind].get('title', kind)}：{written}")
    click.echo(f"单位：{unit_name}（{code}）；填报表 {len(sheets)} 张；模板版本 {pack.template_version}")


def _request_form(kind_name: str, unit_code: str, out: str, config: Config) -> None:
    """A request form (申请表) of a workflow kind, signed for the unit (needs TMIS_SIGNING_KEY)."""
    from processor.store.models import LEVEL_NAMES
    from processor.units import level_of
    from processor.workflows import forms, registry

    kind = registry.get(kind_name)
    code = unicodedata.normalize("NFKC", unit_code).strip()
    unit_name = lookup_unit_name(config, code)
    level = level_of(code)
    if level not in kind.filer_levels:
        raise TemplateError(f"{unit_name}（{code}）是{LEVEL_NAMES.get(level or '', '其他')}单位，不能提出{kind.title}",
                            hint=f"{kind.title}表由{'、'.join(LEVEL_NAMES.get(x, x) for x in kind.filer_levels)}生成和填写"
                                 "（调动申请由调入学校提出，交流轮岗申请由派出学校提出）。")
    path = _output_path(out, forms.form_file_name(kind, code, unit_name))
    written = forms.write_form(path, kind, code, unit_name, pack=load_pack_from_config(config),
                               instance=config.get("instance", "name"))
    click.echo(f"已生成{kind.title}表：{written}")
    click.echo(f"单位：{unit_name}（{code}）；每行一项申请，填好后放入收件目录或发邮件报送")


def register(group: click.Group) -> None:
    """Add this module's commands to the tmis group."""
    group.add_command(template_cmd)
