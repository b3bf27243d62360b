"""Hostile-input guards: size, real format by magic bytes, zip and XML bombs, encryption, absurd sheet extents."""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers import expat

from processor.errors import InputError

MB = 1024 * 1024
MAGIC_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
MAGIC_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

CT_MAIN = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": "xlsx",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": "xlsm",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml": "xlsx",
    "application/vnd.ms-excel.template.macroEnabled.main+xml": "xlsm",
    "application/vnd.ms-excel.sheet.binary.macroEnabled.main": "xlsb",
}
ODS_MIMETYPES = ("application/vnd.oasis.opendocument.spreadsheet",
                 "application/vnd.oasis.opendocument.spreadsheet-template")

HINT_RESAVE = "请用 Excel 或 WPS 打开该文件，另存为 .xlsx 后重新提交。"
HINT_TEMPLATE = "请提交用官方模板填写的 Excel 文件（.xlsx），或另存为 .xlsx 后重新提交。"
HINT_PASSWORD_ODS = ("请在 LibreOffice 或 WPS 中打开该文件，另存时不要勾选“使用密码保存”（或另存为 .xlsx），"
                     "然后重新提交。")
HINT_PASSWORD = "请在 Excel 或 WPS 中取消打开密码（文件 → 信息 → 保护工作簿 → 用密码进行加密，清空密码并保存）后重新提交。"

# Other kinds of files people send instead of a workbook, recognised by their first bytes.
_OTHER_MAGIC = (
    (b"%PDF", "PDF 文件"),
    (b"\x89PNG", "PNG 图片"),
    (b"\xff\xd8\xff", "JPEG 图片"),
    (b"GIF8", "GIF 图片"),
    (b"BM", "BMP 图片"),
    (b"II*\x00", "TIFF 图片"),
    (b"MM\x00*", "TIFF 图片"),
    (b"Rar!", "RAR 压缩包"),
    (b"7z\xbc\xaf\x27\x1c", "7z 压缩包"),
    (b"\x1f\x8b", "gzip 压缩包"),
    (b"{\\rtf", "RTF 文档"),
)

_OLD_BIFF_BOF = (b"\x09\x00", b"\x09\x02", b"\x09\x04")  # BIFF2, BIFF3, BIFF4
_CHUNK = MB
_PROLOG_BYTES = 64 * 1024
_XML_SUFFIXES = (".xml", ".rels", ".vml")
# Spreadsheet XML ceilings: Excel itself stops at 1,048,576 rows and column XFD (16,384).
_EXCEL_MAX_ROW = 1_048_576
_EXCEL_MAX_COL = 16_384

_ROW_TAG = re.compile(rb'<row r="(\d{1,12})"')
# Anything a fast scan cannot account for: a row or cell whose first attribute is not r=, or a
# namespace prefix on rows or cells. Such sheets are scanned exactly (expat).
_IRREGULAR = (re.compile(rb'<c(?! r=")[\s>/]'), re.compile(rb'<row(?! r=")[\s>/]'),
              re.compile(rb':c[\s>/]'), re.compile(rb':row[\s>/]'))
# A cell that is there: one with content (<c r="B2" t="s"><v>7</v></c>), not a self-closing <c r="XFD1048576"
# s="3"/> that only carries a format (LibreOffice, WPS and Gnumeric write those to the sheet's very end).
_CELL_FILLED = re.compile(rb'<c r="([A-Z]{1,4})(\d{1,12})"[^>]*?(/?)>')
_DEEP_CACHE: dict[int, re.Pattern[bytes]] = {}


def _wide_or_deep(digits: int) -> re.Pattern[bytes]:
    """Cells in columns AA and beyond (captured letters), or whose row has more than `digits` digits."""
    rx = _DEEP_CACHE.get(digits)
    if rx is None:
        rx = re.compile(rb'<c r="(?:([A-Z]{2,4})\d|[A-Z]{1,4}\d{%d})' % (digits + 1))
        _DEEP_CACHE[digits] = rx
    return rx


class SheetScan:
    """Bounds of what a worksheet XML addresses, from its chunks (calamine allocates rows × columns cells)."""

    def __init__(self) -> None:
        self.max_row_tag = 0
        self.max_wide_col = 0
        self.any_cell = False
        self.irregular = False  # implicit positions or prefixes: scan exactly
        self.deep = False  # a cell ref with more row digits than any row tag so far
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        buf = self._tail + chunk
        self._tail = buf[-64:]
        if self.irregular:
            return
        rows = _ROW_TAG.findall(buf)
        if rows:
            self.max_row_tag = max(self.max_row_tag, max(map(int, rows)))
        for rx in _IRREGULAR:
            m = rx.search(buf)
            # A tag cut by the chunk's end looks irregular; the tail is scanned again with the next chunk.
            if m and m.start() < len(buf) - 8:
                self.irregular = True
                return
        if not self.any_cell and b"<c r=" in buf:
            self.any_cell = True
        for letters in set(_wide_or_deep(len(str(self.max_row_tag))).findall(buf)):
            if not letters:
                self.deep = True
            else:
                self.max_wide_col = max(self.max_wide_col, col_number(letters))

    def bounds(self) -> tuple[int, int] | None:
        """(rows, columns) upper bounds, or None when the sheet needs an exact scan."""
        if self.irregular or self.deep:
            return None
        rows = 10 ** len(str(self.max_row_tag)) - 1 if self.max_row_tag else 0
        cols = self.max_wide_col or (26 if self.any_cell else 0)
        return rows, cols


@dataclass(frozen=True)
class Limits:
    """Ceilings for one input file (from [intake] in config.toml)."""

    max_file_bytes: int = 300 * MB
    max_uncompressed_bytes: int = 3000 * MB
    max_rows: int = 1_100_000
    max_cells: int = 60_000_000
    max_members: int = 10_000
    max_ratio: float = 200.0  # per zip member larger than ratio_floor_bytes
    ratio_floor_bytes: int = 4 * MB
    max_parse_bytes: int = 1024 * MB  # address space of the trial parse of an .xls/.xlsb (isolate.py)
    parse_seconds: float = 120.0

    @classmethod
    def from_config(cls, config: Any) -> Limits:
        """Limits from a loaded Config ([intake] max_file_mb, max_uncompressed_mb, max_rows, max_cells,
        max_parse_mb, parse_seconds)."""
        return cls(
            max_file_bytes=int(config.get("intake", "max_file_mb") * MB),
            max_uncompressed_bytes=int(config.get("intake", "max_uncompressed_mb") * MB),
            max_rows=int(config.get("intake", "max_rows")),
            max_cells=int(config.get("intake", "max_cells")),
            max_parse_bytes=int(config.get("intake", "max_parse_mb") * MB),
            parse_seconds=float(config.get("intake", "parse_seconds")),
        )


@dataclass
class FileCheck:
    """What the guards learnt: the real format and, for zip formats, the 1904 flag and sheet XML parts."""

    format: str  # xlsx xlsm xlsb xls ods csv
    date1904: bool = False
    sheet_parts: dict[str, str] = field(default_factory=dict)  # sheet name → zip member (xlsx/xlsm)
    suffix: str = ""  # the extension the file was sent with ('.xlsx'), lower case
    extents: dict[str, tuple[int, int]] = field(default_factory=dict)  # zip member → (rows, columns) bound

    @property
    def wrong_suffix(self) -> bool:
        """The extension names another kind of spreadsheet than the content is (an .xls renamed .xlsx)."""
        return self.suffix in KNOWN_SUFFIXES and self.suffix not in FORMAT_SUFFIXES[self.format]


# The extensions each real format is saved with, and how people call that format.
FORMAT_SUFFIXES = {
    "xlsx": (".xlsx", ".xltx"), "xlsm": (".xlsm", ".xltm"), "xlsb": (".xlsb",), "xls": (".xls", ".xlt"),
    "ods": (".ods", ".ots"), "csv": (".csv", ".txt", ".tsv"),
}
KNOWN_SUFFIXES = frozenset(s for suffixes in FORMAT_SUFFIXES.values() for s in suffixes) | {".et", ".ett"}
FORMAT_NAMES = {
    "xlsx": "Excel 工作簿（.xlsx）", "xlsm": "Excel 启用宏的工作簿（.xlsm）", "xlsb": "Excel 二进制工作簿（.xlsb）",
    "xls": "Excel 97-2003 工作簿（.xls）", "ods": "OpenDocument 电子表格（.ods）", "csv": "CSV 文本文件（.csv）",
}


def _fail(name: str, message: str, hint: str | None = None) -> InputError:
    return InputError(message, file=name, hint=hint)


def _mb(n: int | float) -> str:
    value = n / MB
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def col_number(letters: bytes | str) -> int:
    """'A' → 1, 'XFD' → 16384."""
    n = 0
    for ch in letters if isinstance(letters, str) else letters.decode("ascii"):
        n = n * 26 + (ord(ch) - 64)
    return n


def inspect_file(path: str | Path, limits: Limits, *, name: str | None = None) -> FileCheck:
    """Check a received file before any parser sees it; the real format, or InputError saying why not."""
    path = Path(path)
    name = name or path.name
    try:
        size = path.stat().st_size
    except OSError:
        raise _fail(name, "找不到文件或无法读取", "请确认文件已完整上传后重新提交。") from None
    if not path.is_file():
        raise _fail(name, "不是普通文件", HINT_TEMPLATE)
    if size == 0:
        raise _fail(name, "文件是空的（0 字节）", "请在 Excel 或 WPS 中重新保存后再提交。")
    if size > limits.max_file_bytes:
        raise _fail(name, f"文件过大（{_mb(size)} MB，上限 {_mb(limits.max_file_bytes)} MB）",
                    "请删除多余的空行、图片和无关的工作表后重新保存；数据很多时请分成几个文件提交。")
    with path.open("rb") as fh:
        head = fh.read(8192)
    if head.startswith(MAGIC_ZIP):
        check = _inspect_zip(path, name, limits)
    elif head.startswith(MAGIC_OLE):
        check = _inspect_ole(path, name)
    elif head[:2] in _OLD_BIFF_BOF and head[2:4] in (b"\x04\x00", b"\x06\x00", b"\x08\x00"):
        # A bare BOF record: Excel 2.x–4.0 worksheets (1987–1992), before workbooks were OLE2 files.
        raise _fail(name, "是 Excel 4.0 或更早版本的旧格式表格，无法读取", HINT_RESAVE)
    else:
        for magic, what in _OTHER_MAGIC:
            if head.startswith(magic):
                raise _fail(name, f"不是电子表格（是 {what}）", HINT_TEMPLATE)
        check = FileCheck(format=_sniff_text(head, name))
    check.suffix = Path(name).suffix.lower()
    return check


def _sniff_text(head: bytes, name: str) -> str:
    """Text content: CSV (any delimiter) unless it is a web page or XML pretending to be a workbook."""
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _fail(name, "不是电子表格（无法识别的文件格式）", HINT_TEMPLATE)
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html", b"<table", b"<head", b"<meta")):
        raise _fail(name, "不是真正的 Excel 文件（是网页格式，只是扩展名为表格）", HINT_RESAVE)
    if start.startswith(b"<?xml") or start.startswith(b"<"):
        raise _fail(name, "不是 .xlsx 表格（是 XML 文件，可能是旧版“XML 电子表格”）", HINT_RESAVE)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "csv"  # UTF-16 text (Excel's "Unicode 文本"); the CSV reader decides
    return "csv"


# ----------------------------------------------------------------------------------------------- OLE2


def _inspect_ole(path: Path, name: str) -> FileCheck:
    import olefile

    try:
        with olefile.OleFileIO(str(path)) as ole:
            entries = {"/".join(entry).lower(): entry for entry in ole.listdir(streams=True, storages=False)}
            streams = set(entries)
            book = entries.get("workbook") or entries.get("book")
            globals_head = b""
            if book is not None and "encryptioninfo" not in streams:
                with ole.openstream(book) as fh:
                    globals_head = fh.read(_BIFF_SCAN_BYTES)
    except Exception as exc:  # noqa: BLE001 - olefile raises assorted errors on damaged files
        raise _fail(name, "文件已损坏或不完整，无法打开", HINT_RESAVE) from exc
    if "encryptioninfo" in streams or "encryptedpackage" in streams:
        raise _fail(name, "文件设置了打开密码，无法读取", HINT_PASSWORD)
    if book is not None:
        if _biff_has_filepass(globals_head):
            # Excel 97–2003 "open password": XOR obfuscation or RC4, announced by a FILEPASS record.
            raise _fail(name, "文件设置了打开密码，无法读取", HINT_PASSWORD)
        return FileCheck(format="xls")
    if "worddocument" in streams:
        raise _fail(name, "不是电子表格（是 Word 文档）", HINT_TEMPLATE)
    if "powerpoint document" in streams:
        raise _fail(name, "不是电子表格（是 PowerPoint 演示文稿）", HINT_TEMPLATE)
    raise _fail(name, "不是电子表格（无法识别的 Office 文件）", HINT_TEMPLATE)


_BIFF_SCAN_BYTES = 256 * 1024
_BIFF_FILEPASS, _BIFF_EOF = 0x002F, 0x000A


def _biff_has_filepass(data: bytes) -> bool:
    """True when the workbook globals (the records up to the first EOF) hold a FILEPASS record."""
    pos = 0
    while pos + 4 <= len(data):
        rtype = int.from_bytes(data[pos:pos + 2], "little")
        size = int.from_bytes(data[pos + 2:pos + 4], "little")
        if rtype == _BIFF_FILEPASS:
            return True
        if rtype == _BIFF_EOF:
            return False
        pos += 4 + size
    return False


# ------------------------------------------------------------------------------------------------ zip


def _inspect_zip(path: Path, name: str, limits: Limits) -> FileCheck:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _fail(name, "文件已损坏或不完整，无法打开", HINT_RESAVE) from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise _fail(name, f"文件内部条目过多（{len(infos)} 个，上限 {limits.max_members} 个），疑似异常文件",
                        HINT_RESAVE)
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise _fail(name, "文件内部有重名条目，疑似被篡改或损坏", HINT_RESAVE)
        for info in infos:
            if info.flag_bits & 0x1:
                raise _fail(name, "文件设置了打开密码，无法读取", HINT_PASSWORD)
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _fail(name, "文件使用了不支持的压缩方式，疑似损坏", HINT_RESAVE)
        if sum(i.file_size for i in infos) > limits.max_uncompressed_bytes:
            raise _too_big_unzipped(name, limits)
        for info in infos:
            _check_ratio(name, info, limits)
        fmt = _zip_format(zf, name, set(names))
        if fmt == "ods" and _odf_encrypted(zf):
            raise _fail(name, "文件设置了打开密码，无法读取", HINT_PASSWORD_ODS)
        check = FileCheck(format=fmt)
        if fmt in ("xlsx", "xlsm"):
            _read_ooxml_workbook(zf, name, check)
        scans = _verify_members(zf, infos, name, limits, set(check.sheet_parts.values()))
        for sheet, part in check.sheet_parts.items():
            _check_sheet_extent(zf, part, sheet, scans[part], name, limits, check)
        if fmt == "ods":
            _check_ods_extent(zf, name, limits)
        return check


def _odf_encrypted(zf: zipfile.ZipFile) -> bool:
    """An OpenDocument file saved with a password: its manifest lists encryption data for the content."""
    info = zf.NameToInfo.get("META-INF/manifest.xml")
    if info is None or info.file_size > 4 * MB:
        return False
    return b"encryption-data" in zf.read(info)


def _too_big_unzipped(name: str, limits: Limits) -> InputError:
    return _fail(name, f"文件解压后超过 {_mb(limits.max_uncompressed_bytes)} MB 上限，疑似压缩炸弹或含大量无用内容",
                 "请删除多余的空行、格式和图片后重新保存；数据很多时请分成几个文件提交。")


def _check_ratio(name: str, info: zipfile.ZipInfo, limits: Limits) -> None:
    if info.file_size > limits.ratio_floor_bytes:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            raise _fail(name, f"文件内部的“{info.filename}”压缩比异常（{ratio:.0f} 倍），疑似压缩炸弹", HINT_RESAVE)


def _zip_format(zf: zipfile.ZipFile, name: str, names: set[str]) -> str:
    if "mimetype" in names:
        mimetype = zf.read("mimetype")[:200].decode("ascii", "replace").strip()
        if mimetype in ODS_MIMETYPES:
            return "ods"
        if "opendocument.text" in mimetype:
            raise _fail(name, "不是电子表格（是 OpenDocument 文字文档）", HINT_TEMPLATE)
        raise _fail(name, "不是电子表格（是其他 OpenDocument 文件）", HINT_TEMPLATE)
    if "[Content_Types].xml" not in names:
        raise _fail(name, "不是电子表格（是一个普通的 zip 压缩包）", "请解压后提交其中的 Excel 文件（.xlsx）。")
    types = _parse_small_xml(zf, "[Content_Types].xml", name)
    kinds: list[str] = []
    for el in types.iter():
        ctype = el.get("ContentType") or ""
        if ctype in CT_MAIN:
            return CT_MAIN[ctype]
        kinds.append(ctype)
    joined = " ".join(kinds)
    if "wordprocessingml" in joined:
        raise _fail(name, "不是电子表格（是 Word 文档）", HINT_TEMPLATE)
    if "presentationml" in joined:
        raise _fail(name, "不是电子表格（是 PowerPoint 演示文稿）", HINT_TEMPLATE)
    raise _fail(name, "不是电子表格（无法识别的 Office 文件）", HINT_TEMPLATE)


def _parse_small_xml(zf: zipfile.ZipFile, member: str, name: str) -> Any:
    """Parse a small XML part with defusedxml (DTDs and entities refused)."""
    import defusedxml.ElementTree as DET
    from defusedxml import DefusedXmlException

    info = zf.getinfo(member)
    if info.file_size > 16 * MB:
        raise _fail(name, f"文件内部的“{member}”大得异常，疑似被篡改", HINT_RESAVE)
    try:
        return DET.fromstring(zf.read(member))
    except DefusedXmlException as exc:
        raise _xml_bomb(name, member) from exc
    except Exception as exc:  # noqa: BLE001 - ParseError, BadZipFile, zlib errors: a damaged part
        raise _fail(name, "文件已损坏或不完整，无法打开", HINT_RESAVE) from exc


def _xml_bomb(name: str, member: str) -> InputError:
    return _fail(name, f"文件内部的“{member}”含有 DTD 或实体声明（可能是“XML 炸弹”），出于安全原因拒绝读取",
                 HINT_RESAVE)


def _open_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> Any:
    """Open a member so that at most cap + 1 bytes come out whatever size its header declares."""
    clamped = zipfile.ZipInfo(info.filename, info.date_time)
    for attr in ("compress_type", "compress_size", "CRC", "flag_bits", "header_offset", "extra",
                 "create_system", "create_version", "extract_version", "volume", "internal_attr",
                 "external_attr", "comment"):
        setattr(clamped, attr, getattr(info, attr))
    if hasattr(info, "_end_offset"):
        clamped._end_offset = info._end_offset  # type: ignore[attr-defined]
    clamped.file_size = cap + 1
    return zf.open(clamped)


def _verify_members(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], name: str, limits: Limits,
                    sheet_parts: set[str]) -> dict[str, SheetScan]:
    """Decompress every member once, counting real bytes (headers may lie), scanning XML prologs for DTDs
    and worksheet parts for the extent they address."""
    budget = limits.max_uncompressed_bytes
    scans: dict[str, SheetScan] = {}
    for info in infos:
        if info.is_dir():
            continue
        is_xml = info.filename.lower().endswith(_XML_SUFFIXES) or info.filename == "mimetype"
        scan = scans[info.filename] = SheetScan() if info.filename in sheet_parts else None
        try:
            with _open_capped(zf, info, budget) as fh:
                first = fh.read(_PROLOG_BYTES)
                got = len(first)
                if scan is not None:
                    scan.feed(first)
                while True:
                    chunk = fh.read(_CHUNK)
                    if not chunk:
                        break
                    got += len(chunk)
                    if got > budget:
                        break
                    if scan is not None:
                        scan.feed(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as exc:
            raise _fail(name, "文件已损坏或不完整，无法打开", HINT_RESAVE) from exc
        except Exception as exc:  # noqa: BLE001 - zlib.error and friends
            raise _fail(name, "文件已损坏或不完整，无法打开", HINT_RESAVE) from exc
        if got > budget:
            raise _too_big_unzipped(name, limits)
        if got > info.file_size:
            raise _fail(name, f"文件内部的“{info.filename}”实际大小与声明不符，疑似压缩炸弹或被篡改", HINT_RESAVE)
        budget -= got
        if is_xml and has_dtd(first):
            raise _xml_bomb(name, info.filename)
    return {k: v for k, v in scans.items() if v is not None}


_PROLOG_SKIP = re.compile(r"\s*(?:<\?.*?\?>|<!--.*?-->)", re.S)


def has_dtd(data: bytes) -> bool:
    """True when the XML prolog declares a DTD or entities (anything before the root element)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data[: len(data) - len(data) % 2].decode("utf-16", "replace")
    else:
        text = data.decode("latin-1")
    text = text.lstrip("\ufeff\xef\xbb\xbf")
    pos = 0
    while True:
        m = _PROLOG_SKIP.match(text, pos)
        if not m:
            break
        pos = m.end()
    rest = text[pos:].lstrip()
    head = rest[:9].upper()  # not the whole window: upper-casing 64 KB per member cost more than the scan
    if head.startswith(("<!DOCTYPE", "<!ENTITY")):
        return True
    # A prolog cut off by the scan window (a comment or PI longer than 64 KB) is suspicious too.
    return rest == "" and len(data) >= _PROLOG_BYTES


def _read_ooxml_workbook(zf: zipfile.ZipFile, name: str, check: FileCheck) -> None:
    """The 1904 flag and the sheet name → XML part map, from workbook.xml and its relationships."""
    wb_part = "xl/workbook.xml"
    types = _parse_small_xml(zf, "[Content_Types].xml", name)
    for el in types.iter():
        if (el.get("ContentType") or "") in CT_MAIN and el.get("PartName"):
            wb_part = el.get("PartName").lstrip("/")
    if wb_part not in zf.NameToInfo:
        raise _fail(name, "文件已损坏或不完整，无法打开（缺少工作簿部分）", HINT_RESAVE)
    root = _parse_small_xml(zf, wb_part, name)
    ns_main = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
    pr = root.find(f"{ns_main}workbookPr")
    if pr is not None and (pr.get("date1904") or "").lower() in ("1", "true"):
        check.date1904 = True
    base = wb_part.rsplit("/", 1)[0] + "/" if "/" in wb_part else ""
    rels_part = f"{base}_rels/{wb_part.rsplit('/', 1)[-1]}.rels"
    targets: dict[str, str] = {}
    if rels_part in zf.NameToInfo:
        for rel in _parse_small_xml(zf, rels_part, name).iter():
            if rel.get("Id") and rel.get("Target"):
                target = rel.get("Target")
                targets[rel.get("Id")] = target.lstrip("/") if target.startswith("/") else _join(base, target)
    r_id = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    sheets = root.find(f"{ns_main}sheets")
    for sheet in sheets if sheets is not None else []:
        part = targets.get(sheet.get(r_id) or sheet.get("r:id") or "")
        if part and part in zf.NameToInfo:
            check.sheet_parts[sheet.get("name") or part] = part


def _join(base: str, target: str) -> str:
    parts = (base + target).split("/")
    out: list[str] = []
    for p in parts:
        if p == "..":
            if out:
                out.pop()
        elif p and p != ".":
            out.append(p)
    return "/".join(out)


def _extent_error(name: str, sheet: str, rows: int, cols: int, limits: Limits) -> InputError:
    if rows > limits.max_rows:
        return _fail(name, f"工作表“{sheet}”有 {rows} 行，超过上限 {limits.max_rows} 行",
                     "请删除多余的行，或把数据分成几个文件提交。")
    return _fail(name, f"工作表“{sheet}”的范围过大（{rows} 行 × {cols} 列），超过上限 {limits.max_cells} 个单元格",
                 "请删除表格右侧和下方多余的单元格（包括看不见的内容和格式）后重新保存。")


def _check_sheet_extent(zf: zipfile.ZipFile, part: str, sheet: str, scan: SheetScan, name: str,
                        limits: Limits, check: FileCheck) -> None:
    """Refuse a sheet whose addressed extent (rows × columns) exceeds the limits, before calamine sees it."""
    bounds = scan.bounds()
    if bounds is not None and _extent_ok(*bounds, limits):
        check.extents[part] = bounds
        return
    if bounds is not None:
        rows, cols = _regex_extent(zf, part)  # a regular sheet near the limits: count exactly
    else:
        rows, cols = _exact_sheet_extent(zf, part, name)
    if not _extent_ok(rows, cols, limits):
        raise _extent_error(name, sheet, rows, cols, limits)
    check.extents[part] = (rows, cols)


def _extent_ok(rows: int, cols: int, limits: Limits) -> bool:
    return rows <= min(limits.max_rows, _EXCEL_MAX_ROW) and cols <= _EXCEL_MAX_COL and rows * cols <= limits.max_cells


def _regex_extent(zf: zipfile.ZipFile, part: str) -> tuple[int, int]:
    """Exact farthest row and column holding a cell with content, of a sheet whose cells all carry r= first
    (format-only cells are left out: they make the used range, not the data)."""
    max_row = max_col = 0
    tail = b""
    with zf.open(part) as fh:
        while chunk := fh.read(_CHUNK):
            buf = tail + chunk
            tail = buf[-64:]
            rows: set[bytes] = set()
            cols: set[bytes] = set()
            for letters, row, closed in _CELL_FILLED.findall(buf):
                if not closed:
                    rows.add(row)
                    cols.add(letters)
            if rows:
                max_row = max(max_row, max(map(int, rows)))
            if cols:
                max_col = max(max_col, max(map(col_number, cols)))
    return max_row, max_col


def _exact_sheet_extent(zf: zipfile.ZipFile, part: str, name: str) -> tuple[int, int]:
    """Row and column extent of a sheet whose cells omit r= (positions counted as Excel would)."""
    state = {"row": 0, "col": 0, "max_row": 0, "max_col": 0}
    cell_re = re.compile(r"^([A-Z]{1,4})(\d{1,12})$")

    def start(tag: str, attrs: dict[str, str]) -> None:
        local = tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]
        if local == "row":
            r = attrs.get("r")
            state["row"] = int(r) if r and r.isdigit() else state["row"] + 1
            state["col"] = 0
        elif local == "c":
            m = cell_re.match(attrs.get("r") or "")
            if m:
                state["col"] = col_number(m.group(1))
                state["max_row"] = max(state["max_row"], int(m.group(2)))
            else:
                state["col"] += 1
                state["max_row"] = max(state["max_row"], state["row"])
            state["max_col"] = max(state["max_col"], state["col"])

    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartElementHandler = start
    parser.EntityDeclHandler = _refuse_entities
    try:
        with zf.open(part) as fh:
            parser.ParseFile(fh)
    except (expat.ExpatError, ValueError) as exc:
        raise _fail(name, "文件已损坏或不完整，无法打开", HINT_RESAVE) from exc
    return state["max_row"], state["max_col"]


def _refuse_entities(*_args: Any) -> None:
    raise ValueError("entity declaration")


def _check_ods_extent(zf: zipfile.ZipFile, name: str, limits: Limits) -> None:
    """Rows and columns an ODS content.xml expands to, counting number-*-repeated on cells holding values."""
    if "content.xml" not in zf.NameToInfo:
        raise _fail(name, "文件已损坏或不完整，无法打开（缺少 content.xml）", HINT_RESAVE)
    table = "urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
    office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
    st: dict[str, Any] = {"sheet": "", "row": 0, "row_rep": 1, "col": 0, "cell": None, "max_row": 0,
                          "max_col": 0, "row_valued": 0}

    def rep(attrs: dict[str, str], key: str) -> int:
        raw = attrs.get(table + key, "1")
        return int(raw) if raw.isdigit() else 1

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == table + "table":
            st.update(sheet=attrs.get(table + "name", ""), row=0, max_row=0, max_col=0)
        elif tag == table + "table-row":
            st.update(row_rep=rep(attrs, "number-rows-repeated"), col=0, row_valued=0)
        elif tag in (table + "table-cell", table + "covered-table-cell"):
            st["cell"] = [rep(attrs, "number-columns-repeated"), (office + "value-type") in attrs]
        elif st["cell"] is not None:
            st["cell"][1] = True

    def end(tag: str) -> None:
        if tag in (table + "table-cell", table + "covered-table-cell"):
            count, valued = st["cell"]
            st["col"] += count
            if valued:
                st["row_valued"] = st["col"]
            st["cell"] = None
        elif tag == table + "table-row":
            if st["row_valued"]:
                st["max_row"] = st["row"] + st["row_rep"]
                st["max_col"] = max(st["max_col"], st["row_valued"])
            st["row"] += st["row_rep"]
            if st["max_row"] > limits.max_rows or st["max_row"] * st["max_col"] > limits.max_cells:
                raise _extent_error(name, st["sheet"], st["max_row"], st["max_col"], limits)

    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.EntityDeclHandler = _refuse_entities
    try:
        with zf.open("content.xml") as fh:
            parser.ParseFile(fh)
    except (expat.ExpatError, ValueError) as exc:
        raise _fail(name, "文件已损坏或不完整，无法打开", HINT_RESAVE) from exc
