"""Return sheets by mail: an issued sheet goes to the reviewing unit's deciding officers through the outgoing
queue and a real SMTP server on loopback; the officer's reply with the filled sheet is applied."""

from __future__ import annotations

from pathlib import Path

import pytest
from mail_helpers import (
    Sink,
    free_port,
    mail_environ,
    thunderbird_message,
    wait_for,
)
from pipeline_helpers import Env
from review_helpers import KEY, fill, issue, review_env, school_file, send
from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.mail.intake import MailIntake
from processor.mail.sender import send_due
from processor.store.models import MailOut, RecordVersion, ReturnSheet

COUNTY = "360102"
MANAGER, SYSADMIN, VIEWER = "wanglei@dhq.edu.cn", "zhouq@dhq.edu.cn", "sunli@dhq.edu.cn"


@pytest.fixture
def env(instance: Path, tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("TMIS_SIGNING_KEY", KEY)
    e = review_env(instance, tmp_path, levels="county")
    e.reload(TMIS_REVIEW_LEVELS="county", **mail_environ(e, listen_port=free_port(), smtp_port=sink.port))
    yield e
    e.engine.dispose()


def _county_sheet(env: Env, tmp_path: Path) -> object:
    path, _persons = school_file(env, tmp_path, n=3)
    assert send(env, path).status == "accepted"
    return next(s for s in issue(env) if s.unit_code == COUNTY)


def test_issued_sheet_is_queued_to_the_units_manager_and_sysadmin_only(env: Env, tmp_path: Path) -> None:
    sheet = _county_sheet(env, tmp_path)
    with Session(env.engine) as session:
        queued = session.scalars(select(MailOut).where(MailOut.kind == "return-sheet").order_by(MailOut.to_addr)).all()
        assert [(m.to_addr, m.entitled, m.state) for m in queued] == [(MANAGER, True, "waiting"),
                                                                     (SYSADMIN, True, "waiting")]
        assert queued[0].subject == f"审核回执单：东湖区，{sheet.versions} 条待审记录"
        assert "须为本单位的信息管理员或系统管理员" in queued[0].body_text


def test_mailed_sheet_arrives_unchanged_and_the_officers_reply_is_applied(env: Env, tmp_path: Path,
                                                                         sink: Sink) -> None:
    sheet = _county_sheet(env, tmp_path)
    assert send_due(env.config, env.engine)["sent"] == 2
    wait_for(lambda: len(sink.to(MANAGER)) == 1, what="the sheet at the county's 信息管理员")
    assert sink.to(VIEWER) == []
    [(name, data)] = sink.to(MANAGER)[0].attachments()
    assert (name, data) == (sheet.path.name, sheet.path.read_bytes())  # unmasked: the data hashes still hold

    received = tmp_path / "收到的回执单.xlsx"
    received.write_bytes(data)
    filled = fill(received, tmp_path / "填好的回执单.xlsx", every=("通过", "", ""))
    raw = thunderbird_message(MANAGER, name, filled.read_bytes(), subject="Re: 审核回执单",
                              msgid="<reply-1@dhq.edu.cn>")
    intake = MailIntake(env.config, env.engine, env.pack)
    intake.spool.put(raw, source="smtp", envelope_from=MANAGER)
    intake.process_waiting()
    with Session(env.engine) as session:
        assert session.get(ReturnSheet, sheet.sheet_id).status == "applied"
    assert env.count(RecordVersion, RecordVersion.review_state == "pending") == 0
    assert env.count(RecordVersion, RecordVersion.review_state == "effective") == sheet.versions


def test_a_sheet_issued_twice_is_not_mailed_twice(env: Env, tmp_path: Path) -> None:
    _county_sheet(env, tmp_path)
    assert [s.unit_code for s in issue(env)] == []  # nothing new to list: no second sheet, no second mail
    assert env.count(MailOut, MailOut.kind == "return-sheet") == 2
