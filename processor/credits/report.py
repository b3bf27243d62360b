"""The per-unit credit report (学分报表, `tmis report credits --unit CODE --period YYYY-YYYY`): for every school below
the unit, its teachers' credits in the period under the province's rule, and who is below the required credits.

Definitions (also on the workbook's 说明 lines): teachers are those whose record is at a school below the unit
and who are still on its roll (not left, retired or deceased); credits count entries of trainings that ended in the period, capped per level and year and
per level over the period (rules/credits); the requirement is the rule's per-cycle figure, pro rata for a period
that is not one cycle long."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer
from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.credits.bank import GONE, counted_credits, number, parse_period
from processor.credits.rule import LEVELS, rule_for_unit
from processor.reports import figures as fig
from processor.reports import render as rd
from processor.reports.runs import base_name
from processor.store.models import Teacher, Unit


@dataclass(frozen=True)
class CreditPeriod:
    month: str  # "2021-2025" (the report runs' period column)
    first: int
    last: int


def period(text: str) -> CreditPeriod:
    first, last = parse_period(text)
    return CreditPeriod(f"{first}-{last}", first, last)


def compute(conn: Any, config: Any, pack: Any, unit: str, when: CreditPeriod | None,
            queried_at: datetime) -> dict[str, Any]:
    if when is None:
        raise fig.ReportError("学分报表需要期间", hint="请加上 --period 起始年-结束年，例如 --period 2021-2025。")
    session = Session(bind=conn)
    rule = rule_for_unit(config, session, unit)
    years = when.last - when.first + 1
    required = rule.required_for(years)
    t, u = fig.subtree(unit), Unit.__table__
    schools = {c: n for c, n in conn.execute(select(u.c.code, u.c.name).select_from(t.join(u, u.c.code == t.c.code))
                                             .where(u.c.level == "school"))}
    teachers = session.execute(select(Teacher.id, Teacher.id_number, Teacher.name, Teacher.teacher_number,
                                      Teacher.unit_code)
                               .where(Teacher.unit_code.in_(list(schools)), Teacher.status.not_in(GONE))
                               .order_by(Teacher.unit_code, Teacher.id)).all() if schools else []
    counted = counted_credits(session, rule, [x.id for x in teachers], when.first, when.last)
    per_school: dict[str, dict[str, Any]] = {}
    below: list[dict[str, Any]] = []
    for tid, id_number, name, teacher_number, school in teachers:
        c = counted.get(tid, {"counted": Decimal(0), "raw": Decimal(0), "by_level": {}})
        row = per_school.setdefault(school, {"unit": school, "name": schools[school], "teachers": 0, "below": 0,
                                             "total": Decimal(0)})
        row["teachers"] += 1
        row["total"] += c["counted"]
        if c["counted"] < required:
            row["below"] += 1
            below.append({"unit": school, "school": schools[school], "id_number": id_number, "name": name,
                          "teacher_number": teacher_number or "", "credits": number(c["counted"]),
                          "raw": number(c["raw"]), "short": number(required - c["counted"]),
                          "by_level": {k: number(v) for k, v in c["by_level"].items()}})
    rows = [{"unit": r["unit"], "name": r["name"], "teachers": r["teachers"], "below": r["below"],
             "average": number((r["total"] / r["teachers"]).quantize(Decimal("0.1"))) if r["teachers"] else 0}
            for r in sorted(per_school.values(), key=lambda r: r["unit"])]
    session.close()
    return {"period": when.month, "first": when.first, "last": when.last, "required": number(required),
            "rule": {"province": rule.province, "name": rule.name, "version": rule.version,
                     "cycle_years": rule.cycle_years, "required_credits": number(rule.required_credits),
                     "levels": {c: {"label": rule.levels[c].label,
                                    "credits_per_hour": number(rule.levels[c].credits_per_hour)} for c in LEVELS}},
            "teachers": len(teachers), "below_count": len(below), "schools": rows, "below": below}


SCHOOL_HEADERS = ["学校代码", "学校", "教师数", "学分不足人数", "人均学分"]
BELOW_HEADERS = ["学校", "姓名", "身份证件号", "教师编号", "计入学分", "要求学分", "尚差学分"]


def _notes(figures: dict[str, Any]) -> list[str]:
    r = figures["rule"]
    return [f"期间 {figures['first']}—{figures['last']} 年，要求 {figures['required']} 学分（{r['name']} {r['version']}："
            f"每 {r['cycle_years']} 年 {r['required_credits']} 学分，期间不足一个周期的按年数折算）。",
            f"共 {figures['teachers']} 名教师，学分不足 {figures['below_count']} 名。计入学分只算培训结束于期间内、"
            "经立项单位（国家级为省级、校本和自主研修为学校主管部门）确认的学分，并按各级别的年度与周期上限截取。",
            f"数据截至 {datetime.fromisoformat(figures['queried_at']).astimezone():%Y-%m-%d %H:%M}（报表编号 "
            f"{figures['run']}，审计日志第 {figures['audit_id']} 条）。"]


def render(figures: dict[str, Any], folder: Path) -> list[Path]:
    base = base_name(figures)
    title = f"{figures['name']}教师培训学分情况（{figures['first']}—{figures['last']} 年）"
    schools = [[r["unit"], r["name"], r["teachers"], r["below"], r["average"]] for r in figures["schools"]]
    below = [[b["school"], b["name"], b["id_number"], b["teacher_number"], b["credits"], figures["required"],
              b["short"]] for b in figures["below"]]
    wb = Workbook()
    rd.sheet_table(wb, "学分不足名单", title, BELOW_HEADERS, below, first=True, notes=_notes(figures),
                   widths=[24, 10, 22, 20, 10, 10, 10])
    rd.sheet_table(wb, "各校汇总", "各校教师学分汇总", SCHOOL_HEADERS, schools, widths=[12, 28, 9, 13, 10])
    xlsx = rd.save_workbook(wb, folder / f"{base}.xlsx")
    st = rd.styles()
    tmp, pdf = rd.pdf_target(folder / f"{base}.pdf")
    doc = rd.ReportDoc(tmp, title)
    story: list[Any] = [Paragraph(title, st["title"]), *[Paragraph(n, st["body"]) for n in _notes(figures)],
                        Spacer(1, 3 * mm), Paragraph("学分不足名单", st["h1"]),
                        rd.pdf_table(BELOW_HEADERS, below, [w * mm for w in (40, 18, 36, 32, 16, 16, 16)],
                                     plain=True),
                        Paragraph("各校汇总", st["h1"]),
                        rd.pdf_table(SCHOOL_HEADERS, schools, [w * mm for w in (26, 70, 20, 30, 22)])]
    rd.build(doc, story, with_toc=False)
    tmp.replace(pdf)
    return [xlsx, pdf]
