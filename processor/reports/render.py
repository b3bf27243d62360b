"""Rendering helpers shared by the reports: print-ready worksheets and PDF pieces (embedded Chinese font,
page numbers, table of contents, tables that repeat their header, completion bars, vector charts)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter
from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.charts.piecharts import Pie
from reportlab.graphics.shapes import Drawing, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Paragraph, Table, TableStyle
from reportlab.platypus.tableofcontents import TableOfContents

from processor.feedback import set_safe
from processor.workbook import style

FONT = "WenQuanYiMicroHei"
PALETTE = ["#1F4E78", "#C55A11", "#548235", "#7030A0", "#BF9000", "#2E75B6", "#A9D18E", "#F4B183",
           "#8FAADC", "#FFD966", "#C9C9C9"]


def font_file() -> Path:
    """The CJK TrueType font embedded in every PDF (WenQuanYi Micro Hei, from the paperang-p2-fonts-cjk wheel)."""
    import paperang_p2_fonts_cjk

    return Path(paperang_p2_fonts_cjk.__file__).parent / "fonts" / "wqy-microhei.ttc"


@cache
def register_font() -> str:
    """Register the font with reportlab once (as a subset-embedded TrueType font); returns its name."""
    pdfmetrics.registerFont(TTFont(FONT, str(font_file()), subfontIndex=0))
    from reportlab.graphics import shapes
    from reportlab.lib.fonts import addMapping

    for bold in (0, 1):
        for italic in (0, 1):
            addMapping(FONT, bold, italic, FONT)
    shapes.STATE_DEFAULTS["fontName"] = FONT  # drawings would otherwise start in (unembedded) Helvetica
    return FONT


def styles() -> dict[str, ParagraphStyle]:
    font = register_font()
    return {
        "title": ParagraphStyle("title", fontName=font, fontSize=22, leading=30, alignment=1, spaceAfter=8 * mm),
        "subtitle": ParagraphStyle("subtitle", fontName=font, fontSize=13, leading=20, alignment=1),
        "h1": ParagraphStyle("h1", fontName=font, fontSize=15, leading=22, spaceBefore=4 * mm, spaceAfter=2 * mm,
                             textColor=colors.HexColor("#1F4E78")),
        "body": ParagraphStyle("body", fontName=font, fontSize=9.5, leading=14, wordWrap="CJK"),
        "small": ParagraphStyle("small", fontName=font, fontSize=8, leading=11, wordWrap="CJK",
                                textColor=colors.HexColor("#595959")),
        "cell": ParagraphStyle("cell", fontName=font, fontSize=8, leading=10, wordWrap="CJK"),
        "toc": ParagraphStyle("toc", fontName=font, fontSize=11, leading=18),
    }


class ReportDoc(BaseDocTemplate):
    """A4 document with a footer (title, 第 N 页) on every page, headings collected into a table of contents."""

    def __init__(self, path: Path, title: str, *, wide: bool = False) -> None:
        size = landscape(A4) if wide else A4
        super().__init__(str(path), pagesize=size, title=title, author="tmis", leftMargin=15 * mm,
                         rightMargin=15 * mm, topMargin=15 * mm, bottomMargin=18 * mm,
                         initialFontName=register_font(), initialFontSize=9)
        self.report_title = title
        frame = Frame(self.leftMargin, self.bottomMargin, self.width, self.height, id="body")
        self.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=self._footer)])

    def _footer(self, canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(register_font(), 8)
        canvas.setFillColor(colors.HexColor("#595959"))
        canvas.drawString(self.leftMargin, 10 * mm, self.report_title)
        canvas.drawRightString(self.pagesize[0] - self.rightMargin, 10 * mm, f"第 {doc.page} 页")
        canvas.restoreState()

    def afterFlowable(self, flowable: Any) -> None:
        if isinstance(flowable, Paragraph) and flowable.style.name == "h1":
            text = flowable.getPlainText()
            key = f"h{abs(hash(text))}"
            self.canv.bookmarkPage(key)
            self.notify("TOCEntry", (0, text, self.page, key))


def toc() -> TableOfContents:
    t = TableOfContents()
    t.levelStyles = [styles()["toc"]]
    t.tableStyle = TableStyle([("FONTNAME", (0, 0), (-1, -1), register_font()), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0)])
    return t


def build(doc: ReportDoc, story: list[Any], *, with_toc: bool) -> None:
    if with_toc:
        doc.multiBuild(story)
    else:
        doc.build(story)


def pdf_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[float] | None = None,
              *, total: bool = False, plain: bool = False) -> Table:
    """A table whose header row repeats on every page it breaks onto; text cells wrap (CJK). ``plain``: body cells
    are drawn as one-line strings (no wrapping) — for long lists of short values (thousands of names), where a
    paragraph per cell would take minutes."""
    st = styles()["cell"]
    head = [Paragraph(str(h), st) for h in headers]
    if plain:
        body = [[_fmt(c) if isinstance(c, (str, int, float)) else c for c in r] for r in rows]
    else:
        body = [[c if not isinstance(c, (str, int, float)) else Paragraph(_fmt(c), st) for c in r] for r in rows]
    table = Table([head, *body], colWidths=widths, repeatRows=1)
    cmds = [
        ("FONTNAME", (0, 0), (-1, -1), register_font()),
        ("FONTSIZE", (0, 1), (-1, -1), st.fontSize),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DDEBF7")),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#A6A6A6")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#F7F9FC")]),
    ]
    if total and rows:
        cmds.append(("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#FCE4D6")))
    table.setStyle(TableStyle(cmds))
    return table


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def bar(percent: float, width: float = 30 * mm, height: float = 3.2 * mm) -> Drawing:
    """A completion bar with its percentage."""
    d = Drawing(width, height + 1)
    d.add(Rect(0, 0, width * 0.7, height, fillColor=colors.HexColor("#EDEDED"), strokeColor=None))
    d.add(Rect(0, 0, width * 0.7 * max(0.0, min(percent, 100.0)) / 100.0, height,
               fillColor=colors.HexColor("#548235"), strokeColor=None))
    d.add(String(width * 0.72, 0.3, f"{percent:.1f}%", fontName=register_font(), fontSize=7))
    return d


def pie(counts: dict[str, int], *, size: float = 55 * mm) -> Drawing:
    """A pie chart of a composition (the largest ten slices, the rest together)."""
    items = list(counts.items())
    if len(items) > 10:
        items = items[:9] + [("其他", sum(n for _, n in items[9:]))]
    d = Drawing(size * 2.2, size)
    p = Pie()
    p.x, p.y, p.width, p.height = 5, 5, size - 10, size - 10
    p.data = [max(n, 0) for _, n in items] or [1]
    p.labels = None
    p.slices.strokeWidth = 0.3
    for i in range(len(p.data)):
        p.slices[i].fillColor = colors.HexColor(PALETTE[i % len(PALETTE)])
    d.add(p)
    total = sum(n for _, n in items) or 1
    for i, (label, n) in enumerate(items):
        y = size - 10 - i * 10
        d.add(Rect(size + 2, y, 6, 6, fillColor=colors.HexColor(PALETTE[i % len(PALETTE)]), strokeColor=None))
        d.add(String(size + 11, y, f"{label} {100.0 * n / total:.1f}%", fontName=register_font(), fontSize=7))
    return d


def hbar(counts: dict[str, int], *, width: float = 170 * mm) -> Drawing:
    """A horizontal bar chart (labels on the left)."""
    items = list(counts.items())[:12]
    height = 12 * len(items) + 20
    d = Drawing(width, height)
    c = HorizontalBarChart()
    c.x, c.y, c.width, c.height = 40 * mm, 10, width - 50 * mm, height - 15
    c.data = [[n for _, n in reversed(items)] or [0]]
    c.categoryAxis.categoryNames = [label for label, _ in reversed(items)] or [""]
    c.categoryAxis.labels.fontName = register_font()
    c.categoryAxis.labels.fontSize = 7
    c.valueAxis.labels.fontName = register_font()
    c.valueAxis.labels.fontSize = 7
    c.valueAxis.valueMin = 0
    c.bars[0].fillColor = colors.HexColor("#2E75B6")
    d.add(c)
    return d


# --- workbooks -----------------------------------------------------------------------------------------

def sheet_table(wb: Workbook, title: str, heading: str, headers: Sequence[str], rows: Sequence[Sequence[Any]],
                *, widths: Sequence[float] | None = None, notes: Sequence[str] = (), first: bool = False) -> Any:
    """A print-ready table sheet: a heading line, notes, the header row (repeated on every printed page, frozen),
    the rows; landscape when wider than six columns, fitted to the page width, page numbers in the footer."""
    ws = wb.active if first else wb.create_sheet()
    ws.title = title
    ws.cell(row=1, column=1, value=heading).font = style.TITLE_FONT
    r = 2
    for note in notes:
        ws.cell(row=r, column=1, value=note).font = style.BODY_FONT
        r += 1
    header_row = r
    for c, h in enumerate(headers, start=1):
        cell = ws.cell(row=header_row, column=c, value=h)
        cell.font, cell.fill, cell.alignment, cell.border = (style.HEADER_FONT, style.HEADER_FILL,
                                                             style.HEADER_ALIGN, style.THIN_BORDER)
    for i, row in enumerate(rows, start=header_row + 1):
        for c, value in enumerate(row, start=1):
            cell = ws.cell(row=i, column=c)
            set_safe(cell, value)
            cell.font, cell.border = style.BODY_FONT, style.THIN_BORDER
            if isinstance(value, str):
                cell.alignment = Alignment(vertical="top", wrap_text=True)
    for c, h in enumerate(headers, start=1):
        width = widths[c - 1] if widths else style.fit_width(str(h), minimum=8, maximum=40)
        ws.column_dimensions[get_column_letter(c)].width = width
    print_ready(ws, header_row, len(headers))
    return ws


def print_ready(ws: Any, header_row: int, columns: int) -> None:
    """Page set-up a person expects when printing: landscape if wide, one page wide, header row repeated,
    '第 N 页，共 M 页' in the footer."""
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if columns > 6 else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    ws.oddFooter.left.text = "&A"


def save_workbook(wb: Workbook, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    wb.save(tmp)
    os.replace(tmp, path)
    return path


def pdf_target(path: Path) -> tuple[Path, Path]:
    """(temporary path to build into, final path): a PDF appears complete or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.part"), path
