"""Masking of identity and phone numbers in what is mailed to recipients not entitled to them.

110101199003071234 → 110101********1234 (first six, last four kept); 13812345678 → 138****5678.
Works on text and on .xlsx workbooks (every text cell; numbers that look like a phone or identity number
too) — the masked copy is written beside, the original is never changed."""

from __future__ import annotations

import re
from pathlib import Path

from openpyxl import load_workbook

_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])")
_ID15 = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{5})(\d{4})(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_text(text: str) -> str:
    """The text with every identity number and mobile phone number masked."""
    text = _ID.sub(lambda m: f"{m.group(1)}********{m.group(3)}", text)
    text = _ID15.sub(lambda m: f"{m.group(1)}*****{m.group(3)}", text)
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def _mask_value(value: object) -> object:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, int) and not isinstance(value, bool) and len(str(value)) in (11, 15, 18):
        masked = mask_text(str(value))
        return masked if masked != str(value) else value
    return value


def mask_workbook(source: Path, target: Path) -> Path:
    """A copy of an .xlsx with identity and phone numbers masked in every cell and comment."""
    wb = load_workbook(source)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    continue
                new = _mask_value(cell.value)
                if new is not cell.value:
                    cell.value = new
                if cell.comment is not None:
                    cell.comment.text = mask_text(cell.comment.text)
    target.parent.mkdir(parents=True, exist_ok=True)
    wb.save(target)
    return target


def mask_file(source: Path, target: Path) -> Path:
    """A masked copy of a file that is mailed: .xlsx cells, text and JSON as text; others copied as they are."""
    suffix = source.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return mask_workbook(source, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".txt", ".json", ".csv", ".html"):
        target.write_text(mask_text(source.read_text(encoding="utf-8", errors="replace")), encoding="utf-8")
    else:
        target.write_bytes(source.read_bytes())
    return target
