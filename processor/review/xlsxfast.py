"""Big sheets of a workbook written as XML rows straight into the saved .xlsx (bounded memory, ~10× faster).

openpyxl builds the workbook — styles, protection, dropdowns, hidden sheets, the first rows — and writes
about 15,000 cells/s on our 2-core machine (et_xmlfile without lxml; lxml and XlsxWriter measured no
better); a county's return sheet has two million cells. So the workbook is saved by openpyxl with a
placeholder row 2 on each big sheet whose cells carry the styles the rows need, and then its sheet parts
are streamed into a new zip with the placeholder replaced by the real rows: inline strings (never formulas),
numbers, and cells with the placeholder's style ids. Everything else of the file is openpyxl's.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter

_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_NS_PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_ROW2 = re.compile(r'<row r="2"[^>]*>(.*?)</row>', re.S)
_CELL_STYLE = re.compile(r'<c r="([A-Z]+)2"(?:[^>]*?\bs="(\d+)")?')
_DIMENSION = re.compile(r'<dimension ref="[^"]*"/>')

# A row: a list of cells; a cell is None (absent), a str (inline string), an int/float, or
# (value, style_key) where style_key names a placeholder cell's column letter in row 2.
Cell = Any
RowsFactory = Callable[[dict[str, str]], Iterable[list[Cell]]]


_NEEDS_WORK = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f]")


def _escape(text: str) -> str:
    if _NEEDS_WORK.search(text) is None:  # nearly every cell: one scan in C
        return text
    text = ILLEGAL_CHARACTERS_RE.sub("", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet title → part name (xl/worksheets/sheetN.xml)."""
    book = ET.fromstring(zf.read("xl/workbook.xml"))
    rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter(f"{_NS_PKG}Relationship")}
    out = {}
    for sheet in book.iter(f"{_NS_MAIN}sheet"):
        target = targets.get(sheet.get(f"{_NS_REL}id"), "")
        target = target.lstrip("/")
        out[sheet.get("name", "")] = target if target.startswith("xl/") else f"xl/{target}"
    return out


def _rows_xml(rows: Iterable[list[Cell]], styles: dict[str, str], letters: list[str], first_row: int,
              counter: list[int]) -> Iterator[str]:
    r = first_row - 1
    parts: list[str] = []
    style_attr = {key: f' s="{sid}"' for key, sid in styles.items()}
    for row in rows:
        r += 1
        cells = []
        for i, cell in enumerate(row):
            if cell is None:
                continue
            style = ""
            if type(cell) is tuple:
                cell, key = cell
                style = style_attr.get(key, "")
            ref = f"{letters[i]}{r}"
            if cell is None or cell == "":
                if style:
                    cells.append(f'<c r="{ref}"{style}/>')
            elif isinstance(cell, str):
                space = ' xml:space="preserve"' if cell != cell.strip() else ""
                cells.append(f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>{_escape(cell)}</t></is></c>')
            else:
                cells.append(f'<c r="{ref}"{style}><v>{cell}</v></c>')
        parts.append(f'<row r="{r}">{"".join(cells)}</row>')
        if len(parts) >= 2000:
            yield "".join(parts)
            parts = []
    if parts:
        yield "".join(parts)
    counter[0] = r


def splice(saved: Path, target: Path, sheets: dict[str, tuple[int, int, RowsFactory]]) -> None:
    """Copy ``saved`` to ``target`` with row 2 of each named sheet replaced by its rows.

    ``sheets`` maps a title to (number of columns, number of rows, factory); the factory gets the
    placeholder's styles (column letter of row 2 → style id) and yields the rows from row 2 on."""
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        parts = _sheet_parts(src)
        wanted = {parts[title]: spec for title, spec in sheets.items() if title in parts}
        for info in src.infolist():
            data = src.read(info.filename)
            spec = wanted.get(info.filename)
            if spec is None:
                dst.writestr(info, data)
                continue
            width, count, factory = spec
            xml = data.decode("utf-8")
            match = _ROW2.search(xml)
            if match is None:
                raise ValueError(f"{info.filename}: no placeholder row 2")
            styles = {col: sid for col, sid in _CELL_STYLE.findall(match.group(0)) if sid}
            letters = [get_column_letter(i + 1) for i in range(max(width, 1))]
            head = _DIMENSION.sub(f'<dimension ref="A1:{letters[-1]}{count + 1}"/>', xml[:match.start()], count=1)
            tail = xml[match.end():]
            counter = [1]
            info_out = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            info_out.compress_type = zipfile.ZIP_DEFLATED
            with dst.open(info_out, "w", force_zip64=True) as out:
                out.write(head.encode("utf-8"))
                for chunk in _rows_xml(factory(styles), styles, letters, 2, counter):
                    out.write(chunk.encode("utf-8"))
                out.write(tail.encode("utf-8"))
            if counter[0] != count + 1:
                raise ValueError(f"{info.filename}: {counter[0] - 1} rows written, {count} announced")
