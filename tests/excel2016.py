"""Workbooks as Excel 2016 saves them: list validations whose source is on another sheet go into <extLst>.

Excel 2010 and later writes a list validation whose source is a range of another sheet (the template's
hidden ``_codes`` sheet) not in ``<dataValidations>`` but as ``x14:dataValidation`` in the sheet's extension
list, with a revision id (``xr:uid``) and the sheet name unquoted where it needs no quotes; the worksheet
root declares the markup-compatibility and revision namespaces. ``as_excel_saves`` rewrites a workbook
that openpyxl wrote into exactly that form (the XML below is what Excel 2016 writes, attribute for
attribute), so that the tests see what a school's Excel sends.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

from processor.workbook.extlst import sheet_parts

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
X14 = "http://schemas.microsoft.com/office/spreadsheetml/2009/9/main"
XM = "http://schemas.microsoft.com/office/excel/2006/main"
DV_URI = "{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}"
EXCEL_ROOT = (
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" mc:Ignorable="x14ac xr xr2 xr3" '
    'xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac" '
    'xmlns:xr="http://schemas.microsoft.com/office/spreadsheetml/2014/revision" '
    'xmlns:xr2="http://schemas.microsoft.com/office/spreadsheetml/2015/revision2" '
    'xmlns:xr3="http://schemas.microsoft.com/office/spreadsheetml/2016/revision3" '
    'xr:uid="{{00000000-0001-0000-{sheet:04X}-000000000000}}">'
)
# The order in which Excel writes the attributes of an x14:dataValidation.
X14_ATTRIBUTES = ("type", "errorStyle", "imeMode", "operator", "allowBlank", "showDropDown", "showInputMessage",
                  "showErrorMessage", "errorTitle", "error", "promptTitle", "prompt")
_FLAGS = ("allowBlank", "showDropDown", "showInputMessage", "showErrorMessage")
_VALIDATION = re.compile(r"<dataValidation ([^>]*)>(.*?)</dataValidation>", re.S)
_ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')


def _x14(attributes: str, body: str, sheet: int, n: int) -> str | None:
    attrs = dict(_ATTRIBUTE.findall(attributes))
    formula = re.search(r"<formula1>(.*?)</formula1>", body, re.S)
    if formula is None or "!" not in formula.group(1):
        return None  # a list written into the validation itself stays where Excel keeps it too
    source = formula.group(1).replace("'_codes'!", "_codes!")
    sqref = attrs.pop("sqref")
    attrs = {k: v for k, v in attrs.items() if not (k in _FLAGS and v in ("0", "false"))}  # Excel omits a 0
    written = " ".join(f'{k}="{attrs[k]}"' for k in X14_ATTRIBUTES if k in attrs)
    uid = f"{{{sheet:08X}-{n:04X}-4000-8000-000000000000}}"
    return (f'<x14:dataValidation {written} xr:uid="{uid}"><x14:formula1><xm:f>{source}</xm:f></x14:formula1>'
            f"<xm:sqref>{sqref}</xm:sqref></x14:dataValidation>")


def excel_sheet_xml(xml: str, sheet: int) -> tuple[str, int]:
    """One worksheet's XML as Excel writes it; returns it and how many validations moved into <extLst>."""
    moved: list[str] = []
    kept: list[str] = []
    for m in _VALIDATION.finditer(xml):
        x14 = _x14(m.group(1), m.group(2), sheet, len(moved) + 1)
        if x14 is None:
            kept.append(m.group(0))
        else:
            moved.append(x14)
    if not moved:
        return xml, 0
    block = re.search(r"<dataValidations[^>]*>.*?</dataValidations>", xml, re.S)
    assert block is not None
    standard = f'<dataValidations count="{len(kept)}">{"".join(kept)}</dataValidations>' if kept else ""
    xml = xml[:block.start()] + standard + xml[block.end():]
    xml = re.sub(r"<worksheet [^>]*>", EXCEL_ROOT.format(sheet=sheet), xml, count=1)
    ext = (f'<extLst><ext uri="{DV_URI}" xmlns:x14="{X14}"><x14:dataValidations count="{len(moved)}" '
           f'xmlns:xm="{XM}">{"".join(moved)}</x14:dataValidations></ext></extLst>')
    return xml.replace("</worksheet>", ext + "</worksheet>"), len(moved)


def as_excel_saves(path: Path) -> int:
    """Rewrite the workbook at ``path`` in place as Excel 2016 saves it; returns the validations moved."""
    with zipfile.ZipFile(path) as zf:
        parts = {item.filename: zf.read(item) for item in zf.infolist()}
        sheets = sheet_parts(zf)
    moved = 0
    for n, part in enumerate(sheets.values(), start=1):
        xml, count = excel_sheet_xml(parts[part].decode("utf-8"), n)
        parts[part] = xml.encode("utf-8")
        moved += count
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return moved


def list_validations(path: Path, title: str) -> dict[str, set[str]]:
    """Every list validation of a sheet, in either form: source formula → the ranges it covers.

    Read from the XML (openpyxl does not see the x14 ones); quotes around a sheet name and LibreOffice's
    spelling of sheet references are taken off, so that both forms compare."""
    with zipfile.ZipFile(path) as zf:
        root = ET.fromstring(zf.read(sheet_parts(zf)[title]))
    out: dict[str, set[str]] = {}

    def add(formula: str, sqref: str) -> None:
        formula = formula.replace("'", "").replace("$", "")
        for ref in sqref.split():
            out.setdefault(formula, set()).add(ref.replace("$", ""))

    for dv in root.iter(f"{{{MAIN}}}dataValidation"):
        if dv.get("type") == "list":
            add(dv.findtext(f"{{{MAIN}}}formula1") or "", dv.get("sqref") or "")
    for dv in root.iter(f"{{{X14}}}dataValidation"):
        if dv.get("type") == "list":
            add(dv.findtext(f"{{{X14}}}formula1/{{{XM}}}f") or "", dv.findtext(f"{{{XM}}}sqref") or "")
    return out


def every_list_validation(path: Path) -> dict[str, dict[str, set[str]]]:
    """``list_validations`` of every sheet that has any: sheet title → source → ranges."""
    with zipfile.ZipFile(path) as zf:
        titles = list(sheet_parts(zf))
    found = {title: list_validations(path, title) for title in titles}
    return {title: v for title, v in found.items() if v}
