"""`tmis run` killed (SIGKILL) between receiving mail and replying, then started again: every file is
stored once and every reply reaches the sender exactly once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mail_helpers import (
    Sink,
    foxmail_message,
    free_port,
    mail_environ,
    outlook_message,
    send_smtp,
    thunderbird_message,
    wait_for,
)
from pipeline_helpers import SCHOOL_A, Env, make_env, people, workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.store.models import MailIn, MailOut

SENDER = "zhangwei@ncyz.edu.cn"
RUN = [sys.executable, "-c", "from processor.cli import main; main()", "run", "--config"]


class Service:
    """`tmis run` as a real process."""

    def __init__(self, env: Env, environ: dict[str, str], listen_port: int, log: Path) -> None:
        self.env, self.listen_port, self.log = env, listen_port, log
        self.environ = {**os.environ, **environ}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([*RUN, str(self.env.config_path)], env=self.environ,
                                     stdout=subprocess.DEVNULL, stderr=self.log.open("ab"))
        wait_for(self._listening, what="tmis run listening")

    def _listening(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text(encoding="utf-8", errors="replace")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.listen_port)) == 0

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=120)


@pytest.fixture
def setup(instance: Path, unit_workbook: Path, tmp_path: Path) -> Iterator[tuple[Env, Service, Sink]]:
    env = make_env(instance, unit_workbook)
    listen, smtp = free_port(), free_port()
    environ = mail_environ(env, listen_port=listen, smtp_port=smtp)
    env.reload(**environ)
    service = Service(env, environ, listen, tmp_path / "run.log")
    sink = Sink(smtp)
    try:
        yield env, service, sink
    finally:
        service.stop()
        sink.stop()
        env.engine.dispose()


def _messages(env: Env, tmp_path: Path) -> list[bytes]:
    out = []
    for n, build in enumerate((outlook_message, foxmail_message, thunderbird_message)):
        path = tmp_path / f"{n}.xlsx"
        workbook(env, path, people(3, seed=900 + n), school=SCHOOL_A, seed=n,
                 mistakes=[("id_checksum", 1)] if n == 0 else None)
        out.append(build(SENDER, f"教师信息_{n}.xlsx", path.read_bytes(), msgid=f"<crash{n}@ncyz.edu.cn>"))
    return out


def _queue(env: Env) -> list[MailOut]:
    with Session(env.engine) as s:
        return list(s.scalars(select(MailOut).order_by(MailOut.id)))


def _finish_and_check(env: Env, service: Service, sink: Sink) -> None:
    sink.start()
    service.start()
    wait_for(lambda: len(_queue(env)) == 3 and all(m.state == "sent" for m in _queue(env)), timeout=120,
             what="three replies sent")
    service.stop()
    assert sorted(r.message["In-Reply-To"] for r in sink.to(SENDER)) == [
        "<crash0@ncyz.edu.cn>", "<crash1@ncyz.edu.cn>", "<crash2@ncyz.edu.cn>"]
    assert sorted(s.original_name for s in env.submissions()) == ["教师信息_0.xlsx", "教师信息_1.xlsx", "教师信息_2.xlsx"]
    with Session(env.engine) as s:
        assert sorted(m.state for m in s.scalars(select(MailIn))) == ["done", "done", "done"]
    assert list((env.state / "mail" / "spool" / "new").glob("*.eml")) == []


def test_killed_right_after_receiving_then_restarted_replies_exactly_once(setup: tuple, tmp_path: Path) -> None:
    env, service, sink = setup
    service.start()
    for raw in _messages(env, tmp_path):
        send_smtp(service.listen_port, raw, SENDER)
    service.kill()  # each message was in the spool before "250"; processing may be anywhere
    _finish_and_check(env, service, sink)


def test_killed_while_replies_wait_for_the_outgoing_server_then_restarted_sends_each_once(
        setup: tuple, tmp_path: Path) -> None:
    env, service, sink = setup
    service.start()
    for raw in _messages(env, tmp_path):
        send_smtp(service.listen_port, raw, SENDER)
    wait_for(lambda: len(_queue(env)) == 3 and all(m.attempts >= 1 for m in _queue(env)), timeout=120,
             what="three replies queued and tried")
    service.kill()
    assert sink.received == []
    _finish_and_check(env, service, sink)
