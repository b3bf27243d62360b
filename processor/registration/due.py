"""Who is due for periodic registration in a cycle, and what the archive says for each condition.

Definitions (also on the workbook's 说明 lines):
- cycle ``YYYY`` covers the years YYYY … YYYY + cycle_years − 1 of the province's rule (rules/credits);
- due: a teacher at a school below the unit, still on its roll (not left, retired or deceased), with an effective 教师资格 record (certificate type other
  than 0-无) whose certificate was issued before the cycle began — one line per certificate;
- credits: the credits that count in the cycle's years (bank, caps) against ``required_credits``;
- assessment: every year of the cycle up to this year has an annual assessment whose result is one of
  ``assessment_pass``; a missing year is named;
- ethics: no ethics assessment of the cycle's years has a conclusion in ``ethics_fail``;
- suggestion: 合格 when all three hold; 不予注册 when an ethics conclusion or an annual result is 不合格;
  otherwise 暂缓注册 (credits short or assessment missing) — the authority decides on the signed sheet."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.credits.bank import GONE, counted_credits, number
from processor.credits.plan import CreditsError
from processor.credits.rule import CreditRule, rule_for_unit
from processor.feedback import safe_filename
from processor.reports import render as rd
from processor.review.history import subtree
from processor.store.models import AssessmentRecord, RecordVersion, RegistrationDecision, Teacher, Unit

QUALIFICATION = "qualification"
RESULT_NAMES = {"1": "合格", "2": "暂缓注册", "3": "不予注册"}
RESULT_CODES = {v: k for k, v in RESULT_NAMES.items()}


@dataclass(frozen=True)
class Cycle:
    first: int
    last: int

    @property
    def label(self) -> str:
        return f"{self.first}—{self.last}"


def cycle_of(rule: CreditRule, text: str | int) -> Cycle:
    raw = str(text).strip()
    if not raw.isdigit() or len(raw) != 4 or not 1990 <= int(raw) <= 2100:
        raise CreditsError(f"注册周期“{text}”的格式不对", hint="请写周期的起始年份，例如 --cycle 2021（即 2021—2025 年）。")
    return Cycle(int(raw), int(raw) + rule.cycle_years - 1)


def _year(value: Any) -> int | None:
    text = str(value or "")
    return int(text[:4]) if len(text) >= 4 and text[:4].isdigit() else None


def _name(table: Any, code: Any) -> str:
    entry = table.entries.get(str(code))
    return entry.name if entry else str(code or "")


def due(session: Session, config: Any, pack: Any, unit: str, cycle_text: str | int) -> dict[str, Any]:
    """The JSON of ``tmis registration list``."""
    root = session.get(Unit, unit)
    if root is None:
        raise CreditsError(f"单位代码 {unit} 不在单位名录中", hint="可用 tmis units list 查看单位代码。")
    rule = rule_for_unit(config, session, unit)
    cycle = cycle_of(rule, cycle_text)
    today = config.today if config is not None else date.today()
    scope = subtree(session, unit)
    schools = {u.code: u.name for u in session.scalars(select(Unit).where(Unit.code.in_(scope),
                                                                           Unit.level == "school"))}
    certificates = pack.tables["qualification_type"]
    rows = session.execute(
        select(Teacher, RecordVersion).join(RecordVersion, RecordVersion.teacher_id == Teacher.id)
        .where(Teacher.unit_code.in_(list(schools)), Teacher.status.not_in(GONE),
               RecordVersion.category == QUALIFICATION, RecordVersion.review_state == "effective")
        .order_by(Teacher.unit_code, Teacher.id, RecordVersion.seq)).all() if schools else []
    listed = [(t, v) for t, v in rows
              if str(v.data.get("certificate_type") or "0") != "0"
              and (_year(v.data.get("issue_date")) or cycle.first) < cycle.first]
    ids = sorted({t.id for t, _ in listed})
    credits = counted_credits(session, rule, ids, cycle.first, cycle.last)
    assessments: dict[int, dict[str, dict[int, AssessmentRecord]]] = defaultdict(lambda: defaultdict(dict))
    for a in session.scalars(select(AssessmentRecord).where(
            AssessmentRecord.teacher_id.in_(ids), AssessmentRecord.year >= cycle.first,
            AssessmentRecord.year <= cycle.last)) if ids else []:
        assessments[a.teacher_id][a.kind][a.year] = a
    decisions = {(d.teacher_id, d.seq): d for d in session.scalars(select(RegistrationDecision).where(
        RegistrationDecision.teacher_id.in_(ids), RegistrationDecision.cycle == cycle.first))} if ids else {}
    required = rule.required_credits
    years = [y for y in range(cycle.first, cycle.last + 1) if y <= today.year]
    out = []
    for teacher, version in listed:
        got = credits.get(teacher.id, {}).get("counted", Decimal(0))
        annual = assessments[teacher.id]["annual"]
        ethics = assessments[teacher.id]["ethics"]
        missing = [y for y in years if y not in annual]
        failed = {y: a.result for y, a in annual.items() if a.result not in rule.assessment_pass}
        breaches = {y: a for y, a in ethics.items() if a.result in rule.ethics_fail}
        credits_ok = got >= required
        assessment_ok = not missing and not failed
        ethics_ok = not breaches
        if credits_ok and assessment_ok and ethics_ok:
            suggestion = "合格"
        elif breaches or any(r == "不合格" for r in failed.values()):
            suggestion = "不予注册"
        else:
            suggestion = "暂缓注册"
        assessment_text = "；".join(
            [f"{y} 年{annual[y].result}" for y in sorted(annual)] + [f"缺 {y} 年考核记录" for y in missing]) or "无记录"
        ethics_text = ("；".join(f"{y} 年师德考核{a.result}：{a.breach}" for y, a in sorted(breaches.items()))
                       if breaches else ("无不合格记录" if ethics else "档案中无师德考核记录，未见违反师德行为"))
        decided = decisions.get((teacher.id, version.seq))
        out.append({
            "id_number": teacher.id_number, "name": teacher.name, "teacher_id": teacher.id,
            "school": teacher.unit_code, "school_name": schools.get(teacher.unit_code, ""),
            "seq": version.seq, "version": version.id,
            "certificate_type": _name(certificates, version.data.get("certificate_type")),
            "certificate_number": str(version.data.get("certificate_number") or ""),
            "issue_date": str(version.data.get("issue_date") or ""),
            "credits": number(got), "required": number(required), "credits_ok": credits_ok,
            "assessment": {r.year: r.result for r in annual.values()}, "assessment_missing": missing,
            "assessment_ok": assessment_ok, "assessment_text": assessment_text,
            "ethics_ok": ethics_ok, "ethics_text": ethics_text, "suggestion": suggestion,
            "decision": RESULT_NAMES.get(decided.decision, decided.decision) if decided else None,
            "decided_by": decided.decided_by if decided else None})
    return {"unit": unit, "name": root.name, "cycle": cycle.first, "years": [cycle.first, cycle.last],
            "required": number(required), "rule": f"{rule.name} {rule.version}", "teachers": out,
            "due": len(out), "ready": sum(1 for t in out if t["suggestion"] == "合格")}


HEADERS = ["学校", "姓名", "身份证件号", "教师资格证种类", "教师资格证号码", "周期内学分", "要求学分", "学分",
           "年度考核", "考核", "师德", "师德记录", "建议结论", "已作决定"]


def _ok(flag: bool) -> str:
    return "符合" if flag else "不符合"


def write_workbook(data: dict[str, Any], folder: Path) -> Path:
    """The list as a print-ready workbook for the authority (outbox/<unit>/)."""
    cycle = f"{data['years'][0]}—{data['years'][1]}"
    title = f"{data['name']}教师资格定期注册名单（{cycle} 年注册周期）"
    notes = [f"共 {data['due']} 人次（每张教师资格证书一行），三项条件都符合的 {data['ready']} 人次。"
             f"学分要求 {data['required']}（{data['rule']}）。",
             "条件：周期内经确认的培训学分达到要求；周期内每年年度考核合格及以上；周期内无师德考核不合格记录。"
             "建议结论供参考，注册结论由本单位在签名的注册决定单上作出。"]
    rows = [[t["school_name"], t["name"], t["id_number"], t["certificate_type"], t["certificate_number"], t["credits"],
             t["required"], _ok(t["credits_ok"]), t["assessment_text"], _ok(t["assessment_ok"]), _ok(t["ethics_ok"]),
             t["ethics_text"], t["suggestion"], t["decision"] or ""] for t in data["teachers"]]
    wb = Workbook()
    rd.sheet_table(wb, "定期注册名单", title, HEADERS, rows, first=True, notes=notes,
                   widths=[22, 10, 21, 16, 20, 10, 9, 8, 30, 8, 8, 28, 10, 10])
    name = f"教师资格定期注册名单_{safe_filename(data['name'], 40)}_{data['cycle']}.xlsx"
    return rd.save_workbook(wb, folder / name)
