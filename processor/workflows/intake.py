"""A filled request form back through the inbox or mail (the handler of every request kind's form).

Checks, each refusal naming the file, sheet and cell: the form's signature (WF-SIGNATURE: the unit it speaks
for was not changed by hand); the unit may file this kind (WF-UNIT-LEVEL); 填报人 is a 信息管理员 or 系统管理员
of the unit (WF-FILER-*), 填报日期 a date (WF-DATE), a mailed form from the unit's officers (WF-SENDER); every
row's cells have the field's type and the required ones are filled; the kind's own check of each row against
the store (the teacher exists and is in the state the request needs, no open request of the same kind …).
Any error: nothing is opened and the unit gets its form back with the cells marked (processor/feedback.py).
Otherwise every row opens a request in one transaction and the first confirmation sheets go out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from processor import sheets, signing
from processor.audit import audit
from processor.feedback import ReportContext, SheetStat, write_report
from processor.findings import ERROR, Finding
from processor.store.models import LEVEL_NAMES, Submission, Unit
from processor.workflows import confirm, forms, registry, state
from processor.workflows.registry import RequestKind, RowCheck

ACCEPTED, REJECTED = "accepted", "rejected"


@dataclass
class Verified:
    """A filled form checked: the filing unit and officer, the rows that can become requests, the findings."""

    unit: Unit | None
    filer: Any
    rows: int
    checked: list[Any] = field(default_factory=list)  # (FormRow, Filed)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.filer is not None and not any(f.severity == ERROR for f in self.findings)


def verify_form(session: Session, job: Any, kind: RequestKind, meta: dict[str, Any], key: bytes,
                now: datetime) -> Verified:
    """Every check of a filled form against the store, changing nothing (``job``: path, name, config, pack,
    channel, sender). Used by the handler and by ``tmis check``."""
    title = forms.form_title(kind)
    unit = session.get(Unit, meta.get("unit_code") or "")
    out = Verified(unit, None, 0)
    if not signing.verify(forms.signed_payload(meta), meta.get("signature", ""), key) or unit is None:
        out.findings.append(sheets.finding("_tmis", None, None, "WF-SIGNATURE",
                                           f"{job.name}：{kind.title}表的签名不符：不是本系统生成的申请表，或其隐藏信息被改动",
                                           f"请用 tmis template {kind.kind} --unit 本单位代码 生成申请表，填写后报送。"))
        return out
    if unit.level not in kind.filer_levels:
        out.findings.append(sheets.finding(None, None, None, "WF-UNIT-LEVEL",
                                           f"{job.name}：{unit.name}是{LEVEL_NAMES.get(unit.level, unit.level)}单位，不能提出{kind.title}",
                                           f"{kind.title}由{'、'.join(LEVEL_NAMES.get(x, x) for x in kind.filer_levels)}提出。"))
        return out
    filled = forms.read_form(job.path, kind, job.name, job.pack)
    out.rows = len(filled.rows)
    out.findings.extend(filled.findings)
    if filled.filer is None:
        if not filled.findings:
            out.findings.append(sheets.finding(title, None, None, "WF-LAYOUT", f"{job.name}：{title}中找不到“{forms.FILER}”",
                                               f"请使用 tmis template {kind.kind} 生成的申请表填写。"))
        return out
    out.filer, found = sheets.check_officer(session, unit, filled.filer.text, file=job.name, sheet=title,
                                            cell=filled.filer.cell, role_word=forms.FILER, rule_prefix="WF-FILER",
                                            what="填报")
    out.findings.extend(found)
    issued = datetime.fromisoformat(meta["issued_at"]) if meta.get("issued_at") else now
    out.findings.extend(sheets.check_date(filled.day, filled.date_text, issued=issued, file=job.name, sheet=title,
                                          cell=filled.date_cell, rule="WF-DATE", label=forms.FILE_DATE, what="申请表"))
    out.findings.extend(sheets.check_sender(session, job, unit, rule="WF-SENDER", what=f"{kind.title}表"))
    if not filled.rows and not out.findings:
        out.findings.append(sheets.finding(title, None, None, "WF-EMPTY", f"{job.name}：{title}中没有填写任何申请",
                                           "请在表头下逐行填写后重新报送。"))
    bad_rows = {f.row for f in filled.findings}
    for row in filled.rows:
        if row.row in bad_rows:
            continue
        ctx = RowCheck(session, job.config, unit, row.values, title, row.row, row.columns, job.name)
        result = kind.check(ctx)
        out.findings.extend(ctx.errors)
        if result is not None and not ctx.errors:
            out.checked.append((row, result))
    _no_twice(job.name, title, out.checked, out.findings)
    return out


def handle(job: Any) -> Any:
    """Handler of a request form (kind = a registered request kind)."""
    from processor.pipeline import move_file

    meta = dict(getattr(job.wb, "meta", None) or {})
    kind = registry.get(meta.get("kind", ""))
    key, quarantined = sheets.key_or_quarantine(job, f"{kind.title}表")
    if key is None:
        return quarantined
    now = datetime.now(UTC)
    with Session(job.engine, expire_on_commit=False) as session, session.begin():
        v = verify_form(session, job, kind, meta, key, now)
        if v.ok:
            outcome = _open(job, session, kind, v.unit, v.filer, v.checked, v.findings, now)
        else:
            outcome = _refuse(job, session, kind, v.unit, v.findings, now, rows=v.rows)
    target = move_file(job.path, outcome.archived_path)
    outcome.archived_path = target
    return outcome


def check_file(path: Path, config: Any, pack: Any, meta: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``tmis check`` of a filled request form: every check the handler makes, against the store, storing
    nothing. Returns the JSON report (the contract's keys) and the form's title."""
    from types import SimpleNamespace

    from processor.store.db import open_store

    kind = registry.get(meta.get("kind", ""))
    key = signing.signing_key()
    job = SimpleNamespace(path=path, name=path.name, config=config, pack=pack, channel="inbox", sender="")
    engine = open_store(config)
    try:
        with Session(engine) as session:
            v = verify_form(session, job, kind, meta, key, datetime.now(UTC))
            session.rollback()
    finally:
        engine.dispose()
    errors = sum(f.severity == ERROR for f in v.findings)
    return ({"file": str(path), "kind": kind.kind, "unit": meta.get("unit_code"), "rows": v.rows, "errors": errors,
             "warnings": len(v.findings) - errors, "findings": [f.to_dict() for f in v.findings]},
            f"{kind.title}表")


def _no_twice(name: str, title: str, checked: list[Any], findings: list[Finding]) -> None:
    """The same teacher twice on one form is a mistake, not two requests."""
    seen: dict[int, int] = {}
    for row, filed in checked:
        if filed.teacher_id is None:
            continue
        if filed.teacher_id in seen:
            col = row.columns.get("id_number")
            findings.append(Finding(title, row.row, col, "id_number", None, "WF-DUPLICATE-ROW", ERROR,
                                    f"{name}：{title} {col or ''}{row.row}：同一教师已在第 {seen[filed.teacher_id]} 行申请",
                                    "一名教师在一张申请表中只能有一行，请删去重复的行。"))
        else:
            seen[filed.teacher_id] = row.row


def _submission(job: Any, session: Session, kind: RequestKind, unit: Unit | None, status: str, now: datetime) -> Submission:
    return sheets.handled_submission(job, session, kind.kind, unit.code if unit else None,  # type: ignore[no-any-return]
                                     status, now)


def _ctx(job: Any, sub: Submission, kind: RequestKind, unit: Unit | None, status: str, rows: int, stored: int,
         notes: list[str]) -> ReportContext:
    title = forms.form_title(kind)
    return ReportContext(original_name=job.name, received_at=job.received, sha256=job.sha256,
                         unit_code=unit.code if unit else None, unit_name=unit.name if unit else None, kind=kind.kind,
                         kind_title=f"{kind.title}表", submission_id=sub.id, status=status, rows=rows, stored=stored,
                         sheets=[SheetStat(title, rows, stored)], notes=notes,
                         instance_name=job.config.get("instance", "name"), unit_known=unit is not None,
                         labels={(title, f.code): f.label for f in kind.fields})


def _refuse(job: Any, session: Session, kind: RequestKind, unit: Unit | None, findings: list[Finding], now: datetime,
            *, rows: int) -> Any:
    from processor.pipeline import Outcome

    sub = _submission(job, session, kind, unit, REJECTED, now)
    errors = [f for f in findings if f.severity == ERROR]
    sub.rows, sub.errors, sub.warnings = rows, len(errors), len(findings) - len(errors)
    sub.message = errors[0].message if errors else ""
    files = write_report(_ctx(job, sub, kind, unit, REJECTED, rows, 0,
                              [f"本{kind.title}表未被受理，没有提出任何申请。请改正标出的问题后重新报送整张表。"]),
                         findings, outbox=job.config.outbox, source=job.path)
    confirm.add_json(files.json, {"status": REJECTED, "requests": []})
    sub.report_path = str(files.report)
    audit(session, state.ACTOR, "workflow.form_refuse", "submission", str(sub.id),
          {"file": job.name, "kind": kind.kind, "unit": unit.code if unit else None,
           "rules": sorted({f.rule for f in errors}), "channel": job.channel, "sender": job.sender})
    return Outcome(REJECTED, job.name, job.sha256, sub.id, sub.unit_code, Path(sub.archived_path), files.report,
                   rows, 0, len(errors), len(findings) - len(errors), sub.message)


def _open(job: Any, session: Session, kind: RequestKind, unit: Unit, filer: Any, checked: list[Any],
          findings: list[Finding], now: datetime) -> Any:
    from processor.pipeline import Outcome

    sub = _submission(job, session, kind, unit, ACCEPTED, now)
    opened = []
    for _row, filed in checked:
        req = state.open_request(session, job.config, kind, unit_code=unit.code, teacher_id=filed.teacher_id,
                                 data=filed.data, filed_by=filer.name, submission_id=sub.id, now=now)
        if not req.steps:
            state.apply(session, job.config, job.pack, req, now=now, submission_id=sub.id)
        opened.append(req)
    session.flush()
    issued = confirm.issue_waiting(session, job.config, now=now)
    names = {s.unit_code: (session.get(Unit, s.unit_code).name if session.get(Unit, s.unit_code) else s.unit_code)
             for s in issued}
    notes = [f"已受理 {len(opened)} 项{kind.title}：" + "、".join(r.id for r in opened) + "。",
             *(f"已向{names[s.unit_code]}（{s.unit_code}）发出确认单 {s.sheet_id}（{len(s.requests)} 项）。" for s in issued)]
    files = write_report(_ctx(job, sub, kind, unit, ACCEPTED, len(checked), len(opened), notes), findings,
                         outbox=job.config.outbox, source=None)
    confirm.add_json(files.json, {
        "status": ACCEPTED, "requests": [{"id": r.id, "state": r.state, "waiting_at": r.waiting_unit,
                                          "steps": r.steps} for r in opened],
        "issued": [{"sheet_id": s.sheet_id, "unit": s.unit_code, "path": str(s.path)} for s in issued]})
    sub.rows = sub.rows_stored = len(opened)
    sub.warnings = len(findings)
    sub.report_path = str(files.report)
    return Outcome(ACCEPTED, job.name, job.sha256, sub.id, unit.code, Path(sub.archived_path), files.report,
                   len(checked), len(opened), 0, len(findings), f"已受理 {len(opened)} 项{kind.title}")
