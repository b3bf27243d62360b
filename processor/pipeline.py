"""One received file, start to end: read → validate → store → feedback → archive (or quarantine).

``process_file`` is what intake calls for every claimed file (and what tests call directly). Order of the
steps, chosen so that a crash at any moment loses nothing and stores nothing twice:

1. sha256 of the file. A submission with that sha256 already in the store means either a re-sent copy
   (answered "already received", file archived under duplicates/) or a crash after the commit and before
   the move (its ``archived_path`` does not exist yet): then only the move is finished.
2. Read and validate (read-only access to the store).
3. One transaction: the submission row (with the archive path it will get), teachers, record versions,
   findings, audit entry. The report for the school is written inside that transaction, before the
   commit, under a name derived from the file's content, so a re-run after a crash overwrites it.
4. Commit, then move the file to ``archive/<yyyy-mm>/<submission id>__<name>`` (or quarantine/).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from processor import forked
from processor.audit import audit
from processor.errors import InputError
from processor.feedback import (
    STATUS_NAMES,
    ReportContext,
    SheetStat,
    atomic_write_text,
    render_text,
    safe_filename,
    write_notice,
    write_report,
)
from processor.findings import ERROR, WARNING, Finding
from processor.handlers import FileJob, handler_for
from processor.ingest import REJECTED, UNREADABLE, Ingest, StoreLookupImpl, save_findings, status_for
from processor.review.intake import entry_step, settle_unreviewed
from processor.store.models import Submission, Unit

log = logging.getLogger(__name__)

ACTOR = "intake"
DUPLICATE, RECOVERED, FAILED = "duplicate", "recovered", "failed"
RULE_ERROR = "RULE-ERROR"
CLAIM_PREFIX = re.compile(r"^[0-9a-f]{32}__")


@dataclass
class Outcome:
    """What became of one file."""

    status: str  # accepted | partial | rejected | unreadable | duplicate | recovered | failed
    original_name: str
    sha256: str = ""
    submission_id: int | None = None
    unit_code: str | None = None
    archived_path: Path | None = None
    report_path: Path | None = None
    rows: int = 0
    stored: int = 0
    errors: int = 0
    warnings: int = 0
    message: str = ""
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class StateDirs:
    """The folders of the state directory that intake uses."""

    root: Path

    @property
    def processing(self) -> Path:
        return self.root / "processing"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def duplicates(self) -> Path:
        return self.root / "archive" / "duplicates"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    def make(self) -> None:
        for p in (self.processing, self.archive, self.duplicates, self.quarantine):
            p.mkdir(parents=True, exist_ok=True)


def original_name_of(path: Path) -> str:
    """The name the sender gave the file (a claimed file is named <uuid>__<original name>)."""
    return CLAIM_PREFIX.sub("", path.name, count=1)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def move_file(src: Path, dst: Path) -> Path:
    """Move a file into place, never overwriting another file (a numbered name is used instead)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    target, n = dst, 1
    while target.exists():
        n += 1
        target = dst.with_name(f"{dst.stem}.{n}{dst.suffix}")
    try:
        os.rename(src, target)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: another file system
            raise
        tmp = target.with_name(f".{target.name}.part")
        shutil.copy2(src, tmp)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.rename(tmp, target)
        src.unlink()
    return target


def _local(ts: datetime) -> str:
    return ts.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _as_utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _limits(config: Any) -> Any:
    from processor.readers import Limits

    maker = getattr(Limits, "from_config", None)
    return maker(config) if maker else Limits()


def _kind_title(pack: Any, wb: Any) -> str:
    kind = getattr(wb, "kind", None)
    meta = getattr(wb, "meta", None) or {}
    if kind and kind in getattr(pack, "kinds", {}):
        return str(pack.kinds[kind].get("title") or meta.get("kind_title") or kind)
    return str(meta.get("kind_title") or "教师信息采集表")


def _unit_problem(unit_code: str | None, unit: Unit | None, name: str) -> Finding | None:
    """A file-level error when the sending school is not known (nothing of the file is stored)."""
    fix = "请使用本单位的官方模板（由管理员运行 tmis template teachers --unit 本校学校标识码 --out 模板.xlsx 生成）填写后重新报送。"
    if not unit_code:
        return Finding(None, None, None, None, None, "UNIT-MISSING", ERROR,
                       f"文件“{name}”中没有本系统模板的单位信息，无法确定是哪所学校报送的", fix)
    if unit is None:
        return Finding(None, None, None, None, unit_code, "UNIT-UNKNOWN", ERROR,
                       f"模板中的单位代码 {unit_code} 不在本系统的单位名录中", fix)
    if unit.level != "school":
        return Finding(None, None, None, None, unit_code, "UNIT-NOT-SCHOOL", ERROR,
                       f"模板中的单位 {unit.name}（{unit_code}）不是学校，教师信息应由学校报送",
                       "教师信息应由教师所在学校使用本校的官方模板填写后报送。")
    return None


_SCHOOL_CODE_IN_NAME = re.compile(r"(?<!\d)\d{10}(?!\d)")


def _unit_from_name(session: Session, name: str) -> tuple[str | None, Finding | None]:
    """The one known school whose 10-digit code appears in the file name, with a warning saying so."""
    codes = sorted(set(_SCHOOL_CODE_IN_NAME.findall(name)))
    if not codes:
        return None, None
    schools = session.scalars(select(Unit).where(Unit.code.in_(codes), Unit.level == "school")).all()
    if len(schools) != 1:
        return None, None
    school = schools[0]
    return school.code, Finding(
        None, None, None, None, school.code, "UNIT-FROM-FILENAME", WARNING,
        f"文件“{name}”中没有本系统模板的单位信息，已按文件名中的学校标识码 {school.code} 认定为{school.name}报送",
        "如果不是本校的文件，请立即联系上级管理员；今后请使用本校的官方模板填写，系统即可自动识别报送学校。")


_RULE_ERRORS_LOGGED: set[str] = set()


def _school_findings(result: Any, name: str) -> list[Finding]:
    """The findings for the school: a rule that cannot be used (RULE-ERROR) is the operator's problem, logged
    here, and neither shown to the school nor counted against its file."""
    out = []
    for f in result.findings:
        if f.rule == RULE_ERROR:
            if f.message not in _RULE_ERRORS_LOGGED:
                _RULE_ERRORS_LOGGED.add(f.message)
                log.error("rule problem (not reported to schools; first seen with %s): %s", name, f.message)
        else:
            out.append(f)
    return out


# Compiling the rules takes about a second: one Validator per (pack, store, day, limit), reused across files.
_VALIDATORS: dict[tuple[int, int, date, int], tuple[Any, Any]] = {}


def _validator(pack: Any, engine: Engine, today: date, max_findings: int) -> Any:
    from processor.engine import Validator

    key = (id(pack), id(engine), today, max_findings)
    hit = _VALIDATORS.get(key)
    if hit is not None and hit[0] is pack:
        return hit[1]
    if len(_VALIDATORS) >= 4:
        _VALIDATORS.clear()
    validator = Validator(pack, today=today, store_lookup=StoreLookupImpl(engine), max_findings=max_findings)
    _VALIDATORS[key] = (pack, validator)
    return validator


def _validate_in_child(config: Any, path: Path) -> bool:
    """Whether this file is validated in a forked child while this process stores ([intake] parallel_min_mb)."""
    limit = float(config.get("intake", "parallel_min_mb"))
    if limit < 0 or not forked.available():
        return False
    try:
        return path.stat().st_size >= limit * 1024 * 1024
    except OSError:
        return False


def _unit_name(engine: Engine, code: str | None) -> str | None:
    if not code:
        return None
    with Session(engine) as session:
        unit = session.get(Unit, code)
        return unit.name if unit else None


def process_file(path: str | Path, config: Any, pack: Any, engine: Engine, *, original_name: str | None = None,
                 channel: str = "inbox", sender: str = "", default_unit: str | None = None,
                 _concurrent: bool = False) -> Outcome:
    """Process one file that intake owns (claimed into processing/); the file ends archived or quarantined.

    Raises only for failures of the machinery itself (database unreachable, disk full): then the file
    stays where it is and is retried later. Anything wrong with the file becomes an Outcome.
    ``default_unit``: the school a file without template metadata is attributed to when its name names
    none (mail: the school of the officer who sent it)."""
    path = Path(path)
    started = time.monotonic()
    name = original_name or original_name_of(path)
    dirs = StateDirs(config.state_dir)
    dirs.make()
    sha = sha256_of(path)
    with Session(engine) as session:
        previous = session.scalars(select(Submission).where(Submission.sha256 == sha)).first()
        prev = None
        if previous is not None:
            prev = {c: getattr(previous, c) for c in ("id", "original_name", "archived_path", "status", "unit_code",
                                                      "received_at", "message", "report_path", "rows",
                                                      "rows_stored", "errors", "warnings")}
    if prev is not None:
        out = _finish_or_duplicate(path, name, sha, prev, config, dirs, engine, may_finish=not _concurrent)
    else:
        out = _process_new(path, name, sha, config, pack, engine, dirs, channel, sender, default_unit)
    out.seconds = time.monotonic() - started
    log.info("%s: %s (submission %s, rows %d, stored %d, errors %d, warnings %d, %.1fs)", name, out.status,
             out.submission_id, out.rows, out.stored, out.errors, out.warnings, out.seconds)
    return out


def _finish_or_duplicate(path: Path, name: str, sha: str, prev: dict[str, Any], config: Any, dirs: StateDirs,
                         engine: Engine, *, may_finish: bool = True) -> Outcome:
    archived = Path(prev["archived_path"]) if prev["archived_path"] else None
    if may_finish and archived is not None and not archived.exists() and prev["original_name"] == name[:500]:
        # The transaction of an earlier run committed, the move did not happen: finish it, store nothing.
        target = move_file(path, archived)
        return Outcome(RECOVERED, name, sha, prev["id"], prev["unit_code"], target,
                       Path(prev["report_path"]) if prev["report_path"] else None, prev["rows"], prev["rows_stored"],
                       prev["errors"], prev["warnings"], f"已补完归档（上次处理结果：{prev['status']}）",
                       extra={"previous_status": prev["status"]})
    now = datetime.now(UTC)
    first_at = _as_utc(prev["received_at"])
    unit_name = _unit_name(engine, prev["unit_code"])
    notice = write_notice(
        config.outbox, prev["unit_code"] if unit_name else None,
        f"重复报送_{safe_filename(unit_name or '未识别单位', 40)}_"
        f"{safe_filename(Path(name).stem, 60)}_{now.astimezone():%Y-%m-%d}",
        "notice_duplicate.txt.j2",
        instance_name=config.get("instance", "name"), file_name=name, received_at=_local(now),
        first_received_at=_local(first_at), first_submission=prev["id"], first_name=prev["original_name"],
        first_status=prev["status"], first_status_name=STATUS_NAMES.get(prev["status"], prev["status"]),
        first_message=prev["message"], first_report=Path(prev["report_path"]).name if prev["report_path"] else "",
    )
    target = move_file(path, dirs.duplicates / path.name)
    with Session(engine) as session, session.begin():
        audit(session, ACTOR, "submission.duplicate", "submission", str(prev["id"]),
              {"file": name, "archived": str(target), "notice": str(notice)})
    return Outcome(DUPLICATE, name, sha, prev["id"], prev["unit_code"], target, notice,
                   message=f"该文件已于 {_local(first_at)} 收到（收件编号 {prev['id']}），无需重复报送")


def _process_new(path: Path, name: str, sha: str, config: Any, pack: Any, engine: Engine, dirs: StateDirs,
                 channel: str, sender: str, default_unit: str | None = None) -> Outcome:
    from processor.readers import read_workbook

    received = datetime.now(UTC)
    try:
        wb = read_workbook(path, pack, _limits(config), name=name)
    except InputError as exc:
        # Refused: nothing opens the file again (a file the guard refused may make a parser exhaust memory).
        return _quarantine(path, name, sha, config, engine, dirs, str(exc), received, channel, sender,
                           unit_code=getattr(exc, "unit_code", None))
    handler = handler_for((getattr(wb, "meta", None) or {}).get("kind"))
    if handler is not None:  # a return sheet, report form, roster, request: not teacher data
        return handler(FileJob(path=path, name=name, sha256=sha, config=config, pack=pack, engine=engine, dirs=dirs,
                               wb=wb, received=received, channel=channel, sender=sender))
    if not getattr(wb, "blocks", None):
        # Read, but nothing in it is a teacher-information sheet: as unrecognised as a broken file.
        why = "；".join(f.message for f in (wb.findings or [])[:3])
        reason = (f"{name}：文件中没有可以识别的教师信息工作表" + (f"（{why}）" if why else "")
                  + f"。{_expected_sheets(pack)}请使用官方模板，保留模板中的工作表名称和表头后重新报送。")
        return _quarantine(path, name, sha, config, engine, dirs, reason, received, channel, sender,
                           unit_code=getattr(wb, "unit_code", None))

    unit_code = getattr(wb, "unit_code", None) or None
    guessed: Finding | None = None
    with Session(engine) as session:
        if unit_code is None:
            # A legacy export or a school's own workbook carries no template metadata: a known school's
            # 10-digit code in the file name identifies the sender (said to the school as a warning).
            unit_code, guessed = _unit_from_name(session, name)
            if unit_code is None and default_unit:
                school = session.get(Unit, default_unit)
                if school is not None and school.level == "school":
                    unit_code, guessed = school.code, Finding(
                        None, None, None, None, school.code, "UNIT-FROM-SENDER", WARNING,
                        f"文件“{name}”中没有本系统模板的单位信息，已按发件人 {sender} 认定为{school.name}报送",
                        "今后请使用本校的官方模板填写，系统即可自动识别报送学校。")
            if unit_code:
                wb.unit_code = unit_code
        unit = session.get(Unit, unit_code) if unit_code else None
        unit_name = unit.name if unit else (wb.meta or {}).get("unit_name")
        unit_level = unit.level if unit else None
    problem = _unit_problem(unit_code, unit, name)
    known_unit = unit_code if unit_level == "school" else None

    validator = _validator(pack, engine, config.today, int(config.get("check", "max_findings")))
    accept_mode = config.get("intake", "accept_mode")
    sheet_order = {}
    for block in wb.blocks:
        sheet_order[block.title] = getattr(block.spec, "order", 0)
    first = [problem] if problem else [guessed] if guessed else []

    in_child = _validate_in_child(config, path)
    attempt = 0
    while True:
        try:
            return _store(path, name, sha, config, pack, engine, dirs, wb, validator, first, problem, known_unit,
                          unit_name, accept_mode, received, channel, sender, sheet_order, in_child)
        except forked.ChildFailed as exc:  # rolled back: nothing of the file was stored; again in one process
            log.warning("%s: %s; validating in this process instead", name, exc)
            in_child = False
        except IntegrityError as exc:
            with Session(engine) as session:
                same = session.scalars(select(Submission.id).where(Submission.sha256 == sha)).first()
            if same is not None:  # another worker stored the same content meanwhile
                return process_file(path, config, pack, engine, original_name=name, channel=channel, sender=sender,
                                    _concurrent=True)
            attempt += 1
            if attempt == 2:
                raise
            log.warning("%s: concurrent change while storing (%s); validating again", name, exc.orig)


def _store(path: Path, name: str, sha: str, config: Any, pack: Any, engine: Engine, dirs: StateDirs, wb: Any,
           validator: Any, first: list[Finding], problem: Finding | None, known_unit: str | None,
           unit_name: str | None, accept_mode: str, received: datetime, channel: str, sender: str,
           sheet_order: dict[str, int], in_child: bool = False) -> Outcome:
    meta = getattr(wb, "meta", None) or {}
    unit_name_known = problem is None or problem.rule == "UNIT-NOT-SCHOOL"
    with Session(engine, expire_on_commit=False) as session, session.begin():
        sub = Submission(sha256=sha, original_name=name[:500], channel=channel, sender=sender,
                         kind=getattr(wb, "kind", None), unit_code=getattr(wb, "unit_code", None),
                         template_version=meta.get("template_version"), status="processing", received_at=received)
        session.add(sub)
        session.flush()
        archived = dirs.archive / received.astimezone().strftime("%Y-%m") / f"{sub.id}__{safe_filename(name, 150)}"
        sub.archived_path = str(archived)
        step = entry_step(session, config, known_unit)
        # --- streaming ingest (issue 12): each chunk the engine validates is stored at once, in this one
        # transaction, so memory is bounded whatever the file's size and a kill at any moment stores nothing.
        # In one process the engine's store look-ups read through this session (an SQLite write transaction
        # would make other connections wait); a validating child reads through a read-only engine of its own.
        run = Ingest(session, pack=pack, wb=wb, submission=sub, unit_code=known_unit or "", accept_mode=accept_mode,
                     store=known_unit is not None and problem is None, review_step=step)
        if in_child:  # a big file: validated by a forked child while this process stores (processor/forked.py)
            result = forked.validate(validator, wb, run.add)
        else:
            with validator.env.store.using(session):
                result = validator.validate(wb, keep_rows=False, on_chunk=run.add)
        done = run.finish(result)
        if step is None and done.stored:
            settle_unreviewed(session, config, pack, sub.id, done.version_ids)
        # --- end of streaming ingest
        findings = first + _school_findings(result, name) + done.findings
        # The engine counts findings past check.max_findings too; the list holds the first ones only.
        extra = ([problem] if problem else []) + done.findings
        own = [f for f in result.findings if f.rule == RULE_ERROR]
        errors = result.errors - sum(1 for f in own if f.severity == ERROR) + sum(1 for f in extra if f.severity == ERROR)
        warnings = result.warnings - sum(1 for f in own if f.severity != ERROR) + sum(
            1 for f in extra if f.severity != ERROR)
        status = status_for(done.rows, done.stored, errors) if problem is None else REJECTED
        if done.note:
            status = REJECTED
        if getattr(result, "truncated", False):
            done.note = (done.note + " " if done.note else "") + (
                f"问题过多，清单只列出前 {len(result.findings)} 条（共 {errors} 个错误、{warnings} 个警告）。")
        per_sheet = {s.title: SheetStat(s.title, s.rows, s.stored) for s in done.sheets}
        for f in findings:
            stat = per_sheet.get(f.sheet or "")
            if stat is not None:
                if f.severity == ERROR:
                    stat.errors += 1
                else:
                    stat.warnings += 1
        labels = {}
        for block in wb.blocks:
            for fs in block.spec.fields:
                labels[(block.title, fs.code)] = fs.label
        ctx = ReportContext(
            original_name=name, received_at=received, sha256=sha, unit_code=getattr(wb, "unit_code", None),
            unit_name=unit_name, kind=getattr(wb, "kind", None), kind_title=_kind_title(pack, wb),
            submission_id=sub.id, status=status, rows=done.rows, stored=done.stored,
            sheets=list(per_sheet.values()), notes=[done.note] if done.note else [],
            errors=errors, warnings=warnings, unit_known=unit_name_known,
            instance_name=config.get("instance", "name"), labels=labels,
        )
        report = None
        try:
            files = write_report(ctx, findings, outbox=config.outbox, wb_data=wb, source=path, sheet_order=sheet_order)
            report = files.report
        except Exception as exc:  # noqa: BLE001 - the data is safe; the report failing must not lose it
            log.exception("%s: the report could not be written", name)
            sub.message = f"错误报告生成失败：{exc}"
        sub.status, sub.rows, sub.rows_stored = status, done.rows, done.stored
        sub.errors, sub.warnings = errors, warnings
        sub.report_path = str(report or "")
        sub.processed_at = datetime.now(UTC)
        if problem is not None:
            sub.message = problem.message
        elif done.note:
            sub.message = done.note
        save_findings(session, sub.id, findings)
        audit(session, ACTOR, "submission.receive", "submission", str(sub.id), {
            "file": name, "sha256": sha, "status": status, "unit": sub.unit_code, "rows": done.rows,
            "stored": done.stored, "errors": errors, "warnings": warnings, "superseded": done.superseded,
            "teachers_new": done.teachers_new, "channel": channel, "sender": sender,
        })
        sub_id = sub.id
    target = move_file(path, archived)
    if target != archived:  # never expected: the name carries the submission id
        with Session(engine) as session, session.begin():
            session.get(Submission, sub_id).archived_path = str(target)
    return Outcome(status, name, sha, sub_id, getattr(wb, "unit_code", None), target, report, done.rows,
                   done.stored, errors, warnings, sub.message)


def _expected_sheets(pack: Any) -> str:
    """What a teacher-information workbook looks like, for a file that is not one (a payroll, a roster)."""
    sheets = [s for s in pack.ordered_sheets()][:3]
    if not sheets:
        return ""
    headers = [f.label for f in sheets[0].input_fields if f.required][:4]
    return (f"本系统只接收教师信息采集表：工作表应为{'、'.join(f'“{s.name}”' for s in sheets)}等，"
            f"“{sheets[0].name}”的表头应有{'、'.join(f'“{h}”' for h in headers)}等字段。")


def _quarantine(path: Path, name: str, sha: str, config: Any, engine: Engine, dirs: StateDirs, reason: str,
                received: datetime, channel: str, sender: str, unit_code: str | None = None) -> Outcome:
    """An unreadable file: submission 'unreadable', the file in quarantine/ with a reason, a notice for the sender.

    ``unit_code`` is what the reader learnt of the sender before it gave up; the file itself is not opened
    again here."""
    with Session(engine) as session:
        unit = session.get(Unit, unit_code) if unit_code else None
        unit_name = unit.name if unit else None
    if unit is None:
        unit_code = None
    with Session(engine, expire_on_commit=False) as session, session.begin():
        sub = Submission(sha256=sha, original_name=name[:500], channel=channel, sender=sender, unit_code=unit_code,
                         status=UNREADABLE, message=reason, received_at=received, processed_at=datetime.now(UTC))
        session.add(sub)
        session.flush()
        target = dirs.quarantine / f"{sub.id}__{safe_filename(name, 150)}"
        sub.archived_path = str(target)
        reason_file = target.with_name(target.name + ".reason.txt")
        atomic_write_text(reason_file, render_text(
            "quarantine_reason.txt.j2", reason=reason, file_name=name, received_at=_local(received), sha256=sha,
            submission=sub.id, detail="", action="已通知报送单位修改后重新报送；内容相同的文件不会再次处理。"))
        notice = write_notice(
            config.outbox, unit_code,
            f"退回_无法识别_{safe_filename(unit_name or '未识别单位', 40)}_{safe_filename(Path(name).stem, 60)}_"
            f"{received.astimezone():%Y-%m-%d}",
            "notice_unreadable.txt.j2", instance_name=config.get("instance", "name"), file_name=name,
            received_at=_local(received), submission=sub.id, reason=reason)
        sub.report_path = str(notice)
        audit(session, ACTOR, "submission.unreadable", "submission", str(sub.id),
              {"file": name, "sha256": sha, "reason": reason, "channel": channel, "sender": sender})
        sub_id = sub.id
    moved = move_file(path, target)
    return Outcome(UNREADABLE, name, sha, sub_id, unit_code, moved, notice, message=reason)


def quarantine_failed(path: Path, config: Any, reason: str, detail: str) -> Path:
    """A file that broke the pipeline itself (a bug): quarantined with a reason, no submission recorded,
    so that an operator can put it back into the inbox once the cause is fixed."""
    dirs = StateDirs(config.state_dir)
    dirs.make()
    name = original_name_of(path)
    try:
        sha = sha256_of(path)
    except OSError:
        sha = ""
    target = move_file(path, dirs.quarantine / path.name)
    atomic_write_text(target.with_name(target.name + ".reason.txt"), render_text(
        "quarantine_reason.txt.j2", reason=reason, file_name=name, received_at=_local(datetime.now(UTC)), sha256=sha,
        submission=None, detail=detail,
        action="这是本系统的内部错误，不是报送单位的问题。请把日志和本文件交给维护人员；修复后把原文件放回收件目录即可重新处理。"))
    return target
