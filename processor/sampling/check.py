"""The sampling check (抽查核查), request kind ``sample-check`` on the workflows mechanism.

`tmis audit sample` records the sample and opens one request per sampled teacher — filed for the teacher's
school, waiting at the auditing unit — showing what the archive holds (the effective 基本信息 fields in CHECKED);
the auditor compares it with the paper files and marks 一致 or 不一致 (naming 问题字段 and 说明). When the whole
sample is checked: each school with mismatches gets its corrections to make (a workbook in outbox/<school>/ and
mail to its officers), and the unit gets the published result sheet (通报, .xlsx + PDF) in outbox/<unit>/."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from processor.audit import audit
from processor.feedback import safe_filename, unit_dir
from processor.reports import render as rd
from processor.sampling.draw import draw
from processor.store.models import AuditSample, AuditSampleItem, RecordVersion, Teacher, Unit, WorkflowRequest
from processor.workflows import confirm as sheets
from processor.workflows import state
from processor.workflows.registry import CONFIRM, AfterSheet, ApplyContext, Input, RequestKind, Step, register

KIND = "sample-check"
# the 基本信息 fields shown for checking against the paper archive (field codes of the core pack)
CHECKED = ("sex", "birth_date", "ethnicity", "political_status", "work_start_month", "school_entry_month",
           "staff_category", "is_in_bianzhi", "personnel_status")
MATCH, MISMATCH = "一致", "不一致"


def _shown(pack: Any, data: dict[str, Any]) -> dict[str, str]:
    spec = pack.sheets["basic"]
    out: dict[str, str] = {}
    for code in CHECKED:
        if not spec.has_field(code):
            continue
        f = spec.field(code)
        raw = data.get(code)
        values = raw if isinstance(raw, list) else [raw]
        table = pack.tables.get(f.table) if f.table else None
        names = []
        for v in values:
            if v is None or v == "":
                continue
            entry = table.entries.get(str(v)) if table else None
            names.append(entry.name if entry else str(v))
        out[f.label] = "、".join(names)
    return out


def start(session: Session, config: Any, pack: Any, unit: str, schools: int, teachers: int, seed: str, *,
          filed_by: str) -> dict[str, Any]:
    """Record a sample, open its requests and issue the check sheet to ``unit``."""
    sample = draw(session, unit, schools, teachers, seed)
    row = AuditSample(unit_code=unit, seed=seed, schools=schools, teachers=teachers, status="issued", files={})
    session.add(row)
    session.flush()
    seq = 0
    for school in sample["schools"]:
        for t in school["teachers"]:
            seq += 1
            basic = session.scalar(select(RecordVersion.data).where(
                RecordVersion.teacher_id == t["id"], RecordVersion.category == "basic",
                RecordVersion.review_state == "effective").order_by(RecordVersion.id.desc()).limit(1)) or {}
            item = AuditSampleItem(sample_id=row.id, seq=seq, school_code=school["code"], teacher_id=t["id"])
            session.add(item)
            session.flush()
            state.open_request(session, config, KIND_DEF, unit_code=school["code"], teacher_id=t["id"],
                               data={"sample": row.id, "item": item.id, "auditor": unit, "school_name": school["name"],
                                     "shown": _shown(pack, basic)}, filed_by=filed_by)
    issued = sheets.issue_waiting(session, config, unit=unit)
    audit(session, filed_by, "audit.sample", "audit_sample", str(row.id),
          {"unit": unit, "seed": seed, "schools": schools, "teachers": teachers, "items": seq,
           "sheets": [s.sheet_id for s in issued]})
    return {**sample, "sample": row.id, "items": seq,
            "sheets": [{"sheet_id": s.sheet_id, "path": str(s.path), "requests": len(s.requests)} for s in issued]}


def _steps(session: Session, config: Any, req: Any) -> list[Step]:
    unit = session.get(Unit, req.data["auditor"])
    return [Step(req.data["auditor"], f"抽查单位（{unit.name if unit else req.data['auditor']}）")]


def _fields_named(text: str) -> list[str]:
    return [p for p in re.split(r"[、,，;；\s]+", text or "") if p]


def _input_check(values: dict[str, str]) -> tuple[str, str, str] | None:
    if values.get("check") == MISMATCH:
        if not values.get("field"):
            return ("field", "核查结果为“不一致”，但没有写明问题字段",
                    f"请写出不一致的字段名（如 出生日期、参加工作年月），多个用“、”分隔：可写 {'、'.join(LABELS)}，或其他字段名。")
        if not values.get("note"):
            return ("note", "核查结果为“不一致”，但没有写明说明",
                    "请写明档案中的实际情况（例如 档案记载参加工作为 2003-09），学校据此改正。")
    return None


def _apply(ctx: ApplyContext) -> dict[str, Any]:
    last = ctx.confirmations[-1]
    item = ctx.session.get(AuditSampleItem, ctx.request.data["item"])
    verdict = last["values"].get("check", "")
    item.result = "match" if verdict == MATCH else "mismatch"
    item.field = "、".join(_fields_named(last["values"].get("field", ""))) if item.result == "mismatch" else ""
    item.note = last.get("note") or ""
    return {"check": verdict, "field": item.field, "note": item.note}


def _after_sheet(done: AfterSheet) -> None:
    """When a sample has nothing open any more: corrections to each school with mismatches, and the 通报."""
    s = done.session
    for sample_id in sorted({done.requests[r].data["sample"] for r in done.applied}):
        still = s.scalar(select(func.count()).select_from(WorkflowRequest).where(
            WorkflowRequest.kind == KIND, WorkflowRequest.state == "open",
            WorkflowRequest.data["sample"].as_integer() == sample_id)) or 0
        if still:
            continue
        sample = s.get(AuditSample, sample_id)
        sample.status, sample.checked_by, sample.checked_at = "checked", done.confirmer, done.now
        sample.confirmation = done.sheet_id
        sample.files = publish(s, done.config, sample)
        audit(s, f"officer:{sample.unit_code}:{done.confirmer}", "audit.sample_checked", "audit_sample",
              str(sample.id), {"sheet": done.sheet_id, **sample.files})


def results(session: Session, sample: AuditSample) -> dict[str, Any]:
    """Per school: sampled, matched, mismatched; every mismatch with teacher, field and note."""
    items = session.execute(select(AuditSampleItem, Teacher).join(Teacher, Teacher.id == AuditSampleItem.teacher_id)
                            .where(AuditSampleItem.sample_id == sample.id).order_by(AuditSampleItem.seq)).all()
    names = dict(session.execute(select(Unit.code, Unit.name).where(
        Unit.code.in_({i.school_code for i, _ in items} | {sample.unit_code}))).all())
    per: dict[str, dict[str, Any]] = {}
    mismatches: dict[str, list[dict[str, str]]] = defaultdict(list)
    for item, teacher in items:
        row = per.setdefault(item.school_code, {"school": item.school_code, "name": names.get(item.school_code, ""),
                                                "sampled": 0, "matched": 0, "mismatched": 0})
        row["sampled"] += 1
        if item.result == "match":
            row["matched"] += 1
        elif item.result == "mismatch":
            row["mismatched"] += 1
            mismatches[item.school_code].append({"id_number": teacher.id_number, "name": teacher.name,
                                                 "field": item.field, "note": item.note})
    rows = [{**r, "rate": round(100.0 * r["matched"] / r["sampled"], 1) if r["sampled"] else 0.0}
            for r in per.values()]
    return {"unit": sample.unit_code, "name": names.get(sample.unit_code, ""), "seed": sample.seed,
            "sample": sample.id, "schools": rows, "mismatches": dict(mismatches),
            "sampled": sum(r["sampled"] for r in rows), "matched": sum(r["matched"] for r in rows)}


CORRECTION_HEADERS = ["姓名", "身份证件号", "问题字段", "说明（档案中的实际情况）", "整改情况"]
BULLETIN_HEADERS = ["学校", "抽查人数", "一致", "不一致", "一致率（%）"]


def publish(session: Session, config: Any, sample: AuditSample) -> dict[str, Any]:
    """Write each school's corrections (and mail them) and the unit's 通报; returns the files."""
    data = results(session, sample)
    files: dict[str, Any] = {"corrections": {}, "bulletin": []}
    day = f"{(sample.checked_at or sample.created_at).astimezone():%Y-%m-%d}"
    for school, rows in data["mismatches"].items():
        name = next((r["name"] for r in data["schools"] if r["school"] == school), school)
        wb = Workbook()
        rd.sheet_table(wb, "整改清单", f"{name}教师信息随机抽查整改通知", CORRECTION_HEADERS,
                       [[m["name"], m["id_number"], m["field"], m["note"], ""] for m in rows], first=True,
                       widths=[10, 22, 20, 44, 24],
                       notes=[f"{data['name']}于 {day} 随机抽查（第 {sample.id} 号抽查，种子 {sample.seed}），"
                              f"下列 {len(rows)} 名教师的信息与档案不一致。",
                              "请核实后在教师信息采集表中改正这些字段，按更正程序重新报送（复本比对，逐级审核）。"])
        path = rd.save_workbook(wb, unit_dir(config.outbox, school) /
                                f"抽查整改通知_{safe_filename(name, 40)}_第{sample.id}号.xlsx")
        files["corrections"][school] = str(path)
        if config.get("mail", "enabled"):
            from processor.mail.outgoing import enqueue_to_officers

            enqueue_to_officers(session, config, school, subject=f"随机抽查整改通知：{name}（{len(rows)} 人）",
                                template="audit_corrections", kind="audit-corrections",
                                dedup=f"audit-corrections:{sample.id}:{school}", attachments=[(path, path.name)],
                                context={"auditor": data["name"], "sample": sample.id, "day": day, "count": len(rows),
                                         "file_name": path.name})
    files["bulletin"] = [str(p) for p in render_bulletin(data, unit_dir(config.outbox, sample.unit_code), day)]
    return files


def render_bulletin(data: dict[str, Any], folder: Path, day: str) -> list[Path]:
    title = f"关于{data['name']}教师信息随机抽查结果的通报"
    rate = round(100.0 * data["matched"] / data["sampled"], 1) if data["sampled"] else 0.0
    lead = (f"{day}，{data['name']}对所属 {len(data['schools'])} 所学校的 {data['sampled']} 名教师的信息进行了随机抽查"
            f"（第 {data['sample']} 号抽查，随机种子 {data['seed']}，可复核），与档案一致 {data['matched']} 人，"
            f"一致率 {rate}%。")
    behind = [r["name"] for r in data["schools"] if r["mismatched"]]
    tail = (f"存在不一致的学校：{'、'.join(behind)}。已向上述学校发出整改通知，请按期改正并重新报送。" if behind
            else "抽查的信息全部与档案一致。")
    rows = [[r["name"], r["sampled"], r["matched"], r["mismatched"], r["rate"]] for r in data["schools"]]
    base = f"抽查通报_{safe_filename(data['name'], 40)}_第{data['sample']}号"
    wb = Workbook()
    rd.sheet_table(wb, "抽查通报", title, BULLETIN_HEADERS, rows, first=True, notes=[lead, tail],
                   widths=[30, 10, 8, 8, 12])
    xlsx = rd.save_workbook(wb, folder / f"{base}.xlsx")
    st = rd.styles()
    tmp, pdf = rd.pdf_target(folder / f"{base}.pdf")
    doc = rd.ReportDoc(tmp, title)
    rd.build(doc, [Paragraph(title, st["title"]), Paragraph(lead, st["body"]), Spacer(1, 4 * mm),
                   rd.pdf_table(BULLETIN_HEADERS, rows, [w * mm for w in (80, 22, 20, 20, 28)]), Spacer(1, 4 * mm),
                   Paragraph(tail, st["body"])], with_toc=False)
    tmp.replace(pdf)
    return [xlsx, pdf]


LABELS = ("性别", "出生日期", "民族", "政治面貌", "参加工作年月", "进本校年月", "教职工类别", "是否在编", "人员状态")

KIND_DEF = register(RequestKind(
    kind=KIND, title="随机抽查", prefix="CC", fields=(), check=lambda _ctx: None, steps=_steps, apply=_apply,
    input_check=_input_check, after_sheet=_after_sheet,
    columns=(("学校", lambda r: r.data.get("school_name", "")),
             *((label, (lambda lb: lambda r: r.data.get("shown", {}).get(lb, ""))(label)) for label in LABELS)),
    inputs=(Input("check", "核查结果", ((MATCH, CONFIRM), (MISMATCH, CONFIRM)), 10), Input("field", "问题字段", (), 18),
            Input("note", "说明", (), 36)),
    filer_levels=(),
    instructions="随机抽查：逐人对照档案核查所列信息，选择一致或不一致；不一致的写明问题字段和档案中的实际情况。"))
