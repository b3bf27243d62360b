"""The bulletin (通报): the units below ranked by completion, then timeliness — one page, ready to publish."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer

from processor.reports import figures as fig
from processor.reports import render as rd
from processor.reports.monthly import source_lines
from processor.reports.runs import base_name

HEADERS = ["名次", "单位", "学校数", "已报送学校", "完成率（%）", "按时报送学校", "及时率（%）", "未报送学校"]


def compute(conn: Any, config: Any, pack: Any, unit: str, period: fig.Period | None,
            queried_at: datetime) -> dict[str, Any]:
    if period is None:
        raise fig.ReportError("通报需要月份", hint="请加上 --month 年-月，例如 --month 2026-11。")
    rows = fig.progress(conn, unit, period, queried_at=queried_at)["rows"]
    ranked = sorted(rows, key=lambda r: (-r["completion"], -r["timeliness"], r["unit"]))
    ranking, last = [], None
    for i, r in enumerate(ranked, start=1):
        key = (r["completion"], r["timeliness"])
        rank = ranking[-1]["rank"] if key == last else i
        last = key
        ranking.append({"rank": rank, "unit": r["unit"], "name": r["name"], "schools": r["schools"],
                        "schools_submitted": r["schools_submitted"], "completion": r["completion"],
                        "schools_on_time": r["schools_on_time"], "timeliness": r["timeliness"],
                        "schools_silent": r["schools_silent"]})
    return {"ranking": ranking, "deadline": period.deadline.isoformat()}


def _rows(figures: dict[str, Any]) -> list[list[Any]]:
    return [[r["rank"], r["name"], r["schools"], r["schools_submitted"], r["completion"], r["schools_on_time"],
             r["timeliness"], r["schools_silent"]] for r in figures["ranking"]]


def render(figures: dict[str, Any], folder: Path) -> list[Path]:
    base = base_name(figures)
    title = f"关于{figures['month']}教师信息采集工作进度的通报"
    deadline = datetime.fromisoformat(figures["deadline"]).astimezone()
    lead = (f"截至 {datetime.fromisoformat(figures['queried_at']).astimezone():%Y年%m月%d日}，{figures['name']}下属各单位"
            f"教师信息采集工作进度如下（按完成率、及时率排名；按时指学校首次报送在 {deadline:%m月%d日} 零时之前）。")
    behind = [r["name"] for r in figures["ranking"] if r["schools_silent"]]
    tail = (f"尚有学校未报送的单位：{'、'.join(behind)}。请上述单位督促所属学校尽快报送。" if behind
            else "各单位所属学校均已报送。")
    wb = Workbook()
    rd.sheet_table(wb, "通报", title, HEADERS, _rows(figures), first=True, notes=[lead, tail, *source_lines(figures)],
                   widths=[7, 24, 9, 11, 11, 12, 11, 11])
    xlsx = rd.save_workbook(wb, folder / f"{base}.xlsx")
    st = rd.styles()
    tmp, pdf = rd.pdf_target(folder / f"{base}.pdf")
    doc = rd.ReportDoc(tmp, title)
    widths = [12, 48, 16, 20, 34, 22, 20, 18]
    rows = [[*r[:4], rd.bar(float(r[4]), width=34 * mm), *r[5:]] for r in _rows(figures)]
    story = [Paragraph(title, st["title"]), Paragraph(lead, st["body"]), Spacer(1, 4 * mm),
             rd.pdf_table(HEADERS, rows, [w * mm for w in widths]), Spacer(1, 4 * mm),
             Paragraph(tail, st["body"]), Spacer(1, 2 * mm), Paragraph(source_lines(figures)[0], st["small"])]
    rd.build(doc, story, with_toc=False)
    tmp.replace(pdf)
    return [xlsx, pdf]
