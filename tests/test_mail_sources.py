"""Mail from a real IMAP server on loopback (pymap) and from a Maildir, through `tmis run --once`."""

from __future__ import annotations

import imaplib
import mailbox
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from mail_helpers import (
    Sink,
    foxmail_message,
    free_port,
    mail_environ,
    make_certificate,
    thunderbird_message,
    wait_for,
)
from pipeline_helpers import SCHOOL_A, Env, make_env, people, workbook

from processor.cli import main

SENDER = "zhangwei@ncyz.edu.cn"
IMAP_USER, IMAP_PASSWORD = "county-mailbox", "s3cret-imap"


def _start_imap(tmp_path: Path, *tls: str) -> Iterator[int]:
    """A real IMAP server (pymap, in-memory backend) with one empty mailbox, on a free loopback port."""
    port = free_port()
    log = (tmp_path / "pymap.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", "from pymap.main import main; main()", "--host", "127.0.0.1",
                             "--port", str(port), *(tls or ("--no-tls",)),
                             "dict", "--demo-user", IMAP_USER, "--demo-password", IMAP_PASSWORD],
                            stdout=log, stderr=log)

    def up() -> bool:
        assert proc.poll() is None, (tmp_path / "pymap.log").read_text()
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_for(up, what="IMAP server")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture
def imap_port(tmp_path: Path) -> Iterator[int]:
    yield from _start_imap(tmp_path)


@pytest.fixture
def imap_tls_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The same server offering STARTTLS with a certificate the client trusts through SSL_CERT_FILE."""
    cert, key = make_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    yield from _start_imap(tmp_path, "--cert", str(cert), "--key", str(key))


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink(free_port()).start()
    yield s
    s.stop()


def _deliver(port: int, raw: bytes, *, tls: bool = False) -> None:
    conn = imaplib.IMAP4("127.0.0.1", port)
    if tls:
        conn.starttls()
    conn.login(IMAP_USER, IMAP_PASSWORD)
    typ, _ = conn.append("INBOX", None, None, raw)
    assert typ == "OK"
    conn.logout()


def _uids(port: int, folder: str, criterion: str = "ALL") -> list[bytes]:
    conn = imaplib.IMAP4("127.0.0.1", port)
    conn.login(IMAP_USER, IMAP_PASSWORD)
    typ, _ = conn.select(folder)
    if typ != "OK":
        conn.logout()
        return []
    _, data = conn.uid("SEARCH", None, criterion)
    conn.logout()
    return (data[0] or b"").split()


def _env(instance: Path, unit_workbook: Path, sink: Sink, **extra: str) -> tuple[Env, dict[str, str]]:
    env = make_env(instance, unit_workbook)
    environ = mail_environ(env, listen_port=free_port(), smtp_port=sink.port, TMIS_MAIL_LISTEN="false", **extra)
    return env.reload(**environ), environ


def _run_once(env: Env, environ: dict[str, str]) -> str:
    result = CliRunner().invoke(main, ["run", "--once", "--config", str(env.config_path)], env=environ)
    assert result.exit_code == 0, result.output
    return result.output


def _file(env: Env, tmp_path: Path, seed: int) -> bytes:
    workbook(env, tmp_path / f"{seed}.xlsx", people(3, seed=seed), school=SCHOOL_A, seed=seed)
    return (tmp_path / f"{seed}.xlsx").read_bytes()


def test_imap_mail_is_processed_answered_and_moved_to_the_done_folder(
        instance: Path, unit_workbook: Path, imap_port: int, sink: Sink, tmp_path: Path) -> None:
    env, environ = _env(instance, unit_workbook, sink, TMIS_MAIL_IMAP_HOST="127.0.0.1",
                        TMIS_MAIL_IMAP_PORT=str(imap_port), TMIS_MAIL_IMAP_SECURITY="plain",
                        TMIS_MAIL_IMAP_USER=IMAP_USER, TMIS_IMAP_PASSWORD=IMAP_PASSWORD,
                        TMIS_MAIL_IMAP_DONE_FOLDER="Processed")
    _deliver(imap_port, foxmail_message(SENDER, "一中教师信息.xlsx", _file(env, tmp_path, 301), msgid="<imap1@x>"))
    output = _run_once(env, environ)
    assert output.splitlines()[-1] == "邮件：收取 1 封，处理 1 封，发出 1 封（待重试 0，失败 0）。"
    assert [(s.original_name, s.channel, s.sender, s.unit_code, s.status) for s in env.submissions()] == [
        ("一中教师信息.xlsx", "mail", SENDER, SCHOOL_A[0], "accepted")]
    (reply,) = sink.to(SENDER)
    assert reply.attachments()[0][0].startswith("回执_南昌市第一中学_")
    assert (_uids(imap_port, "INBOX"), len(_uids(imap_port, "Processed"))) == ([], 1)
    again = _run_once(env, environ)
    assert again.splitlines()[-1] == "邮件：收取 0 封，处理 0 封，发出 0 封（待重试 0，失败 0）。"
    assert len(env.submissions()) == 1


def test_imap_mail_without_a_done_folder_is_marked_seen_and_taken_once(
        instance: Path, unit_workbook: Path, imap_port: int, sink: Sink, tmp_path: Path) -> None:
    env, environ = _env(instance, unit_workbook, sink, TMIS_MAIL_IMAP_HOST="127.0.0.1",
                        TMIS_MAIL_IMAP_PORT=str(imap_port), TMIS_MAIL_IMAP_SECURITY="plain",
                        TMIS_MAIL_IMAP_USER=IMAP_USER, TMIS_IMAP_PASSWORD=IMAP_PASSWORD)
    _deliver(imap_port, thunderbird_message(SENDER, "一中教师信息（TB）.xlsx", _file(env, tmp_path, 302),
                                            msgid="<imap2@x>"))
    _run_once(env, environ)
    assert (len(_uids(imap_port, "INBOX")), _uids(imap_port, "INBOX", "UNSEEN")) == (1, [])
    _run_once(env, environ)
    assert [s.original_name for s in env.submissions()] == ["一中教师信息（TB）.xlsx"]
    assert len(sink.to(SENDER)) == 1


def test_imap_without_a_password_in_the_environment_is_said_once_per_poll(
        instance: Path, unit_workbook: Path, imap_port: int, sink: Sink, caplog: pytest.LogCaptureFixture) -> None:
    env, environ = _env(instance, unit_workbook, sink, TMIS_MAIL_IMAP_HOST="127.0.0.1",
                        TMIS_MAIL_IMAP_PORT=str(imap_port), TMIS_MAIL_IMAP_SECURITY="plain",
                        TMIS_MAIL_IMAP_USER=IMAP_USER)
    _run_once(env, environ)
    assert [r.getMessage() for r in caplog.records if r.name == "processor.mail.service"] == [
        "IMAP poll of 127.0.0.1 failed: 环境变量 TMIS_IMAP_PASSWORD：未设置 IMAP 密码。请在运行 tmis 的环境中设置 "
        "TMIS_IMAP_PASSWORD（不要写进 config.toml）。"]


def test_maildir_mail_is_processed_and_taken_out_of_the_maildir(
        instance: Path, unit_workbook: Path, sink: Sink, tmp_path: Path) -> None:
    box_dir = tmp_path / "Maildir"
    box = mailbox.Maildir(str(box_dir), create=True)
    env, environ = _env(instance, unit_workbook, sink, TMIS_MAIL_MAILDIR=str(box_dir))
    box.add(foxmail_message(SENDER, "一中（Maildir）.xlsx", _file(env, tmp_path, 303), msgid="<md1@x>"))
    _run_once(env, environ)
    assert [(s.original_name, s.unit_code) for s in env.submissions()] == [("一中（Maildir）.xlsx", SCHOOL_A[0])]
    assert list(box.keys()) == []
    assert len(sink.to(SENDER)) == 1


def test_imap_over_starttls_is_processed(instance: Path, unit_workbook: Path, imap_tls_port: int, sink: Sink,
                                         tmp_path: Path) -> None:
    env, environ = _env(instance, unit_workbook, sink, TMIS_MAIL_IMAP_HOST="127.0.0.1",
                        TMIS_MAIL_IMAP_PORT=str(imap_tls_port), TMIS_MAIL_IMAP_SECURITY="starttls",
                        TMIS_MAIL_IMAP_USER=IMAP_USER, TMIS_IMAP_PASSWORD=IMAP_PASSWORD)
    _deliver(imap_tls_port, foxmail_message(SENDER, "一中（加密）.xlsx", _file(env, tmp_path, 304), msgid="<tls1@x>"),
             tls=True)
    output = _run_once(env, environ)
    assert output.splitlines()[-1] == "邮件：收取 1 封，处理 1 封，发出 1 封（待重试 0，失败 0）。"
    assert [s.original_name for s in env.submissions()] == ["一中（加密）.xlsx"]
