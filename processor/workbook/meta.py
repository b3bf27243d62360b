"""Hidden template metadata: the `_tmis` sheet and custom properties that tell intake what a workbook is."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

from processor.errors import InputError

META_SHEET = "_tmis"
CODES_SHEET = "_codes"
PROPERTY_PREFIX = "tmis."
META_FORMAT = "1"
LAYER_SEPARATOR = " | "
# Excel refuses custom-property strings longer than 255 characters; longer values live in the sheet only.
PROPERTY_MAX = 255

SCALAR_KEYS = (
    "meta_format", "kind", "kind_title", "template_version", "pack_name", "pack_version", "pack_layers",
    "unit_code", "unit_name", "issued_at", "generator", "school_type",
)
_SHEET_KEY = re.compile(r"^sheet\.(\d{1,3})\.(id|name|header_row|columns)$")
_MAX_META_ROWS = 2000
_MAX_VALUE = 4000
_MAX_XML_BYTES = 2_000_000
_SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".xltx", ".xltm", ".xls", ".xla", ".xlsb", ".ods", ".et", ".ett"}
_DEFAULT_MAX_UNCOMPRESSED_MB = 3000.0

_NS_CUSTOM = "{http://schemas.openxmlformats.org/officeDocument/2006/custom-properties}"
_NS_META = "{urn:oasis:names:tc:opendocument:xmlns:meta:1.0}"


def meta_items(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """Flatten a metadata dict (as read_meta returns it) into the key/value rows of the `_tmis` sheet."""
    items: list[tuple[str, str]] = [("meta_format", META_FORMAT)]
    for key in SCALAR_KEYS[1:]:
        value = meta.get(key)
        if value is None or value == "" or value == []:
            continue
        if key == "pack_layers" and isinstance(value, (list, tuple)):
            value = LAYER_SEPARATOR.join(str(v) for v in value)
        items.append((key, str(value)))
    for i, sheet in enumerate(meta.get("sheets", []), start=1):
        items.append((f"sheet.{i}.id", str(sheet["id"])))
        items.append((f"sheet.{i}.name", str(sheet["name"])))
        items.append((f"sheet.{i}.header_row", str(sheet.get("header_row", 1))))
        if sheet.get("columns"):
            items.append((f"sheet.{i}.columns", ",".join(sheet["columns"])))
    return items


def property_items(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """The same rows as custom document properties (names prefixed 'tmis.', values Excel accepts)."""
    return [(PROPERTY_PREFIX + k, v) for k, v in meta_items(meta) if 0 < len(v) <= PROPERTY_MAX]


def cell_text(value: Any) -> str:
    """A cell value as text: floats that hold whole numbers lose their '.0' (LibreOffice may store 1 as 1.0)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()[:_MAX_VALUE]


def parse_items(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Build the metadata dict from key/value rows; unknown keys are kept as strings, sheets as a list."""
    meta: dict[str, Any] = {}
    sheets: dict[int, dict[str, Any]] = {}
    for key, value in items:
        if not key or not value:
            continue
        m = _SHEET_KEY.match(key)
        if m:
            entry = sheets.setdefault(int(m.group(1)), {})
            part = m.group(2)
            if part == "header_row":
                try:
                    entry[part] = int(float(value))
                except ValueError:
                    entry[part] = 1
            elif part == "columns":
                entry[part] = [c for c in value.split(",") if c]
            else:
                entry[part] = value
        elif key == "pack_layers":
            meta[key] = [v.strip() for v in value.split(LAYER_SEPARATOR.strip()) if v.strip()]
        elif re.fullmatch(r"[a-z][a-z0-9_]{0,40}", key):
            meta[key] = value
    if sheets:
        meta["sheets"] = [
            {"id": s.get("id", ""), "name": s.get("name", ""), "header_row": s.get("header_row", 1),
             "columns": s.get("columns", [])}
            for _, s in sorted(sheets.items()) if s.get("id")
        ]
    return meta


def _check_zip(path: Path, max_uncompressed_mb: float) -> None:
    """Refuse zip containers whose declared content is absurdly large before any parser unpacks them."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError("文件已损坏，无法作为表格打开", file=path,
                         hint="请用 Excel 或 WPS 打开后另存为 .xlsx 再提交。") from exc
    total = sum(i.file_size for i in infos)
    if len(infos) > 20_000 or total > max_uncompressed_mb * 1024 * 1024:
        raise InputError(f"文件解压后过大（{total / 1048576:.1f} MB，上限 {max_uncompressed_mb:g} MB），疑似异常文件",
                         file=path,
                         hint="请删除多余的空行、图片后重新保存再提交。")


def _open_workbook(path: Path) -> Any:
    from python_calamine import CalamineWorkbook, PasswordError

    from processor.readers.quiet import rust_stderr_to_log

    try:
        with path.open("rb") as fh, rust_stderr_to_log(path.name):
            return CalamineWorkbook.from_filelike(fh)
    except PasswordError as exc:
        raise InputError("文件设有打开密码，无法读取", file=path, hint="请在 Excel 或 WPS 中取消密码后重新提交。") from exc
    except BaseException as exc:  # calamine may raise a Rust panic, which is a BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)):
            raise
        raise InputError("无法作为表格打开（文件损坏或不是 Excel、WPS、LibreOffice 表格）", file=path,
                         hint="请用 Excel 或 WPS 打开后另存为 .xlsx 再提交。") from exc


def _sheet_items(path: Path) -> list[tuple[str, str]]:
    """Key/value rows of the hidden `_tmis` sheet, read with calamine (hidden sheets included)."""
    from processor.readers.quiet import rust_stderr_to_log
    wb = _open_workbook(path)
    items: list[tuple[str, str]] = []
    try:
        names = list(wb.sheet_names)
        target = next((n for n in names if str(n).strip().lower() == META_SHEET), None)
        if target is None:
            return []
        with rust_stderr_to_log(path.name):
            sheet = wb.get_sheet_by_name(target)
        for n, row in enumerate(sheet.iter_rows()):
            if n >= _MAX_META_ROWS:
                break
            if len(row) >= 2:
                items.append((cell_text(row[0]), cell_text(row[1])))
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)):
            raise
        return items
    finally:
        try:
            wb.close()
        except Exception:  # noqa: BLE001 - closing must not hide the result
            pass
    return items


def _zip_member(path: Path, name: str) -> bytes | None:
    try:
        with zipfile.ZipFile(path) as zf:
            try:
                info = zf.getinfo(name)
            except KeyError:
                return None
            if info.file_size > _MAX_XML_BYTES:
                return None
            with zf.open(info) as fh:
                return fh.read(_MAX_XML_BYTES + 1)[:_MAX_XML_BYTES]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, NotImplementedError):
        return None


def _parse_xml(data: bytes) -> Any:
    import defusedxml.ElementTree as DET

    try:
        return DET.fromstring(data)
    except Exception:  # noqa: BLE001 - defusedxml refuses entities and DTDs; a bad part means no metadata
        return None


def read_property_meta(path: str | Path) -> dict[str, Any]:
    """The template metadata from the 'tmis.*' custom document properties alone ({} when none): no sheet is
    parsed, only small XML parts of the zip, so it is safe on any file the intake guard let through."""
    meta = parse_items(_property_items(Path(path)))
    if meta.get("kind"):
        meta["source"] = "properties"
        return meta
    return {}


def _property_items(path: Path) -> list[tuple[str, str]]:
    """Custom document properties named 'tmis.*' from docProps/custom.xml (OOXML) or meta.xml (ODF)."""
    if not zipfile.is_zipfile(path):
        return []
    items: list[tuple[str, str]] = []
    data = _zip_member(path, "docProps/custom.xml")
    if data:
        root = _parse_xml(data)
        if root is not None:
            for prop in root.iter(f"{_NS_CUSTOM}property"):
                name = prop.get("name") or ""
                value = next((child.text for child in prop), None)
                if name.startswith(PROPERTY_PREFIX):
                    items.append((name[len(PROPERTY_PREFIX):], cell_text(value)))
    data = _zip_member(path, "meta.xml")
    if data:
        root = _parse_xml(data)
        if root is not None:
            for prop in root.iter(f"{_NS_META}user-defined"):
                name = prop.get(f"{_NS_META}name") or ""
                if name.startswith(PROPERTY_PREFIX):
                    items.append((name[len(PROPERTY_PREFIX):], cell_text(prop.text)))
    return items


def read_meta(path: str | Path, *, max_uncompressed_mb: float = _DEFAULT_MAX_UNCOMPRESSED_MB) -> dict[str, Any]:
    """The template metadata of a workbook (.xlsx/.xlsm/.xls/.ods): {} when it carries none.

    Reads the hidden `_tmis` sheet first, then the 'tmis.*' custom document properties. The dict has the
    scalar keys of SCALAR_KEYS (strings; pack_layers a list), 'sheets' (a list of {id, name, header_row,
    columns}) and 'source' ('sheet' or 'properties'). Raises only InputError (unreadable, encrypted or
    oversized files)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("文件不存在或不是普通文件", file=path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return {}
    is_zip = zipfile.is_zipfile(path)
    if is_zip:
        _check_zip(path, max_uncompressed_mb)
    elif suffix not in _SPREADSHEET_SUFFIXES and suffix:
        return {}
    meta = parse_items(_sheet_items(path))
    if meta.get("kind"):
        meta["source"] = "sheet"
        return meta
    meta = parse_items(_property_items(path)) if is_zip else {}
    if meta.get("kind"):
        meta["source"] = "properties"
        return meta
    return {}
