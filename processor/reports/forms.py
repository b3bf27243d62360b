"""The monthly form (月报填报表): the monthly report's row of one city or county, pre-filled and protected, with
only what tmis cannot know left open (培训人数, 遇到的问题, 下一步工作, 填报人); signed (processor.signing) so that
the copy that comes back through the inbox is known to be ours, and its answers stored for the province."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Protection
from sqlalchemy.orm import Session

from processor import signing
from processor.audit import audit
from processor.feedback import atomic_write_text, safe_filename, set_safe, unit_dir
from processor.findings import ERROR, Finding
from processor.reports import render as rd
from processor.store.models import MonthlyReturn, Submission, Unit
from processor.workbook import style
from processor.workbook.meta import META_SHEET, cell_text

KIND = "monthly-form"
SHEET = "月报填报表"
OPEN = [("trained", "本月培训人数"), ("problems", "遇到的问题"), ("next_steps", "下一步工作"), ("filled_by", "填报人")]
SIGNED = ("kind", "unit_code", "period", "run", "issued_at", "figures_digest")
SHOWN = [("schools", "学校数"), ("schools_submitted", "已报送学校"), ("schools_silent", "未报送学校"),
         ("completion", "完成率（%）"), ("teachers_received", "收到教师"), ("teachers_accepted", "校验通过"),
         ("teachers_effective", "已生效"), ("pending_total", "待审核"), ("rows_with_errors", "有错误的行（本月）")]


def not_issued_line(reason: str) -> str:
    """The one Chinese line that says the monthly forms were not issued, why, and the fix."""
    return (f"月报表已生成，但没有发出月报填报表：{reason}。设置 TMIS_SIGNING_KEY 后重新运行 tmis report monthly"
            "（或等下一次定时生成），即可向各市、县发出填报表。")


def issue(figures: dict[str, Any], outbox: Path) -> list[Path]:
    """One signed form per admin unit row of a monthly report. Without TMIS_SIGNING_KEY none is issued and
    ``figures["forms_not_issued"]`` holds the line that says so (the command prints it on standard error)."""
    try:
        key = signing.signing_key()
    except signing.SigningKeyMissing as exc:
        figures["forms_not_issued"] = not_issued_line(exc.message)
        return []
    out = []
    issued = datetime.now(UTC).isoformat()
    for row in figures["rows"]:
        if row.get("level") == "school":
            continue
        meta = {"kind": KIND, "unit_code": row["unit"], "period": figures["month"], "run": str(figures["run"]),
                "issued_at": issued, "figures_digest": signing.digest({k: row[k] for k, _ in SHOWN})}
        meta["signature"] = signing.sign(meta, key)
        out.append(_write(row, figures, meta, unit_dir(outbox, row["unit"])))
    return out


def _write(row: dict[str, Any], figures: dict[str, Any], meta: dict[str, str], folder: Path) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.cell(1, 1, f"{row['name']}教师信息采集工作月报填报表（{figures['month']}）").font = style.TITLE_FONT
    ws.cell(2, 1, "灰色部分由系统根据已收到的数据填好，不能修改；请填写黄色单元格后，把本文件原样交回（投放到收件目录或发邮件）。")
    r = 4
    for key, label in SHOWN:
        ws.cell(r, 1, label).font = style.HEADER_FONT
        ws.cell(r, 2, row[key]).fill = style.HEADER_FILL
        r += 1
    r += 1
    for _key, label in OPEN:
        ws.cell(r, 1, label).font = style.REQUIRED_FONT
        cell = ws.cell(r, 2)
        cell.fill, cell.protection = style.REQUIRED_FILL, Protection(locked=False)
        cell.alignment = style.WRAP_TOP
        if label in ("遇到的问题", "下一步工作"):
            ws.row_dimensions[r].height = 80
        r += 1
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 70
    ws.protection.sheet = True
    rd.print_ready(ws, 3, 2)
    hidden = wb.create_sheet(META_SHEET)
    for i, (k, v) in enumerate(sorted(meta.items()), start=1):
        hidden.cell(i, 1, k)
        set_safe(hidden.cell(i, 2), v)
    hidden.sheet_state = "veryHidden"
    hidden.protection.sheet = True
    name = f"月报填报表_{safe_filename(row['name'], 40)}_{figures['month']}.xlsx"
    return rd.save_workbook(wb, folder / name)


def _read(path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    wb = load_workbook(path, data_only=True)
    meta = {}
    if META_SHEET in wb.sheetnames:
        for k, v in wb[META_SHEET].iter_rows(min_col=1, max_col=2, values_only=True):
            if k:
                meta[cell_text(k)] = cell_text(v)
    values: dict[str, Any] = {}
    if SHEET in wb.sheetnames:
        labels = {label: key for key, label in OPEN}
        for a, b in wb[SHEET].iter_rows(min_col=1, max_col=2, values_only=True):
            if isinstance(a, str) and a.strip() in labels:
                values[labels[a.strip()]] = b
    return meta, values


def handle(job: Any) -> Any:
    """A monthly form back from a unit: signature checked, answers validated and stored, outcome reported."""
    from processor.pipeline import Outcome, move_file

    findings: list[Finding] = []
    try:
        meta, values = _read(job.path)
    except Exception as exc:  # noqa: BLE001 - reported as a refusal below
        meta, values = {}, {}
        findings.append(Finding(None, None, None, None, None, "FORM-UNREADABLE", ERROR, f"文件无法打开（{exc}）",
                                "请把收到的月报填报表原样填写后交回，不要另存为其他格式。"))
    unit_code = meta.get("unit_code") or None
    try:
        key = signing.signing_key()
        ok = signing.verify({k: meta.get(k, "") for k in SIGNED}, meta.get("signature", ""), key)
    except signing.SigningKeyMissing:
        ok = False
    if not findings and not ok:
        findings.append(Finding(None, None, None, None, None, "FORM-SIGNATURE", ERROR,
                                "月报填报表的签名不对：文件不是本系统发出的，或隐藏信息被改动过",
                                "请使用本系统发出的月报填报表填写，只改黄色单元格。"))
    trained = values.get("trained")
    if not findings:
        try:
            trained = int(str(trained).strip()) if trained not in (None, "") else 0
            if trained < 0:
                raise ValueError
        except ValueError:
            row = _row_of(job.path, "本月培训人数")
            findings.append(Finding(SHEET, row, "B", "trained", str(trained), "FORM-TRAINED", ERROR,
                                    f"本月培训人数“{trained}”不是人数", "请填写不小于 0 的整数，例如 120。"))
    status = "refused" if findings else "applied"
    with Session(job.engine, expire_on_commit=False) as session, session.begin():
        unit = session.get(Unit, unit_code) if unit_code else None
        sub = Submission(sha256=job.sha256, original_name=job.name[:500], channel=job.channel, sender=job.sender,
                         kind=KIND, unit_code=unit_code if unit else None, status="accepted" if not findings else "rejected",
                         received_at=job.received, rows=1, rows_stored=0 if findings else 1,
                         errors=len(findings), processed_at=datetime.now(UTC))
        session.add(sub)
        session.flush()
        archived = job.dirs.archive / job.received.astimezone().strftime("%Y-%m") / f"{sub.id}__{safe_filename(job.name, 150)}"
        sub.archived_path = str(archived)
        if not findings:
            session.add(MonthlyReturn(unit_code=unit_code, period=meta["period"], trained=trained,
                                      problems=cell_text(values.get("problems")), next_steps=cell_text(values.get("next_steps")),
                                      filled_by=cell_text(values.get("filled_by"))[:100], submission_id=sub.id))
        report = _outcome(job, unit_dir(job.config.outbox, unit_code if unit else None), status, findings, meta)
        sub.report_path = str(report)
        audit(session, "intake", "monthly_form.receive", "submission", str(sub.id),
              {"file": job.name, "unit": unit_code, "status": status, "period": meta.get("period")})
        sub_id = sub.id
    target = move_file(job.path, archived)
    return Outcome(sub.status, job.name, job.sha256, sub_id, unit_code, target, report, 1, 0 if findings else 1,
                   len(findings), 0, status)


def _row_of(path: Path, label: str) -> int | None:
    ws = load_workbook(path)[SHEET]
    for r in range(1, ws.max_row + 1):
        if ws.cell(r, 1).value == label:
            return r
    return None


def _outcome(job: Any, folder: Path, status: str, findings: list[Finding], meta: dict[str, str]) -> Path:
    """The outcome for the unit: a text notice and the JSON beside it ("status": applied | refused)."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{'已收到' if status == 'applied' else '退回'}_月报填报表_{meta.get('period', '')}_{job.sha256[:8]}"
    lines = [f"文件：{job.name}", "结果：" + ("已收到，内容已汇入月报表。" if status == "applied" else "未接收。")]
    lines += [f"- {f.message}。{f.hint}" for f in findings]
    text_path = folder / f"{stem}.txt"
    atomic_write_text(text_path, "\n".join(lines) + "\n")
    atomic_write_text(folder / f"{stem}.json", json.dumps(
        {"file": job.name, "kind": KIND, "unit": meta.get("unit_code"), "period": meta.get("period"),
         "status": status, "findings": [f.to_dict() for f in findings]}, ensure_ascii=False, indent=1))
    return text_path
