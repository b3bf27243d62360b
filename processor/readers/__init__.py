"""Read a received file (xlsx/xlsm/xlsb/xls/ods/csv) safely into WorkbookData: guards, parsing, sheet detection."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from processor.readers.csvfile import CsvSheet
from processor.readers.detect import SheetBlock, SheetDetector, WorkbookData, infer_kind
from processor.readers.excel import open_workbook
from processor.readers.guard import FileCheck, Limits, inspect_file
from processor.rulepack.model import RulePack

__all__ = ["FileCheck", "Limits", "SheetBlock", "WorkbookData", "inspect_file", "read_workbook"]


def _meta(path: Path, items: list[tuple[str, str]], fmt: str) -> dict[str, Any]:
    """Template metadata: the `_tmis` sheet, else the 'tmis.*' custom document properties."""
    from processor.workbook import meta as meta_mod

    meta = meta_mod.parse_items(items) if items else {}
    if meta.get("kind"):
        meta["source"] = "sheet"
        return meta
    if fmt in ("xlsx", "xlsm", "ods"):
        with zipfile.ZipFile(path) as zf:
            has_props = "docProps/custom.xml" in zf.NameToInfo or "meta.xml" in zf.NameToInfo
        if has_props:
            return meta_mod.read_meta(path)
    return {}


def read_workbook(path: str | Path, pack: RulePack, limits: Limits | None = None, *,
                  name: str | None = None) -> WorkbookData:
    """Check, parse and map a received file to the pack's sheets. Raises InputError when it cannot be read.

    ``name`` is the file name shown in messages (default: the path's name)."""
    path = Path(path)
    limits = limits or Limits()
    name = name or path.name
    check = inspect_file(path, limits, name=name)
    if check.format == "csv":
        sources: list[Any] = [CsvSheet(path, name, limits)]
        items: list[tuple[str, str]] = []
    else:
        sources, items = open_workbook(path, name, limits, check)
    meta = _meta(path, items, check.format)
    detector = SheetDetector(pack, meta)
    blocks = [b for b in (detector.detect(s) for s in sources) if b is not None]
    kind = meta.get("kind") or infer_kind(pack, blocks)
    unit_code = meta.get("unit_code") or None
    return WorkbookData(path=path, format=check.format, meta=meta, kind=kind, unit_code=unit_code, blocks=blocks,
                        findings=detector.findings, date1904=check.date1904)
