"""CSV files: encoding from the bytes (BOM, strict UTF-8, else GB18030), delimiter sniffed, rows streamed."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from processor.errors import InputError
from processor.readers.guard import Limits

DELIMITERS = (",", "\t", ";")
_SNIFF_CHARS = 64 * 1024


def detect_encoding(path: Path, name: str) -> str:
    """'utf-8-sig' (BOM), 'utf-16' (BOM), 'utf-8' (decodes strictly) or 'gb18030' (the legacy default)."""
    with path.open("rb") as fh:
        head = fh.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
    for encoding in ("utf-8", "gb18030"):
        if _decodes(path, encoding):
            return encoding
    raise InputError("无法识别文件的文字编码（既不是 UTF-8 也不是 GB18030/GBK）", file=name,
                     hint="请用 Excel 或 WPS 打开后另存为 .xlsx，或另存为“CSV UTF-8”后重新提交。")


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1024 * 1024):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def sniff_delimiter(sample: str) -> str:
    """The delimiter that splits the most lines into the most fields (comma on a tie)."""
    lines = [ln for ln in sample.splitlines()[:30] if ln.strip()]
    best, best_score = ",", (0, 0)
    for delim in DELIMITERS:
        counts = [ln.count(delim) for ln in lines]
        score = (max(counts, default=0), sum(1 for c in counts if c))
        if score > best_score:
            best, best_score = delim, score
    return best


class CsvSheet:
    """The one sheet of a CSV file; rows as (0-based line index, cells)."""

    hidden = False
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = []

    def __init__(self, path: Path, name: str, limits: Limits) -> None:
        self.path = path
        self.name = name
        self.title = Path(name).stem  # the name the school gave the file, not the claimed path
        self.limits = limits
        self.encoding = detect_encoding(path, name)
        with path.open(encoding=self.encoding, newline="") as fh:
            self.delimiter = sniff_delimiter(fh.read(_SNIFF_CHARS))

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """Rows streamed from the file; InputError when it has more rows or cells than the limits allow."""
        cells = 0
        limits = self.limits
        with self.path.open(encoding=self.encoding, newline="") as fh:
            reader = csv.reader(fh, delimiter=self.delimiter)
            index = 0
            try:
                for index, row in enumerate(reader):
                    if index >= limits.max_rows:
                        raise InputError(f"文件超过上限 {limits.max_rows} 行", file=self.name,
                                         hint="请把数据分成几个文件提交。")
                    cells += len(row)
                    if cells > limits.max_cells:
                        raise InputError(f"文件的单元格总数超过上限 {limits.max_cells} 个", file=self.name,
                                         hint="请把数据分成几个文件提交。")
                    yield index, row
            except csv.Error as exc:
                raise InputError(f"第 {reader.line_num} 行的格式有误，无法按 CSV 读取", file=self.name,
                                 hint="请检查该行的英文双引号是否成对，或用 Excel 打开后另存为 .xlsx。") from exc
