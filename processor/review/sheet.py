"""Issuing return sheets (审核回执单): one signed workbook per reviewing unit with pending versions.

Layout (shared/design.md, CLI contract): a sheet ``汇总`` with 审核人 / 审核日期 (the value in the cell to
the right) and one row per school (学校代码, 学校名称, 审核结果, 退回原因, 待审记录数); one detail sheet per
template sheet of the versions listed (身份证件号, 姓名, the data fields, 审核结果, 退回原因, 问题字段, then
变更, 学校代码, 学校名称). A correction of an effective record shows each changed cell as ``old → new``,
filled orange (复本比对); a new record is listed in full. Only the decision cells are unlocked; 审核结果 has a
dropdown (通过 / 退回). The hidden ``_tmis`` sheet carries the sheet id, unit, level, issue and expiry time,
the digest of the hidden ``_tmis_items`` list (detail sheet, row, version id, version hash, school, the
effective version it corrects) and an HMAC-SHA256 over all of it (processor/signing.py).

The workbook is built by openpyxl (write-only); the rows of the big sheets are streamed into it as XML by
processor/review/xlsxfast.py, because openpyxl alone writes a county's two million cells in minutes.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from processor import sheets, signing
from processor.audit import audit
from processor.feedback import HEAD_FILL, safe_filename
from processor.review import xlsxfast
from processor.review.chain import level_title
from processor.rulepack.model import FieldSpec, RulePack, SheetSpec
from processor.store.models import (
    RecordVersion,
    ReturnSheet,
    ReturnSheetItem,
    Teacher,
    Unit,
)

log = logging.getLogger(__name__)

KIND = "return-sheet"
KIND_TITLE = "审核回执单"
SUMMARY = "汇总"
ITEMS_SHEET = "_tmis_items"
ITEMS_HEADER = ("sheet", "row", "version", "hash", "school", "corrects")
PASS, RETURN = "通过", "退回"
DECISION, REASON, FIELDS = "审核结果", "退回原因", "问题字段"
CHANGE, SCHOOL_CODE, SCHOOL_NAME, COUNT = "变更", "学校代码", "学校名称", "待审记录数"
REVIEWER, REVIEW_DATE = "审核人", "审核日期"
SUMMARY_HEADER = (SCHOOL_CODE, SCHOOL_NAME, DECISION, REASON, COUNT)
SUMMARY_HEADER_ROW = 11
REVIEWER_ROW, DATE_ROW = 7, 8
NEW, CORRECTION = "新增", "更正"
ARROW = " → "
EMPTY = "（空）"
CHANGED_FILL = PatternFill(fill_type="solid", start_color="FFFFD8A8", end_color="FFFFD8A8")
INPUT_FILL = sheets.INPUT_FILL
UNLOCKED = sheets.UNLOCKED
CHUNK = 500


# ----------------------------------------------------------------------------------------------- rendering
class Renderer:
    """Stored values → the text an officer reads (code names, 、-joined lists), the same on issue and on return."""

    def __init__(self, pack: RulePack) -> None:
        self.pack = pack

    def columns(self, spec: SheetSpec) -> list[FieldSpec]:
        """身份证件号, 姓名, then the sheet's other data fields in template order."""
        fields = spec.input_fields
        first = [f for code in ("id_number", "name") for f in fields if f.code == code]
        return first + [f for f in fields if f.code not in ("id_number", "name")]

    def text(self, f: FieldSpec, value: Any) -> str:
        if value is None or value == "":
            return ""
        table = self.pack.tables.get(f.table) if f.table else None
        if table is not None:
            values = value if isinstance(value, list) else [value]
            names = []
            for v in values:
                entry = table.entries.get(str(v))
                names.append(entry.name if entry is not None else str(v))
            return "、".join(names)
        if isinstance(value, list):
            return "、".join(str(v) for v in value)
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    def row(self, spec: SheetSpec, data: dict[str, Any], old: dict[str, Any] | None) -> tuple[list[str], set[int]]:
        """The data cells of one version and which of them changed against the effective version ``old``."""
        cells: list[str] = []
        changed: set[int] = set()
        for i, f in enumerate(self.columns(spec)):
            new = self.text(f, data.get(f.code))
            if old is not None and f.code not in ("id_number",):
                before = self.text(f, old.get(f.code))
                if before != new:
                    cells.append(f"{before or EMPTY}{ARROW}{new or EMPTY}")
                    changed.add(i)
                    continue
            cells.append(new)
        return cells, changed


def version_hash(version_id: int, teacher_id: int, category: str, seq: int, data: dict[str, Any]) -> str:
    """The hash of a listed version as the sheet carries it (signed with the sheet)."""
    return signing.digest({"id": version_id, "teacher": teacher_id, "category": category, "seq": seq, "data": data})


def signed_payload(meta: dict[str, Any]) -> dict[str, Any]:
    """What the signature covers: the sheet's identity, unit, level, times and the digest of its items."""
    return {"format": 1, "kind": KIND, "sheet_id": meta.get("sheet_id"), "unit": meta.get("unit_code"),
            "level": meta.get("level"), "issued_at": meta.get("issued_at"), "expires_at": meta.get("expires_at"),
            "items_digest": meta.get("items_digest")}


def items_digest(items: Sequence[Sequence[Any]]) -> str:
    return signing.digest([[str(x) if x is not None else "" for x in item] for item in items])


# ----------------------------------------------------------------------------------------------- selection
@dataclass
class Listed:
    """One version to list: who, what, and the effective version it corrects."""

    version_id: int
    teacher_id: int
    category: str
    seq: int
    school_code: str
    data: dict[str, Any]
    id_number: str
    name: str
    old_id: int | None = None
    old_data: dict[str, Any] | None = None


@dataclass
class IssuedSheet:
    """A return sheet written: where, for whom, how many versions."""

    sheet_id: str
    unit_code: str
    unit_name: str
    level: str
    path: Path
    versions: int
    expires_at: datetime


def on_open_sheets() -> Any:
    """Version ids listed on a sheet that is still open (a subquery)."""
    return (select(ReturnSheetItem.version_id).join(ReturnSheet, ReturnSheet.id == ReturnSheetItem.sheet_id)
            .where(ReturnSheet.status == "open"))


def expire_sheets(session: Session, now: datetime) -> int:
    """Open sheets past their expiry become ``expired``: their versions go onto the next sheet."""
    res = session.execute(update(ReturnSheet).where(ReturnSheet.status == "open", ReturnSheet.expires_at < now)
                          .values(status="expired").execution_options(synchronize_session=False))
    return res.rowcount or 0


def waiting_units(session: Session, unit: str | None = None) -> list[str]:
    """Reviewing units with pending versions that are on no open sheet."""
    stmt = (select(RecordVersion.review_unit).where(RecordVersion.review_state == "pending",
                                                    RecordVersion.review_level != "school",
                                                    RecordVersion.review_unit.is_not(None),
                                                    RecordVersion.id.not_in(on_open_sheets()))
            .distinct())
    if unit is not None:
        stmt = stmt.where(RecordVersion.review_unit == unit)
    return sorted(u for u in session.scalars(stmt) if u)


def _listed(session: Session, unit_code: str) -> list[Listed]:
    rows = session.execute(
        select(RecordVersion.id, RecordVersion.teacher_id, RecordVersion.category, RecordVersion.seq,
               RecordVersion.unit_code, RecordVersion.data, Teacher.id_number, Teacher.name)
        .join(Teacher, Teacher.id == RecordVersion.teacher_id)
        .where(RecordVersion.review_unit == unit_code, RecordVersion.review_state == "pending",
               RecordVersion.review_level != "school", RecordVersion.id.not_in(on_open_sheets()))
    ).all()
    listed = [Listed(r[0], r[1], r[2], r[3], r[4], dict(r[5] or {}), r[6], r[7]) for r in rows]
    attach_effective(session, listed)
    return listed


def attach_effective(session: Session, listed: list[Listed]) -> None:
    """Set old_id / old_data: the effective version each listed version would replace."""
    by_teacher: dict[int, list[Listed]] = defaultdict(list)
    for item in listed:
        by_teacher[item.teacher_id].append(item)
    teacher_ids = sorted(by_teacher)
    effective: dict[tuple[int, str, int], tuple[int, dict[str, Any]]] = {}
    for i in range(0, len(teacher_ids), CHUNK):
        part = teacher_ids[i:i + CHUNK]
        for vid, tid, category, seq, data in session.execute(
                select(RecordVersion.id, RecordVersion.teacher_id, RecordVersion.category, RecordVersion.seq,
                       RecordVersion.data)
                .where(RecordVersion.teacher_id.in_(part), RecordVersion.review_state == "effective")):
            effective[(tid, category, seq)] = (vid, dict(data or {}))
    for item in listed:
        hit = effective.get((item.teacher_id, item.category, item.seq))
        if hit is not None:
            item.old_id, item.old_data = hit


# ----------------------------------------------------------------------------------------------- writing
_cell = sheets.text_cell
_protect = sheets.protect


def _decision_validation(ref: str) -> DataValidation:
    return sheets.choice_validation(ref, [PASS, RETURN], DECISION)


def _write_summary(wb: Workbook, *, sheet_id: str, unit: Unit, level: str, issued: datetime, expires: datetime,
                   schools: list[tuple[str, str, int]], instance: str, detail_titles: list[str]) -> None:
    ws = wb.create_sheet(SUMMARY)
    bold = Font(bold=True)
    for col, width in zip("ABCDE", (18, 36, 12, 50, 12), strict=True):
        ws.column_dimensions[col].width = width
    sheets.write_head(ws, f"{instance} {KIND_TITLE}（{unit.name} {level_title(level)}）", id_label="回执单编号",
                      sheet_id=sheet_id, unit_label="审核单位", unit=unit, issued=issued, expires=expires,
                      person_label=REVIEWER, date_label=REVIEW_DATE)
    ws.append([_cell(ws, "填写说明", font=bold), _cell(ws, (
        f"在各明细表（{'、'.join(detail_titles)}）逐条选择审核结果：通过，或退回并写明退回原因，可在“问题字段”中写出有问题的字段名称"
        "（多个用顿号或逗号分隔）；留空的记录继续待审，列入下一张回执单。也可在下表对整所学校作出审核结果，"
        "它适用于该校在明细表中留空的记录。橙色单元格为更正内容（原值 → 新值）。除黄色的填写格外，其余内容均不可修改。"
        "填好后保存，放回收件目录或用本单位登记的邮箱发回。"), wrap=True)])
    ws.append([])
    ws.append([_cell(ws, h, font=bold, fill=HEAD_FILL) for h in SUMMARY_HEADER])
    for code, name, count in schools:
        ws.append([_cell(ws, code), _cell(ws, name), _cell(ws, None, unlocked=True), _cell(ws, None, unlocked=True),
                   count])
    last = SUMMARY_HEADER_ROW + max(len(schools), 1)
    ws.data_validations.append(_decision_validation(f"C{SUMMARY_HEADER_ROW + 1}:C{last}"))
    ws.freeze_panes = f"A{SUMMARY_HEADER_ROW + 1}"
    _protect(ws)


def _write_detail(wb: Workbook, renderer: Renderer, spec: SheetSpec, title: str, rows: int) -> int:
    """The detail sheet's header, dropdown, filter and protection, and the placeholder row 2 whose cells
    carry the styles of the rows (plain A2, changed B2, unlocked C2); returns the number of columns."""
    ws = wb.create_sheet(title)
    columns = renderer.columns(spec)
    headers = [f.label for f in columns] + [DECISION, REASON, FIELDS, CHANGE, SCHOOL_CODE, SCHOOL_NAME]
    for i, f in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(10, min(30, len(f.label) * 2 + 2))
    n = len(columns)
    for i, width in enumerate((10, 30, 20, 16, 14, 24), start=n + 1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "C2"
    bold = Font(bold=True)
    ws.append([_cell(ws, h, font=bold, fill=HEAD_FILL) for h in headers])
    ws.append([_cell(ws, "x"), _cell(ws, "x", fill=CHANGED_FILL), _cell(ws, "x", unlocked=True)])
    last = max(rows + 1, 2)
    decision_col = get_column_letter(n + 1)
    ws.data_validations.append(_decision_validation(f"{decision_col}2:{decision_col}{last}"))
    ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{last}"
    _protect(ws)
    return len(headers)


def _detail_rows(renderer: Renderer, spec: SheetSpec, items: list[Listed],
                 school_names: dict[str, str]) -> xlsxfast.RowsFactory:
    def rows(_styles: dict[str, str]) -> Iterator[list[Any]]:
        blank = ("", "C")
        for item in items:
            cells, changed = renderer.row(spec, item.data, item.old_data)
            kind = NEW if item.old_data is None else f"{CORRECTION}（{len(changed)} 项）"
            yield [(text, "B") if i in changed else (text or None) for i, text in enumerate(cells)] + [
                blank, blank, blank, kind, item.school_code, school_names.get(item.school_code, "")]
    return rows


def detail_title(spec: SheetSpec) -> str:
    """The detail sheet of a template sheet: its name (汇总 is reserved)."""
    return (spec.name if spec.name != SUMMARY else f"{spec.name}明细")[:31]


def build_sheet(pack: RulePack, unit: Unit, level: str, listed: list[Listed], school_names: dict[str, str], *,
                sheet_id: str, issued: datetime, expires: datetime, key: bytes, instance: str,
                target: Path) -> tuple[list[list[Any]], str]:
    """Write the return sheet to ``target``; returns its items and signature."""
    renderer = Renderer(pack)
    by_category: dict[str, list[Listed]] = defaultdict(list)
    for item in listed:
        by_category[item.category].append(item)
    specs = [s for s in pack.ordered_sheets() if s.id in by_category]
    counts: dict[str, int] = defaultdict(int)
    for item in listed:
        counts[item.school_code] += 1
    schools = [(code, school_names.get(code, ""), counts[code]) for code in sorted(counts)]
    items: list[list[Any]] = []
    ordered: dict[str, list[Listed]] = {}
    for spec in specs:
        rows = sorted(by_category[spec.id], key=lambda x: (x.school_code, x.id_number, x.seq, x.version_id))
        ordered[spec.id] = rows
        title = detail_title(spec)
        for r, item in enumerate(rows, start=2):
            items.append([title, r, item.version_id,
                          version_hash(item.version_id, item.teacher_id, item.category, item.seq, item.data),
                          item.school_code, item.old_id])
    meta = {"kind": KIND, "kind_title": KIND_TITLE, "unit_code": unit.code, "unit_name": unit.name,
            "issued_at": issued.isoformat(timespec="seconds"), "generator": "tmis",
            "pack_name": pack.name, "pack_version": pack.version}
    extra = {"sheet_id": sheet_id, "level": level, "expires_at": expires.isoformat(timespec="seconds"),
             "items_digest": items_digest(items)}
    signature = signing.sign(signed_payload({**meta, **extra}), key)

    wb = Workbook(write_only=True)
    _write_summary(wb, sheet_id=sheet_id, unit=unit, level=level, issued=issued, expires=expires, schools=schools,
                   instance=instance, detail_titles=[detail_title(s) for s in specs])
    big: dict[str, tuple[int, int, xlsxfast.RowsFactory]] = {}
    for spec in specs:
        width = _write_detail(wb, renderer, spec, detail_title(spec), len(ordered[spec.id]))
        big[detail_title(spec)] = (width, len(ordered[spec.id]), _detail_rows(renderer, spec, ordered[spec.id],
                                                                                school_names))
    sheets.write_meta_sheet(wb, meta, extra, signature)
    listing = wb.create_sheet(ITEMS_SHEET)
    listing.sheet_state = "veryHidden"
    listing.append(list(ITEMS_HEADER))
    listing.append(["x"])
    big[ITEMS_SHEET] = (len(ITEMS_HEADER), len(items), lambda _styles: items)
    wb.security = WorkbookProtection(lockStructure=True)  # sheets cannot be renamed, moved or deleted
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    spliced = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        wb.save(tmp)
        xlsxfast.splice(tmp, spliced, big)
        spliced.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
        spliced.unlink(missing_ok=True)
    return items, signature


def new_sheet_id(unit_code: str, issued: datetime) -> str:
    return f"{unit_code}-{issued.astimezone():%Y%m%d%H%M}-{uuid.uuid4().hex[:6]}"


def issue_sheets(engine: Engine, config: Any, pack: RulePack, *, unit: str | None = None,
                 now: datetime | None = None, actor: str = "review") -> list[IssuedSheet]:
    """A return sheet for each reviewing unit (or ``unit`` alone) with pending versions on no open sheet.

    Raises SigningKeyMissing without TMIS_SIGNING_KEY. Each sheet is written and recorded in its own
    transaction (file first, then the commit: a crash leaves at most an unrecorded file, never a record
    of a sheet that does not exist)."""
    key = signing.signing_key()
    now = now or datetime.now(UTC)
    valid = timedelta(days=int(config.get("review", "sheet_valid_days")))
    out: list[IssuedSheet] = []
    with Session(engine) as session, session.begin():
        expired = expire_sheets(session, now)
        if expired:
            audit(session, actor, "review.sheets_expired", "return_sheet", "", {"count": expired})
    with Session(engine) as session:
        units = waiting_units(session, unit)
    for code in units:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            reviewer = session.get(Unit, code)
            if reviewer is None:
                continue
            listed = _listed(session, code)
            if not listed:
                continue
            schools = {item.school_code for item in listed}
            names = dict(session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(sorted(schools)))).all())
            sheet_id = new_sheet_id(code, now)
            expires = now + valid
            level = reviewer.level
            name = (f"{KIND_TITLE}_{safe_filename(reviewer.name, 40)}_{level_title(level)}_"
                    f"{now.astimezone():%Y-%m-%d}_{sheet_id[-6:]}.xlsx")
            target = config.outbox / safe_filename(code, 20) / name
            items, signature = build_sheet(pack, reviewer, level, listed, names, sheet_id=sheet_id, issued=now,
                                           expires=expires, key=key, instance=config.get("instance", "name"),
                                           target=target)
            try:
                session.add(ReturnSheet(id=sheet_id, unit_code=code, level=level, status="open", issued_at=now,
                                        expires_at=expires, path=str(target), signature=signature,
                                        versions=len(items)))
                session.flush()
                for i in range(0, len(items), 5000):
                    session.execute(insert(ReturnSheetItem), [
                        {"sheet_id": sheet_id, "sheet_title": t, "row": r, "version_id": v, "hash": h,
                         "school_code": s, "old_version_id": o} for t, r, v, h, s, o in items[i:i + 5000]])
                audit(session, actor, "review.issue", "return_sheet", sheet_id,
                      {"unit": code, "level": level, "versions": len(items), "schools": len(schools),
                       "file": str(target), "expires_at": expires.isoformat(timespec="seconds")})
                if config.get("mail", "enabled"):
                    mail_sheet(session, config, reviewer, sheet_id=sheet_id, level=level, target=target,
                               versions=len(items), schools=len(schools), expires=expires)
            except BaseException:
                target.unlink(missing_ok=True)
                raise
        out.append(IssuedSheet(sheet_id, code, reviewer.name, level, target, len(items), expires))
    return out



def mail_sheet(session: Session, config: Any, reviewer: Unit, *, sheet_id: str, level: str, target: Path,
               versions: int, schools: int, expires: datetime) -> list[int]:
    """Queue the issued sheet to the reviewing unit's 信息管理员 and 系统管理员 (in the caller's transaction, so
    a sheet is mailed exactly when it is recorded), unmasked: masking would change the listed data and make
    the sheet unusable, and they review their own subtree. Returns the queued ids."""
    from processor.mail.outgoing import enqueue_to_officers

    context = {"level_title": level_title(level), "versions": versions, "schools": schools,
               "file_name": target.name, "expires_at": f"{expires.astimezone():%Y-%m-%d %H:%M}"}
    return enqueue_to_officers(session, config, reviewer.code, subject=f"审核回执单：{reviewer.name}，{versions} 条待审记录",
                               template="return_sheet", context=context, attachments=[(target, target.name)],
                               kind="return-sheet", dedup=f"return-sheet:{sheet_id}")
