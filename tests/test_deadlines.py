"""Update deadlines (SQLite and PostgreSQL): the calendar from [deadlines] in config.toml, reminders mailed once
per unit, deadline and reminder day through the outgoing queue and a real SMTP server on loopback, and the
schools behind shown in the county digest and the monthly report (workbook read back, PDF text)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import JIANGXI_UNITS, write_unit_workbook
from external import poppler
from mail_helpers import Sink, free_port, mail_environ, wait_for
from openpyxl import load_workbook
from pipeline_helpers import SCHOOL_B, Env, make_env, people, workbook
from review_helpers import OFFICERS
from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.cli import main
from processor.config import load_config
from processor.deadlines.remind import run_if_due
from processor.errors import ConfigError
from processor.mail.digest import queue_county_digests
from processor.mail.sender import send_due
from processor.pipeline import process_file
from processor.store.models import MailOut

TODAY = date.today()
DUE = TODAY + timedelta(days=20)  # 寒假前补报, still to come
PASSED = TODAY - timedelta(days=10)  # 春季补报, passed ten days ago


def _at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour, 0)).astimezone()


@pytest.fixture
def env(store_instance: Path, tmp_path: Path, sink: Sink) -> Env:
    text = store_instance.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^yearly = .*$", "yearly = []", text)
    text = re.sub(r"(?m)^dates = \[\]$", f'dates = ["{PASSED} 春季补报", "{DUE} 寒假前补报"]', text)
    store_instance.write_text(text, encoding="utf-8")
    e = make_env(store_instance, write_unit_workbook(tmp_path / "单位.xlsx", JIANGXI_UNITS, OFFICERS))
    e.reload(**mail_environ(e, listen_port=free_port(), smtp_port=sink.port))
    # 豫章小学 sends its file (its two teachers wait for the county's review); the other schools send nothing.
    workbook(e, tmp_path / "drop" / "b.xlsx", people(2, seed=41, school=SCHOOL_B), school=SCHOOL_B)
    assert process_file(tmp_path / "drop" / "b.xlsx", e.config, e.pack, e.engine).status == "accepted"
    yield e
    e.engine.dispose()


def _queued(env: Env, *kinds: str) -> list[tuple[str, str]]:
    with Session(env.engine) as session:
        rows = session.scalars(select(MailOut).where(MailOut.kind.in_(kinds)).order_by(MailOut.kind, MailOut.to_addr))
        return [(m.kind, m.to_addr) for m in rows]


REMINDED = [("deadline-county", "qianw@xhq.edu.cn"), ("deadline-county", "wanglei@dhq.edu.cn"),
            ("deadline-county", "zhouq@dhq.edu.cn"), ("deadline-reminder", "zhangwei@ncyz.edu.cn")]


def test_reminder_is_queued_once_per_unit_on_its_day_and_not_again(env: Env) -> None:
    assert run_if_due(env.engine, env.config, _at(DUE - timedelta(days=15))) is None  # no reminder day yet
    assert run_if_due(env.engine, env.config, _at(DUE - timedelta(days=14), hour=7)) is None  # before remind_hour
    done = run_if_due(env.engine, env.config, _at(DUE - timedelta(days=14)))
    assert done == [{"deadline": f"{DUE} 寒假前补报", "days_before": 14, "units": 3, "messages": 4}]
    assert _queued(env, "deadline-reminder", "deadline-county") == REMINDED
    assert run_if_due(env.engine, env.config, _at(DUE - timedelta(days=14), hour=15)) is None  # a later check
    assert run_if_due(env.engine, env.config, _at(DUE - timedelta(days=13))) is None  # a restart next day
    assert _queued(env, "deadline-reminder", "deadline-county") == REMINDED


def test_reminder_goes_out_by_smtp_exactly_once_and_the_next_reminder_day_sends_again(env: Env, sink: Sink) -> None:
    run_if_due(env.engine, env.config, _at(DUE - timedelta(days=14)))
    run_if_due(env.engine, env.config, _at(DUE - timedelta(days=14), hour=16))
    assert send_due(env.config, env.engine)["sent"] == 4
    wait_for(lambda: len(sink.received) == 4, what="four reminders")
    assert send_due(env.config, env.engine).get("sent", 0) == 0
    [school] = sink.to("zhangwei@ncyz.edu.cn")
    body = school.text()
    assert f"寒假前补报的截止日是 {DUE}（还有 14 天）" in body
    assert "南昌市第一中学（3601020001）尚未完成：本期尚未报送。" in body
    [county] = sink.to("wanglei@dhq.edu.cn")
    body = county.text()
    assert "东湖区（360102）所辖学校中有 2 所尚未完成（未报送 1 所，记录未生效 1 所）" in body
    assert "- 南昌市第一中学（3601020001）：本期尚未报送" in body
    assert "- 南昌市豫章小学（3601020002）：2 人的记录审核中、尚未生效" in body
    assert sink.to("qianw@xhq.edu.cn") and not sink.to("lina@ncyz.edu.cn")  # a viewer gets no reminder

    done = run_if_due(env.engine, env.config, _at(DUE - timedelta(days=3)))
    assert [(d["days_before"], d["messages"]) for d in done] == [(3, 4)]
    assert send_due(env.config, env.engine)["sent"] == 4
    wait_for(lambda: len(sink.received) == 8, what="the 3-day reminders")
    assert len(sink.to("zhangwei@ncyz.edu.cn")) == 2
    assert "（还有 3 天）" in sink.to("zhangwei@ncyz.edu.cn")[1].text()


def test_county_digest_shows_the_schools_behind_each_deadline_with_days_left_and_late(env: Env, sink: Sink) -> None:
    queue_county_digests(env.config, env.engine, now=datetime.now().astimezone() + timedelta(minutes=1))
    assert send_due(env.config, env.engine)["sent"] >= 2
    wait_for(lambda: sink.to("wanglei@dhq.edu.cn"), what="the digest of 东湖区")
    body = sink.to("wanglei@dhq.edu.cn")[0].text()
    assert f"春季补报（截止日 {PASSED}，已逾期 10 天）：2 所学校尚未完成（未报送 1 所，记录未生效 1 所）：" in body
    assert f"寒假前补报（截止日 {DUE}，还有 20 天）：2 所学校尚未完成（未报送 1 所，记录未生效 1 所）：" in body
    assert body.count("- 南昌市第一中学（3601020001）：本期尚未报送") == 2
    assert body.count("- 南昌市豫章小学（3601020002）：2 人的记录审核中、尚未生效") == 2


def test_monthly_report_lists_the_units_behind_each_deadline(env: Env, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", "monthly", "--month", f"{TODAY:%Y-%m}", "--unit", "360000",
                                       "--config", str(env.config_path)])
    assert result.exit_code == 0, result.output
    files = [Path(line) for line in result.stdout.splitlines()]
    xlsx = next(p for p in files if p.suffix == ".xlsx")
    wb = load_workbook(xlsx)
    ws = wb["截止日"]
    header = next(r for r in range(1, 8) if ws.cell(r, 1).value == "截止日")
    rows = [[c.value for c in ws[r]] for r in range(header + 1, ws.max_row + 1) if ws.cell(r, 1).value]
    assert rows == [
        [str(PASSED), "春季补报", "已逾期 10 天", "南昌市", 3, 2, 1],
        [str(PASSED), "春季补报", "已逾期 10 天", "景德镇市", 1, 1, 0],
        [str(PASSED), "春季补报", "已逾期 10 天", "合计", 4, 3, 1],
        [str(DUE), "寒假前补报", "还有 20 天", "南昌市", 3, 2, 1],
        [str(DUE), "寒假前补报", "还有 20 天", "景德镇市", 1, 1, 0],
        [str(DUE), "寒假前补报", "还有 20 天", "合计", 4, 3, 1]]
    ws = wb["截止日未完成学校"]
    header = next(r for r in range(1, 8) if ws.cell(r, 1).value == "截止日")
    listed = [(ws.cell(r, 2).value, ws.cell(r, 5).value) for r in range(header + 1, ws.max_row + 1)
              if ws.cell(r, 1).value == str(DUE)]
    assert listed == [("3601020001", "本期尚未报送"), ("3601030001", "本期尚未报送"), ("3602220001", "本期尚未报送"),
                      ("3601020002", "2 人的记录审核中、尚未生效")]
    pdf = next(p for p in files if p.suffix == ".pdf")
    words = "".join(poppler(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split())
    assert "截止日进度" in words and "寒假前补报" in words and "已逾期10天" in words
    assert "南昌市豫章小学" in words and "2人的记录审核中、尚未生效" in words


def test_a_deadline_that_is_not_a_date_is_refused_with_the_key_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[deadlines]\nyearly = ["13-45 上一年度信息更新"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, required=True)
    text = str(err.value)
    assert "deadlines" in text and "yearly" in text and "月-日 名称" in text
