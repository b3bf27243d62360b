"""Taking a filled return sheet back: verify everything, then apply it in one transaction — or refuse it.

The handler of kind ``return-sheet`` (processor/handlers.py). Checks, in order, each refusal naming the
file, sheet and cell in Chinese: the signature holds (REVIEW-SIGNATURE); the sheet is known, not applied
before (REVIEW-REPLAY) and not expired (REVIEW-EXPIRED); the hidden list matches what was issued; no listed
data cell was edited (REVIEW-EDITED, one finding per cell); every decision is 通过, 退回 with a 退回原因, or
blank (REVIEW-DECISION, REVIEW-REASON-MISSING); 问题字段 names fields of that sheet (REVIEW-FIELD-UNKNOWN);
审核人 is a 信息管理员 or 系统管理员 of the sheet's unit (REVIEW-REVIEWER-*), 审核日期 is a date; a sheet that
came by mail comes from an address of an officer of that unit (REVIEW-SENDER). A refused sheet changes
nothing (the sheet stays open while it is valid) and its officer gets the sheet back with the bad cells
marked. A valid sheet is applied in one transaction (processor/review/decide.py); returned rows go back to
their schools as an error-style workbook; the officer gets a receipt of what was applied and what stays
pending. Without TMIS_SIGNING_KEY nothing can be verified: the file is quarantined for the operator (it is
not the officer's fault, and putting it back into the inbox once the key is set processes it).
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from openpyxl.utils import get_column_letter
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from processor import sheets, signing
from processor.audit import audit
from processor.feedback import ReportContext, SheetStat, safe_filename, write_report
from processor.findings import ERROR, WARNING, Finding
from processor.review import sheet as rs
from processor.review.chain import Chain, level_title
from processor.review.decide import VersionRef, refs_of, settle
from processor.rulepack.model import fold_name
from processor.store.models import (
    ROLE_NAMES,
    Officer,
    RecordVersion,
    ReturnSheet,
    Review,
    Submission,
    Unit,
)
from processor.workbook.meta import cell_text

log = logging.getLogger(__name__)

ACTOR = "review"
APPLIED, REFUSED = "applied", "refused"
DECIDERS = ("manager", "sysadmin")
_SPLIT_FIELDS = re.compile(r"[、,，;；\s]+")


@dataclass
class Decision:
    """One decision read from a cell (row decision, or a school's decision in 汇总)."""

    verdict: str  # pass | return
    reason: str
    fields: list[str] = field(default_factory=list)
    sheet: str = ""
    row: int = 0


@dataclass
class ReadBack:
    """Everything read from the returned workbook."""

    items: list[list[Any]]
    reviewer: str = ""
    reviewer_cell: str = ""
    review_date: date | None = None
    date_text: str = ""
    date_cell: str = ""
    schools: dict[str, Decision] = field(default_factory=dict)
    rows: dict[int, Decision] = field(default_factory=dict)  # version id → decision


_finding = sheets.finding
_grid = sheets.grid
_parse_date = sheets.parse_date
_label_cell = sheets.label_cell
_cell_pos = sheets.cell_pos


def _parse_decision(text: str) -> str | None:
    t = fold_name(text).lstrip("0123456789-")
    return {"通过": "pass", "退回": "return"}.get(t)


class Verifier:
    """Reads and checks one returned sheet against what was issued; collects findings."""

    def __init__(self, job: Any, session: Session, sheet_row: ReturnSheet, meta: dict[str, Any]) -> None:
        self.job = job
        self.session = session
        self.sheet = sheet_row
        self.meta = meta
        self.name = job.name
        self.findings: list[Finding] = []
        self.renderer = rs.Renderer(job.pack)

    def error(self, *args: Any, **kwargs: Any) -> None:
        self.findings.append(_finding(*args, **kwargs))

    # -- reading ------------------------------------------------------------------------------------------
    def read(self) -> ReadBack | None:
        from python_calamine import CalamineWorkbook

        wb = CalamineWorkbook.from_path(str(self.job.path))
        names = set(wb.sheet_names)
        if rs.ITEMS_SHEET not in names or rs.SUMMARY not in names:
            missing = rs.ITEMS_SHEET if rs.ITEMS_SHEET not in names else rs.SUMMARY
            self.error(missing, None, None, "REVIEW-LAYOUT", f"{self.name}：回执单缺少工作表“{missing}”",
                       "请使用本系统签发的回执单原件填写，不要删除或重命名工作表。")
            return None
        items = [[cell_text(r[0]), int(float(r[1])), int(float(r[2])), cell_text(r[3]), cell_text(r[4]),
                  int(float(r[5])) if len(r) > 5 and r[5] not in (None, "") else None]
                 for r in _grid(wb, rs.ITEMS_SHEET)[1:] if r and cell_text(r[0])]
        if rs.items_digest(items) != self.meta.get("items_digest"):
            self.error(rs.ITEMS_SHEET, None, None, "REVIEW-SIGNATURE",
                       f"{self.name}：回执单隐藏的记录清单与签名不符（被改动过）",
                       "请使用本系统签发的回执单原件重新填写后发回。")
            return None
        back = ReadBack(items=items)
        self._read_summary(_grid(wb, rs.SUMMARY), back)
        by_title: dict[str, list[list[Any]]] = defaultdict(list)
        for item in items:
            by_title[item[0]].append(item)
        for title, rows in by_title.items():
            if title not in names:
                self.error(title, None, None, "REVIEW-LAYOUT", f"{self.name}：回执单缺少明细表“{title}”",
                           "请使用本系统签发的回执单原件填写，不要删除或重命名工作表。")
                continue
            self._read_detail(title, _grid(wb, title), rows, back)
        return back

    def _read_summary(self, grid: list[list[Any]], back: ReadBack) -> None:
        for label, attr in ((rs.REVIEWER, "reviewer"), (rs.REVIEW_DATE, "review_date")):
            hit = _label_cell(grid, label)
            if hit is None:
                self.error(rs.SUMMARY, None, None, "REVIEW-LAYOUT", f"{self.name}：汇总表中找不到“{label}”",
                           "请使用本系统签发的回执单原件填写。")
                continue
            r, c = hit
            value = grid[r][c + 1] if c + 1 < len(grid[r]) else None
            cell = f"{get_column_letter(c + 2)}{r + 1}"
            if attr == "reviewer":
                back.reviewer, back.reviewer_cell = cell_text(value), cell
            else:
                back.date_text, back.date_cell = cell_text(value), cell
                back.review_date = _parse_date(value)
        header = next((r for r, row in enumerate(grid[:40])
                       if rs.SCHOOL_CODE in [cell_text(v) for v in row] and rs.DECISION in [cell_text(v) for v in row]),
                      None)
        if header is None:
            self.error(rs.SUMMARY, None, None, "REVIEW-LAYOUT", f"{self.name}：汇总表中找不到学校表头",
                       "请使用本系统签发的回执单原件填写。")
            return
        cols = {cell_text(v): i for i, v in enumerate(grid[header])}
        listed_schools = {item[4] for item in back.items}
        for r in range(header + 1, len(grid)):
            row = grid[r]
            code = cell_text(row[cols[rs.SCHOOL_CODE]]) if cols[rs.SCHOOL_CODE] < len(row) else ""
            if not code:
                continue
            decision = self._decision(rs.SUMMARY, r + 1, row, cols[rs.DECISION], cols.get(rs.REASON), None, None)
            if decision is None:
                continue
            if code not in listed_schools:
                self.error(rs.SUMMARY, r + 1, cols[rs.SCHOOL_CODE] + 1, "REVIEW-EDITED",
                           f"{self.name}：汇总表第 {r + 1} 行的学校代码 {code} 不在本回执单中", "请勿修改学校代码。",
                           value=code)
                continue
            back.schools[code] = decision

    def _decision(self, title: str, excel_row: int, row: list[Any], dcol: int, rcol: int | None, fcol: int | None,
                  labels: dict[str, str] | None, header_labels: list[str] | None = None) -> Decision | None:
        def at(c: int | None) -> str:
            return cell_text(row[c]) if c is not None and c < len(row) else ""

        text, reason, fields_text = at(dcol), at(rcol), at(fcol)
        if not text:
            if reason or fields_text:
                self.error(title, excel_row, dcol + 1, "REVIEW-DECISION",
                           f"{self.name}：{title} {get_column_letter(dcol + 1)}{excel_row} 没有审核结果，却填了退回原因或问题字段",
                           "请在审核结果中选择“退回”（或“通过”），或清空退回原因和问题字段（该记录继续待审）。")
            return None
        verdict = _parse_decision(text)
        if verdict is None:
            self.error(title, excel_row, dcol + 1, "REVIEW-DECISION",
                       f"{self.name}：{title} {get_column_letter(dcol + 1)}{excel_row} 的审核结果“{text}”无效",
                       "审核结果只能是“通过”或“退回”，或留空（继续待审）。", value=text)
            return None
        if verdict == "return" and not reason:
            self.error(title, excel_row, (rcol or dcol) + 1, "REVIEW-REASON-MISSING",
                       f"{self.name}：{title} {get_column_letter((rcol or dcol) + 1)}{excel_row} 没有填写退回原因",
                       "退回时必须写明退回原因，学校才知道改什么。")
            return None
        names: list[str] = []
        if fields_text and labels is not None and fcol is not None:
            for part in (p for p in _SPLIT_FIELDS.split(fields_text) if p):
                code = labels.get(fold_name(part).lstrip("*"))
                if code is None:
                    known = "、".join(header_labels or [])
                    self.error(title, excel_row, fcol + 1, "REVIEW-FIELD-UNKNOWN",
                               f"{self.name}：{title} {get_column_letter(fcol + 1)}{excel_row} 的问题字段“{part}”"
                               f"不是本表的字段", f"请写本表表头中的字段名称，例如：{known[:80]}。", value=fields_text)
                    return None
                names.append(code)
            if verdict == "pass":
                self.error(title, excel_row, fcol + 1, "REVIEW-FIELDS-IGNORED",
                           f"{title} {get_column_letter(fcol + 1)}{excel_row}：审核结果为通过，问题字段不起作用",
                           "如该记录有问题，请把审核结果改为“退回”。", value=fields_text, severity=WARNING)
                names = []
        return Decision(verdict, reason, names, title, excel_row)

    def _read_detail(self, title: str, grid: list[list[Any]], items: list[list[Any]], back: ReadBack) -> None:
        spec = next((s for s in self.job.pack.ordered_sheets() if rs.detail_title(s) == title), None)
        if spec is None or not grid:
            self.error(title, None, None, "REVIEW-LAYOUT", f"{self.name}：明细表“{title}”无法识别",
                       "请使用本系统签发的回执单原件填写。")
            return
        columns = self.renderer.columns(spec)
        header = [cell_text(v) for v in grid[0]]
        expected = [f.label for f in columns] + [rs.DECISION, rs.REASON, rs.FIELDS, rs.CHANGE, rs.SCHOOL_CODE]
        if header[:len(expected)] != expected:
            self.error(title, 1, None, "REVIEW-LAYOUT", f"{self.name}：明细表“{title}”的表头被改动",
                       "请使用本系统签发的回执单原件填写，不要插入、删除或移动列。")
            return
        n = len(columns)
        labels = {fold_name(f.label): f.code for f in columns}
        version_ids = [item[2] for item in items]
        data = self._versions(version_ids + [item[5] for item in items if item[5]])
        for item in items:
            excel_row, vid, old_id = item[1], item[2], item[5]
            row = grid[excel_row - 1] if excel_row - 1 < len(grid) else []
            version = data.get(vid)
            if version is None or rs.version_hash(vid, *version) != item[3]:
                self.error(title, excel_row, None, "REVIEW-STALE",
                           f"{self.name}：{title}第 {excel_row} 行所列记录在系统中已不是签发时的内容",
                           "请联系系统管理员；本回执单需重新签发。")
                continue
            old = data.get(old_id)[3] if old_id and data.get(old_id) else None
            cells, _changed = self.renderer.row(spec, version[3], old)
            for i, want in enumerate(cells):
                got = cell_text(row[i]) if i < len(row) else ""
                if got != want.strip():
                    self.error(title, excel_row, i + 1, "REVIEW-EDITED",
                               f"{self.name}：{title} {get_column_letter(i + 1)}{excel_row}（{columns[i].label}）被改动："
                               f"签发时为“{want}”，现在是“{got}”",
                               "回执单只能填写审核结果、退回原因和问题字段；需要改正的数据请退回学校，由学校改正后重新报送。",
                               value=got, field_code=columns[i].code)
            school = cell_text(row[n + 4]) if n + 4 < len(row) else ""
            if school != item[4]:
                self.error(title, excel_row, n + 5, "REVIEW-EDITED",
                           f"{self.name}：{title} {get_column_letter(n + 5)}{excel_row}（学校代码）被改动", "请勿修改学校代码。",
                           value=school)
            decision = self._decision(title, excel_row, row, n, n + 1, n + 2, labels, [f.label for f in columns])
            if decision is not None:
                back.rows[vid] = decision

    def _versions(self, ids: list[int]) -> dict[int, tuple[int, str, int, dict[str, Any]]]:
        out: dict[int, tuple[int, str, int, dict[str, Any]]] = {}
        unique = sorted(set(ids))
        for i in range(0, len(unique), 500):
            for vid, tid, category, seq, data in self.session.execute(
                    select(RecordVersion.id, RecordVersion.teacher_id, RecordVersion.category, RecordVersion.seq,
                           RecordVersion.data).where(RecordVersion.id.in_(unique[i:i + 500]))):
                out[vid] = (tid, category, seq, dict(data or {}))
        return out

    # -- who decided ----------------------------------------------------------------------------------------
    def check_people(self, back: ReadBack, unit: Unit) -> Officer | None:
        decided = bool(back.rows or back.schools)
        if not decided:
            if not any(f.severity == ERROR for f in self.findings):
                self.error(rs.SUMMARY, None, None, "REVIEW-EMPTY", f"{self.name}：回执单中没有任何审核结果",
                           "请在明细表或汇总表中选择“通过”或“退回”后再发回；本回执单在有效期内仍可使用。")
            return None
        officer, found = sheets.check_officer(self.session, unit, back.reviewer, file=self.name, sheet=rs.SUMMARY,
                                              cell=back.reviewer_cell, role_word="审核人",
                                              rule_prefix="REVIEW-REVIEWER", what="审核")
        self.findings.extend(found)
        self.findings.extend(sheets.check_date(back.review_date, back.date_text, issued=self.sheet.issued_at,
                                               file=self.name, sheet=rs.SUMMARY, cell=back.date_cell,
                                               rule="REVIEW-DATE", label="审核日期", what="回执单"))
        return officer

    def check_sender(self, unit: Unit) -> None:
        self.findings.extend(sheets.check_sender(self.session, self.job, unit, rule="REVIEW-SENDER", what="回执单"))


# ----------------------------------------------------------------------------------------------- handler
def handle(job: Any) -> Any:
    """Handler of kind ``return-sheet``: verify, apply or refuse, report, archive."""
    key, quarantined = sheets.key_or_quarantine(job, "审核回执单")
    if key is None:
        return quarantined
    meta = dict(getattr(job.wb, "meta", None) or {})
    now = datetime.now(UTC)
    with Session(job.engine, expire_on_commit=False) as session, session.begin():
        findings: list[Finding] = []
        sheet_row = session.get(ReturnSheet, meta.get("sheet_id") or "")
        unit = session.get(Unit, meta.get("unit_code") or "")
        outcome = None
        if not signing.verify(rs.signed_payload(meta), meta.get("signature", ""), key) or sheet_row is None \
                or unit is None or sheet_row.unit_code != unit.code:
            findings.append(_finding("_tmis", None, None, "REVIEW-SIGNATURE",
                                     f"{job.name}：回执单的签名不符：不是本系统签发的回执单，或其隐藏的签发信息被改动",
                                     "请使用本系统签发给本单位的回执单原件填写后发回。"))
        elif (late := sheets.status_refusal(
                job.name, sheet_row.id, sheet_row.status, sheet_row.applied_at, sheet_row.expires_at, now,
                rule_prefix="REVIEW", what="回执单", replay_hint="其中留空的记录已列入下一张回执单；请填写最新签发的回执单。",
                expired_hint="其中的记录会列入下一张回执单，请填写新签发的回执单。")) is not None:
            findings.append(late)
        else:
            verifier = Verifier(job, session, sheet_row, meta)
            back = verifier.read()
            officer = None
            if back is not None:
                verifier.check_sender(unit)
                officer = verifier.check_people(back, unit)
            findings = verifier.findings
            if back is not None and officer is not None and not any(f.severity == ERROR for f in findings):
                outcome = _apply(job, session, sheet_row, unit, back, officer, findings, now)
        if outcome is None:
            outcome = _refuse(job, session, sheet_row if unit is not None else None, unit, meta, findings, now)
    from processor.pipeline import move_file

    target = move_file(job.path, outcome.archived_path)
    outcome.archived_path = target
    return outcome


_aware = sheets.aware
_local = sheets.local_text


def _submission(job: Any, session: Session, unit_code: str | None, status: str, now: datetime) -> Submission:
    return sheets.handled_submission(job, session, rs.KIND, unit_code, status, now)  # type: ignore[no-any-return]


def _ctx(job: Any, sub: Submission, unit: Unit | None, status: str, rows: int, stored: int,
         notes: list[str], sheets: list[SheetStat]) -> ReportContext:
    return ReportContext(original_name=job.name, received_at=job.received, sha256=job.sha256,
                         unit_code=unit.code if unit else None, unit_name=unit.name if unit else None, kind=rs.KIND,
                         kind_title=rs.KIND_TITLE, submission_id=sub.id, status=status, rows=rows, stored=stored,
                         sheets=sheets, notes=notes, instance_name=job.config.get("instance", "name"),
                         unit_known=unit is not None)


_add_json = sheets.add_json


def _refuse(job: Any, session: Session, sheet_row: ReturnSheet | None, unit: Unit | None, meta: dict[str, Any],
            findings: list[Finding], now: datetime) -> Any:
    from processor.pipeline import Outcome

    sub = _submission(job, session, unit.code if unit else None, REFUSED, now)
    errors = [f for f in findings if f.severity == ERROR]
    sub.errors, sub.warnings = len(errors), len(findings) - len(errors)
    sub.message = errors[0].message if errors else ""
    notes = ["本回执单未被采用，系统中的任何记录都没有改变。" + (
        "改正标出的问题后可再次发回（回执单在有效期内仍可使用）。"
        if sheet_row is not None and sheet_row.status == "open" else "")]
    rows = sheet_row.versions if sheet_row is not None else 0
    ctx = _ctx(job, sub, unit, REFUSED, rows, 0, notes, [])
    files = write_report(ctx, findings, outbox=job.config.outbox, source=job.path)
    _add_json(files.json, {"sheet_id": meta.get("sheet_id"), "status": REFUSED})
    sub.report_path = str(files.report)
    audit(session, ACTOR, "review.refuse", "return_sheet", str(meta.get("sheet_id") or ""),
          {"file": job.name, "submission": sub.id, "rules": sorted({f.rule for f in errors}),
           "channel": job.channel, "sender": job.sender})
    return Outcome(REFUSED, job.name, job.sha256, sub.id, sub.unit_code, Path(sub.archived_path), files.report,
                   rows, 0, len(errors), len(findings) - len(errors), sub.message)


def _apply(job: Any, session: Session, sheet_row: ReturnSheet, unit: Unit, back: ReadBack, officer: Officer,
           findings: list[Finding], now: datetime) -> Any:
    from processor.pipeline import Outcome

    config, pack = job.config, job.pack
    sub = _submission(job, session, unit.code, APPLIED, now)
    items = {item[2]: item for item in back.items}
    decisions: dict[int, Decision] = {}
    for vid, item in items.items():
        decision = back.rows.get(vid) or back.schools.get(item[4])
        if decision is not None:
            decisions[vid] = decision
    refs = {r.id: r for r in refs_of(session, sorted(decisions))}
    live = {vid for vid, state, level, reviewer in session.execute(
        select(RecordVersion.id, RecordVersion.review_state, RecordVersion.review_level, RecordVersion.review_unit)
        .where(RecordVersion.id.in_(sorted(decisions)))) if state == "pending" and level == sheet_row.level
        and reviewer == unit.code} if decisions else set()
    skipped = [vid for vid in decisions if vid not in live]
    passed = [refs[v] for v in sorted(live) if decisions[v].verdict == "pass"]
    returned = [refs[v] for v in sorted(live) if decisions[v].verdict == "return"]
    reviewed_at = datetime.combine(back.review_date or now.date(), datetime.now().time()).astimezone(UTC)
    review_rows = [{"version_id": v, "level": sheet_row.level, "unit_code": unit.code,
                    "decision": decisions[v].verdict, "reviewer": officer.name, "reason": decisions[v].reason,
                    "problem_fields": "、".join(decisions[v].fields), "submission_id": sub.id,
                    "sheet_id": sheet_row.id, "at": reviewed_at} for v in sorted(live)]
    for i in range(0, len(review_rows), 5000):
        session.execute(insert(Review), review_rows[i:i + 5000])
    chain = Chain.load(session, config.get("review", "levels"))
    person_sheet = (pack.settings or {}).get("person_sheet", "basic")
    done = settle(session, chain=chain, person_sheet=person_sheet, scheme=config.get("numbering", "scheme"), now=now,
                  passed=passed, returned=returned)
    sheet_row.status, sheet_row.applied_at, sheet_row.applied_submission_id = "applied", now, sub.id
    sheet_row.reviewer = officer.name
    returns = _write_returns(job, session, sheet_row, unit, officer, back, returned, decisions, now)
    pending = [item for vid, item in items.items() if vid not in decisions]
    pending_by_school = Counter(item[4] for item in pending)
    per_title: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for vid, item in items.items():
        per_title[item[0]][0] += 1
        if vid in live:
            per_title[item[0]][1] += 1
    sheets = [SheetStat(t, n, d) for t, (n, d) in per_title.items()]
    next_step = {"moved_up": done.moved_up, "effective": done.effective}
    notes = [f"审核人：{officer.name}（{ROLE_NAMES.get(officer.role, officer.role)}），审核日期：{back.review_date}。",
             f"已采用：通过 {len(passed)} 条（其中 {done.effective} 条已生效，{done.moved_up} 条已报上一级审核），"
             f"退回 {len(returned)} 条（已通知 {len(returns)} 所学校）；仍待审核 {len(pending)} 条，将列入下一张回执单。"
             "下表“数据行数”为本回执单所列记录数，“入库行数”为本次作出审核结果的记录数。"]
    if done.numbers:
        notes.append(f"{done.numbers} 名教师的基本信息首次生效，已分配教师编号。")
    if skipped:
        notes.append(f"{len(skipped)} 条记录在回执单签发后已有变化（如已由其他回执单处理），本次未改变。")
    if pending_by_school:
        notes.append("仍待审核：" + "；".join(f"{code} {n} 条" for code, n in sorted(pending_by_school.items())))
    ctx = _ctx(job, sub, unit, APPLIED, len(items), len(live), notes, sheets)
    files = write_report(ctx, findings, outbox=config.outbox, source=None)
    _add_json(files.json, {
        "sheet_id": sheet_row.id, "status": APPLIED, "reviewer": officer.name,
        "review_date": str(back.review_date), "applied": {"passed": len(passed), "returned": len(returned),
                                                         **next_step, "teacher_numbers": done.numbers},
        "pending": len(pending), "pending_by_school": dict(sorted(pending_by_school.items())),
        "skipped": len(skipped), "returns": {code: str(p) for code, p in returns.items()}})
    sub.rows, sub.rows_stored, sub.warnings = len(items), len(live), len(findings)
    sub.report_path = str(files.report)
    audit(session, f"officer:{officer.unit_code}:{officer.name}", "review.apply", "return_sheet", sheet_row.id, {
        "file": job.name, "submission": sub.id, "unit": unit.code, "level": sheet_row.level, "passed": len(passed),
        "returned": len(returned), "effective": done.effective, "moved_up": done.moved_up,
        "pending": len(pending), "teacher_numbers": done.numbers, "channel": job.channel, "sender": job.sender})
    return Outcome(APPLIED, job.name, job.sha256, sub.id, unit.code, Path(sub.archived_path), files.report,
                   len(items), len(live), 0, len(findings), f"已采用：通过 {len(passed)} 条，退回 {len(returned)} 条")


# ----------------------------------------------------------------------------------------------- returns
def _write_returns(job: Any, session: Session, sheet_row: ReturnSheet, unit: Unit, officer: Officer, back: ReadBack,
                   returned: list[VersionRef], decisions: dict[int, Decision], now: datetime) -> dict[str, Path]:
    """One error-style workbook per school: its official template holding the returned rows, the officer's
    reason on the cells named in 问题字段 (on 姓名 when none is named)."""
    from processor.workbook.template import HEADER_ROW, build_template, template_fields

    if not returned:
        return {}
    pack = job.pack
    by_school: dict[str, list[VersionRef]] = defaultdict(list)
    for ref in returned:
        by_school[ref.school_code].append(ref)
    ids = [r.id for r in returned]
    data: dict[int, dict[str, Any]] = {}
    for i in range(0, len(ids), 500):
        for vid, d in session.execute(select(RecordVersion.id, RecordVersion.data)
                                      .where(RecordVersion.id.in_(ids[i:i + 500]))):
            data[vid] = dict(d or {})
    out: dict[str, Path] = {}
    for school_code, refs in sorted(by_school.items()):
        school = session.get(Unit, school_code)
        school_name = school.name if school else school_code
        wb = build_template(pack, "teachers", school_code, school_name)
        school_type = pack.school_type_for(school_code)
        findings: list[Finding] = []
        next_row: dict[str, int] = defaultdict(lambda: HEADER_ROW + 1)
        for ref in sorted(refs, key=lambda r: (pack.sheets[r.category].order, r.teacher_id, r.seq)):
            spec = pack.sheets[ref.category]
            fields = template_fields(spec, school_type, pack)
            ws = wb[spec.name]
            row = next_row[spec.name]
            next_row[spec.name] += 1
            values = data.get(ref.id, {})
            for c, f in enumerate(fields, start=1):
                value = _input_value(pack, f, values.get(f.code))
                if value is not None:
                    ws.cell(row=row, column=c, value=value)
            decision = decisions[ref.id]
            codes = decision.fields or ["name"]
            for code in codes:
                col = next((i for i, f in enumerate(fields, start=1) if f.code == code), None)
                if col is None:
                    col = next((i for i, f in enumerate(fields, start=1) if f.code == "name"), 1)
                label = next((f.label for f in fields if f.code == code), code)
                findings.append(Finding(spec.name, row, get_column_letter(col), code,
                                        cell_text(values.get(code)) or None, "REVIEW-RETURNED", ERROR,
                                        f"{unit.name}{level_title(sheet_row.level)}退回（{label}）：{decision.reason}",
                                        f"请核实并改正后重新报送。审核人：{officer.name}，审核日期：{back.review_date}，"
                                        f"回执单 {sheet_row.id}。"))
        with tempfile.TemporaryDirectory(dir=job.dirs.root) as tmp:
            source = Path(tmp) / f"退回_{safe_filename(school_name, 40)}.xlsx"
            wb.save(source)
            ctx = ReportContext(
                original_name=f"{rs.KIND_TITLE} {sheet_row.id}", received_at=now,
                sha256=signing.digest([sheet_row.id, school_code]), unit_code=school_code, unit_name=school_name,
                kind="review-return", kind_title="审核退回", status="returned", rows=len(refs), stored=0,
                notes=[f"{unit.name}（{level_title(sheet_row.level)}）退回了本校 {len(refs)} 条记录，退回原因写在标红单元格的批注和"
                       "“错误清单”中。请改正后重新报送：基本信息、联系方式可直接在本文件中改正后报送；其他类别请在本校完整的"
                       "教师信息表中改正后整表报送，以免同一教师的多条记录顺序错位。"],
                instance_name=job.config.get("instance", "name"),
                labels={(s.name, f.code): f.label for s in pack.ordered_sheets() for f in s.fields})
            files = write_report(ctx, findings, outbox=job.config.outbox, source=source)
        _add_json(files.json, {"status": "returned", "sheet_id": sheet_row.id, "reviewer": officer.name,
                               "level": sheet_row.level, "reviewing_unit": unit.code})
        out[school_code] = files.report
    return out


def _input_value(pack: Any, f: Any, value: Any) -> Any:
    """A stored value as a school would type it into the template (codes as 'code-name')."""
    if value is None or value == "":
        return None
    table = pack.tables.get(f.table) if f.table else None
    if table is not None:
        values = value if isinstance(value, list) else [value]
        texts = [f"{v}-{table.entries[str(v)].name}" if str(v) in table.entries else str(v) for v in values]
        return "、".join(texts)
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return value
