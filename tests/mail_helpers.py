"""Helpers of the mail tests: free ports, a real SMTP sink (the far end of tmis's outgoing server), messages
written the way Outlook, Foxmail and Thunderbird write them, polling with a timeout."""

from __future__ import annotations

import base64
import email
import io
import smtplib
import socket
import subprocess
import time
import urllib.parse
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from processor.mail.attachments import filename_of

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TMIS_ADDRESS = "tmis@dhq.edu.cn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll until ``condition()`` is truthy; its value. Fails after ``timeout`` seconds (generous: the
    machine is shared)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> Message:
        return email.message_from_bytes(self.raw)

    def attachments(self) -> list[tuple[str, bytes]]:
        return [(filename_of(p), p.get_payload(decode=True)) for p in self.message.walk()
                if not p.is_multipart() and "attachment" in str(p.get("Content-Disposition", ""))]

    def text(self) -> str:
        for part in self.message.walk():
            if part.get_content_type() == "text/plain":
                return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
        return ""


@dataclass
class Sink:
    """A real aiosmtpd server that keeps what it receives; can be stopped and started on the same port.
    ``refuse`` makes it answer DATA with that SMTP reply instead (e.g. "550 5.1.1 no such user")."""

    port: int
    received: list[Received] = field(default_factory=list)
    refuse: str = ""
    controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refuse:
            return self.refuse
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"

    def start(self, **smtp_options: Any) -> Sink:
        """Listen; ``smtp_options`` go to aiosmtpd (ssl_context, tls_context, require_starttls, authenticator…)."""
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, ready_timeout=10, **smtp_options)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


def send_smtp(port: int, raw: bytes, mail_from: str, to: str = TMIS_ADDRESS) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(mail_from, [to], raw)


# ----------------------------------------------------------------------------------------------- clients
def _b64_lines(data: bytes, width: int = 76) -> str:
    text = base64.b64encode(data).decode()
    return "\r\n".join(text[i:i + width] for i in range(0, len(text), width))


def _gb_word(text: str) -> str:
    return "=?gb2312?B?" + base64.b64encode(text.encode("gb18030")).decode() + "?="


def outlook_message(sender: str, name: str, data: bytes, *, subject: str = "教师信息报送",
                    msgid: str = "<000001d9a1b2$3c4d5e60$b5e71f20$@ncyz.edu.cn>",
                    sender_name: str = "张伟", extra_headers: str = "") -> bytes:
    """As Microsoft Outlook 16 (Chinese) writes it: gb2312 encoded-words in quoted name/filename, tab folding."""
    boundary = "----=_NextPart_000_0001_01D9A1B2.3C4D5E60"
    head = (f'From: {_gb_word(sender_name)} <{sender}>\r\nTo: <{TMIS_ADDRESS}>\r\nSubject: {_gb_word(subject)}\r\n'
            f"Date: Tue, 1 Dec 2026 09:12:33 +0800\r\nMessage-ID: {msgid}\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/mixed;\r\n\tboundary="{boundary}"\r\nX-Mailer: Microsoft Outlook 16.0\r\n'
            f"Thread-Index: AdmhsjxNkq8Yd3wGSQmZ0rX1Fh2yVg==\r\nContent-Language: zh-cn\r\n{extra_headers}\r\n")
    body = ("This is a multipart message in MIME format.\r\n\r\n"
            f"--{boundary}\r\nContent-Type: text/plain;\r\n\tcharset=\"gb2312\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            f"{_b64_lines('附件是本校的教师信息，请查收。'.encode('gb18030'))}\r\n\r\n"
            f"--{boundary}\r\nContent-Type: {XLSX};\r\n\tname=\"{_gb_word(name)}\"\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            f"Content-Disposition: attachment;\r\n\tfilename=\"{_gb_word(name)}\"\r\n\r\n"
            f"{_b64_lines(data)}\r\n\r\n--{boundary}--\r\n")
    return (head + body).encode("ascii")


def foxmail_message(sender: str, name: str, data: bytes, *, subject: str = "报送教师信息",
                    msgid: str = "<202612010912330451234@ncyz.edu.cn>") -> bytes:
    """As Foxmail 7.2 writes it: application/octet-stream, GB2312 B-words split in two inside the quotes."""
    boundary = "----=_001_NextPart123456789012_=----"
    half = len(name) // 2
    words = f"=?GB2312?B?{base64.b64encode(name[:half].encode('gb18030')).decode()}?= " \
            f"=?GB2312?B?{base64.b64encode(name[half:].encode('gb18030')).decode()}?="
    head = (f"Date: Tue, 1 Dec 2026 09:20:01 +0800\r\nFrom: \"{sender}\" <{sender}>\r\nTo: tmis <{TMIS_ADDRESS}>\r\n"
            f"Subject: =?GB2312?B?{base64.b64encode(subject.encode('gb18030')).decode()}?=\r\n"
            "X-Priority: 3\r\nX-GUID: 8E1A2B3C-4D5E-6F70-8192-A3B4C5D6E7F8\r\nX-Has-Attach: yes\r\n"
            f"X-Mailer: Foxmail 7.2.25.228[cn]\r\nMime-Version: 1.0\r\nMessage-ID: {msgid}\r\n"
            f"Content-Type: multipart/mixed;\r\n\tboundary=\"{boundary}\"\r\n\r\n")
    body = ("This is a multi-part message in MIME format.\r\n\r\n"
            f"--{boundary}\r\nContent-Type: text/plain;\r\n\tcharset=\"GB2312\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            f"{_b64_lines('请查收附件。'.encode('gb18030'))}\r\n\r\n"
            f"--{boundary}\r\nContent-Type: application/octet-stream;\r\n\tname=\"{words}\"\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            f"Content-Disposition: attachment;\r\n\tfilename=\"{words}\"\r\n\r\n"
            f"{_b64_lines(data)}\r\n\r\n--{boundary}--\r\n\r\n")
    return (head + body).encode("ascii")


def thunderbird_message(sender: str, name: str, data: bytes, *, subject: str = "教师信息",
                        msgid: str = "<8f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b@ncyz.edu.cn>") -> bytes:
    """As Thunderbird 115 writes it: name="=?UTF-8?Q?…?=" folded, and RFC 2231 filename*0*= / filename*1*=
    with every byte %-encoded."""
    boundary = "------------8a7Sd6fG5hJ4kL3mN2bV1cX0"
    encoded = "".join(f"%{b:02X}" for b in name.encode("utf-8"))
    cut = (len(encoded) // 2) - (len(encoded) // 2) % 3
    q = "".join(chr(b) if 0x30 <= b < 0x7f and chr(b) not in "=?_" else f"={b:02x}" for b in name.encode("utf-8"))
    qcut = len(q) // 2
    while q[qcut - 1] == "=" or q[qcut - 2] == "=":
        qcut += 1
    name_param = f'"=?UTF-8?Q?{q[:qcut]}?=\r\n =?UTF-8?Q?{q[qcut:]}?="'
    sender_word = "=?UTF-8?B?" + base64.b64encode("张伟".encode()).decode() + "?="
    head = (f"Message-ID: {msgid}\r\nDate: Tue, 1 Dec 2026 09:31:45 +0800\r\nMIME-Version: 1.0\r\n"
            "User-Agent: Mozilla Thunderbird\r\nContent-Language: zh-CN\r\n"
            f"To: {TMIS_ADDRESS}\r\nFrom: {sender_word} <{sender}>\r\n"
            f"Subject: =?UTF-8?B?{base64.b64encode(subject.encode()).decode()}?=\r\n"
            f"Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n")
    body = ("This is a multi-part message in MIME format.\r\n"
            f"--{boundary}\r\nContent-Type: text/plain; charset=UTF-8; format=flowed\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n请查收。\r\n\r\n"
            f"--{boundary}\r\nContent-Type: {XLSX};\r\n name={name_param}\r\n"
            f"Content-Disposition: attachment;\r\n filename*0*=UTF-8''{encoded[:cut]};\r\n filename*1*={encoded[cut:]}\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{_b64_lines(data, 72)}\r\n\r\n--{boundary}--\r\n")
    return (head + body).encode("utf-8")


def raw_bytes_message(sender: str, name: str, data: bytes, codec: str, *, msgid: str) -> bytes:
    """A name typed straight into the headers as 8-bit bytes (old webmail, some phone clients)."""
    boundary = "b1_raw8bit"
    head = (f"From: {sender}\r\nTo: {TMIS_ADDRESS}\r\nSubject: files\r\nMessage-ID: {msgid}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nfiles\r\n"
            f"--{boundary}\r\nContent-Type: application/octet-stream; name=\"").encode() + name.encode(codec) + \
        b'"\r\nContent-Disposition: attachment; filename="' + name.encode(codec) + \
        f'"\r\nContent-Transfer-Encoding: base64\r\n\r\n{_b64_lines(data)}\r\n--{boundary}--\r\n'.encode()
    return head


def plain_message(sender: str, *, msgid: str, subject: str = "你好", body: str = "请问怎么报送？",
                  extra_headers: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: {TMIS_ADDRESS}\r\nSubject: =?UTF-8?B?{base64.b64encode(subject.encode()).decode()}?=\r\n"
            f"Message-ID: {msgid}\r\nMIME-Version: 1.0\r\n{extra_headers}Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n").encode()


def rfc2231_decoded(value: str) -> str:
    """The text of an RFC 2231 value such as UTF-8''%E6%95%99."""
    return urllib.parse.unquote(value.split("''", 1)[1])


def mail_environ(env: Any, *, listen_port: int, smtp_port: int, **extra: str) -> dict[str, str]:
    """TMIS_MAIL_* overrides for a test instance: mail on, fast retries and polls."""
    values = {"TMIS_MAIL_ENABLED": "true", "TMIS_MAIL_LISTEN_PORT": str(listen_port),
              "TMIS_MAIL_SMTP_PORT": str(smtp_port), "TMIS_MAIL_FROM_ADDRESS": TMIS_ADDRESS,
              "TMIS_MAIL_RETRY_SECONDS": "0.2", "TMIS_MAIL_POLL_SECONDS": "0.5", "TMIS_MAIL_DIGEST_HOUR": "-1"}
    values.update(extra)
    return values


def spool_files(state: Path) -> list[Path]:
    return sorted((state / "mail" / "spool" / "new").glob("*.eml"))


def zip_bytes(members: list[tuple[str, bytes]], *, gbk_names: bool = False) -> bytes:
    """A zip archive; ``gbk_names``: names as Windows' built-in zip and WinRAR write Chinese names (GBK bytes,
    no UTF-8 flag) — written under ASCII stand-ins of the same length, then the bytes swapped in."""
    buf = io.BytesIO()
    swaps = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i, (name, data) in enumerate(members):
            if gbk_names:
                raw = name.encode("gbk")
                stand_in = chr(65 + i) * len(raw)
                swaps.append((stand_in.encode(), raw))
                name = stand_in
            z.writestr(name, data)
    data = buf.getvalue()
    for stand_in, raw in swaps:
        data = data.replace(stand_in, raw)
    return data


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert, key), made with openssl."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key

