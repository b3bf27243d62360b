"""One spooled message, start to end: who sent it → may they → each attachment through the pipeline → one
reply queued → message done. Crash-safe in the same way as the inbox:

1. A ``mail_in`` row keyed by the Message-ID is committed first (state ``processing``). A message whose
   row is already done, quarantined or released is only moved out of the spool.
2. Unknown sender, failed DKIM/SPF/DMARC, or an attachment for a unit outside the sender's subtree:
   the message is quarantined with the reason — nothing stored, nothing answered.
3. Each attachment is written under ``<state>/mail/work/<mail id>/`` and handed to
   ``processor.pipeline.process_file(…, channel="mail", sender=address)``. On a re-run after a crash an
   attachment whose sha256 this message already stored is not processed again (its stored outcome is used).
4. One transaction marks the row done and queues the reply (``dedup_key`` ``reply:<mail id>``): the reply
   is queued exactly once whatever moment the process died at.
5. The raw message moves to the spool's done/."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.audit import audit
from processor.errors import TmisError
from processor.feedback import STATUS_NAMES, safe_filename
from processor.mail import outgoing
from processor.mail.attachments import Attachment, Limits, ParsedMessage, Skipped, parse_message
from processor.mail.senders import Verdict, is_entitled, judge_sender, may_send_for
from processor.mail.spool import Spool, Spooled
from processor.pipeline import DUPLICATE, RECOVERED, process_file, sha256_of
from processor.readers import Limits as ReadLimits
from processor.store.models import MailIn, Submission, Unit

log = logging.getLogger(__name__)

PROCESSING, DONE, QUARANTINED, RELEASED = "processing", "done", "quarantined", "released"
MAIL_STATUS_NAMES = {**STATUS_NAMES, DUPLICATE: "重复报送（内容与以前收到的文件相同，未再次入库）"}


@dataclass
class FileResult:
    """What became of one attachment (for the reply)."""

    name: str
    status: str
    status_name: str
    submission_id: int | None
    unit_code: str | None
    report: Path | None
    message: str = ""
    rows: int = 0
    stored: int = 0
    errors: int = 0
    warnings: int = 0
    notice: str = ""


@dataclass
class MailResult:
    """What became of one message."""

    mail_id: int | None
    state: str
    reason: str = ""
    files: list[FileResult] = field(default_factory=list)
    reply_id: int | None = None


def work_dir(state_dir: Path, mail_id: int) -> Path:
    return Path(state_dir) / "mail" / "work" / str(mail_id)


def _unit_of(path: Path, name: str, session: Session, limits: Any) -> str | None:
    """The unit the attachment says it is for: template metadata, else a known school code in its name.

    The intake guards run first: a file they refuse is never parsed here (the pipeline answers it); the
    metadata comes from the document properties when the file has them, else from the `_tmis` sheet read
    the way the pipeline reads it (an .xls through the memory-capped trial parse first)."""
    from processor.pipeline import _unit_from_name
    from processor.readers import inspect_file  # limits: readers.Limits of [intake]
    from processor.readers.excel import open_workbook
    from processor.workbook.meta import parse_items, read_property_meta

    code = None
    try:
        check = inspect_file(path, limits, name=name)
        if check.format != "csv":
            meta = read_property_meta(path) if check.format in ("xlsx", "xlsm", "ods") else {}
            if not meta.get("unit_code"):
                _sheets, items = open_workbook(path, name, limits, check)
                meta = parse_items(items)
            code = meta.get("unit_code") or None
    except (TmisError, OSError, ValueError):
        code = None  # unreadable: the pipeline says so, to this sender
    if code is None:
        code, _ = _unit_from_name(session, name)
    return code


def _ours(session: Session, sha: str, row: MailIn, sender: str) -> Submission | None:
    """The submission this very message already made from an attachment (a re-run after a crash)."""
    sub = session.scalars(select(Submission).where(Submission.sha256 == sha)).first()
    if sub is None:
        return None
    if sub.id in (row.submissions or []):
        return sub
    received = sub.received_at if sub.received_at.tzinfo else sub.received_at.replace(tzinfo=UTC)
    started = row.received_at if row.received_at.tzinfo else row.received_at.replace(tzinfo=UTC)
    if sub.channel == "mail" and sub.sender == sender and received >= started:
        return sub
    return None


def _notice_text(path: Path | None) -> str:
    if path is None or path.suffix != ".txt" or not path.exists():
        return ""
    return path.read_text(encoding="utf-8")


def _result_from_outcome(out: Any) -> FileResult:
    status = out.extra.get("previous_status", out.status) if out.status == RECOVERED else out.status
    report = Path(out.report_path) if out.report_path else None
    return FileResult(out.original_name, status, MAIL_STATUS_NAMES.get(status, status), out.submission_id,
                      out.unit_code, report, out.message, out.rows, out.stored, out.errors, out.warnings,
                      _notice_text(report))


def _result_from_submission(sub: Submission) -> FileResult:
    report = Path(sub.report_path) if sub.report_path else None
    return FileResult(sub.original_name, sub.status, MAIL_STATUS_NAMES.get(sub.status, sub.status), sub.id,
                      sub.unit_code, report, sub.message, sub.rows, sub.rows_stored, sub.errors, sub.warnings,
                      _notice_text(report))


class MailIntake:
    """Processes the spool of one instance."""

    def __init__(self, config: Any, engine: Any, pack: Any) -> None:
        self.config, self.engine, self.pack = config, engine, pack
        self.spool = Spool(config.state_dir)
        self.limits = Limits.from_config(config)
        self.read_limits = ReadLimits.from_config(config)
        self.max_bytes = int(float(config.get("mail", "max_message_mb")) * (1 << 20))

    def process_waiting(self) -> list[MailResult]:
        """Every message in the spool, oldest first. A message whose processing fails for a machinery
        reason (database down) stays in the spool and is tried again on the next round."""
        from processor.intake import _lock

        results = []
        for item in self.spool.waiting():
            fd = _lock(item.path)  # another worker on the same state folder holds it: leave it to that one
            if fd is False:
                continue
            try:
                if item.path.exists():
                    results.append(self.process(item))
            except Exception:  # noqa: BLE001 - one message never stops the service
                log.exception("mail %s: processing failed; it stays in the spool and is retried", item.key)
            finally:
                if isinstance(fd, int):
                    os.close(fd)
        return results

    # -- one message ---------------------------------------------------------------------------
    def process(self, item: Spooled, *, release: bool = False) -> MailResult:
        raw = item.raw
        parsed = parse_message(raw, self.limits)
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = session.scalars(select(MailIn).where(MailIn.key == item.key)).first()
            if row is not None and row.state != PROCESSING and not release:
                self.spool.finish(item)
                return MailResult(row.id, row.state, row.reason)
            if row is None:
                row = MailIn(key=item.key, source=item.source, sender=parsed.sender[:254],
                             subject=parsed.subject[:500], state=PROCESSING, reason="", submissions=[],
                             spool_path=str(self.spool.done / item.path.name), received_at=datetime.now(UTC))
                session.add(row)
                session.flush()
                audit(session, "mail", "mail.receive", "mail_in", str(row.id),
                      {"key": item.key, "from": parsed.sender, "subject": parsed.subject, "source": item.source,
                       "attachments": [a.name for a in parsed.attachments]})
            verdict = judge_sender(session, parsed.sender, parsed.auth_failures)
            if release:
                verdict = Verdict(parsed.sender, units=verdict.units)
            mail_id = row.id
        if len(raw) > self.max_bytes and not release:
            return self._quarantine(item, mail_id, f"邮件大小 {len(raw) >> 20} MB 超过上限（[mail] max_message_mb）")
        if not verdict.known:
            return self._quarantine(item, mail_id, verdict.reason)
        folder = work_dir(self.config.state_dir, mail_id)
        folder.mkdir(parents=True, exist_ok=True)
        placed = self._place(folder, parsed.attachments)
        outside = None if release else self._outside(placed, parsed, verdict)
        if outside:
            shutil.rmtree(folder, ignore_errors=True)
            return self._quarantine(item, mail_id, outside)
        files = [self._one(att, path, mail_id, parsed, verdict) for att, path in placed]
        reply_id = self._finish(item, mail_id, parsed, files, parsed.skipped, release, verdict.unit)
        shutil.rmtree(folder, ignore_errors=True)
        return MailResult(mail_id, RELEASED if release else DONE, files=files, reply_id=reply_id)

    def _outside(self, placed: list[tuple[Attachment, Path]], parsed: ParsedMessage, verdict: Verdict) -> str:
        """Why an attachment may not come from this sender ('' when every one may)."""
        with Session(self.engine) as session:
            for att, path in placed:
                code = _unit_of(path, att.name, session, self.read_limits) or verdict.unit
                if code and not may_send_for(session, verdict, code):
                    unit = session.get(Unit, code)
                    label = f"{unit.name}（{code}）" if unit else f"未登记的单位 {code}"
                    return (f"附件“{att.name}”是{label}的，不在发件人 {parsed.sender} 所属单位"
                            f"（{'、'.join(verdict.units)}）的管辖范围内")
        return ""

    @staticmethod
    def _place(folder: Path, attachments: list[Attachment]) -> list[tuple[Attachment, Path]]:
        placed = []
        for n, att in enumerate(attachments, start=1):
            path = folder / f"{n:03d}__{safe_filename(att.name, 150)}"
            if not path.exists():
                tmp = path.with_name(f".{path.name}.part")
                tmp.write_bytes(att.data)
                tmp.replace(path)
            placed.append((att, path))
        return placed

    def _one(self, att: Attachment, path: Path, mail_id: int, parsed: ParsedMessage, verdict: Verdict) -> FileResult:
        sha = sha256_of(path)
        with Session(self.engine) as session:
            row = session.get(MailIn, mail_id)
            ours = _ours(session, sha, row, parsed.sender)
            if ours is not None and ours.archived_path and Path(ours.archived_path).exists():
                path.unlink(missing_ok=True)
                result = _result_from_submission(ours)
                result.name = att.name
                return result
        default_unit = None
        with Session(self.engine) as session:
            for code in verdict.units:
                unit = session.get(Unit, code)
                if unit is not None and unit.level == "school":
                    default_unit = code
                    break
        out = process_file(path, self.config, self.pack, self.engine, original_name=att.name, channel="mail",
                           sender=parsed.sender, default_unit=default_unit)
        if out.submission_id is not None and out.status != DUPLICATE:
            with Session(self.engine) as session, session.begin():
                row = session.get(MailIn, mail_id)
                row.submissions = [*(row.submissions or []), out.submission_id]
        return _result_from_outcome(out)

    def _quarantine(self, item: Spooled, mail_id: int, reason: str) -> MailResult:
        with Session(self.engine) as session, session.begin():
            row = session.get(MailIn, mail_id)
            row.state, row.reason, row.finished_at = QUARANTINED, reason[:4000], datetime.now(UTC)
            sender = row.sender
            audit(session, "mail", "mail.quarantine", "mail_in", str(mail_id),
                  {"from": row.sender, "subject": row.subject, "reason": reason})
        self.spool.finish(item)
        log.warning("mail %s from %s quarantined: %s", item.key, sender, reason)
        return MailResult(mail_id, QUARANTINED, reason)

    def _finish(self, item: Spooled, mail_id: int, parsed: ParsedMessage, files: list[FileResult],
                skipped: list[Skipped], release: bool, sender_unit: str | None) -> int | None:
        context = {
            "instance_name": self.config.get("instance", "name"),
            "from_address": self.config.get("mail", "from_address"),
            "sender_name": parsed.sender_name, "subject": parsed.subject, "files": files, "skipped": skipped,
            "received_at": datetime.now().strftime("%Y-%m-%d %H:%M"),
        }
        with Session(self.engine) as session, session.begin():
            row = session.get(MailIn, mail_id)
            reply = None
            if files:
                units = {f.unit_code for f in files}
                entitled = all(is_entitled(session, parsed.sender, code) for code in units)
                attachments = [(f.report, f.report.name) for f in files
                               if f.report is not None and f.report.suffix == ".xlsx" and f.report.exists()]
                reply = outgoing.enqueue(
                    session, to=parsed.sender, subject=f"回复：{parsed.subject or '报送文件'}（{_summary(files)}）",
                    template="reply", context=context, attachments=attachments, entitled=entitled, kind="reply",
                    dedup_key=f"reply:{mail_id}", in_reply_to=parsed.message_id, state_dir=self.config.state_dir)
            else:
                reply = outgoing.enqueue(
                    session, to=parsed.sender, subject=f"回复：{parsed.subject or '来信'}（未找到可处理的附件）",
                    template="no_attachment", context=context, kind="no_attachment", dedup_key=f"reply:{mail_id}",
                    in_reply_to=parsed.message_id, entitled=False, state_dir=self.config.state_dir)
            row.state = RELEASED if release else DONE
            row.finished_at = datetime.now(UTC)
            row.submissions = sorted({*(row.submissions or []), *(f.submission_id for f in files if f.submission_id)})
            row.unit_code = sender_unit  # the unit the sender acts for (None: released from quarantine)
            audit(session, "mail", "mail.release" if release else "mail.done", "mail_in", str(mail_id),
                  {"files": [f"{f.name}: {f.status}" for f in files], "reply": reply.id})
            reply_id = reply.id
        self.spool.finish(item)
        return reply_id


def _summary(files: list[FileResult]) -> str:
    counts: dict[str, int] = {}
    for f in files:
        counts[f.status] = counts.get(f.status, 0) + 1
    names = {"accepted": "已接收", "partial": "部分接收", "rejected": "退回", "unreadable": "无法识别",
             DUPLICATE: "重复报送"}
    return "，".join(f"{names.get(k, k)} {v} 份" for k, v in counts.items())


def release(config: Any, engine: Any, pack: Any, mail_id: int) -> MailResult | None:
    """Process a quarantined message as if its sender were authorised (an administrator vouches for it)."""
    with Session(engine) as session:
        row = session.get(MailIn, mail_id)
        if row is None or row.state != QUARANTINED:
            return None
        key, source = row.key, row.source
    intake = MailIntake(config, engine, pack)
    path = intake.spool.find(key)
    if path is None:
        raise TmisError(f"隔离邮件 {mail_id} 的原始邮件文件已不在邮件缓存中（{intake.spool.done}）",
                        hint="无法放行；请让发件人重新发送。")
    return intake.process(Spooled(path, key, source), release=True)
