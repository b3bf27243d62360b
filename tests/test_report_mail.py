"""Scheduled reports by mail: the monthly report goes to the deciding officers of its unit, each monthly form
to those of the form's unit, once per period, through the outgoing queue and a real SMTP server on loopback."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from conftest import JIANGXI_UNITS, write_unit_workbook
from mail_helpers import (
    Sink,
    free_port,
    mail_environ,
    wait_for,
)
from pipeline_helpers import Env, make_env
from review_helpers import OFFICERS
from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.mail.sender import send_due
from processor.reports.schedule import run_due
from processor.store.models import MailOut

KEY = "k" * 64
DUE = datetime(2026, 11, 25, 9, 0).astimezone()


@pytest.fixture
def env(instance: Path, tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("TMIS_SIGNING_KEY", KEY)
    e = make_env(instance, write_unit_workbook(tmp_path / "单位.xlsx", JIANGXI_UNITS, OFFICERS))
    e.reload(TMIS_REPORTS_SCHEDULE="true", **mail_environ(e, listen_port=free_port(), smtp_port=sink.port))
    yield e
    e.engine.dispose()


def _queued(env: Env) -> list[tuple[str, str, list[str]]]:
    with Session(env.engine) as session:
        rows = session.scalars(select(MailOut).order_by(MailOut.kind, MailOut.to_addr)).all()
        return [(m.kind, m.to_addr, [a["name"] for a in m.attachments]) for m in rows]


def test_scheduled_monthly_report_is_queued_to_the_province_and_each_form_to_its_city(env: Env) -> None:
    run = run_due(env.config, env.engine, env.pack, now=DUE)
    assert run is not None
    report = [f"月报表_江西省_2026-11_第{run}号.xlsx", f"月报表_江西省_2026-11_第{run}号.pdf"]
    form = "月报填报表_南昌市_2026-11.xlsx"
    # 南昌市 has a 信息管理员; 景德镇市 has no officer, so its form waits in its outbox folder only.
    assert _queued(env) == [("monthly-form", "zhaomin@ncjy.gov.cn", [form]),
                            ("report-monthly", "chenj@jxedu.gov.cn", report),
                            ("report-monthly", "liujh@jxedu.gov.cn", report)]


def test_the_mailed_form_arrives_with_its_attachment(env: Env, sink: Sink) -> None:
    run_due(env.config, env.engine, env.pack, now=DUE)
    assert send_due(env.config, env.engine)["sent"] == 3
    wait_for(lambda: len(sink.to("zhaomin@ncjy.gov.cn")) == 1, what="the form at 南昌市")
    [(name, data)] = sink.to("zhaomin@ncjy.gov.cn")[0].attachments()
    assert name == "月报填报表_南昌市_2026-11.xlsx"
    assert data == (env.config.outbox / "360100" / name).read_bytes()
    assert "本月培训人数" in sink.to("zhaomin@ncjy.gov.cn")[0].text()


def test_a_report_made_by_hand_is_not_mailed(env: Env) -> None:
    from processor.reports.runs import make_report

    make_report("monthly", env.config, env.engine, env.pack, "360000", "2026-11", actor="cli:test")
    assert _queued(env) == []
