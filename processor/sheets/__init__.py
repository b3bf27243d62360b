"""The parts every signed sheet tmis issues to officers and takes back shares (the review chain's return sheets,
the workflows' request forms and confirmation sheets): writing protected text cells, choice dropdowns and the
hidden metadata; reading the filled copy back (label cells, dates, cell positions); and the checks on who filled
it — the named officer (审核人 / 确认人) must be a 信息管理员 or 系统管理员 of the sheet's unit, the date must lie
between issue and today, and a sheet that came by mail must come from an address of that unit's officers.

The checks return Findings (Chinese message naming the file, sheet and cell, and the fix); signing is
processor/signing.py."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parseaddr
from typing import Any

from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.feedback import clean_text, is_dangerous
from processor.findings import ERROR, Finding
from processor.store.models import ROLE_NAMES, Officer, Unit
from processor.workbook.meta import META_SHEET, cell_text, meta_items

INPUT_FILL = PatternFill(fill_type="solid", start_color="FFFFFFCC", end_color="FFFFFFCC")
UNLOCKED = Protection(locked=False)
DECIDERS = ("manager", "sysadmin")  # the roles that may decide or confirm (信息查询员 only looks)


# ----------------------------------------------------------------------------------------------- writing
def text_cell(ws: Any, value: Any, *, font: Font | None = None, fill: PatternFill | None = None,
              unlocked: bool = False, wrap: bool = False) -> WriteOnlyCell:
    """A write-only cell; text is written as text (formula-like text quoted), an input cell is unlocked and yellow."""
    cell = WriteOnlyCell(ws, value=clean_text(value) if isinstance(value, str) else value)
    if isinstance(value, str):
        cell.data_type = "s"
        if is_dangerous(value):
            cell.quotePrefix = True
    if font is not None:
        cell.font = font
    if fill is not None:
        cell.fill = fill
    if unlocked:
        cell.protection = UNLOCKED
        cell.fill = fill or INPUT_FILL
    if wrap:
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    return cell


def protect(ws: Any) -> None:
    """Sheet protection that still allows filtering, sorting and column widths."""
    ws.protection.sheet = True
    ws.protection.autoFilter = False
    ws.protection.sort = True
    ws.protection.formatColumns = False


def choice_validation(ref: str, options: list[str], title: str) -> DataValidation:
    """A dropdown of ``options`` on ``ref`` (blank allowed: the row is not decided yet)."""
    shown = "”或“".join(options)
    dv = DataValidation(type="list", formula1='"' + ",".join(options) + '"', allow_blank=True, showErrorMessage=True,
                        errorTitle=title, error=f"请从下拉列表中选择“{shown}”，或留空（暂不处理）。",
                        showInputMessage=True, promptTitle=title, prompt=f"{' / '.join(options)}；留空则暂不处理。")
    dv.add(ref)
    return dv


def write_meta_sheet(wb: Any, meta: dict[str, Any], extra: dict[str, Any], signature: str) -> Any:
    """The very hidden ``_tmis`` sheet of a write-only workbook: the template keys, ``extra`` and the signature."""
    hidden = wb.create_sheet(META_SHEET)
    hidden.sheet_state = "veryHidden"
    hidden.append(["# tmis", "本表由系统读取，请勿修改"])
    for k, v in [*meta_items(meta), *extra.items(), ("signature", signature)]:
        hidden.append([text_cell(hidden, k), text_cell(hidden, str(v))])
    return hidden


# ----------------------------------------------------------------------------------------------- reading
def finding(sheet: str | None, row: int | None, col: int | None, rule: str, message: str, hint: str, *,
            value: Any = None, field_code: str | None = None, severity: str = ERROR) -> Finding:
    """A Finding at (sheet, 1-based row, 1-based column)."""
    return Finding(sheet, row, get_column_letter(col) if col else None, field_code,
                   None if value is None else str(value), rule, severity, message, hint)


def grid(wb: Any, title: str) -> list[list[Any]]:
    """All cells of a calamine sheet as rows of values."""
    return wb.get_sheet_by_name(title).to_python(skip_empty_area=False)  # type: ignore[no-any-return]


def parse_date(value: Any) -> date | None:
    """A date typed by a person (a date cell, 2026-12-01, 2026/12/1, 2026.12.1, 2026年12月1日) or None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = cell_text(value)
    m = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", text)
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def label_cell(rows: list[list[Any]], label: str, max_rows: int = 30) -> tuple[int, int] | None:
    """(row index, col index) of the cell whose text is ``label`` (a trailing colon allowed)."""
    for r, row in enumerate(rows[:max_rows]):
        for c, value in enumerate(row):
            if cell_text(value).rstrip("：:").strip() == label:
                return r, c
    return None


@dataclass
class Labelled:
    """The value typed to the right of a label cell, and where."""

    text: str
    value: Any
    cell: str  # e.g. B7


def value_right_of(rows: list[list[Any]], label: str) -> Labelled | None:
    """The value in the cell to the right of the cell whose text is ``label`` (None: no such label)."""
    hit = label_cell(rows, label)
    if hit is None:
        return None
    r, c = hit
    value = rows[r][c + 1] if c + 1 < len(rows[r]) else None
    return Labelled(cell_text(value), value, f"{get_column_letter(c + 2)}{r + 1}")


def cell_pos(ref: str) -> tuple[int | None, int | None]:
    """(row, column) of an A1 reference, (None, None) when it is none."""
    m = re.fullmatch(r"([A-Z]+)(\d+)", ref or "")
    if not m:
        return None, None
    col = 0
    for ch in m.group(1):
        col = col * 26 + ord(ch) - 64
    return int(m.group(2)), col


def aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def local_text(ts: datetime | None) -> str:
    return aware(ts).astimezone().strftime("%Y-%m-%d %H:%M") if ts else ""


# ----------------------------------------------------------------------------------------------- who filled it
def check_officer(session: Session, unit: Unit, name: str, *, file: str, sheet: str, cell: str, role_word: str,
                  rule_prefix: str, what: str) -> tuple[Officer | None, list[Finding]]:
    """The officer named in ``cell``: a 信息管理员 or 系统管理员 of ``unit``. ``role_word`` is 审核人 / 确认人 / 填报人;
    rules are ``<prefix>-MISSING``, ``-VIEWER`` (a 信息查询员 of the unit) and ``-UNIT`` (not of the unit)."""
    row, col = cell_pos(cell)
    if not name:
        return None, [finding(sheet, row, col, f"{rule_prefix}-MISSING", f"{file}：{sheet} {cell} 没有填写{role_word}",
                              f"请填写{unit.name}的信息管理员或系统管理员的姓名（谁{what}谁负责）。")]
    mine = session.scalars(select(Officer).where(Officer.unit_code == unit.code, Officer.name == name)).all()
    deciders = [o for o in mine if o.role in DECIDERS]
    if deciders:
        return sorted(deciders, key=lambda o: DECIDERS.index(o.role))[0], []
    if mine:
        return None, [finding(sheet, row, col, f"{rule_prefix}-VIEWER",
                              f"{file}：{sheet} {cell} 的{role_word} {name} 是{unit.name}的"
                              f"{ROLE_NAMES.get(mine[0].role, mine[0].role)}，只能查询，不能{what}",
                              f"请由{unit.name}的信息管理员或系统管理员{what}并填写其姓名。", value=name)]
    elsewhere = session.execute(select(Unit.name, Officer.role).join(Unit, Unit.code == Officer.unit_code)
                                .where(Officer.name == name)).first()
    where = (f"（系统中登记为{elsewhere[0]}的{ROLE_NAMES.get(elsewhere[1], elsewhere[1])}）"
             if elsewhere else "（系统中没有登记此人）")
    return None, [finding(sheet, row, col, f"{rule_prefix}-UNIT",
                          f"{file}：{sheet} {cell} 的{role_word} {name} 不是{unit.name}的信息管理员或系统管理员{where}",
                          f"本表只能由{unit.name}的信息管理员或系统管理员{what}。", value=name)]


def check_date(day: date | None, text: str, *, issued: datetime, file: str, sheet: str, cell: str, rule: str,
               label: str, what: str) -> list[Finding]:
    """``day`` (read from ``cell``) is a date between the day before issue and tomorrow."""
    row, col = cell_pos(cell)
    today = datetime.now(UTC).astimezone().date()
    if day is None:
        return [finding(sheet, row, col, rule, f"{file}：{sheet} {cell} 的{label}“{text}”" + ("为空" if not text else "不是日期"),
                        f"请填写{label}，例如 {today.isoformat()}。", value=text or None)]
    if not (aware(issued).astimezone().date() - timedelta(days=1) <= day <= today + timedelta(days=1)):
        return [finding(sheet, row, col, rule, f"{file}：{sheet} {cell} 的{label} {day} 不在{what}签发日至今天之间",
                        f"请填写实际的{label}。", value=text)]
    return []


def check_sender(session: Session, job: Any, unit: Unit, *, rule: str, what: str) -> list[Finding]:
    """A file that came by mail comes from an address of an officer of ``unit`` (nothing to check otherwise)."""
    if job.channel != "mail":
        return []
    address = parseaddr(job.sender or "")[1].strip().lower()
    emails = {e.strip().lower() for e in session.scalars(select(Officer.email).where(Officer.unit_code == unit.code)) if e}
    if address and address in emails:
        return []
    return [finding(None, None, None, rule, f"{job.name}：{what}来自 {address or '（未知发件人）'}，不是{unit.name}登记的人员邮箱",
                    f"请由{unit.name}的人员用在系统中登记的邮箱发回{what}。", value=address or None)]


# ----------------------------------------------------------------------------------------------- handling
def save_atomic(wb: Any, target: Any) -> None:
    """Save an openpyxl workbook under a temporary name beside ``target``, then rename it into place."""
    import uuid

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        wb.save(tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def status_refusal(file: str, sheet_id: str, status: str, applied_at: datetime | None, expires_at: datetime,
                   now: datetime, *, rule_prefix: str, what: str, replay_hint: str, expired_hint: str) -> Finding | None:
    """The refusal of a sheet already used (``<prefix>-REPLAY``) or past its expiry (``<prefix>-EXPIRED``)."""
    if status == "applied":
        return finding(None, None, None, f"{rule_prefix}-REPLAY",
                       f"{file}：{what} {sheet_id} 已于 {local_text(applied_at)} 处理过，不能重复使用", replay_hint)
    if status == "expired" or aware(expires_at) < now:
        return finding(None, None, None, f"{rule_prefix}-EXPIRED", f"{file}：{what} {sheet_id} 已于 {local_text(expires_at)} 过期",
                       expired_hint)
    return None


def handled_submission(job: Any, session: Session, kind: str, unit_code: str | None, status: str, now: datetime) -> Any:
    """The Submission row of a handled file (processor/handlers.py), with the archive path it will move to."""
    from processor.feedback import safe_filename
    from processor.store.models import Submission

    sub = Submission(sha256=job.sha256, original_name=job.name[:500], channel=job.channel, sender=job.sender,
                     kind=kind, unit_code=unit_code, status=status, received_at=job.received, processed_at=now)
    session.add(sub)
    session.flush()
    sub.archived_path = str(job.dirs.archive / job.received.astimezone().strftime("%Y-%m")
                            / f"{sub.id}__{safe_filename(job.name, 150)}")
    return sub


def add_json(path: Any, extra: dict[str, Any]) -> None:
    """Add keys to the JSON outcome written beside a report."""
    import json

    from processor.feedback import atomic_write_text

    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(extra)
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=1))


def key_or_quarantine(job: Any, what: str) -> tuple[bytes | None, Any]:
    """The signing key, or (None, the Outcome of quarantining the file for the operator): without
    TMIS_SIGNING_KEY nothing can be verified, which is not the officer's fault; put back once it is set."""
    from processor import signing
    from processor.pipeline import FAILED, Outcome, quarantine_failed

    try:
        return signing.signing_key(), None
    except signing.SigningKeyMissing as exc:
        target = quarantine_failed(job.path, job.config, f"无法核验{what}：{exc}", "TMIS_SIGNING_KEY not set")
        return None, Outcome(FAILED, job.name, job.sha256, archived_path=target, message=str(exc))


def write_head(ws: Any, title: str, *, id_label: str, sheet_id: str, unit_label: str, unit: Unit, issued: datetime,
               expires: datetime, person_label: str, date_label: str) -> None:
    """The top of a signed sheet (write-only): title, number, unit, issue and expiry time, and the two cells
    the officer fills — who (``person_label``) and when (``date_label``) — to the right of their labels."""
    bold = Font(bold=True)
    ws.append([text_cell(ws, title, font=Font(bold=True, size=14))])
    ws.append([])
    ws.append([text_cell(ws, id_label, font=bold), text_cell(ws, sheet_id)])
    ws.append([text_cell(ws, unit_label, font=bold), text_cell(ws, f"{unit.name}（{unit.code}）")])
    ws.append([text_cell(ws, "签发时间", font=bold), text_cell(ws, issued.astimezone().strftime("%Y-%m-%d %H:%M"))])
    ws.append([text_cell(ws, "有效期至", font=bold), text_cell(ws, expires.astimezone().strftime("%Y-%m-%d %H:%M"))])
    ws.append([text_cell(ws, f"{person_label}：", font=bold), text_cell(ws, None, unlocked=True),
               text_cell(ws, "填写本单位信息管理员或系统管理员的姓名")])
    ws.append([text_cell(ws, f"{date_label}：", font=bold), text_cell(ws, None, unlocked=True),
               text_cell(ws, "例如 2026-12-01")])
