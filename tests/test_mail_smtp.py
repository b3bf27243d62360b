"""Mail end to end over real SMTP on loopback: tmis's own aiosmtpd receiver takes the school's mail, a second
aiosmtpd server is the far end of tmis's outgoing server and receives the replies."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import JIANGXI_OFFICERS, write_unit_workbook
from mail_helpers import (
    Sink,
    foxmail_message,
    free_port,
    mail_environ,
    outlook_message,
    plain_message,
    send_smtp,
    thunderbird_message,
    wait_for,
    zip_bytes,
)
from openpyxl import load_workbook
from pipeline_helpers import SCHOOL_A, SCHOOL_B, Env, make_env, people, workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from processor import samples
from processor.cli import main
from processor.mail.service import MailService
from processor.store.models import Finding, MailIn, MailOut, Submission

SCHOOL_OFFICER = "zhangwei@ncyz.edu.cn"  # 系统管理员 of 南昌市第一中学
COUNTY_OFFICER = "wanglei@dhq.edu.cn"  # 信息管理员 of 东湖区
COUNTY_VIEWER = "zhaomin@dhq.edu.cn"  # 信息查询员 of 东湖区: not entitled to identity numbers
STRANGER = "someone@163.com"


@dataclass
class MailEnv:
    env: Env
    sink: Sink
    listen_port: int
    environ: dict[str, str]
    service: MailService | None = None
    stop: threading.Event | None = None
    thread: threading.Thread | None = None

    def start_service(self) -> None:
        self.stop = threading.Event()
        self.service = MailService(self.env.config, engine=self.env.engine, pack=self.env.pack)
        self.thread = self.service.start(self.stop)

    def stop_service(self) -> None:
        if self.service is not None:
            self.stop.set()
            self.service.wake.set()
            self.thread.join(timeout=60)
            self.service.stop()
            self.service = None

    def send(self, raw: bytes, mail_from: str) -> None:
        send_smtp(self.listen_port, raw, mail_from)

    def mail_in(self) -> list[MailIn]:
        with Session(self.env.engine) as s:
            return list(s.scalars(select(MailIn).order_by(MailIn.id)))

    def queue(self) -> list[MailOut]:
        with Session(self.env.engine) as s:
            return list(s.scalars(select(MailOut).order_by(MailOut.id)))

    def cli(self, *args: str) -> object:
        return CliRunner().invoke(main, [*args, "--config", str(self.env.config_path)], env=self.environ)


@pytest.fixture
def mail_env(instance: Path, tmp_path: Path) -> Iterator[MailEnv]:
    """Mail on an instance on SQLite (the behaviours do not depend on the backend)."""
    yield from _mail_env(instance, tmp_path)


@pytest.fixture
def mail_env_any_store(store_instance: Path, tmp_path: Path) -> Iterator[MailEnv]:
    """Mail on SQLite and on PostgreSQL (the queue's claim and the exactly-once steps run on both)."""
    yield from _mail_env(store_instance, tmp_path)


def _mail_env(store_instance: Path, tmp_path: Path) -> Iterator[MailEnv]:
    units = write_unit_workbook(tmp_path / "单位.xlsx", officers=[
        *JIANGXI_OFFICERS, ("360102", "赵敏", "信息查询员", COUNTY_VIEWER, "13807910009")])
    env = make_env(store_instance, units)
    listen, smtp = free_port(), free_port()
    environ = mail_environ(env, listen_port=listen, smtp_port=smtp, TMIS_MAIL_ADMIN_ADDRESS="admin@jxedu.gov.cn")
    env.reload(**environ)
    sink = Sink(smtp).start()
    menv = MailEnv(env, sink, listen, environ)
    menv.start_service()
    try:
        yield menv
    finally:
        menv.stop_service()
        sink.stop()
        env.engine.dispose()


def _workbook_bytes(env: Env, tmp_path: Path, name: str, seed: int, school: tuple[str, str] = SCHOOL_A,
                    mistakes: list[tuple[str, int]] | None = None) -> bytes:
    path = tmp_path / name
    workbook(env, path, people(3, seed=seed, school=school), school=school, mistakes=mistakes, seed=seed)
    return path.read_bytes()


def _submissions(env: Env) -> list[Submission]:
    return env.submissions()


def test_files_mailed_from_outlook_foxmail_and_thunderbird_are_processed_and_answered(
        mail_env_any_store: MailEnv, tmp_path: Path) -> None:
    mail_env = mail_env_any_store
    env = mail_env.env
    names = ["南昌一中_教师信息（Outlook）.xlsx", "南昌一中_教师信息（Foxmail）.xlsx", "南昌一中_教师信息（Thunderbird）.xlsx"]
    mail_env.send(outlook_message(SCHOOL_OFFICER, names[0], _workbook_bytes(env, tmp_path, "a.xlsx", 11,
                                                                             mistakes=[("id_checksum", 1)])),
                  SCHOOL_OFFICER)
    mail_env.send(foxmail_message(SCHOOL_OFFICER, names[1], _workbook_bytes(env, tmp_path, "b.xlsx", 12)), SCHOOL_OFFICER)
    mail_env.send(thunderbird_message(SCHOOL_OFFICER, names[2], _workbook_bytes(env, tmp_path, "c.xlsx", 13)),
                  SCHOOL_OFFICER)
    replies = wait_for(lambda: len(mail_env.sink.to(SCHOOL_OFFICER)) == 3 and mail_env.sink.to(SCHOOL_OFFICER),
                       what="three replies")
    subs = _submissions(env)
    assert sorted((s.original_name, s.channel, s.sender, s.unit_code) for s in subs) == sorted(
        (n, "mail", SCHOOL_OFFICER, SCHOOL_A[0]) for n in names)
    by_name = {s.original_name: s for s in subs}
    assert by_name[names[0]].status == "partial"
    assert {by_name[names[1]].status, by_name[names[2]].status} == {"accepted"}
    attached = sorted(name for r in replies for name, _ in r.attachments())
    today = by_name[names[0]].received_at.astimezone().strftime("%Y-%m-%d")
    assert attached == sorted([f"错误报告_南昌市第一中学_教师信息采集表_{today}.xlsx",
                               f"回执_南昌市第一中学_教师信息采集表_{today}.xlsx",
                               f"回执_南昌市第一中学_教师信息采集表_{today}（2）.xlsx"])
    outlook_reply = next(r for r in replies if "错误报告" in r.attachments()[0][0])
    assert outlook_reply.message["In-Reply-To"] == "<000001d9a1b2$3c4d5e60$b5e71f20$@ncyz.edu.cn>"
    assert f"1. {names[0]}" in outlook_reply.text()
    assert "部分接收" in outlook_reply.text()
    report = Path(by_name[names[0]].report_path)
    assert outlook_reply.attachments()[0][1] == report.read_bytes()  # a school's own officer: unmasked
    # The name is written for Outlook/Foxmail (RFC 2047 in the quoted parameter) and RFC 2231 readers alike.
    unfolded = outlook_reply.raw.replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    assert b'filename="=?utf-8?b?6ZSZ6K+v5oql5ZGK' in unfolded
    assert b"filename*=UTF-8''%E9%94%99%E8%AF%AF%E6%8A%A5%E5%91%8A_" in unfolded


def test_a_county_officer_may_send_for_a_school_below_it(mail_env: MailEnv, tmp_path: Path) -> None:
    data = _workbook_bytes(mail_env.env, tmp_path, "a.xlsx", 21)
    mail_env.send(foxmail_message(COUNTY_OFFICER, "一中.xlsx", data, msgid="<c1@dhq.edu.cn>"), COUNTY_OFFICER)
    wait_for(lambda: mail_env.sink.to(COUNTY_OFFICER), what="reply to the county officer")
    assert [(s.unit_code, s.sender, s.status) for s in _submissions(mail_env.env)] == [
        (SCHOOL_A[0], COUNTY_OFFICER, "accepted")]


def test_a_recipient_not_entitled_gets_identity_numbers_masked(mail_env: MailEnv, tmp_path: Path) -> None:
    env = mail_env.env
    persons = people(3, seed=31)
    workbook(env, tmp_path / "a.xlsx", persons, mistakes=[("id_checksum", 1)], seed=31)
    mail_env.send(outlook_message(COUNTY_VIEWER, "一中.xlsx", (tmp_path / "a.xlsx").read_bytes(), msgid="<v1@dhq>"),
                  COUNTY_VIEWER)
    reply = wait_for(lambda: mail_env.sink.to(COUNTY_VIEWER), what="reply")[0]
    name, data = reply.attachments()[0]
    (tmp_path / "back.xlsx").write_bytes(data)
    cells = [str(c.value) for ws in load_workbook(tmp_path / "back.xlsx").worksheets for row in ws.iter_rows()
             for c in row if c.value is not None]
    numbers = [p.id_number for p in persons]
    assert [n for n in numbers if any(n in c for c in cells)] == []
    assert all(any(f"{n[:6]}********{n[-4:]}" in c for c in cells) for n in numbers[1:])
    sub = _submissions(env)[0]
    assert (sub.unit_code, sub.status) == (SCHOOL_A[0], "partial")


def test_unknown_sender_is_quarantined_without_data_or_reply(mail_env: MailEnv, tmp_path: Path) -> None:
    data = _workbook_bytes(mail_env.env, tmp_path, "a.xlsx", 41)
    mail_env.send(outlook_message(STRANGER, "一中.xlsx", data, msgid="<s1@163.com>"), STRANGER)
    rows = wait_for(lambda: [m for m in mail_env.mail_in() if m.state == "quarantined"], what="quarantine")
    assert rows[0].reason == f"发件人 {STRANGER} 不是任何单位登记的人员（请用 tmis units import 登记其邮箱）"
    assert (_submissions(mail_env.env), mail_env.queue(), mail_env.sink.received) == ([], [], [])


def test_forged_sender_failing_dkim_is_quarantined_without_data_or_reply(mail_env: MailEnv, tmp_path: Path) -> None:
    data = _workbook_bytes(mail_env.env, tmp_path, "a.xlsx", 42)
    forged = outlook_message(SCHOOL_OFFICER, "一中.xlsx", data, msgid="<f1@evil>", extra_headers=(
        "Authentication-Results: mx.dhq.edu.cn; dkim=fail header.d=ncyz.edu.cn; spf=fail; dmarc=fail\r\n"))
    mail_env.send(forged, SCHOOL_OFFICER)
    rows = wait_for(lambda: [m for m in mail_env.mail_in() if m.state == "quarantined"], what="quarantine")
    assert rows[0].reason == "发件服务器的认证检查未通过（dkim=fail，dmarc=fail，spf=fail），发件人地址可能是伪造的"
    assert (_submissions(mail_env.env), mail_env.queue(), mail_env.sink.received) == ([], [], [])


def test_a_file_for_a_school_outside_the_senders_unit_is_quarantined(mail_env: MailEnv, tmp_path: Path) -> None:
    data = _workbook_bytes(mail_env.env, tmp_path, "b.xlsx", 43, school=SCHOOL_B)
    mail_env.send(foxmail_message(SCHOOL_OFFICER, "豫章小学.xlsx", data, msgid="<o1@x>"), SCHOOL_OFFICER)
    rows = wait_for(lambda: [m for m in mail_env.mail_in() if m.state == "quarantined"], what="quarantine")
    assert rows[0].reason == (f"附件“豫章小学.xlsx”是{SCHOOL_B[1]}（{SCHOOL_B[0]}）的，不在发件人 {SCHOOL_OFFICER} "
                              f"所属单位（{SCHOOL_A[0]}）的管辖范围内")
    assert (_submissions(mail_env.env), mail_env.queue()) == ([], [])


def test_a_message_without_a_usable_attachment_is_answered_with_what_was_expected(mail_env: MailEnv) -> None:
    mail_env.send(plain_message(SCHOOL_OFFICER, msgid="<n1@x>"), SCHOOL_OFFICER)
    reply = wait_for(lambda: mail_env.sink.to(SCHOOL_OFFICER), what="reply")[0]
    assert "没有可以处理的附件" in reply.text()
    assert "请把填好的官方模板（.xlsx" in reply.text()
    assert reply.attachments() == []


def test_the_same_file_mailed_again_is_answered_as_a_duplicate(mail_env: MailEnv, tmp_path: Path) -> None:
    data = _workbook_bytes(mail_env.env, tmp_path, "a.xlsx", 51)
    mail_env.send(foxmail_message(SCHOOL_OFFICER, "一中.xlsx", data, msgid="<d1@x>"), SCHOOL_OFFICER)
    wait_for(lambda: mail_env.sink.to(SCHOOL_OFFICER), what="first reply")
    mail_env.send(foxmail_message(SCHOOL_OFFICER, "一中（再发）.xlsx", data, msgid="<d2@x>"), SCHOOL_OFFICER)
    replies = wait_for(lambda: len(mail_env.sink.to(SCHOOL_OFFICER)) == 2 and mail_env.sink.to(SCHOOL_OFFICER),
                       what="second reply")
    assert "重复报送" in replies[1].text()
    assert len(_submissions(mail_env.env)) == 1


def test_the_same_message_delivered_twice_is_processed_once(mail_env: MailEnv, tmp_path: Path) -> None:
    raw = foxmail_message(SCHOOL_OFFICER, "一中.xlsx", _workbook_bytes(mail_env.env, tmp_path, "a.xlsx", 52),
                          msgid="<twice@x>")
    mail_env.send(raw, SCHOOL_OFFICER)
    wait_for(lambda: mail_env.sink.to(SCHOOL_OFFICER), what="reply")
    mail_env.send(raw, SCHOOL_OFFICER)
    mail_env.send(plain_message(SCHOOL_OFFICER, msgid="<after@x>"), SCHOOL_OFFICER)  # processed after the repeat
    wait_for(lambda: len(mail_env.sink.to(SCHOOL_OFFICER)) == 2, what="reply to the later message")
    assert [m.key for m in mail_env.mail_in()] == ["<twice@x>", "<after@x>"]
    assert len(_submissions(mail_env.env)) == 1


def test_replies_wait_while_the_outgoing_server_is_down_and_go_out_once(mail_env_any_store: MailEnv,
                                                                        tmp_path: Path) -> None:
    mail_env = mail_env_any_store
    mail_env.sink.stop()
    for n in range(2):
        data = _workbook_bytes(mail_env.env, tmp_path, f"{n}.xlsx", 60 + n)
        mail_env.send(foxmail_message(SCHOOL_OFFICER, f"{n}.xlsx", data, msgid=f"<down{n}@x>"), SCHOOL_OFFICER)
    wait_for(lambda: [m.attempts for m in mail_env.queue() if m.state == "waiting" and m.attempts >= 2] and
             len([m for m in mail_env.queue() if m.attempts >= 2]) == 2, what="two failed attempts each")
    assert mail_env.sink.received == []
    mail_env.sink.start()
    wait_for(lambda: all(m.state == "sent" for m in mail_env.queue()), what="all sent")
    assert sorted(r.message["In-Reply-To"] for r in mail_env.sink.received) == ["<down0@x>", "<down1@x>"]


def test_a_permanent_refusal_fails_for_good_is_shown_and_can_be_retried(mail_env: MailEnv) -> None:
    mail_env.sink.refuse = "550 5.1.1 mailbox unavailable"
    mail_env.send(plain_message(SCHOOL_OFFICER, msgid="<perm@x>"), SCHOOL_OFFICER)
    wait_for(lambda: [m for m in mail_env.queue() if m.state == "failed"], what="failed")
    shown = mail_env.cli("mail", "queue", "--format", "json")
    assert shown.exit_code == 0, shown.output
    (only,) = json.loads(shown.output)["messages"]
    assert {k: only[k] for k in ("to", "state", "attempts")} == {"to": SCHOOL_OFFICER, "state": "failed", "attempts": 1}
    assert only["subject"] == "回复：你好（未找到可处理的附件）"
    mail_env.sink.refuse = ""
    again = mail_env.cli("mail", "retry", str(only["id"]))
    assert (again.exit_code, again.output) == (0, f"邮件 {only['id']}（{SCHOOL_OFFICER}）已放回发件队列，将立即重新发送。\n")
    mail_env.service.wake.set()
    wait_for(lambda: [m.state for m in mail_env.queue()] == ["sent"], what="retried reply sent")
    assert len(mail_env.sink.to(SCHOOL_OFFICER)) == 1


def test_quarantined_mail_is_listed_and_can_be_released(mail_env: MailEnv, tmp_path: Path) -> None:
    data = _workbook_bytes(mail_env.env, tmp_path, "a.xlsx", 71)
    mail_env.send(outlook_message(STRANGER, "一中.xlsx", data, msgid="<q1@163.com>"), STRANGER)
    wait_for(lambda: [m for m in mail_env.mail_in() if m.state == "quarantined"], what="quarantine")
    listed = mail_env.cli("mail", "quarantine", "--format", "json")
    assert listed.exit_code == 0, listed.output
    (item,) = json.loads(listed.output)["messages"]
    assert (item["from"], item["subject"]) == (STRANGER, "教师信息报送")
    released = mail_env.cli("mail", "quarantine", "--release", str(item["id"]))
    assert released.exit_code == 0, released.output
    assert released.output.startswith(f"已放行邮件 {item['id']}：一中.xlsx（已接收")
    mail_env.service.wake.set()
    wait_for(lambda: mail_env.sink.to(STRANGER), what="reply after release")
    assert [(s.unit_code, s.sender) for s in _submissions(mail_env.env)] == [(SCHOOL_A[0], STRANGER)]
    assert [m.state for m in mail_env.mail_in()] == ["released"]


def test_daily_mail_digests_each_county_and_lists_quarantine_to_the_admin(mail_env: MailEnv, tmp_path: Path) -> None:
    data = _workbook_bytes(mail_env.env, tmp_path, "a.xlsx", 81, mistakes=[("id_checksum", 1)])
    mail_env.send(foxmail_message(SCHOOL_OFFICER, "一中.xlsx", data, msgid="<g1@x>"), SCHOOL_OFFICER)
    mail_env.send(plain_message(STRANGER, msgid="<g2@x>"), STRANGER)
    wait_for(lambda: len([m for m in mail_env.mail_in() if m.state != "processing"]) == 2, what="both handled")
    done = mail_env.cli("mail", "digest")
    assert (done.exit_code, done.output) == (0, "已放入发件队列：县级汇总 2 封，隔离邮件清单 1 封。\n")
    again = mail_env.cli("mail", "digest")
    assert again.output == "已放入发件队列：县级汇总 2 封。\n"
    mail_env.service.wake.set()
    digest = wait_for(lambda: mail_env.sink.to(COUNTY_OFFICER), what="digest")[0]
    text = digest.text()
    assert "收到文件 1 份，全部接收 0 份，部分接收 1 份，退回 0 份，无法识别 0 份；有错误的行共 1 行。" in text
    assert f"- {SCHOOL_A[1]}（{SCHOOL_A[0]}）：收到 1 份，接收 0 份，有错误的行 1 行" in text
    assert f"- {SCHOOL_B[1]}（{SCHOOL_B[0]}）" in text.split("尚未报送的学校")[1]
    listing = wait_for(lambda: mail_env.sink.to("admin@jxedu.gov.cn"), what="quarantine list")[0]
    assert STRANGER in listing.text()
    assert len(mail_env.sink.to(COUNTY_OFFICER)) == 1


def test_an_unreadable_attachment_is_answered_with_the_unreadable_notice(mail_env: MailEnv) -> None:
    mail_env.send(foxmail_message(SCHOOL_OFFICER, "一中教师信息.xlsx", "这不是表格".encode(), msgid="<u1@x>"),
                  SCHOOL_OFFICER)
    reply = wait_for(lambda: mail_env.sink.to(SCHOOL_OFFICER), what="reply")[0]
    (sub,) = _submissions(mail_env.env)
    assert (sub.status, sub.channel, sub.sender) == ("unreadable", "mail", SCHOOL_OFFICER)
    assert "结果：无法识别（未入库）" in reply.text()
    assert Path(sub.report_path).read_text(encoding="utf-8").strip().splitlines()[0] in reply.text()


def test_a_zip_of_workbooks_with_gbk_names_becomes_one_submission_each(mail_env: MailEnv, tmp_path: Path) -> None:
    env = mail_env.env
    files = [("一中教师信息（上）.xlsx", _workbook_bytes(env, tmp_path, "a.xlsx", 91)),
             ("一中教师信息（下）.xlsx", _workbook_bytes(env, tmp_path, "b.xlsx", 92))]
    archive = zip_bytes(files, gbk_names=True)
    mail_env.send(outlook_message(SCHOOL_OFFICER, "一中报送.zip", archive, msgid="<z1@x>"), SCHOOL_OFFICER)
    reply = wait_for(lambda: mail_env.sink.to(SCHOOL_OFFICER), what="reply")[0]
    assert sorted((s.original_name, s.unit_code, s.status) for s in _submissions(env)) == [
        ("一中教师信息（上）.xlsx", SCHOOL_A[0], "accepted"), ("一中教师信息（下）.xlsx", SCHOOL_A[0], "accepted")]
    assert len(reply.attachments()) == 2


def test_tmis_run_says_so_when_the_listen_port_is_taken(mail_env: MailEnv) -> None:
    result = CliRunner().invoke(main, ["run", "--config", str(mail_env.env.config_path)], env=mail_env.environ)
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        f"错误：{mail_env.env.config_path}：[mail] listen_host / listen_port：内置收件服务无法在 127.0.0.1:"
        f"{mail_env.listen_port} 上监听（[Errno 98] error while attempting to bind on address ('127.0.0.1', "
        f"{mail_env.listen_port}): address already in use）。请换一个未被占用的端口，或把 [mail] listen 设为 false"
        "（只用 IMAP / Maildir 收信）。")


def test_the_service_queues_the_daily_mail_once_a_day_from_digest_hour_on(mail_env: MailEnv) -> None:
    mail_env.stop_service()  # its loop runs on the real clock; this test sets the clock
    config = mail_env.env.reload(**{**mail_env.environ, "TMIS_MAIL_DIGEST_HOUR": "23"}).config
    service = MailService(config, engine=mail_env.env.engine, pack=mail_env.env.pack)
    evening = datetime.now().astimezone().replace(hour=23, minute=5)
    service.daily(now=evening.replace(hour=22))
    assert mail_env.queue() == []
    service.daily(now=evening)
    service.daily(now=evening.replace(minute=40))
    assert sorted(m.to_addr for m in mail_env.queue()) == [COUNTY_OFFICER, COUNTY_VIEWER]
    assert {m.kind for m in mail_env.queue()} == {"digest"}


def test_a_csv_without_template_metadata_is_attributed_to_the_sending_officers_school(
        mail_env: MailEnv, tmp_path: Path) -> None:
    samples.write_csv(tmp_path / "基本信息.csv", people(3, seed=95), pack=mail_env.env.pack, seed=95)
    mail_env.send(thunderbird_message(SCHOOL_OFFICER, "本校基本信息.csv", (tmp_path / "基本信息.csv").read_bytes(),
                                      msgid="<csv1@x>"), SCHOOL_OFFICER)
    reply = wait_for(lambda: mail_env.sink.to(SCHOOL_OFFICER), what="reply")[0]
    (sub,) = _submissions(mail_env.env)
    assert (sub.original_name, sub.unit_code, sub.sender) == ("本校基本信息.csv", SCHOOL_A[0], SCHOOL_OFFICER)
    with Session(mail_env.env.engine) as s:
        rules = list(s.scalars(select(Finding.rule).where(Finding.submission_id == sub.id)))
    assert "UNIT-FROM-SENDER" in rules
    assert [m.unit_code for m in mail_env.mail_in()] == [SCHOOL_A[0]]
    assert len(reply.attachments()) == 1
