"""The work summary (工作总结): cover, contents, progress with completion bars, composition of the teaching force
(tables and charts), data quality, late units — a PDF, with the same tables as a workbook."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, Spacer

from processor.reports import figures as fig
from processor.reports import render as rd
from processor.reports.monthly import _when, source_lines
from processor.reports.runs import base_name

DIMENSIONS = [("by_sex", "性别"), ("by_age", "年龄段"), ("by_education", "最高学历"), ("by_title", "专业技术职务"),
              ("by_subject", "任教课程"), ("by_employment", "用人形式"), ("by_ethnicity", "民族"),
              ("by_school_type", "学校类型")]


def compute(conn: Any, config: Any, pack: Any, unit: str, period: fig.Period | None,
            queried_at: datetime) -> dict[str, Any]:
    if period is None:
        raise fig.ReportError("工作总结需要月份", hint="请加上 --month 年-月，例如 --month 2026-11。")
    progress = fig.progress(conn, unit, period, queried_at=queried_at)
    comp = fig.composition(conn, unit, pack, at_year=period.first_day.year)
    out: dict[str, Any] = {"rows": progress["rows"], "total": progress["total"], "teachers": comp["teachers"]}
    for key, _label in DIMENSIONS:
        out[key] = comp[key[3:]]
    out["quality"] = fig.quality(conn, unit, period)
    out["late"] = fig.late_schools(conn, unit, period)
    out["deadline"] = period.deadline.isoformat()
    return out


def _share(n: int, total: int) -> float:
    return round(100.0 * n / total, 1) if total else 0.0


def _progress_rows(figures: dict[str, Any], *, bars: bool) -> list[list[Any]]:
    out = []
    for r in [*figures["rows"], figures["total"]]:
        out.append([r["name"], r["schools"], r["schools_submitted"], rd.bar(r["completion"]) if bars else r["completion"],
                    r["teachers_received"], r["teachers_accepted"], r["teachers_effective"], r["timeliness"]])
    return out


PROGRESS_HEADERS = ["单位", "学校数", "已报送学校", "完成率（%）", "收到教师", "校验通过", "已生效", "按时率（%）"]


def render(figures: dict[str, Any], folder: Path) -> list[Path]:
    base = base_name(figures)
    title = f"{figures['name']}教师信息采集工作总结（{figures['month']}）"
    total = figures["teachers"]
    wb = Workbook()
    rd.sheet_table(wb, "进度", title, PROGRESS_HEADERS, _progress_rows(figures, bars=False), first=True,
                   notes=source_lines(figures), widths=[22, 9, 11, 11, 11, 11, 11, 11])
    comp_rows = [[label, value, n, _share(n, total)] for key, label in DIMENSIONS
                 for value, n in figures[key].items()]
    rd.sheet_table(wb, "队伍构成", f"教师队伍构成（共 {total} 人）", ["维度", "类别", "人数", "占比（%）"], comp_rows,
                   widths=[14, 24, 10, 10])
    q = figures["quality"]
    rd.sheet_table(wb, "数据质量", "数据质量：出错最多的规则", ["规则", "错误数"], [[r["rule"], r["count"]] for r in q["rules"]],
                   widths=[30, 12])
    rd.sheet_table(wb, "未按时学校", "未报送或未按时报送的学校", ["学校代码", "学校名称", "上级单位", "首次报送时间"],
                   [[r["unit"], r["name"], r["parent"], _when(r["first_arrival"]) or "未报送"] for r in figures["late"]],
                   widths=[14, 30, 20, 20])
    xlsx = rd.save_workbook(wb, folder / f"{base}.xlsx")

    st = rd.styles()
    tmp, pdf = rd.pdf_target(folder / f"{base}.pdf")
    doc = rd.ReportDoc(tmp, title)
    when = datetime.fromisoformat(figures["queried_at"]).astimezone()
    story: list[Any] = [
        Spacer(1, 60 * mm), Paragraph(title, st["title"]),
        Paragraph(f"范围：{figures['name']}（{figures['unit']}）及下属 {len(figures['rows'])} 个单位、"
                  f"{figures['total']['schools']} 所学校", st["subtitle"]),
        Paragraph(f"统计月份：{figures['month']}    生成日期：{when:%Y年%m月%d日}", st["subtitle"]),
        Spacer(1, 20 * mm), Paragraph(source_lines(figures)[0], st["small"]), PageBreak(),
        Paragraph("目录", st["h1"]), rd.toc(), PageBreak(),
        Paragraph("一、工作进度", st["h1"]),
        rd.pdf_table(PROGRESS_HEADERS, _progress_rows(figures, bars=True),
                     [38 * mm, 15 * mm, 18 * mm, 32 * mm, 18 * mm, 18 * mm, 16 * mm, 18 * mm], total=True),
        Paragraph("二、教师队伍构成", st["h1"]),
        Paragraph(f"纳入统计的教师共 {total} 人（每人按其最新一条待审核或已生效的基本信息计一次）。", st["body"]),
    ]
    for key, label in DIMENSIONS:
        counts = figures[key]
        story.append(Paragraph(f"按{label}", st["body"]))
        story.append(rd.pdf_table(["类别", "人数", "占比（%）"],
                                  [[v, n, _share(n, total)] for v, n in counts.items()], [70 * mm, 30 * mm, 30 * mm]))
        if counts:
            story.append(rd.pie(counts) if len(counts) <= 6 else rd.hbar(counts))
        story.append(Spacer(1, 3 * mm))
    story.append(Paragraph("三、数据质量", st["h1"]))
    story.append(Paragraph("出错最多的规则", st["body"]))
    story.append(rd.pdf_table(["规则", "错误数"], [[r["rule"], r["count"]] for r in q["rules"]], [80 * mm, 30 * mm]))
    story.append(Paragraph("错误最多的单位", st["body"]))
    story.append(rd.pdf_table(["单位", "错误数"], [[r["name"], r["count"]] for r in q["units"]], [80 * mm, 30 * mm]))
    story.append(Paragraph("各月错误数", st["body"]))
    story.append(rd.pdf_table(["月份", "错误数"], [[r["month"], r["errors"]] for r in q["trend"]], [40 * mm, 30 * mm]))
    story.append(rd.hbar({r["month"]: r["errors"] for r in q["trend"]}))
    story.append(Paragraph("四、未报送或未按时报送的学校", st["h1"]))
    story.append(rd.pdf_table(["学校代码", "学校名称", "上级单位", "首次报送时间"],
                              [[r["unit"], r["name"], r["parent"], _when(r["first_arrival"]) or "未报送"]
                               for r in figures["late"]], [28 * mm, 62 * mm, 40 * mm, 40 * mm]))
    rd.build(doc, story, with_toc=True)
    tmp.replace(pdf)
    return [xlsx, pdf]

