"""Worksheet extensions (``<extLst>``) that openpyxl drops on load, carried from a received file into its report.

Excel 2010 and later saves every list validation whose source is on another sheet (the long code lists of
the hidden ``_codes`` sheet) not in ``<dataValidations>`` but in the sheet's extension list::

    <extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}" xmlns:x14="…/spreadsheetml/2009/9/main">
      <x14:dataValidations count="1" xmlns:xm="…/excel/2006/main"><x14:dataValidation type="list" …>
        <x14:formula1><xm:f>_codes!$A$2:$A$58</xm:f></x14:formula1><xm:sqref>F2:F5001</xm:sqref>
      </x14:dataValidation></x14:dataValidations></ext></extLst>

openpyxl reads the sheet without them, so a report saved by openpyxl would come back without those
dropdowns. ``read_extensions`` takes the school's own ``<ext>`` elements of the kinds that stand on their own
(data validations, sparklines: no relationship ids, no link to other parts of the sheet), and
``copy_with_extensions`` writes them, unchanged, into the same sheets of the saved report.
"""

from __future__ import annotations

import io
import logging
import posixpath
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from defusedxml.ElementTree import fromstring, iterparse

log = logging.getLogger(__name__)

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
OFFICE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
DATA_VALIDATIONS = "{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}"
SPARKLINE_GROUPS = "{05C60535-1F16-4fd2-B633-F4F36F0B64E0}"
CARRIED = {DATA_VALIDATIONS.upper(), SPARKLINE_GROUPS.upper()}
# Excel's revision ids (xr:uid …) are declared Ignorable on the school's sheet only: they are left behind.
_REVISION = re.compile(r"^\{http://schemas\.microsoft\.com/office/spreadsheetml/201\d/revision\d?\}")
PREFIXES = {
    "x14": "http://schemas.microsoft.com/office/spreadsheetml/2009/9/main",
    "xm": "http://schemas.microsoft.com/office/excel/2006/main",
    "x14ac": "http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac",
    "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
}
for _prefix, _uri in PREFIXES.items():
    ET.register_namespace(_prefix, _uri)


def _rels_path(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", f"{name}.rels")


def _resolve(base_part: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(base_part), target))


def sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet title → the zip member holding that worksheet's XML (from workbook.xml and its relationships)."""
    names = set(zf.namelist())
    workbook = "xl/workbook.xml"
    if "_rels/.rels" in names:
        for rel in fromstring(zf.read("_rels/.rels")).iter(f"{{{PACKAGE_REL}}}Relationship"):
            if rel.get("Type", "").endswith("/officeDocument"):
                workbook = _resolve("", rel.get("Target", workbook))
    targets = {}
    rels = _rels_path(workbook)
    if rels in names:
        for rel in fromstring(zf.read(rels)).iter(f"{{{PACKAGE_REL}}}Relationship"):
            if rel.get("Type", "").endswith("/worksheet"):
                targets[rel.get("Id")] = _resolve(workbook, rel.get("Target", ""))
    out = {}
    for sheet in fromstring(zf.read(workbook)).iter(f"{{{MAIN}}}sheet"):
        part = targets.get(sheet.get(f"{{{OFFICE_REL}}}id"))
        if part in names:
            out[sheet.get("name", "")] = part
    return out


def _serialise(ext: ET.Element) -> bytes:
    for elem in ext.iter():
        for key in [k for k in elem.attrib if _REVISION.match(k)]:
            del elem.attrib[key]
    # <ext> itself is written as Excel writes it, in the default namespace the report's worksheet declares;
    # each child carries the declarations of the prefixes it uses.
    body = b"".join(ET.tostring(child, encoding="utf-8", xml_declaration=False) for child in ext)
    return f'<ext uri="{escape(ext.get("uri") or "", {chr(34): "&quot;"})}">'.encode() + body + b"</ext>"


def _sheet_extensions(data: io.BytesIO) -> list[bytes]:
    found: list[bytes] = []
    depth = 0
    for event, elem in iterparse(data, events=("start", "end")):
        if event == "start":
            depth += 1
            continue
        depth -= 1
        if depth == 2 and elem.tag == f"{{{MAIN}}}ext" and (elem.get("uri") or "").upper() in CARRIED:
            found.append(_serialise(elem))
        elif depth == 1 and elem.tag == f"{{{MAIN}}}sheetData":
            elem.clear()  # the cells are not needed: keep memory bounded on big sheets
        elif depth == 2 and elem.tag == f"{{{MAIN}}}row":
            elem.clear()
    return found


def read_extensions(path: Path) -> dict[str, list[bytes]]:
    """Sheet title → the school's own extension elements to carry (data validations, sparklines).

    Only ``<ext>`` children of the worksheet's ``<extLst>`` are looked at; a sheet without any is left out."""
    out: dict[str, list[bytes]] = {}
    with zipfile.ZipFile(path) as zf:
        for title, part in sheet_parts(zf).items():
            data = zf.read(part)
            if b"extLst" not in data:  # most sheets: no need to parse them
                continue
            found = _sheet_extensions(io.BytesIO(data))
            if found:
                out[title] = found
    return out


def _insert(sheet_xml: bytes, extensions: list[bytes]) -> bytes | None:
    body = b"".join(extensions)
    at = sheet_xml.rfind(b"</extLst>")
    if at != -1 and sheet_xml.rfind(b"</worksheet>") > at:
        return sheet_xml[:at] + body + sheet_xml[at:]
    at = sheet_xml.rfind(b"</worksheet>")
    if at == -1:
        return None
    return sheet_xml[:at] + b"<extLst>" + body + b"</extLst>" + sheet_xml[at:]


def copy_with_extensions(source: Path, target: Path, extensions: dict[str, list[bytes]]) -> int:
    """Copy the workbook ``source`` to ``target`` with ``extensions`` appended to the sheets of those titles.

    ``source`` is a workbook openpyxl has just written (no ``<extLst>`` of its own on worksheets). Returns
    how many sheets received extensions; titles not in the workbook are skipped."""
    done = 0
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        parts = {part: title for title, part in sheet_parts(zin).items() if extensions.get(title)}
        for item in zin.infolist():
            data = zin.read(item)
            title = parts.get(item.filename)
            if title is not None:
                changed = _insert(data, extensions[title])
                if changed is None:
                    log.warning("%s: sheet %s has no closing worksheet tag; extensions not carried", source, title)
                else:
                    data, done = changed, done + 1
            zout.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED)
    return done
