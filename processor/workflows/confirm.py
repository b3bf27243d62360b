"""Confirmation sheets (确认单): issued to the unit a request waits at, taken back through the inbox.

One sheet per (unit, kind) lists the requests waiting at that unit that are on no open sheet. Sheet ``确认单``:
确认单编号, 确认单位, 签发时间, 有效期至, then 确认人 and 确认日期 (the value in the cell to the right), then a
table of 申请编号, 身份证件号, 姓名, 申请单位, the kind's columns, 本步, and the kind's inputs (default 确认结果
同意 / 不同意 and 意见). Everything but the inputs is protected; the very hidden ``_tmis`` sheet carries the
sheet id, unit, kind, issue and expiry time and the digest of the hidden ``_tmis_items`` list (row, request,
step, request hash), signed with processor/signing.py.

Taking one back (handler of kind ``confirm-sheet``) checks, each refusal naming the file, sheet and cell:
the signature (WF-SIGNATURE); known, not used before (WF-REPLAY), not expired (WF-EXPIRED); the listed rows
unchanged (WF-EDITED); each listed request still open (WF-STATE) and still at the step it was listed for
(WF-OUT-OF-ORDER), and nothing about its teacher blocks it (WF-TEACHER-STATE); each verdict valid
(WF-DECISION) and a 不同意 with its 意见 (WF-REASON-MISSING); 确认人 a 信息管理员 / 系统管理员 of the sheet's
unit (WF-CONFIRMER-*), 确认日期 a date (WF-DATE); a mailed sheet from that unit's officers (WF-SENDER).
Any error: nothing changes and the officer gets the sheet back marked. Otherwise one transaction records
each decision, moves each request on (or applies it after its last step) and issues the next sheets.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.workbook.protection import WorkbookProtection
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from processor import sheets, signing
from processor.audit import audit
from processor.feedback import (
    HEAD_FILL,
    ReportContext,
    atomic_write_text,
    safe_filename,
    unit_dir,
    write_report,
)
from processor.findings import ERROR, Finding
from processor.store.models import (
    ROLE_NAMES,
    ConfirmSheet,
    ConfirmSheetItem,
    Submission,
    Teacher,
    Unit,
    WorkflowRequest,
)
from processor.workbook.meta import cell_text
from processor.workflows import registry, state
from processor.workflows.registry import CONFIRM, REJECT, RequestKind

KIND = "confirm-sheet"
KIND_TITLE = "确认单"
SHEET = "确认单"
ITEMS_SHEET = "_tmis_items"
ITEMS_HEADER = ("row", "request", "step", "hash")
CONFIRMER, CONFIRM_DATE = "确认人", "确认日期"
BASE_HEADER = ("申请编号", "身份证件号", "姓名", "申请单位")
STEP_HEADER = "本步"
HEADER_ROW = 11
APPLIED, REFUSED = "applied", "refused"


def valid_days(config: Any) -> int:
    return int(config.get("workflows", "sheet_valid_days"))


def signed_payload(meta: dict[str, Any]) -> dict[str, Any]:
    return {"format": 1, "kind": KIND, "sheet_id": meta.get("sheet_id"), "unit": meta.get("unit_code"),
            "request_kind": meta.get("request_kind"), "issued_at": meta.get("issued_at"),
            "expires_at": meta.get("expires_at"), "items_digest": meta.get("items_digest")}


def items_digest(items: list[list[Any]]) -> str:
    return signing.digest([[str(x) for x in item] for item in items])


def headers(kind: RequestKind) -> list[str]:
    return [*BASE_HEADER, *(h for h, _fn in kind.columns), STEP_HEADER, *(i.label for i in kind.inputs)]


def shown(session: Session, kind: RequestKind, req: WorkflowRequest, names: dict[str, str]) -> list[str]:
    """The protected cells of a request's row, the same on issue and on return."""
    teacher = session.get(Teacher, req.teacher_id) if req.teacher_id else None
    step = state.current_step(req)
    where = f"第 {req.step + 1} 步（共 {len(req.steps)} 步）：{step.role}" if step else ""
    return [req.id, teacher.id_number if teacher else "", teacher.name if teacher else "",
            f"{names.get(req.unit_code, '')}（{req.unit_code}）", *(fn(req) for _h, fn in kind.columns), where]


# ----------------------------------------------------------------------------------------------- issuing
@dataclass
class IssuedSheet:
    sheet_id: str
    unit_code: str
    kind: str
    path: Path
    requests: list[str]


def _on_open_sheets() -> Any:
    return (select(ConfirmSheetItem.request_id).join(ConfirmSheet, ConfirmSheet.id == ConfirmSheetItem.sheet_id)
            .where(ConfirmSheet.status == "open"))


def issue_waiting(session: Session, config: Any, *, unit: str | None = None, now: datetime | None = None,
                  again: bool = False) -> list[IssuedSheet]:
    """In the caller's transaction: a confirmation sheet for each (unit, kind) with open requests waiting there
    that are on no open sheet (``again``: on a new sheet even if they are on an open one — a lost copy).
    Raises SigningKeyMissing without TMIS_SIGNING_KEY. The file is written before the caller commits."""
    key = signing.signing_key()
    now = now or datetime.now(UTC)
    session.execute(update(ConfirmSheet).where(ConfirmSheet.status == "open", ConfirmSheet.expires_at < now)
                    .values(status="expired").execution_options(synchronize_session=False))
    stmt = select(WorkflowRequest).where(WorkflowRequest.state == "open", WorkflowRequest.waiting_unit.is_not(None))
    if not again:
        stmt = stmt.where(WorkflowRequest.id.not_in(_on_open_sheets()))
    if unit is not None:
        stmt = stmt.where(WorkflowRequest.waiting_unit == unit)
    groups: dict[tuple[str, str], list[WorkflowRequest]] = defaultdict(list)
    for req in session.scalars(stmt.order_by(WorkflowRequest.created_at, WorkflowRequest.id)):
        groups[(req.waiting_unit or "", req.kind)].append(req)
    out = []
    for (code, kind_name), reqs in sorted(groups.items()):
        target_unit = session.get(Unit, code)
        if target_unit is None:
            continue
        out.append(_issue(session, config, registry.get(kind_name), target_unit, reqs, key=key, now=now))
    return out


def _issue(session: Session, config: Any, kind: RequestKind, unit: Unit, reqs: list[WorkflowRequest], *, key: bytes,
           now: datetime) -> IssuedSheet:
    sheet_id = f"{unit.code}-{now.astimezone():%Y%m%d%H%M}-{uuid.uuid4().hex[:6]}"
    expires = now + timedelta(days=valid_days(config))
    codes = {r.unit_code for r in reqs}
    names = dict(session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(sorted(codes)))).all())
    rows = [(r, shown(session, kind, r, names)) for r in reqs]
    items = [[HEADER_ROW + i, r.id, r.step, state.request_hash(r)] for i, (r, _cells) in enumerate(rows, start=1)]
    meta = {"kind": KIND, "kind_title": f"{kind.title}{KIND_TITLE}", "unit_code": unit.code, "unit_name": unit.name,
            "issued_at": now.isoformat(timespec="seconds"), "generator": "tmis"}
    extra = {"sheet_id": sheet_id, "request_kind": kind.kind, "expires_at": expires.isoformat(timespec="seconds"),
             "items_digest": items_digest(items)}
    signature = signing.sign(signed_payload({**meta, **extra}), key)
    name = f"{kind.title}{KIND_TITLE}_{safe_filename(unit.name, 40)}_{now.astimezone():%Y-%m-%d}_{sheet_id[-6:]}.xlsx"
    target = unit_dir(config.outbox, unit.code) / name
    _write(target, kind, unit, rows, meta, extra, signature, items, sheet_id=sheet_id, issued=now, expires=expires,
           instance=config.get("instance", "name"))
    session.add(ConfirmSheet(id=sheet_id, kind=kind.kind, unit_code=unit.code, status="open", issued_at=now,
                             expires_at=expires, path=str(target), signature=signature, requests=len(reqs)))
    session.flush()
    for (r, _cells), item in zip(rows, items, strict=True):
        session.add(ConfirmSheetItem(sheet_id=sheet_id, request_id=r.id, row=item[0], step=r.step, hash=item[3]))
    audit(session, state.ACTOR, "workflow.issue", "confirm_sheet", sheet_id,
          {"unit": unit.code, "kind": kind.kind, "requests": [r.id for r in reqs], "file": str(target),
           "expires_at": expires.isoformat(timespec="seconds")})
    if config.get("mail", "enabled"):
        from processor.mail.outgoing import enqueue_to_officers

        enqueue_to_officers(session, config, unit.code, subject=f"{kind.title}{KIND_TITLE}：{unit.name}，{len(reqs)} 项待确认",
                            template="confirm_sheet",
                            context={"kind_title": kind.title, "requests": len(reqs), "file_name": target.name,
                                     "expires_at": f"{expires.astimezone():%Y-%m-%d %H:%M}"},
                            attachments=[(target, target.name)], kind=KIND, dedup=f"confirm-sheet:{sheet_id}")
    return IssuedSheet(sheet_id, unit.code, kind.kind, target, [r.id for r in reqs])


def _write(target: Path, kind: RequestKind, unit: Unit, rows: list[tuple[WorkflowRequest, list[str]]],
           meta: dict[str, Any], extra: dict[str, Any], signature: str, items: list[list[Any]], *, sheet_id: str,
           issued: datetime, expires: datetime, instance: str) -> None:
    from processor.workbook.printing import print_ready

    cell = sheets.text_cell
    bold = Font(bold=True)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(SHEET)
    head = headers(kind)
    widths = [26, 22, 10, 30, *(24 for _ in kind.columns), 30, *(i.width for i in kind.inputs)]
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = f"A{HEADER_ROW + 1}"
    print_ready(ws, landscape=True, title_rows=HEADER_ROW, grid=True)  # before the first row: written with it
    sheets.write_head(ws, f"{instance} {kind.title}{KIND_TITLE}（{unit.name}）", id_label="确认单编号", sheet_id=sheet_id,
                      unit_label="确认单位", unit=unit, issued=issued, expires=expires, person_label=CONFIRMER,
                      date_label=CONFIRM_DATE)
    verdicts = "”或“".join(label for label, _v in kind.inputs[0].options)
    ws.append([cell(ws, "填写说明", font=bold), cell(ws, (
        f"逐项在“{kind.inputs[0].label}”中选择“{verdicts}”；不同意的请在“意见”中写明理由。留空的申请暂不处理，"
        "会列入下一张确认单。除黄色的填写格外，其余内容均不可修改。填好后保存，放回收件目录或用本单位登记的邮箱发回。"),
        wrap=True)])
    ws.append([])
    ws.append([cell(ws, h, font=bold, fill=HEAD_FILL) for h in head])
    for _req, cells in rows:
        ws.append([cell(ws, c) for c in cells] + [cell(ws, None, unlocked=True) for _ in kind.inputs])
    first_input = len(head) - len(kind.inputs) + 1
    last = HEADER_ROW + max(len(rows), 1)
    for offset, inp in enumerate(kind.inputs):
        if inp.options:
            letter = get_column_letter(first_input + offset)
            ws.data_validations.append(sheets.choice_validation(f"{letter}{HEADER_ROW + 1}:{letter}{last}",
                                                                [label for label, _v in inp.options], inp.label))
    sheets.protect(ws)
    sheets.write_meta_sheet(wb, meta, extra, signature)
    listing = wb.create_sheet(ITEMS_SHEET)
    listing.sheet_state = "veryHidden"
    listing.append(list(ITEMS_HEADER))
    for item in items:
        listing.append([cell(listing, str(x)) for x in item])
    wb.security = WorkbookProtection(lockStructure=True)
    sheets.save_atomic(wb, target)


# ----------------------------------------------------------------------------------------------- taking back
@dataclass
class RowDecision:
    request_id: str
    row: int
    verdict: str | None  # confirm | reject | None (undecided)
    values: dict[str, str]
    note: str


@dataclass
class ReadBack:
    confirmer: sheets.Labelled | None = None
    day: date | None = None
    date_text: str = ""
    date_cell: str = ""
    rows: list[RowDecision] = field(default_factory=list)


class Verifier:
    """Reads a returned confirmation sheet and checks it against the store; collects findings."""

    def __init__(self, job: Any, session: Session, sheet: ConfirmSheet, unit: Unit, kind: RequestKind) -> None:
        self.job, self.session, self.sheet, self.unit, self.kind = job, session, sheet, unit, kind
        self.name = job.name
        self.findings: list[Finding] = []
        self.requests: dict[str, WorkflowRequest] = {}
        self.teachers: dict[int, Teacher] = {}

    def error(self, *args: Any, **kwargs: Any) -> None:
        self.findings.append(sheets.finding(*args, **kwargs))

    def read(self, meta: dict[str, Any]) -> ReadBack | None:
        from python_calamine import CalamineWorkbook

        wb = CalamineWorkbook.from_path(str(self.job.path))
        names = set(wb.sheet_names)
        for needed in (SHEET, ITEMS_SHEET):
            if needed not in names:
                self.error(needed, None, None, "WF-LAYOUT", f"{self.name}：确认单缺少工作表“{needed}”",
                           "请使用本系统签发的确认单原件填写，不要删除或重命名工作表。")
                return None
        items = [[cell_text(v) for v in r[:4]] for r in sheets.grid(wb, ITEMS_SHEET)[1:] if r and cell_text(r[0])]
        if items_digest(items) != meta.get("items_digest"):
            self.error(ITEMS_SHEET, None, None, "WF-SIGNATURE", f"{self.name}：确认单隐藏的申请清单与签名不符（被改动过）",
                       "请使用本系统签发的确认单原件重新填写后发回。")
            return None
        grid = sheets.grid(wb, SHEET)
        back = ReadBack(confirmer=sheets.value_right_of(grid, CONFIRMER))
        day = sheets.value_right_of(grid, CONFIRM_DATE)
        if back.confirmer is None or day is None:
            self.error(SHEET, None, None, "WF-LAYOUT", f"{self.name}：确认单中找不到“{CONFIRMER}”或“{CONFIRM_DATE}”",
                       "请使用本系统签发的确认单原件填写。")
            return None
        back.day, back.date_text, back.date_cell = sheets.parse_date(day.value), day.text, day.cell
        head = headers(self.kind)
        got = [cell_text(v) for v in grid[HEADER_ROW - 1]] if len(grid) >= HEADER_ROW else []
        if got[:len(head)] != head:
            self.error(SHEET, HEADER_ROW, None, "WF-LAYOUT", f"{self.name}：确认单第 {HEADER_ROW} 行的表头被改动",
                       "请使用本系统签发的确认单原件填写，不要插入、删除或移动行和列。")
            return None
        ids = [item[1] for item in items]
        self.requests = {r.id: r for r in self.session.scalars(select(WorkflowRequest).where(WorkflowRequest.id.in_(ids))
                                                               .order_by(WorkflowRequest.id).with_for_update())}
        teacher_ids = sorted({r.teacher_id for r in self.requests.values() if r.teacher_id})
        # held here so that the session's identity map keeps them: every later get() is then free
        self.teachers = {t.id: t for i in range(0, len(teacher_ids), 500) for t in self.session.scalars(
            select(Teacher).where(Teacher.id.in_(teacher_ids[i:i + 500])))}
        codes = {r.unit_code for r in self.requests.values()}
        unit_names = dict(self.session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(sorted(codes)))).all())
        n_shown = len(head) - len(self.kind.inputs)
        for row_text, req_id, step_text, digest in items:
            excel_row = int(float(row_text))
            row = grid[excel_row - 1] if excel_row - 1 < len(grid) else []
            req = self.requests.get(req_id)
            if req is None:
                self.error(SHEET, excel_row, 1, "WF-SIGNATURE", f"{self.name}：确认单第 {excel_row} 行的申请 {req_id} 不在系统中",
                           "请使用本系统签发的确认单原件填写。")
                continue
            decision = self._decision(excel_row, row, n_shown, req_id)
            if state.request_hash(req) != digest:
                self._moved(req, int(step_text), excel_row, decision)
                continue
            for i, want in enumerate(shown(self.session, self.kind, req, unit_names)):
                cell_value = cell_text(row[i]) if i < len(row) else ""
                if cell_value != want.strip():
                    self.error(SHEET, excel_row, i + 1, "WF-EDITED",
                               f"{self.name}：{SHEET} {get_column_letter(i + 1)}{excel_row}（{head[i]}）被改动："
                               f"签发时为“{want}”，现在是“{cell_value}”",
                               "确认单只能填写黄色的确认栏；申请内容有误的请选择“不同意”并写明意见，由申请单位重新申请。",
                               value=cell_value)
            if decision is not None and decision.verdict is not None:
                why = self.kind.blocker(self.session, req)
                if why:
                    self.error(SHEET, excel_row, n_shown + 1, "WF-TEACHER-STATE",
                               f"{self.name}：{SHEET} {get_column_letter(n_shown + 1)}{excel_row}：申请 {req.id} 不能再确认：{why}",
                               "本申请需由申请单位撤回或重新申请；确认单中的其他申请可在改正后重新发回。")
            if decision is not None:
                back.rows.append(decision)
        return back

    def _moved(self, req: WorkflowRequest, listed_step: int, excel_row: int, decision: RowDecision | None) -> None:
        """A listed request changed since the sheet was issued: closed, or moved on to another step."""
        if req.state != "open":
            self.error(SHEET, excel_row, 1, "WF-STATE",
                       f"{self.name}：{SHEET}第 {excel_row} 行的申请 {req.id} 已{state.STATE_NAMES.get(req.state, req.state)}，"
                       "不能再确认", "请删去这一行的确认结果，或使用最新签发的确认单。")
            return
        step = state.current_step(req)
        if req.step != listed_step and step is not None:
            waiting = self.session.get(Unit, step.unit)
            self.error(SHEET, excel_row, 1, "WF-OUT-OF-ORDER",
                       f"{self.name}：{SHEET}第 {excel_row} 行的申请 {req.id} 已不在本单位确认的环节：本确认单列出的是第 "
                       f"{listed_step + 1} 步，申请现在在第 {req.step + 1} 步，应由{waiting.name if waiting else step.unit}"
                       f"（{step.role}）确认", "请不要使用旧的确认单；如需查看申请进度，可用 tmis request show 申请编号。")
            return
        self.error(SHEET, excel_row, 1, "WF-STALE", f"{self.name}：{SHEET}第 {excel_row} 行的申请 {req.id} 在签发后已有变化",
                   "请使用最新签发的确认单。")

    def _decision(self, excel_row: int, row: list[Any], n_shown: int, req_id: str) -> RowDecision | None:
        values: dict[str, str] = {}
        for offset, inp in enumerate(self.kind.inputs):
            col = n_shown + offset
            text = cell_text(row[col]) if col < len(row) else ""
            if text and inp.options and text not in dict(inp.options):
                self.error(SHEET, excel_row, col + 1, "WF-DECISION",
                           f"{self.name}：{SHEET} {get_column_letter(col + 1)}{excel_row} 的{inp.label}“{text}”无效",
                           f"{inp.label}只能是“{'”或“'.join(label for label, _v in inp.options)}”，或留空（暂不处理）。",
                           value=text)
                return None
            if text:
                values[inp.code] = text
        verdict = self.kind.verdict(values)
        note = values.get("note", "")
        if verdict is None and any(v for k, v in values.items() if k != self.kind.inputs[0].code):
            col = n_shown + 1
            self.error(SHEET, excel_row, col, "WF-DECISION",
                       f"{self.name}：{SHEET} {get_column_letter(col)}{excel_row} 没有{self.kind.inputs[0].label}，却填了其他栏",
                       f"请选择{self.kind.inputs[0].label}，或清空这一行（暂不处理）。")
            return None
        if verdict == REJECT and not note:
            col = n_shown + 1 + next((i for i, inp in enumerate(self.kind.inputs) if inp.code == "note"), 1)
            self.error(SHEET, excel_row, col, "WF-REASON-MISSING",
                       f"{self.name}：{SHEET} {get_column_letter(col)}{excel_row} 没有填写不同意的意见",
                       "不同意时必须写明理由，申请单位才知道怎么办。")
            return None
        if verdict is not None:
            missing = self.kind.input_check(values)
            if missing is not None:
                code, message, hint = missing
                col = n_shown + 1 + next((i for i, inp in enumerate(self.kind.inputs) if inp.code == code), 0)
                self.error(SHEET, excel_row, col, "WF-INPUT",
                           f"{self.name}：{SHEET} {get_column_letter(col)}{excel_row}：{message}", hint)
                return None
        return RowDecision(req_id, excel_row, verdict, values, note)

    def check_people(self, back: ReadBack) -> Any:
        decided = [d for d in back.rows if d.verdict is not None]
        if not decided:
            if not any(f.severity == ERROR for f in self.findings):
                self.error(SHEET, None, None, "WF-EMPTY", f"{self.name}：确认单中没有任何确认结果",
                           "请逐项选择确认结果后再发回；本确认单在有效期内仍可使用。")
            return None
        assert back.confirmer is not None
        officer, found = sheets.check_officer(self.session, self.unit, back.confirmer.text, file=self.name, sheet=SHEET,
                                              cell=back.confirmer.cell, role_word=CONFIRMER,
                                              rule_prefix="WF-CONFIRMER", what="确认")
        self.findings.extend(found)
        self.findings.extend(sheets.check_date(back.day, back.date_text, issued=self.sheet.issued_at, file=self.name,
                                               sheet=SHEET, cell=back.date_cell, rule="WF-DATE", label=CONFIRM_DATE,
                                               what="确认单"))
        self.findings.extend(sheets.check_sender(self.session, self.job, self.unit, rule="WF-SENDER", what="确认单"))
        return officer


def handle(job: Any) -> Any:
    """Handler of kind ``confirm-sheet``: verify, apply or refuse, report, archive."""
    from processor.pipeline import move_file

    key, quarantined = sheets.key_or_quarantine(job, "确认单")
    if key is None:
        return quarantined
    meta = dict(getattr(job.wb, "meta", None) or {})
    now = datetime.now(UTC)
    with Session(job.engine, expire_on_commit=False) as session, session.begin():
        findings: list[Finding] = []
        # locked (PostgreSQL) so that two workers never apply the same sheet, or two copies for one request, at once
        sheet = session.get(ConfirmSheet, meta.get("sheet_id") or "", with_for_update=True)
        unit = session.get(Unit, meta.get("unit_code") or "")
        outcome = None
        if not signing.verify(signed_payload(meta), meta.get("signature", ""), key) or sheet is None or unit is None \
                or sheet.unit_code != unit.code or sheet.kind != meta.get("request_kind"):
            findings.append(sheets.finding("_tmis", None, None, "WF-SIGNATURE",
                                           f"{job.name}：确认单的签名不符：不是本系统签发的确认单，或其隐藏的签发信息被改动",
                                           "请使用本系统签发给本单位的确认单原件填写后发回。"))
        elif (late := sheets.status_refusal(
                job.name, sheet.id, sheet.status, sheet.applied_at, sheet.expires_at, now, rule_prefix="WF",
                what="确认单", replay_hint="其中留空的申请已列入新的确认单；请填写最新签发的确认单。",
                expired_hint="请填写新签发的确认单（可用 tmis request issue --unit 本单位代码 重新签发）。")) is not None:
            findings.append(late)
        else:
            kind = registry.get(sheet.kind)
            verifier = Verifier(job, session, sheet, unit, kind)
            back = verifier.read(meta)
            officer = verifier.check_people(back) if back is not None else None
            findings = verifier.findings
            if back is not None and officer is not None and not any(f.severity == ERROR for f in findings):
                outcome = _apply(job, session, sheet, unit, kind, verifier, back, officer, findings, now)
        if outcome is None:
            outcome = _refuse(job, session, sheet, unit if sheet is not None else None, meta, findings, now)
    target = move_file(job.path, outcome.archived_path)
    outcome.archived_path = target
    return outcome


def _submission(job: Any, session: Session, unit_code: str | None, status: str, now: datetime) -> Submission:
    return sheets.handled_submission(job, session, KIND, unit_code, status, now)  # type: ignore[no-any-return]


add_json = sheets.add_json


def _ctx(job: Any, sub: Submission, unit: Unit | None, status: str, rows: int, stored: int, notes: list[str],
         kind_title: str) -> ReportContext:
    return ReportContext(original_name=job.name, received_at=job.received, sha256=job.sha256,
                         unit_code=unit.code if unit else None, unit_name=unit.name if unit else None, kind=KIND,
                         kind_title=kind_title, submission_id=sub.id, status=status, rows=rows, stored=stored,
                         notes=notes, instance_name=job.config.get("instance", "name"), unit_known=unit is not None)


def _refuse(job: Any, session: Session, sheet: ConfirmSheet | None, unit: Unit | None, meta: dict[str, Any],
            findings: list[Finding], now: datetime) -> Any:
    from processor.pipeline import Outcome

    sub = _submission(job, session, unit.code if unit else None, REFUSED, now)
    errors = [f for f in findings if f.severity == ERROR]
    sub.errors, sub.warnings = len(errors), len(findings) - len(errors)
    sub.message = errors[0].message if errors else ""
    notes = ["本确认单未被采用，系统中的任何申请都没有改变。" + (
        "改正标出的问题后可再次发回（确认单在有效期内仍可使用）。" if sheet is not None and sheet.status == "open" else "")]
    rows = sheet.requests if sheet is not None else 0
    files = write_report(_ctx(job, sub, unit, REFUSED, rows, 0, notes, KIND_TITLE), findings,
                         outbox=job.config.outbox, source=job.path)
    add_json(files.json, {"sheet_id": meta.get("sheet_id"), "status": REFUSED})
    sub.report_path = str(files.report)
    audit(session, state.ACTOR, "workflow.refuse", "confirm_sheet", str(meta.get("sheet_id") or ""),
          {"file": job.name, "submission": sub.id, "rules": sorted({f.rule for f in errors}), "channel": job.channel,
           "sender": job.sender})
    return Outcome(REFUSED, job.name, job.sha256, sub.id, sub.unit_code, Path(sub.archived_path), files.report,
                   rows, 0, len(errors), len(findings) - len(errors), sub.message)


def _apply(job: Any, session: Session, sheet: ConfirmSheet, unit: Unit, kind: RequestKind, verifier: Verifier,
           back: ReadBack, officer: Any, findings: list[Finding], now: datetime) -> Any:
    from processor.pipeline import Outcome

    sub = _submission(job, session, unit.code, APPLIED, now)
    at = datetime.combine(back.day or now.date(), datetime.now().time()).astimezone(UTC)
    confirmed, rejected, applied, pending = [], [], [], []
    decided = {d.request_id: d for d in back.rows if d.verdict is not None}
    for req_id, req in verifier.requests.items():
        d = decided.get(req_id)
        if d is None:
            pending.append(req_id)
            continue
        values = {k: v for k, v in d.values.items() if k not in ("result", "note")}
        if d.verdict == CONFIRM:
            confirmed.append(req_id)
            if state.confirm(session, job.config, job.pack, req, by=officer.name, values=values, note=d.note,
                             sheet_id=sheet.id, submission_id=sub.id, now=at):
                applied.append(req_id)
        else:
            rejected.append(req_id)
            state.reject(session, req, by=officer.name, note=d.note, values=values, sheet_id=sheet.id,
                         submission_id=sub.id, now=at)
    sheet.status, sheet.applied_at, sheet.applied_submission_id, sheet.confirmer = "applied", now, sub.id, officer.name
    session.flush()
    if kind.after_sheet is not None:
        kind.after_sheet(registry.AfterSheet(session, job.config, sheet.id, unit.code, officer.name, verifier.requests,
                                             confirmed, rejected, applied, pending, now, sub.id))
        session.flush()
    issued = issue_waiting(session, job.config, now=now)
    notify_filers(session, job.config, [verifier.requests[r] for r in rejected + applied], by=officer.name, unit=unit,
                  sheet_id=sheet.id, notes={r: decided[r].note for r in rejected}, now=now)
    notes = [f"确认人：{officer.name}（{ROLE_NAMES.get(officer.role, officer.role)}），确认日期：{back.day}。",
             f"同意 {len(confirmed)} 项（其中 {len(applied)} 项已办结），不同意 {len(rejected)} 项；"
             f"暂不处理 {len(pending)} 项，已列入新的确认单。"]
    files = write_report(_ctx(job, sub, unit, APPLIED, len(verifier.requests), len(decided), notes,
                              f"{kind.title}{KIND_TITLE}"), findings, outbox=job.config.outbox, source=None)
    add_json(files.json, {"sheet_id": sheet.id, "status": APPLIED, "confirmer": officer.name,
                          "confirm_date": str(back.day), "confirmed": confirmed, "rejected": rejected,
                          "applied": applied, "pending": pending,
                          "issued": [{"sheet_id": s.sheet_id, "unit": s.unit_code, "path": str(s.path)} for s in issued]})
    sub.rows, sub.rows_stored, sub.warnings = len(verifier.requests), len(decided), len(findings)
    sub.report_path = str(files.report)
    audit(session, f"officer:{unit.code}:{officer.name}", "workflow.sheet_apply", "confirm_sheet", sheet.id,
          {"file": job.name, "submission": sub.id, "confirmed": confirmed, "rejected": rejected, "applied": applied,
           "pending": pending, "channel": job.channel, "sender": job.sender})
    return Outcome(APPLIED, job.name, job.sha256, sub.id, unit.code, Path(sub.archived_path), files.report,
                   len(verifier.requests), len(decided), 0, len(findings),
                   f"已采用：同意 {len(confirmed)} 项，不同意 {len(rejected)} 项")


def notify_filers(session: Session, config: Any, reqs: list[WorkflowRequest], *, by: str, unit: Unit, sheet_id: str,
                  notes: dict[str, str], now: datetime) -> list[Path]:
    """One notice (text + JSON) per filing unit in its outbox: which of its requests this sheet closed — done,
    with what it did, or not agreed to, with the reason. ``tmis request show`` has every step."""
    by_unit: dict[str, list[WorkflowRequest]] = defaultdict(list)
    for req in reqs:
        by_unit[req.unit_code].append(req)
    out = []
    for code, items in sorted(by_unit.items()):
        folder = unit_dir(config.outbox, code)
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"申请办理结果_{now.astimezone():%Y-%m-%d}_{sheet_id}"
        lines = [f"{unit.name}（{unit.code}）{by}在确认单 {sheet_id} 上办理了贵单位的 {len(items)} 项申请：", ""]
        rows = []
        for req in items:
            kind = registry.get(req.kind)
            teacher = session.get(Teacher, req.teacher_id) if req.teacher_id else None
            who = f"{teacher.name}（{teacher.id_number}）" if teacher else ""
            title = state.STATE_NAMES.get(req.state, req.state)
            line = f"- {kind.title} {req.id} {who}：{title}"
            if req.state == "rejected":
                line += f"。意见：{notes.get(req.id, '')}"
            elif req.result:
                line += "。" + "；".join(f"{k}：{v}" for k, v in req.result.items() if isinstance(v, (str, int)) and v != "")
            lines.append(line)
            rows.append({"request": req.id, "kind": req.kind, "state": req.state,
                         "teacher": teacher.id_number if teacher else None, "result": req.result})
        lines += ["", "每项申请的每一步可用 tmis request show 申请编号 查看。"]
        atomic_write_text(folder / f"{stem}.txt", "\n".join(lines) + "\n")
        atomic_write_text(folder / f"{stem}.json", json.dumps(
            {"sheet_id": sheet_id, "unit": unit.code, "by": by, "at": now.isoformat(timespec="seconds"),
             "requests": rows}, ensure_ascii=False, indent=1))
        out.append(folder / f"{stem}.txt")
    return out
