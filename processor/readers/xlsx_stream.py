"""Big .xlsx/.xlsm worksheets read as a stream: rows parsed as they are read, with the cell values calamine gives.

python-calamine builds a whole sheet in memory (about 3 KB per row of 30 columns), so a province-size
sheet of a million rows would need several GB. This reader keeps only the shared strings, the style
table and one block of XML at a time.

Two parsers give the same rows:
- the fast one scans the decompressed XML block by block. The cells Excel, WPS, LibreOffice and openpyxl
  write (r, s, t in this order; one <v> or a plain inline string) are read with one regular expression;
  any other row (formulas, rich text, attributes in another order or quoting, white space between
  elements) is parsed as a small XML fragment by expat. Shared strings are read the same way;
- the exact one (ElementTree.iterparse over expat) reads the whole part when the XML is unusual:
  namespace prefixes, comments, CDATA, processing instructions or another encoding than UTF-8. When the
  fast parser meets such a thing halfway, the exact one re-reads the sheet and skips the rows already given.
Both run in time linear in the size of the XML and never hold more than one block (about 1 MB).

Cell values follow python-calamine 0.9 (checked against it in tests/test_xlsx_stream.py): str for text,
float for every number, bool, datetime.date / datetime.datetime / datetime.time / datetime.timedelta for
numbers with a date, time or duration format (1904 system honoured), '' for empty cells and errors
(#N/A …). Where calamine refuses a whole sheet for one odd cell (an unknown error code, a boolean written
as "2", a date serial beyond year 9999 that crashes it), this reader gives '' or the number instead.
Rows come in file order (Excel, WPS and LibreOffice write them in ascending order); rows without any
value are not yielded.
"""

from __future__ import annotations

import math
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from processor.errors import InputError
from processor.readers.guard import HINT_RESAVE, MB, col_number

# Sheets whose estimated cell count reaches this are streamed; smaller ones go through calamine, which is
# about 1.5× faster per row but holds the whole sheet (60–100 bytes per cell): 10 million cells (a
# 260,000-row 基本信息 sheet) peak near 1 GB, well inside the 2 GB budget; a province-size sheet streams.
STREAM_MIN_CELLS = 10_000_000
# Cell estimate for a sheet without a usable <dimension>: uncompressed sheet XML bytes per cell. Excel's
# shortest cells (`<c r="B2" t="s"><v>7</v></c>`) take about 28 bytes; openpyxl's inline strings 45.
BYTES_PER_CELL = 32
# Rows are padded with '' up to the width in <dimension> (as calamine pads to the used range), when that
# width is plausible; a bogus A1:XFD1 dimension must not make every row 16,384 cells long.
PAD_MAX_COLUMNS = 1024
_CHUNK = MB
_HEAD_BYTES = 64 * 1024

_NS_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
_REL_STYLES = "/styles"
_REL_STRINGS = "/sharedStrings"

_OTHER, _DATETIME, _TIMEDELTA = 0, 1, 2
_BUILTIN_FORMATS = {**{i: _DATETIME for i in range(14, 23)}, 45: _DATETIME, 46: _TIMEDELTA, 47: _DATETIME}
_EPOCH = datetime(1899, 12, 30)
_MS_PER_DAY = 86_400_000
_MAX_DAYS = 95_000_000  # chrono's range (±262,143 years); beyond it calamine has no date either

# ----------------------------------------------------------------------------------------- regexes

_ROW_R = re.compile(rb"""\sr\s*=\s*["'](\d+)["']""")
# Excel's, WPS's and LibreOffice's cells: r, s, t in this order, at most one <v> or a plain inline <t>.
_SIMPLE_CELL_RX = re.compile(
    rb'<c r="([A-Z]{1,3})\d+"(?: s="(\d+)")?(?: t="(\w+)")?\s*(?:/>|>(?:<v>([^<]*)</v>|<is><t>([^<]*)</t></is>)?</c>)')
_EMPTY_ROW_RX = re.compile(rb"<row(\s[^>]*?)?/>")
_CELL_ROW_RX = re.compile(rb"""<c\s[^>]*?\br\s*=\s*["'][A-Za-z]{1,3}(\d+)["']""")
_REF_RX = re.compile(rb"^([A-Za-z]{1,3})(\d+)$")
_IRREGULAR_RX = re.compile(rb"<!|<\?|</?[A-Za-z_][\w.-]*:(?:row|c|si|t|v|is|r|sheetData|sst)[\s/>]")
_SHEETDATA_RX = re.compile(rb"<([\w.-]+:)?sheetData(?:\s[^>]*?)?(/?)>")
_SST_RX = re.compile(rb"<([\w.-]+:)?sst(?:\s[^>]*?)?(/?)>")
_PRESERVE_T = b'<t xml:space="preserve">'
_DIMENSION_RX = re.compile(rb"""<(?:[\w.-]+:)?dimension\s[^>]*?ref\s*=\s*["']([A-Za-z]{1,3})?(\d+)?"""
                           rb"""(?::([A-Za-z]{1,3})(\d+))?["']""")
_MERGE_RX = re.compile(rb"""<(?:[\w.-]+:)?mergeCell\s[^>]*?ref\s*=\s*["']([^"']+)["']""")
_ENCODING_RX = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([\w.-]+)["']""")
_ENTITY_RX = re.compile(r"&(#x[0-9A-Fa-f]+|#[0-9]+|amp|lt|gt|quot|apos);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_XESC_RX = re.compile(r"_x([0-9A-Fa-f]{4})_")
_XML_WS = " \t\r\n"


class _Irregular(Exception):
    """The fast parser met XML it does not read; the exact parser takes over."""


def _corrupt(name: str) -> InputError:
    return InputError("文件已损坏或不完整，无法打开", file=name, hint=HINT_RESAVE)


# ------------------------------------------------------------------------------------------- text


def _entity(m: re.Match[str]) -> str:
    key = m.group(1)
    if key[0] == "#":
        code = int(key[2:], 16) if key[1] in "xX" else int(key[1:])
        try:
            return chr(code)
        except (ValueError, OverflowError):
            return m.group(0)
    return _ENTITIES[key]


def _xesc(m: re.Match[str]) -> str:
    code = int(m.group(1), 16)
    return m.group(0) if 0xD800 <= code <= 0xDFFF else chr(code)


def _decode(raw: bytes) -> str:
    """XML text content (fast parser): UTF-8, entities resolved, line ends as an XML parser gives them."""
    text = raw.decode("utf-8", "replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "&" in text:
        text = _ENTITY_RX.sub(_entity, text)
    return text


def _unx(text: str) -> str:
    """Excel's _xHHHH_ escapes (control characters such as _x000D_) decoded, as calamine does."""
    return _XESC_RX.sub(_xesc, text) if "_x" in text else text


def _t_text(text: str, preserve: bool) -> str:
    """One <t> run: trimmed of XML white space unless xml:space="preserve" (what calamine gives)."""
    return text if preserve else text.strip(_XML_WS)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _rich_element(el: Any) -> str:
    """The same, from an ElementTree <si> or <is> element (exact parser)."""
    parts: list[str] = []
    for child in el:
        name = _local(child.tag)
        if name == "t":
            parts.append(_t_text(child.text or "", child.get(_NS_XML_SPACE) == "preserve"))
        elif name == "r":
            for t in child:
                if _local(t.tag) == "t":
                    parts.append(_t_text(t.text or "", t.get(_NS_XML_SPACE) == "preserve"))
    return _unx("".join(parts))


# ------------------------------------------------------------------------------------------ numbers


def _number(raw: bytes | str, typed: bool) -> float | str:
    """A number as calamine parses it (Rust f64 syntax); text that is not one stays text when untyped."""
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is not None:
        text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
        # Python also accepts surrounding blanks, '_' separators and non-ASCII digits; Rust does not.
        if text.isascii() and "_" not in text and text == text.strip():
            return value
    if typed:
        return ""
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def _round_ms(x: float) -> int:
    """Rust's f64::round (half away from zero)."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def excel_datetime(value: float, kind: int, date1904: bool) -> Any:
    """A date-formatted number as python-calamine gives it: time below 1, date when whole, else datetime;
    a duration format gives timedelta; the number itself when it is out of Python's range."""
    if value != value:  # NaN: Rust casts it to 0 ms
        return _EPOCH if kind == _DATETIME else timedelta(0)
    if math.isinf(value) or abs(value) > _MAX_DAYS:
        return value
    if kind == _TIMEDELTA:
        try:
            return timedelta(milliseconds=_round_ms(value * _MS_PER_DAY))
        except OverflowError:
            return value
    f = value + 1462 if date1904 else value
    if f < 60:
        f += 1
    ms = _round_ms(f * _MS_PER_DAY)
    if value < 1:
        ms %= _MS_PER_DAY
        return time(ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60, ms % 1000 * 1000)
    try:
        dt = _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        return value
    if value.is_integer():
        return dt.date()
    return dt


def _iso(text: str) -> Any:
    """A t="d" cell (ISO 8601): date, datetime or time as python-calamine parses them, else the text."""
    try:
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            return date(int(text[:4]), int(text[5:7]), int(text[8:10]))
        if len(text) >= 19 and text[10] == "T":
            d = date(int(text[:4]), int(text[5:7]), int(text[8:10]))
            t = _iso_time(text[11:])
            if t is not None and text[4] == "-" and text[7] == "-":
                return datetime.combine(d, t)
        if len(text) >= 8 and text[2] == ":":
            t = _iso_time(text)
            if t is not None:
                return t
    except ValueError:
        pass
    return text


def _iso_time(text: str) -> time | None:
    if len(text) < 8 or text[2] != ":" or text[5] != ":" or not (text[:2] + text[3:5] + text[6:8]).isdigit():
        return None
    frac = text[8:]
    us = 0
    if frac:
        if frac[0] != "." or not frac[1:].isdigit():
            return None
        us = int((frac[1:] + "000000")[:6])
    return time(int(text[:2]), int(text[3:5]), int(text[6:8]), us)


def _bool(raw: str) -> Any:
    key = raw.strip().lower()
    if key in ("1", "true"):
        return True
    if key in ("0", "false"):
        return False
    return ""


# ------------------------------------------------------------------------------------------ styles


def number_format_kind(code: str) -> int:
    """Whether a custom number format shows a date/time (1), a duration such as [h]:mm (2), or neither (0).

    The first section only; text in quotes, escaped characters and [colour]/[condition] blocks do not count."""
    escaped = quoted = ap = hms = False
    brackets = 0
    prev = " "
    for ch in code:
        if escaped:
            escaped = False
        elif ch in "_\\*":
            escaped = True
        elif quoted:
            if ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == ";":
            return _OTHER
        elif ch == "[":
            brackets += 1
        elif ch == "]" and brackets == 1 and hms:
            return _TIMEDELTA
        elif ch == "]":
            brackets = max(brackets - 1, 0)
        elif ch in "aA" and not ap and brackets == 0:
            ap = True
        elif ch in "pm/PM" and ap and brackets == 0:
            return _DATETIME
        elif ch in "dmhysDMHYS" and not ap and brackets == 0:
            return _DATETIME
        elif not (hms and ch.lower() == prev.lower()):
            hms = prev == "[" and ch in "mhsMHS"
        prev = ch
    return _OTHER


def _parse_styles(zf: zipfile.ZipFile, part: str | None, name: str) -> list[int]:
    """Per cell style index (cellXfs): 0 other, 1 date/time, 2 duration."""
    from processor.readers.guard import _parse_small_xml

    if not part or part not in zf.NameToInfo:
        return []
    root = _parse_small_xml(zf, part, name)
    custom: dict[str, str] = {}
    kinds: list[int] = []
    for el in root:
        name = _local(el.tag)
        if name == "numFmts":
            for fmt in el:
                if _local(fmt.tag) == "numFmt" and fmt.get("formatCode"):
                    custom[fmt.get("numFmtId") or ""] = fmt.get("formatCode") or ""
        elif name == "cellXfs":
            for xf in el:
                if _local(xf.tag) != "xf":
                    continue
                fid = xf.get("numFmtId")
                if fid is None:
                    kinds.append(_OTHER)
                elif fid in custom:
                    kinds.append(number_format_kind(custom[fid]))
                else:
                    kinds.append(_BUILTIN_FORMATS.get(int(fid), _OTHER) if fid.isdigit() else _OTHER)
    return kinds


# --------------------------------------------------------------------------------------- workbook


class StreamBook:
    """What the sheets of one workbook share: shared strings, number-format kinds, the 1904 flag."""

    def __init__(self, path: Path, name: str, *, date1904: bool) -> None:
        self.path = path
        self.name = name
        self.date1904 = date1904
        self._strings: list[str] | None = None
        self._kinds: list[int] | None = None

    def _parts(self, zf: zipfile.ZipFile) -> tuple[str | None, str | None]:
        """The styles and shared-strings parts, from the workbook's relationships (default names else)."""
        from processor.readers.guard import _parse_small_xml

        styles, strings = "xl/styles.xml", "xl/sharedStrings.xml"
        rels = "xl/_rels/workbook.xml.rels"
        if rels in zf.NameToInfo:
            for rel in _parse_small_xml(zf, rels, self.name).iter():
                kind, target = rel.get("Type") or "", rel.get("Target") or ""
                if not target:
                    continue
                full = target.lstrip("/") if target.startswith("/") else "xl/" + target
                if kind.endswith(_REL_STYLES) and full in zf.NameToInfo:
                    styles = full
                elif kind.endswith(_REL_STRINGS) and full in zf.NameToInfo:
                    strings = full
        return (styles if styles in zf.NameToInfo else None), (strings if strings in zf.NameToInfo else None)

    def load(self) -> None:
        """Read the shared strings and styles once (the first sheet's rows need them)."""
        if self._strings is not None:
            return
        try:
            with zipfile.ZipFile(self.path) as zf:
                styles, strings = self._parts(zf)
                self._kinds = _parse_styles(zf, styles, self.name)
                self._strings = _read_shared_strings(zf, strings) if strings else []
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - zip, zlib and XML errors: a damaged part
            raise _corrupt(self.name) from exc

    @property
    def strings(self) -> list[str]:
        self.load()
        assert self._strings is not None
        return self._strings

    @property
    def kinds(self) -> list[int]:
        self.load()
        assert self._kinds is not None
        return self._kinds


def _read_shared_strings(zf: zipfile.ZipFile, part: str) -> list[str]:
    out: list[str] = []
    append = out.append
    try:
        with zf.open(part) as fh:
            for block in _blocks(fh, _SST_RX, b"</sst", _last_si_end):
                for piece in block.split(b"</si>"):
                    start = piece.rfind(b"<si")
                    if start == -1:
                        continue
                    if start and b"<si" in piece[:start]:  # empty items written as <si/>
                        out.extend([""] * piece.count(b"<si", 0, start))
                    gt = piece.find(b">", start)
                    if gt == -1:
                        raise _Irregular
                    if piece[gt - 1:gt] == b"/":
                        append("")
                        continue
                    inner = piece[gt + 1:]
                    end = len(inner) - 4
                    if inner[:3] == b"<t>" and inner[end:] == b"</t>" and inner.find(b"<", 3) == end:
                        text = _decode(inner[3:end]).strip(_XML_WS)
                    elif inner[:24] == _PRESERVE_T and inner[end:] == b"</t>" and inner.find(b"<", 24) == end:
                        text = _decode(inner[24:end])
                    else:  # rich text, phonetic runs: parsed as XML
                        append(_rich_element(_xml(b"<si>" + inner + b"</si>")))
                        continue
                    append(_unx(text) if "_x" in text else text)
    except _Irregular:
        return _shared_strings_exact(zf, part)
    return out


def _xml(data: bytes) -> Any:
    """A small XML fragment (one row or string item) as an element; _Irregular when expat refuses it."""
    from xml.etree.ElementTree import XML, ParseError

    try:
        return XML(data)
    except ParseError:
        raise _Irregular from None


def _last_si_end(buf: bytes, start: int) -> int:
    end = buf.rfind(b"</si>", start)
    return end + 5 if end != -1 else 0


def _blocks(fh: Any, open_rx: re.Pattern[bytes], close: bytes,
            cut: Callable[[bytes, int], int]) -> Iterator[bytes]:
    """The content of the element open_rx finds, in blocks that end after a whole item (cut gives where).

    Raises _Irregular for XML the fast parser does not read: another encoding, namespace prefixes,
    comments, CDATA or processing instructions."""
    head = fh.read(_HEAD_BYTES)
    if _needs_exact(head):
        raise _Irregular
    buf = head
    while True:
        m = open_rx.search(buf)
        if m is not None:
            break
        chunk = fh.read(_CHUNK)
        if not chunk:
            return
        buf = buf[-256:] + chunk
    if m.group(1):  # a prefixed element: the exact parser
        raise _Irregular
    if m.group(2):  # self-closing: nothing inside
        return
    buf = buf[m.end():]
    searched = 0  # bytes of buf known to hold neither the close tag nor an item's end (a very long row)
    while True:
        chunk = fh.read(_CHUNK)
        if chunk:
            buf += chunk
        stop = buf.find(close, max(searched - len(close), 0))
        last = True
        if stop != -1:
            block, buf = buf[:stop], b""
        elif not chunk:
            block = buf
        else:
            k = cut(buf, max(searched - 64, 0))
            if k <= 0:
                searched = len(buf)
                continue
            block, buf, last, searched = buf[:k], buf[k:], False, 0
        # Unusual XML, searched for cheaply: '!' and '?' are rare, so the pairs are looked for only then.
        if (b"!" in block and b"<!" in block) or (b"?" in block and b"<?" in block) or b":row" in block \
                or b":si" in block:
            if _IRREGULAR_RX.search(block):
                raise _Irregular
        yield block
        if last:
            return


def _shared_strings_exact(zf: zipfile.ZipFile, part: str) -> list[str]:
    from defusedxml.ElementTree import iterparse

    out: list[str] = []
    with zf.open(part) as fh:
        for _, el in iterparse(fh, events=("end",)):
            if _local(el.tag) == "si":
                out.append(_rich_element(el))
                el.clear()
    return out


def _needs_exact(head: bytes) -> bool:
    """UTF-16 or a declared encoding other than UTF-8: leave it to expat."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    m = _ENCODING_RX.match(head.lstrip(b"\xef\xbb\xbf"))
    return bool(m) and m.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8")


# ------------------------------------------------------------------------------------------ sheets


def _dimension(head: bytes) -> tuple[int, int] | None:
    """(last row, last column), 1-based, of the <dimension ref> near the top of a sheet, or None."""
    m = _DIMENSION_RX.search(head)
    if not m:
        return None
    c0, r0, c1, r1 = m.groups()
    if c1 is None:
        c1, r1 = c0, r0
    if not (c0 and r0 and c1 and r1):
        return None
    rows = int(r1) - int(r0) + 1
    cols = col_number(c1.upper()) - col_number(c0.upper()) + 1
    return (int(r1), col_number(c1.upper())) if rows > 0 and cols > 0 else None


def estimate_cells(zf: zipfile.ZipFile, part: str) -> int:
    """Cells a worksheet holds, estimated: its <dimension>, or its XML size when that says more."""
    info = zf.getinfo(part)
    by_size = info.file_size // BYTES_PER_CELL
    with zf.open(part) as fh:
        dim = _dimension(fh.read(_HEAD_BYTES))
    return max(by_size, dim[0] * dim[1]) if dim else by_size


class StreamSheet:
    """One worksheet read as a stream; the same interface as excel.ExcelSheet (detect.SheetSource)."""

    def __init__(self, book: StreamBook, part: str, title: str, hidden: bool, *, exact: bool = False) -> None:
        self.book = book
        self.part = part
        self.title = title
        self.hidden = hidden
        self.exact = exact  # force the exact parser (tests)
        self._merged: list[tuple[tuple[int, int], tuple[int, int]]] | None = None
        with self._open() as fh:
            dim = _dimension(fh.read(_HEAD_BYTES))
        self.height: int = dim[0] if dim else 0
        self.width: int = dim[1] if dim else 0
        self._pad = self.width if 0 < self.width <= PAD_MAX_COLUMNS else 0

    @contextmanager
    def _open(self) -> Iterator[Any]:
        """The sheet's XML part, decompressed as it is read."""
        try:
            zf = zipfile.ZipFile(self.book.path)
        except Exception as exc:  # noqa: BLE001 - the file changed or is damaged
            raise _corrupt(self.book.name) from exc
        with zf:
            try:
                fh = zf.open(self.part)
            except Exception as exc:  # noqa: BLE001
                raise _corrupt(self.book.name) from exc
            with fh:
                try:
                    yield fh
                except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:  # changed or damaged since
                    raise _corrupt(self.book.name) from exc

    @property
    def merged(self) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        """Merged ranges ((top, left), (bottom, right)), 0-based; read once (they follow the rows)."""
        if self._merged is None:
            self._merged = self._read_merges()
        return self._merged

    def _read_merges(self) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        out: list[tuple[tuple[int, int], tuple[int, int]]] = []
        tail = b""
        with self._open() as fh:
            while chunk := fh.read(_CHUNK):
                buf = tail + chunk
                last = buf.rfind(b">") + 1
                if b"mergeCell" in buf[:last]:
                    for ref in _MERGE_RX.findall(buf[:last]):
                        rng = _range(ref)
                        if rng is not None:
                            out.append(rng)
                tail = buf[last:][-4096:]
        return out

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """(0-based row index, cells with index 0 = column A) for every row holding a value, in file order."""
        given = 0
        if not self.exact:
            try:
                for item in self._fast_rows():
                    given += 1
                    yield item
                return
            except _Irregular:
                pass
        for n, item in enumerate(self._exact_rows()):
            if n >= given:
                yield item

    # -- the fast parser

    def _fast_rows(self) -> Iterator[tuple[int, list[Any]]]:
        book = self.book
        strings = book.strings
        kinds = book.kinds
        n_kinds = len(kinds)
        date1904 = book.date1904
        pad = self._pad
        cols = _COLUMNS
        dates: dict[int, dict[bytes, Any]] = {_DATETIME: {}, _TIMEDELTA: {}}  # serial → value, per kind
        index = -1
        with self._open() as fh:
            for block in _blocks(fh, _SHEETDATA_RX, b"</sheetData", _last_row_end):
                for piece in block.split(b"</row>"):
                    start = piece.rfind(b"<row")
                    if start == -1:
                        continue
                    if start and b"<row" in piece[:start]:  # empty rows written as <row .../>
                        for attrs in _EMPTY_ROW_RX.findall(piece, 0, start):
                            index = _row_index(attrs, index)
                    gt = piece.find(b">", start)
                    if gt == -1:
                        continue
                    tag = piece[start + 4:gt]
                    if tag[:4] == b' r="' and (q := tag.find(b'"', 4)) > 4 and tag[4:q].isdigit():
                        index = int(tag[4:q]) - 1
                        at = index
                    else:
                        index = _row_index(tag, index)
                        at = index
                        if not _ROW_R.search(tag):  # calamine places the cells of such a row by their r=
                            cm = _CELL_ROW_RX.search(piece, gt)
                            at = int(cm.group(1)) - 1 if cm else index
                    if tag[-1:] == b"/":
                        continue
                    content = piece[gt + 1:]
                    cells = _SIMPLE_CELL_RX.findall(content)
                    if len(cells) != content.count(b"<c"):
                        # Formulas, rich text, other attribute orders, white space: parse this row as XML.
                        row = _element_row(_xml(b"<row>" + content + b"</row>"), strings, kinds, date1904)[1]
                    else:
                        # Excel's and WPS's cells: r, s, t in this order, at most one <v> or a plain inline <t>.
                        row = []
                        append = row.append
                        n = 0
                        for letters, s, t, v, inline in cells:
                            if v:
                                if t == b"s":
                                    try:
                                        value = strings[int(v)]
                                    except (ValueError, IndexError):
                                        value = _shared(strings, v)
                                elif t and t != b"n":
                                    value = _typed(t, v, None, strings, s, kinds, date1904)
                                elif s and n_kinds and (kind := kinds[int(s)] if int(s) < n_kinds else 0):
                                    cache = dates[kind]
                                    value = cache.get(v)
                                    if value is None:
                                        value = _number(v, t == b"n")
                                        if value.__class__ is float:
                                            value = excel_datetime(value, kind, date1904)
                                            if len(cache) >= 100_000:
                                                cache.clear()
                                            cache[v] = value
                                elif v.isdigit():
                                    value = float(v)
                                else:
                                    value = _number(v, t == b"n")
                            elif inline:
                                value = _unx(_decode(inline).strip(_XML_WS))
                            else:
                                continue
                            if not value and value.__class__ is str:
                                continue
                            col = cols[letters]
                            if col == n:
                                append(value)
                                n += 1
                            elif col > n:
                                row.extend([""] * (col - n))
                                append(value)
                                n = col + 1
                            else:
                                row[col] = value
                    if row:
                        if len(row) < pad:
                            row.extend([""] * (pad - len(row)))
                        yield at, row

    # -- the exact parser

    def _exact_rows(self) -> Iterator[tuple[int, list[Any]]]:
        from defusedxml.ElementTree import iterparse

        strings = self.book.strings
        kinds = self.book.kinds
        date1904 = self.book.date1904
        pad = self._pad
        index = -1
        with self._open() as fh:
            try:
                for _, el in iterparse(fh, events=("end",)):
                    name = _local(el.tag)
                    if name == "sheetData":
                        return
                    if name != "row":
                        continue
                    r = el.get("r")
                    index = int(r) - 1 if r and r.isdigit() else index + 1
                    first_ref, row = _element_row(el, strings, kinds, date1904)
                    at = index if r or first_ref is None else first_ref
                    el.clear()
                    if row:
                        if len(row) < pad:
                            row.extend([""] * (pad - len(row)))
                        yield at, row
            except InputError:
                raise
            except Exception as exc:  # noqa: BLE001 - ParseError, DefusedXmlException, zlib errors
                raise _corrupt(self.book.name) from exc


def _row_index(attrs: bytes, previous: int) -> int:
    """0-based index of a row from its attributes: its r=, else the one after the previous row."""
    m = _ROW_R.search(attrs)
    return int(m.group(1)) - 1 if m else previous + 1


def _element_row(el: Any, strings: list[str], kinds: list[int], date1904: bool) -> tuple[int | None, list[Any]]:
    """The cells of an ElementTree <row> (index 0 = column A) and the row its first cell's r= names."""
    row: list[Any] = []
    col = -1
    first_ref: int | None = None
    for c in el:
        if _local(c.tag) != "c":
            continue
        ref = c.get("r")
        m = _REF_RX.match(ref.encode()) if ref else None
        if m:
            col = _column(m.group(1))
            if first_ref is None:
                first_ref = int(m.group(2)) - 1
        else:
            col += 1
        value = _element_value(c, strings, kinds, date1904)
        if not value and value.__class__ is str:
            continue
        n = len(row)
        if col == n:
            row.append(value)
        elif col > n:
            row.extend([""] * (col - n))
            row.append(value)
        else:
            row[col] = value
    return first_ref, row


def _last_row_end(buf: bytes, start: int) -> int:
    """Offset just after the last complete row in buf (0 when there is none yet; none before start)."""
    end = buf.rfind(b"</row>", start)
    cut = end + 6 if end != -1 else 0
    start = buf.rfind(b"<row", max(cut, start))  # an empty row written as <row .../> after it?
    if start != -1:
        close = buf.find(b">", start)
        if close != -1 and buf[close - 1:close] == b"/":
            cut = close + 1
    return cut


def _all_columns() -> dict[bytes, int]:
    """'A' → 0 … 'XFD' → 16383 (and every other three-letter name): the fast parser looks them up."""
    import itertools
    import string

    out: dict[bytes, int] = {}
    letters = string.ascii_uppercase
    for n in (1, 2, 3):
        for combo in itertools.product(letters, repeat=n):
            key = "".join(combo).encode()
            out[key] = col_number(key) - 1
    return out


_COLUMNS: dict[bytes, int] = _all_columns()


def _column(letters: bytes | str) -> int:
    """0-based column of 'A', 'AB', 'xfd' (cached)."""
    key = letters if isinstance(letters, bytes) else letters.encode()
    c = _COLUMNS.get(key)
    if c is None:
        c = _COLUMNS[key] = col_number(key.upper()) - 1
    return c


def _range(ref: bytes) -> tuple[tuple[int, int], tuple[int, int]] | None:
    first, _, last = ref.partition(b":")
    a, b = _REF_RX.match(first.strip()), _REF_RX.match((last or first).strip())
    if not a or not b:
        return None
    return ((int(a.group(2)) - 1, _column(a.group(1))), (int(b.group(2)) - 1, _column(b.group(1))))


def _shared(strings: list[str], raw: bytes | str) -> Any:
    if not raw:
        return ""
    i = int(raw) if raw.isdigit() else 0  # calamine reads a bad index as 0
    if i < len(strings):
        return strings[i]
    return ""


def _typed(t: bytes | str, raw: bytes | str, text: str | None, strings: list[str], s: bytes | str | None,
           kinds: list[int], date1904: bool) -> Any:
    """A <v> value by cell type (raw bytes from the fast parser or text from the exact one)."""
    if isinstance(t, bytes):
        t = t.decode("ascii", "replace")
    if text is None:
        text = _decode(raw) if isinstance(raw, bytes) else raw
    if t == "s":
        return _shared(strings, text)
    if t in ("", "n"):
        if not text:
            return ""
        num = _number(text, t == "n")
        if num.__class__ is not float:
            return num
        kind = _OTHER
        if s:
            si = int(s) if (s.isdigit() if isinstance(s, str) else s.isdigit()) else 0
            kind = kinds[si] if si < len(kinds) else _OTHER
        return excel_datetime(num, kind, date1904) if kind else num
    if t == "str":
        return _unx(text)
    if t == "b":
        return _bool(text) if text else ""
    if t == "d":
        return _iso(text) if text else ""
    if t == "e":
        return ""
    if t in ("inlineStr", "is"):
        return ""
    return _unx(text)


def _element_value(c: Any, strings: list[str], kinds: list[int], date1904: bool) -> Any:
    """The value of an ElementTree <c> element (exact parser), the same rules as _general."""
    t = c.get("t") or ""
    s = c.get("s")
    value: Any = ""
    for child in c:
        name = _local(child.tag)
        if name == "is":
            value = _rich_element(child)
        elif name == "f":
            value = ""
        elif name == "v":
            if t in ("inlineStr", "is"):
                value = ""
            else:
                value = _typed(t, child.text or "", child.text or "", strings, s, kinds, date1904)
    return value
