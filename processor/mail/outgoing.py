"""The outgoing queue (table ``mail_out``) and the one function other areas call to mail something.

``enqueue(session, to=..., subject=..., template=..., context=..., attachments=[paths], entitled=...)``
adds a message in the caller's transaction: it is sent only if that transaction commits, and a
``dedup_key`` makes enqueuing the same thing twice (a re-run after a crash, a digest already made today)
a no-op. Bodies are rendered at once from ``templates/mail/<template>.txt.j2`` (Chinese plain text) and
``<template>.html.j2`` (the HTML alternative); attachments are copied into ``<state>/mail/out/<id>/`` —
masked (identity and phone numbers) unless ``entitled`` — so the message goes out as it was queued even
if the outbox file is later replaced."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.audit import audit
from processor.mail.masking import mask_file, mask_text
from processor.store.models import MailOut

WAITING, SENT, FAILED = "waiting", "sent", "failed"
STATE_NAMES = {WAITING: "等待发送", SENT: "已发送", FAILED: "发送失败"}


def _env() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    from processor.paths import TEMPLATES_DIR

    return Environment(loader=FileSystemLoader(str(TEMPLATES_DIR / "mail")), undefined=StrictUndefined,
                       keep_trailing_newline=True, autoescape=select_autoescape(["html.j2"]))


def render(template: str, context: dict[str, Any]) -> tuple[str, str]:
    """(plain text, HTML) of ``templates/mail/<template>.txt.j2`` / ``.html.j2``."""
    env = _env()
    return env.get_template(f"{template}.txt.j2").render(**context), \
        env.get_template(f"{template}.html.j2").render(**context)


def out_dir(state_dir: Path, message_id: int) -> Path:
    return Path(state_dir) / "mail" / "out" / str(message_id)


def enqueue(session: Session, *, to: str, subject: str, template: str, context: dict[str, Any],
            attachments: list[Path | tuple[Path, str]] | None = None, entitled: bool = False, kind: str = "",
            dedup_key: str | None = None, in_reply_to: str = "", state_dir: Path | None = None) -> MailOut:
    """Queue one message in the caller's transaction; returns the row (the existing one for a known
    ``dedup_key``). ``attachments``: paths, or (path, name shown to the recipient) pairs.
    ``entitled=False`` masks identity and phone numbers in the bodies and the attachments.
    ``state_dir``: the instance's state folder (default: from the configuration in TMIS_CONFIG/./config.toml)."""
    if dedup_key:
        existing = session.scalars(select(MailOut).where(MailOut.dedup_key == dedup_key)).first()
        if existing is not None:
            return existing
    if state_dir is None:
        from processor.config import load_config

        state_dir = load_config().state_dir
    text, html = render(template, context)
    if not entitled:
        text, html, subject = mask_text(text), mask_text(html), mask_text(subject)
    row = MailOut(dedup_key=dedup_key, to_addr=to.strip(), subject=subject[:500], kind=kind or template,
                  body_text=text, body_html=html, attachments=[], entitled=entitled, in_reply_to=in_reply_to[:300],
                  state=WAITING, attempts=0, next_attempt_at=datetime.now(UTC))
    session.add(row)
    session.flush()
    row.message_id = f"<tmis-{row.id}-{row.created_at:%Y%m%d%H%M%S}@{_domain(context)}>"
    folder = out_dir(state_dir, row.id)
    files = []
    for n, item in enumerate(attachments or [], start=1):
        path, name = (item if isinstance(item, tuple) else (item, Path(item).name))
        path = Path(path)
        target = folder / f"{n}{path.suffix.lower()}"
        if entitled:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        else:
            mask_file(path, target)
        files.append({"path": str(target), "name": name})
    row.attachments = files
    audit(session, "mail", "mail.enqueue", "mail_out", str(row.id),
          {"to": row.to_addr, "subject": row.subject, "kind": row.kind, "attachments": [f["name"] for f in files],
           "entitled": entitled})
    return row


def _domain(context: dict[str, Any]) -> str:
    sender = str(context.get("from_address") or "tmis.local")
    return sender.rpartition("@")[2] or "tmis.local"


# ----------------------------------------------------------------------------------------------- MIME
MIME_TYPES = {".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
              ".pdf": ("application", "pdf"), ".json": ("application", "json"), ".txt": ("text", "plain"),
              ".csv": ("text", "csv"), ".zip": ("application", "zip")}


def encoded_name_params(name: str) -> tuple[str, str]:
    """(Content-Type name=…, Content-Disposition filename…) for a Chinese file name that Outlook, Foxmail
    and the web mail of the big Chinese providers all show: RFC 2047 encoded-words inside the quoted
    parameter (what Outlook and Foxmail read), followed by the RFC 2231 form (what Thunderbird, Apple Mail
    and Gmail prefer)."""
    if name.isascii():
        quoted = name.replace("\\", "_").replace('"', "_")
        return f'"{quoted}"', f'filename="{quoted}"'
    words = Header(name, "utf-8", maxlinelen=10_000).encode(splitchars=" ", maxlinelen=76).replace("\n", "")
    words = " ".join(words.split())
    rfc2231 = "UTF-8''" + quote(name, safe="")
    return f'"{words}"', f'filename="{words}"; filename*={rfc2231}'


def build_message(row: MailOut, from_address: str, from_name: str) -> bytes:
    """The message as it goes over SMTP: multipart/mixed (alternative text + HTML, then attachments)."""
    outer = MIMEMultipart("mixed")
    outer["From"] = formataddr((str(Header(from_name, "utf-8")), from_address))
    outer["To"] = row.to_addr
    outer["Subject"] = Header(row.subject, "utf-8")
    outer["Date"] = formatdate(localtime=True)
    outer["Message-ID"] = row.message_id
    if row.in_reply_to:
        outer["In-Reply-To"] = row.in_reply_to
        outer["References"] = row.in_reply_to
    outer["Auto-Submitted"] = "auto-replied" if row.in_reply_to else "auto-generated"
    alternative = MIMEMultipart("alternative")
    alternative.attach(MIMEText(row.body_text, "plain", "utf-8"))
    alternative.attach(MIMEText(row.body_html or row.body_text, "html", "utf-8"))
    outer.attach(alternative)
    for item in row.attachments or []:
        path = Path(item["path"])
        main, sub = MIME_TYPES.get(path.suffix.lower(), ("application", "octet-stream"))
        part = MIMEApplication(path.read_bytes(), _subtype=sub)
        ctype_name, disposition = encoded_name_params(item["name"])
        part.replace_header("Content-Type", f"{main}/{sub}; name={ctype_name}")
        part["Content-Disposition"] = f"attachment; {disposition}"
        outer.attach(part)
    return outer.as_bytes()


DECIDING_ROLES = ("sysadmin", "manager")  # 系统管理员, 信息管理员


def enqueue_to_officers(session: Session, config: Any, unit_code: str, *, subject: str, template: str,
                        context: dict[str, Any], attachments: list[Path | tuple[Path, str]], kind: str,
                        dedup: str, roles: tuple[str, ...] = DECIDING_ROLES) -> list[int]:
    """Queue one message to each officer of ``unit_code`` in ``roles`` who has an email address, in the
    caller's transaction. The unit's own officers are entitled to its subtree's data, so nothing is masked.
    ``context`` gets ``officer_name`` and ``unit_name``; ``dedup`` + the address is the message's dedup key.
    Returns the queued (or already queued) ids."""
    from processor.store.models import Officer, Unit

    unit = session.get(Unit, unit_code)
    officers = session.scalars(select(Officer).where(Officer.unit_code == unit_code, Officer.role.in_(roles))
                               .order_by(Officer.id)).all()
    ids = []
    for officer in officers:
        if not officer.email:
            continue
        values = {"instance_name": config.get("instance", "name"), "from_address": config.get("mail", "from_address"),
                  **context, "officer_name": officer.name, "unit_name": unit.name if unit else unit_code}
        row = enqueue(session, to=officer.email, subject=subject, template=template, context=values,
                      attachments=attachments, entitled=True, kind=kind,
                      dedup_key=f"{dedup}:{officer.email.strip().lower()}", state_dir=config.state_dir)
        ids.append(row.id)
    return ids
