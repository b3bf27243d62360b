"""Read a received file (xlsx/xlsm/xlsb/xls/ods/csv) safely into WorkbookData: guards, parsing, sheet detection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from processor.errors import InputError
from processor.findings import WARNING, Finding
from processor.readers.csvfile import CsvSheet
from processor.readers.detect import SheetBlock, SheetDetector, WorkbookData, infer_kind
from processor.readers.excel import open_workbook
from processor.readers.guard import FORMAT_NAMES, FORMAT_SUFFIXES, FileCheck, Limits, inspect_file
from processor.rulepack.model import RulePack

FILE_WRONG_EXTENSION = "FILE-WRONG-EXTENSION"

__all__ = ["FileCheck", "Limits", "SheetBlock", "WorkbookData", "inspect_file", "read_workbook"]


def _meta(path: Path, items: list[tuple[str, str]], fmt: str) -> dict[str, Any]:
    """Template metadata: the `_tmis` sheet, else the 'tmis.*' custom document properties."""
    from processor.workbook import meta as meta_mod

    meta = meta_mod.parse_items(items) if items else {}
    if meta.get("kind"):
        meta["source"] = "sheet"
        return meta
    if fmt in ("xlsx", "xlsm", "ods"):
        return meta_mod.read_property_meta(path)  # the sheets were read already: properties only
    return {}


def read_workbook(path: str | Path, pack: RulePack, limits: Limits | None = None, *,
                  name: str | None = None) -> WorkbookData:
    """Check, parse and map a received file to the pack's sheets. Raises InputError when it cannot be read.

    ``name`` is the file name shown in messages (default: the path's name)."""
    path = Path(path)
    limits = limits or Limits()
    name = name or path.name
    check = inspect_file(path, limits, name=name)  # a file refused here is never opened by a parser
    try:
        if check.format == "csv":
            sources: list[Any] = [CsvSheet(path, name, limits)]
            items: list[tuple[str, str]] = []
        else:
            sources, items = open_workbook(path, name, limits, check)
    except InputError as exc:
        # The sender, for the notice, from what is safe to read: the custom properties of a zip format
        # that passed the guard (small XML parts); never a second parse of the sheets.
        exc.unit_code = _property_unit_code(path, check.format)  # type: ignore[attr-defined]
        raise
    meta = _meta(path, items, check.format)
    detector = SheetDetector(pack, meta)
    blocks = [b for b in (detector.detect(s) for s in sources) if b is not None]
    kind = meta.get("kind") or infer_kind(pack, blocks)
    unit_code = meta.get("unit_code") or None
    findings = detector.findings
    if check.wrong_suffix:
        findings.insert(0, _wrong_suffix_warning(name, check))
    return WorkbookData(path=path, format=check.format, meta=meta, kind=kind, unit_code=unit_code, blocks=blocks,
                        findings=findings, date1904=check.date1904)


def _property_unit_code(path: Path, fmt: str) -> str | None:
    from processor.workbook import meta as meta_mod

    if fmt not in ("xlsx", "xlsm", "ods"):
        return None
    return meta_mod.read_property_meta(path).get("unit_code") or None


def _wrong_suffix_warning(name: str, check: FileCheck) -> Finding:
    real = FORMAT_NAMES[check.format]
    proper = FORMAT_SUFFIXES[check.format][0]
    return Finding(sheet=None, row=None, column=None, field=None, value=check.suffix, rule=FILE_WRONG_EXTENSION,
                   severity=WARNING,
                   message=f"文件“{name}”的扩展名是 {check.suffix}，但内容实际是 {real}；已按实际格式读取",
                   hint=f"请把扩展名改为 {proper}，或在 Excel / WPS 中打开后另存为 .xlsx 再报送，"
                        "以免其他程序打不开。")
