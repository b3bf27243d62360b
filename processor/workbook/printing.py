"""Page set-up of the sheets tmis writes for people: A4, fit to the page width, header repeated, page numbers."""

from __future__ import annotations

from typing import Any

# Excel's page-number fields: &P this page, &N the number of pages; &A the sheet's name.
PAGE_FOOTER = "第 &P 页，共 &N 页"


def print_ready(ws: Any, *, landscape: bool, title_rows: int = 0, header: str | None = None,
                grid: bool = False) -> None:
    """Make an openpyxl worksheet print the way a person expects.

    Every column on one page width (as many pages down as it takes), A4 ``landscape`` or portrait, the
    first ``title_rows`` rows repeated at the top of every page, ``header`` (or the sheet's name) at the
    top left and "第 n 页，共 m 页" at the bottom, cell grid lines printed when ``grid``."""
    ws.page_setup.paperSize = getattr(ws, "PAPERSIZE_A4", "9")  # write-only sheets lack the constant
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # 0: as many pages down as needed
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    if title_rows:
        ws.print_title_rows = f"1:{title_rows}"
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.page_margins.header = ws.page_margins.footer = 0.3
    ws.oddHeader.left.text = header.replace("&", "&&") if header else "&A"  # a literal & is written &&
    ws.oddHeader.left.size = 9
    ws.oddFooter.center.text = PAGE_FOOTER
    ws.oddFooter.center.size = 9
    ws.print_options.gridLines = grid
    ws.print_options.horizontalCentered = True
