"""Sending over STARTTLS and implicit TLS with a login whose password comes from TMIS_SMTP_PASSWORD, to a real
aiosmtpd server holding a certificate the test made (trusted through SSL_CERT_FILE, as a site's CA would be)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from mail_helpers import Sink, free_port, make_certificate
from sqlalchemy.orm import Session

from processor.config import load_config
from processor.mail.outgoing import enqueue
from processor.mail.sender import send_due
from processor.store.db import make_engine
from processor.store.models import MailOut

USER, PASSWORD = "tmis-sender", "Very-s3cret"


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    cert, key = make_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return cert, key


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    return context


def _authenticator(logins: list[tuple[bytes, bytes]]) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            logins.append((data.login, data.password))
            return AuthResult(success=data.login == USER.encode() and data.password == PASSWORD.encode())
        return AuthResult(success=False, handled=False)
    return check


def _send_one(instance: Path, port: int, **environ: str) -> MailOut:
    env = {"TMIS_MAIL_SMTP_PORT": str(port), "TMIS_MAIL_SMTP_HOST": "127.0.0.1", "TMIS_MAIL_SMTP_USER": USER,
           "TMIS_SMTP_PASSWORD": PASSWORD, **environ}
    config = load_config(instance, environ=env, required=True)
    engine = make_engine(config.database_url)
    try:
        with Session(engine) as session, session.begin():
            enqueue(session, to="zhangwei@ncyz.edu.cn", subject="测试", template="no_attachment",
                    context={"instance_name": "tmis", "sender_name": "张伟", "subject": "测试", "skipped": [],
                             "received_at": "2026-12-01 09:00"}, state_dir=config.state_dir)
        assert send_due(config, engine) == {"sent": 1, "retry": 0, "failed": 0}
        with Session(engine) as session:
            return session.get(MailOut, 1)
    finally:
        engine.dispose()


def test_sending_over_starttls_logs_in_with_the_password_from_the_environment(
        instance: Path, certificate: tuple[Path, Path]) -> None:
    logins: list[tuple[bytes, bytes]] = []
    sink = Sink(free_port()).start(tls_context=_server_context(certificate), require_starttls=True,
                                   auth_required=True, authenticator=_authenticator(logins))
    try:
        row = _send_one(instance, sink.port, TMIS_MAIL_STARTTLS="true")
    finally:
        sink.stop()
    assert (row.state, row.attempts) == ("sent", 1)
    assert logins == [(USER.encode(), PASSWORD.encode())]
    assert [r.rcpt_tos for r in sink.received] == [["zhangwei@ncyz.edu.cn"]]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")  # aiosmtpd, see below
def test_sending_over_implicit_tls(instance: Path, certificate: tuple[Path, Path]) -> None:
    logins: list[tuple[bytes, bytes]] = []
    # aiosmtpd only counts STARTTLS as TLS for AUTH; this connection is TLS from its first byte.
    sink = Sink(free_port()).start(ssl_context=_server_context(certificate), auth_required=True,
                                   auth_require_tls=False, authenticator=_authenticator(logins))
    try:
        row = _send_one(instance, sink.port, TMIS_MAIL_TLS="true")
    finally:
        sink.stop()
    assert (row.state, len(sink.received), logins) == ("sent", 1, [(USER.encode(), PASSWORD.encode())])
