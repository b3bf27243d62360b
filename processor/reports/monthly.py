"""The monthly progress report (月报表): one row per unit directly below the report's unit, and their total;
with what the units sent back on their monthly forms (培训人数, 问题, 下一步)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer
from sqlalchemy import Connection, func, select

from processor.deadlines.behind import shown_behind
from processor.reports import figures as fig
from processor.reports import render as rd
from processor.reports.runs import base_name
from processor.store.models import MonthlyReturn
from processor.store.models import Unit as UnitRow

LEVEL_NAMES = {"school": "学校", "county": "县级", "city": "市级", "province": "省级"}

DEFINITIONS = [
    "学校数：下属各级单位中的学校；已配置管理员：单位库中有人员的学校。",
    "已报送学校：截止时间前至少有一份可识别的教师信息文件的学校；截止时间为月末（当月为生成报表之时）。",
    "收到教师：这些文件“基本信息”表中出现的不同身份证件号；校验通过：其中基本信息行已入库的人数。",
    "待审核（各级）与已生效：生成报表时“基本信息”记录的审核状态；最长等待：该级最早一条待审核记录至今的天数。",
    "有错误的行：本月收到的文件中有错误的行数；重复报送：文件数减去报送学校数。",
    "按时：学校的第一份文件在本月截止日（[reports] monthly_day）结束前收到。较上月：与上月末相比的增加数。",
    "合计行为各单位之和。",
    "截止日（config.toml 的 [deadlines]）：列出上一个已过的和下一个截止日。本期自前一个截止日的次日起；学校本期没有"
    "已入库的教师信息文件即为未报送；其教师当前的基本信息仍在审核中、或被退回待修改即为记录未生效。"
    "记录是否生效按生成报表时的状态计算。",
]


def returns(conn: Connection, root: str, month: str) -> dict[str, dict[str, Any]]:
    """The latest monthly form each unit below ``root`` sent back for ``month``."""
    t = fig.subtree(root)
    m = MonthlyReturn.__table__
    latest = select(func.max(m.c.id)).where(m.c.period == month, m.c.unit_code.in_(select(t.c.code))).group_by(
        m.c.unit_code)
    out = {}
    u = UnitRow.__table__
    for code, name, trained, problems, steps, by, at in conn.execute(
            select(m.c.unit_code, u.c.name, m.c.trained, m.c.problems, m.c.next_steps, m.c.filled_by, m.c.at)
            .join(u, u.c.code == m.c.unit_code).where(m.c.id.in_(latest)).order_by(m.c.unit_code)):
        out[code] = {"unit": code, "name": name, "trained": trained, "problems": problems, "next_steps": steps,
                     "filled_by": by, "at": fig._as_utc(at).isoformat() if at else None}
    return out


def compute(conn: Connection, config: Any, pack: Any, unit: str, period: fig.Period | None,
            queried_at: datetime) -> dict[str, Any]:
    if period is None:
        raise fig.ReportError("月报表需要月份", hint="请加上 --month 年-月，例如 --month 2026-11。")
    figures = fig.progress(conn, unit, period, queried_at=queried_at)
    back = returns(conn, unit, period.month)
    for row in figures["rows"]:
        own = back.get(row["unit"])
        row["trained"] = own["trained"] if own else None
    figures["total"]["trained"] = sum(r["trained"] or 0 for r in figures["rows"])
    figures["returns"] = list(back.values())
    figures["deadline"] = period.deadline.isoformat()
    figures["cutoff"] = period.cutoff.isoformat()
    figures["deadlines"] = shown_behind(conn, config, unit, at=period.cutoff)
    return figures


def _pending_text(row: dict[str, Any]) -> str:
    return "；".join(f"{LEVEL_NAMES.get(k, k)} {v}" for k, v in row["pending"].items()) or "0"


def _oldest_text(row: dict[str, Any]) -> str:
    return "；".join(f"{LEVEL_NAMES.get(k, k)} {v:g}" for k, v in row["oldest_pending_days"].items()) or "—"


HEADERS = ["单位代码", "单位名称", "学校数", "已配置管理员的学校", "已报送学校", "未报送学校", "完成率（%）", "按时报送学校",
           "收到教师", "校验通过", "待审核（各级）", "已生效", "有错误的行（本月）", "本月文件", "重复报送", "最长等待（天）",
           "较上月新增报送学校", "较上月新增收到教师", "本月培训人数"]


def table_rows(figures: dict[str, Any]) -> list[list[Any]]:
    out = []
    for r in [*figures["rows"], figures["total"]]:
        out.append([r["unit"], r["name"], r["schools"], r["schools_with_officers"], r["schools_submitted"],
                    r["schools_silent"], r["completion"], r["schools_on_time"], r["teachers_received"],
                    r["teachers_accepted"], _pending_text(r), r["teachers_effective"], r["rows_with_errors"],
                    r["files_this_month"], r["resubmissions"], _oldest_text(r), r["change"]["schools_submitted"],
                    r["change"]["teachers_received"], "" if r.get("trained") is None else r["trained"]])
    return out


DEADLINE_HEADERS = ["截止日", "名称", "距截止日", "单位", "未完成学校", "其中未报送", "其中记录未生效"]
BEHIND_HEADERS = ["截止日", "学校代码", "学校名称", "上级单位", "尚未完成", "本期首次报送"]
PDF_SCHOOLS = 50  # schools listed in the PDF per deadline (the workbook lists up to 1,000, all are counted)


def deadline_rows(figures: dict[str, Any]) -> list[list[Any]]:
    """Per deadline shown, one row for each unit directly below with schools behind it, and the total."""
    names = {r["unit"]: r["name"] for r in figures["rows"]}
    out = []
    for d in figures.get("deadlines") or []:
        for code, c in d["by_unit"].items():
            out.append([d["due"], d["name"], d["days_text"], names.get(code, code), c["behind"], c["not_submitted"],
                        c["not_effective"]])
        out.append([d["due"], d["name"], d["days_text"], "合计", d["behind"], d["not_submitted"], d["not_effective"]])
    return out


def behind_rows(figures: dict[str, Any], limit: int | None = None) -> list[list[Any]]:
    return [[d["due"], s["unit"], s["name"], s["parent"], s["reason"], _when(s["first_arrival"]) or "—"]
            for d in figures.get("deadlines") or [] for s in d["schools"][:limit]]


def _when(iso: str | None) -> str:
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M") if iso else ""


def _listed_notes(figures: dict[str, Any], limit: int | None = None) -> list[str]:
    """Where a list of schools behind a deadline is shortened, the line that says how many are not listed."""
    out = []
    for d in figures.get("deadlines") or []:
        listed = min(d["listed"], limit) if limit is not None else d["listed"]
        if d["behind"] > listed:
            where = "工作簿“截止日未完成学校”表" if limit is not None and d["listed"] > listed else "下级单位的月报表"
            out.append(f"{d['name']}（{d['due']}）尚未完成的 {d['behind']} 所学校中列出了 {listed} 所，其余见{where}。")
    return out


def source_lines(figures: dict[str, Any]) -> list[str]:
    return [f"报表编号 {figures['run']}；数据截至审计记录 {figures['audit_id'] or 0} 号，查询时间 "
            f"{datetime.fromisoformat(figures['queried_at']).astimezone():%Y-%m-%d %H:%M:%S}。"
            f"用 tmis report rerender {figures['run']} 可按同样的数字重新生成。"]


def render(figures: dict[str, Any], folder: Path) -> list[Path]:
    base = base_name(figures)
    title = f"{figures['name']}教师信息采集工作月报表（{figures['month']}）"
    wb = Workbook()
    rd.sheet_table(wb, "月报表", title, HEADERS, table_rows(figures), first=True,
                       widths=[12, 22, 8, 10, 9, 9, 9, 9, 10, 10, 18, 9, 10, 9, 9, 16, 10, 10, 10],
                       notes=source_lines(figures))
    rd.sheet_table(wb, "各地反馈", "各地月报填报表反馈", ["单位代码", "单位名称", "本月培训人数", "遇到的问题", "下一步工作", "填报人"],
                       [[r["unit"], r["name"], r["trained"], r["problems"], r["next_steps"], r["filled_by"]]
                        for r in figures["returns"]], widths=[12, 22, 12, 50, 50, 12])
    rd.sheet_table(wb, "截止日", "截止日进度：尚未完成的学校数", DEADLINE_HEADERS, deadline_rows(figures),
                   widths=[12, 22, 14, 22, 12, 12, 14])
    rd.sheet_table(wb, "截止日未完成学校", "截止日前尚未报送或记录尚未生效的学校", BEHIND_HEADERS, behind_rows(figures),
                   widths=[12, 14, 30, 20, 50, 18], notes=_listed_notes(figures))
    rd.sheet_table(wb, "说明", "指标说明", ["说明"], [[d] for d in [*DEFINITIONS, *source_lines(figures)]],
                       widths=[120])
    xlsx = rd.save_workbook(wb, folder / f"{base}.xlsx")
    tmp, pdf = rd.pdf_target(folder / f"{base}.pdf")
    doc = rd.ReportDoc(tmp, title, wide=True)
    st = rd.styles()
    cols = [0, 1, 2, 4, 5, 6, 8, 9, 10, 11, 12, 15, 16, 18]
    story: list[Any] = [Paragraph(title, st["h1"]), Paragraph(source_lines(figures)[0], st["small"]),
                        Spacer(1, 3 * mm)]
    rows = table_rows(figures)
    widths = [17, 30, 12, 14, 14, 20, 16, 16, 30, 16, 18, 26, 17, 17]
    table_rows_pdf = []
    for i, r in enumerate(rows):
        row = [r[c] for c in cols]
        row[5] = rd.bar(float(r[6]), width=widths[5] * mm)
        table_rows_pdf.append(row)
        del i
    story.append(rd.pdf_table([HEADERS[c] for c in cols], table_rows_pdf, [w * mm for w in widths], total=True))
    story.append(Spacer(1, 4 * mm))
    if figures["returns"]:
        story.append(Paragraph("各地反馈", st["h1"]))
        story.append(rd.pdf_table(["单位", "本月培训人数", "遇到的问题", "下一步工作"],
                                      [[r["name"], r["trained"], r["problems"], r["next_steps"]]
                                       for r in figures["returns"]], [40 * mm, 25 * mm, 95 * mm, 95 * mm]))
    if figures.get("deadlines"):
        story.append(Paragraph("截止日进度", st["h1"]))
        story.append(rd.pdf_table(DEADLINE_HEADERS, deadline_rows(figures),
                                  [24 * mm, 45 * mm, 26 * mm, 45 * mm, 26 * mm, 26 * mm, 30 * mm]))
        story.append(Spacer(1, 3 * mm))
        story.append(Paragraph("截止日前尚未完成的学校", st["body"]))
        story.append(rd.pdf_table(BEHIND_HEADERS, behind_rows(figures, PDF_SCHOOLS),
                                  [24 * mm, 28 * mm, 55 * mm, 40 * mm, 80 * mm, 30 * mm]))
        story.extend(Paragraph(line, st["small"]) for line in _listed_notes(figures, PDF_SCHOOLS))
    story.append(Paragraph("指标说明", st["h1"]))
    story.extend(Paragraph(d, st["small"]) for d in DEFINITIONS)
    rd.build(doc, story, with_toc=False)
    tmp.replace(pdf)
    return [xlsx, pdf]


def after(figures: dict[str, Any], config: Any) -> list[Path]:
    """After the province's report: a signed monthly form for each city or county of its rows."""
    from processor.reports.forms import issue

    return issue(figures, Path(config.outbox))
