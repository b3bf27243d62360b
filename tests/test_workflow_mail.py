"""Confirmation sheets by mail: the sheet goes to the waiting unit's deciding officers through the outgoing
queue and a real SMTP server on loopback; the officer's reply with the filled sheet is applied."""

from __future__ import annotations

from pathlib import Path

import pytest
from mail_helpers import Sink, free_port, mail_environ, thunderbird_message, wait_for
from pipeline_helpers import SCHOOL_A, Env
from review_helpers import send
from sqlalchemy import select
from sqlalchemy.orm import Session
from workflow_helpers import KEY, effective_teachers, fill_form, fill_sheet, template, workflow_env

from processor.mail.intake import MailIntake
from processor.mail.sender import send_due
from processor.store.models import MailOut, Teacher, WorkflowRequest

MANAGER = "wanglei@dhq.edu.cn"


@pytest.fixture
def env(instance: Path, tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("TMIS_SIGNING_KEY", KEY)
    e = workflow_env(instance, tmp_path)
    e.reload(**mail_environ(e, listen_port=free_port(), smtp_port=sink.port))
    e.persons = effective_teachers(e, tmp_path / "a", n=2, seed=81)  # type: ignore[attr-defined]
    yield e
    e.engine.dispose()


def test_a_confirmation_sheet_is_mailed_and_the_reply_is_applied(env: Env, tmp_path: Path, sink: Sink) -> None:
    person = env.persons[0]
    form = template(env, "status-change", SCHOOL_A[0], tmp_path / "forms" / "变动申请表.xlsx")
    filled = fill_form(form, tmp_path / "filled" / "退休申请.xlsx", [
        {"身份证件号": person.id_number, "姓名": person.name, "变动类型": "退休", "变动日期": "2026-12-31",
         "变动原因": "到龄退休"}], filer="张伟")
    assert send(env, filled).status == "accepted"
    with Session(env.engine) as s:
        (queued,) = s.scalars(select(MailOut).where(MailOut.kind == "confirm-sheet")).all()
        assert (queued.to_addr, queued.subject) == (MANAGER, "变动申请确认单：东湖区，1 项待确认")
    send_due(env.config, env.engine)
    wait_for(lambda: any(n.startswith("变动申请确认单") for m in sink.to(MANAGER) for n, _d in m.attachments()),
             what="the confirmation sheet at the county's 信息管理员")
    [(name, data)] = [a for m in sink.to(MANAGER) for a in m.attachments() if a[0].startswith("变动申请确认单")]
    received = tmp_path / "收到的确认单.xlsx"
    received.write_bytes(data)
    back = fill_sheet(received, tmp_path / "填好的确认单.xlsx", confirmer="王磊", every=("同意", ""))
    raw = thunderbird_message(MANAGER, name, back.read_bytes(), subject="Re: 变动申请确认单",
                              msgid="<confirm-1@dhq.edu.cn>")
    intake = MailIntake(env.config, env.engine, env.pack)
    intake.spool.put(raw, source="smtp", envelope_from=MANAGER)
    intake.process_waiting()
    with Session(env.engine) as s:
        assert s.scalar(select(WorkflowRequest.state)) == "applied"
        assert s.scalar(select(Teacher.status).where(Teacher.id_number == person.id_number)) == "retired"
