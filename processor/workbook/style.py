"""Shared look of the workbooks tmis writes: fonts, fills, borders and column widths that fit Chinese."""

from __future__ import annotations

import unicodedata

from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

# 宋体 is on every Chinese Windows, WPS and Office install; LibreOffice falls back to a CJK font.
FONT_NAME = "宋体"

HEADER_FONT = Font(name=FONT_NAME, size=11, bold=True, color="000000")
REQUIRED_FONT = Font(name=FONT_NAME, size=11, bold=True, color="C00000")
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
REQUIRED_FILL = PatternFill("solid", fgColor="FCE4D6")
HEADER_ALIGN = Alignment(horizontal="center", vertical="center", wrap_text=True)

TITLE_FONT = Font(name=FONT_NAME, size=16, bold=True)
HEADING_FONT = Font(name=FONT_NAME, size=12, bold=True, color="1F4E78")
BODY_FONT = Font(name=FONT_NAME, size=10.5)
RED_FONT = Font(name=FONT_NAME, size=10.5, color="C00000")
TABLE_HEAD_FONT = Font(name=FONT_NAME, size=10.5, bold=True)
WRAP_TOP = Alignment(vertical="top", wrap_text=True)
WRAP_CENTER = Alignment(horizontal="center", vertical="top", wrap_text=True)

_THIN = Side(style="thin", color="A6A6A6")
THIN_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


def display_width(text: str) -> int:
    """Width of text in Excel character units: CJK and other wide characters count as 2."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in str(text))


def fit_width(*texts: str, minimum: float = 8, maximum: float = 60, padding: float = 2) -> float:
    """A column width that shows the widest text (longest line) without clipping, within bounds."""
    widest = max((display_width(line) for t in texts if t for line in str(t).splitlines()), default=0)
    return float(min(maximum, max(minimum, widest + padding)))


def note_size(text: str, width: int = 300) -> tuple[int, int]:
    """Width and height (points) of a cell note box that shows ``text`` whole: 40 narrow characters a line
    at a width of 300. openpyxl does not read the size back from a file, so notes it saves need it again."""
    per_line = max(1, width * 40 // 300)
    lines = sum(max(1, -(-display_width(line) // per_line)) for line in str(text).splitlines())
    return width, max(80, 18 * lines + 12)
