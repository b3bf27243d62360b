"""`tmis request issue|list|show`: the workflow requests (变动、调动、交流轮岗 …) and their confirmation sheets."""

from __future__ import annotations

import json
from typing import Any

import click

from processor.cli.options import config_option
from processor.config import Config


def _store(config: Config):  # noqa: ANN202 - an Engine
    from processor.store.db import open_store

    return open_store(config)


def _request_json(session: Any, req: Any) -> dict[str, Any]:
    from processor.store.models import Teacher
    from processor.workflows.state import requests_of

    if req.teacher_id is not None:
        hit = next((r for r in requests_of(session, req.teacher_id) if r["id"] == req.id), None)
        if hit is not None:
            teacher = session.get(Teacher, req.teacher_id)
            return {**hit, "teacher": {"id_number": teacher.id_number, "name": teacher.name}}
    return {"id": req.id, "kind": req.kind, "state": req.state, "unit": req.unit_code, "data": req.data,
            "step": req.step if req.state == "open" else None, "waiting_at": req.waiting_unit, "chain": req.steps,
            "result": req.result, "teacher": None}


def register(group: click.Group) -> None:
    """Add the `request` group to the tmis group."""

    @group.group("request")
    def request() -> None:
        """业务申请（变动、调动、交流轮岗等）：签发确认单、查看申请进度。"""

    @request.command("issue")
    @click.option("--unit", "unit", default=None, help="只为这个单位签发（单位代码）。")
    @click.option("--again", is_flag=True, help="已列在未过期确认单上的申请也重新签发（原件丢失时）。")
    @config_option
    def issue(unit: str | None, again: bool, config: Config) -> None:
        """为有申请等待确认的单位签发确认单，写入 outbox/<单位代码>/，并打印文件路径。

        \b
        申请每前进一步，系统都会自动向下一个单位签发确认单；本命令用于确认单过期或丢失后重新签发。
        需要环境变量 TMIS_SIGNING_KEY。
        例：
          tmis request issue --unit 360102 --config 实例/config.toml
        """
        from sqlalchemy.orm import Session

        from processor.review.history import subtree
        from processor.workflows.confirm import issue_waiting

        engine = _store(config)
        try:
            with Session(engine) as session, session.begin():
                if unit:
                    subtree(session, unit)  # an unknown unit is one clean line
                issued = issue_waiting(session, config, unit=unit, again=again)
        finally:
            engine.dispose()
        for s in issued:
            click.echo(str(s.path))
        if not issued:
            click.echo("没有需要签发的确认单：没有等待确认的申请，或它们都已列在未过期的确认单上。", err=True)

    @request.command("list")
    @click.option("--unit", "unit", default=None, help="只看这个单位提出的、或正等这个单位确认的申请。")
    @click.option("--state", "state", type=click.Choice(["open", "applied", "rejected"]), default=None)
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
    @config_option
    def list_cmd(unit: str | None, state: str | None, fmt: str, config: Config) -> None:
        """申请一览：编号、种类、状态、申请单位、正等哪个单位确认。

        \b
        例：
          tmis request list --unit 360102 --state open --format json --config 实例/config.toml
        """
        from sqlalchemy import or_, select
        from sqlalchemy.orm import Session

        from processor.store.models import WorkflowRequest
        from processor.workflows.state import STATE_NAMES

        engine = _store(config)
        try:
            with Session(engine) as session:
                stmt = select(WorkflowRequest).order_by(WorkflowRequest.created_at, WorkflowRequest.id)
                if unit:
                    stmt = stmt.where(or_(WorkflowRequest.unit_code == unit, WorkflowRequest.waiting_unit == unit))
                if state:
                    stmt = stmt.where(WorkflowRequest.state == state)
                rows = [_request_json(session, r) for r in session.scalars(stmt)]
        finally:
            engine.dispose()
        if fmt == "json":
            click.echo(json.dumps({"requests": rows}, ensure_ascii=False, default=str))
            return
        if not rows:
            click.echo("没有申请。")
        for r in rows:
            who = f"{r['teacher']['name']}（{r['teacher']['id_number']}）" if r.get("teacher") else ""
            waiting = f"，待 {r['waiting_at']} 确认" if r["waiting_at"] else ""
            click.echo(f"{r['id']} {r.get('title', r['kind'])} {who} [{STATE_NAMES.get(r['state'], r['state'])}{waiting}]")

    @request.command("show")
    @click.argument("request_id")
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
    @config_option
    def show(request_id: str, fmt: str, config: Config) -> None:
        """一项申请的内容、确认链和每一步（谁、何时、哪张确认单、意见）。

        \b
        例：
          tmis request show DD-20261201-3f9a2c --config 实例/config.toml
        """
        from sqlalchemy.orm import Session

        from processor.errors import InputError
        from processor.store.models import WorkflowRequest
        from processor.workflows.state import ACTION_NAMES, STATE_NAMES

        engine = _store(config)
        try:
            with Session(engine) as session:
                req = session.get(WorkflowRequest, request_id.strip())
                if req is None:
                    raise InputError(f"没有编号为 {request_id} 的申请", hint="可用 tmis request list 查看申请编号。")
                data = _request_json(session, req)
        finally:
            engine.dispose()
        if fmt == "json":
            click.echo(json.dumps(data, ensure_ascii=False, default=str))
            return
        who = f"{data['teacher']['name']}（{data['teacher']['id_number']}）" if data.get("teacher") else ""
        click.echo(f"{data['id']} {data.get('title', data['kind'])} {who}：{STATE_NAMES.get(data['state'], data['state'])}")
        for i, s in enumerate(data["chain"], start=1):
            click.echo(f"  第 {i} 步：{s.get('name', '')}（{s['unit']}）{s['role']}")
        for h in data.get("history", []):
            click.echo(f"  {h['at']} {h['unit']} {ACTION_NAMES.get(h['action'], h['action'])}"
                       + (f" {h['by']}" if h["by"] else "") + (f"：{h['note']}" if h["note"] else ""))
