"""Workbooks (.xlsx/.xlsm/.xlsb/.xls/.ods): one SheetSource per worksheet, through python-calamine or, for big
.xlsx/.xlsm sheets (xlsx_stream.STREAM_MIN_CELLS cells and more), the streaming reader."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from processor.errors import InputError
from processor.readers.guard import HINT_PASSWORD, HINT_RESAVE, FileCheck, Limits
from processor.readers.isolate import TRIAL_FORMATS, trial_parse
from processor.readers.quiet import rust_stderr_to_log
from processor.workbook.meta import cell_text

META_SHEET = "_tmis"
_PASSTHROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)


def _corrupt(name: str, exc: BaseException) -> InputError:
    return InputError("文件已损坏或不完整，无法打开", file=name, hint=HINT_RESAVE)


class ExcelSheet:
    """One worksheet: rows as (0-based Excel row index, cells aligned so that index 0 is column A)."""

    def __init__(self, sheet: Any, title: str, hidden: bool) -> None:
        self._sheet = sheet
        self.title = title
        self.hidden = hidden
        self.merged: list[tuple[tuple[int, int], tuple[int, int]]] = list(sheet.merged_cell_ranges or [])
        self.height: int = sheet.height
        self.width: int = sheet.width

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """Every row calamine holds (empty ones included), numbered as in the file."""
        start, end = self._sheet.start, self._sheet.end
        if start is None or end is None:
            return
        r0, c0 = start
        try:
            with rust_stderr_to_log(self.title):
                it = iter(self._sheet.iter_rows())
                first = next(it, None)
        except _PASSTHROUGH:
            raise
        except BaseException as exc:  # noqa: BLE001 - see below
            raise _corrupt(self.title, exc) from None
        if first is None:
            return
        # python-calamine 0.9 yields rows from row 0 (leading empty rows included) but columns from the
        # first used one; older and newer versions differ, so decide from what comes out.
        absolute_rows = r0 > 0 and all(c == "" or c is None for c in first)
        index = 0 if absolute_rows else r0
        pad: list[Any] = [""] * c0 if c0 and len(first) != end[1] + 1 else []
        row = first
        while row is not None:
            yield index, (pad + row) if pad else row
            index += 1
            try:
                row = next(it, None)
            except _PASSTHROUGH:
                raise
            except BaseException as exc:  # noqa: BLE001 - calamine panics (a Rust PanicException) on absurd cells
                raise _corrupt(self.title, exc) from None


def _big_sheets(path: Path, name: str, check: FileCheck | None) -> dict[str, str]:
    """Sheet name → XML part for the .xlsx/.xlsm sheets big enough to stream (none for other formats)."""
    from processor.readers import xlsx_stream

    if check is None or check.format not in ("xlsx", "xlsm") or not check.sheet_parts:
        return {}
    try:
        with zipfile.ZipFile(path) as zf:
            return {sheet: part for sheet, part in check.sheet_parts.items()
                    if xlsx_stream.estimate_cells(zf, part) >= xlsx_stream.STREAM_MIN_CELLS}
    except Exception as exc:  # noqa: BLE001 - the guard read this zip already; a failure now is damage
        raise _corrupt(name, exc) from exc


def open_workbook(path: Path, name: str, limits: Limits,
                  check: FileCheck | None = None) -> tuple[list[Any], list[tuple[str, str]]]:
    """The worksheets of a workbook and the key/value rows of its hidden `_tmis` sheet.

    With the guard's FileCheck, .xlsx/.xlsm sheets of xlsx_stream.STREAM_MIN_CELLS cells or more are
    streamed (xlsx_stream.StreamSheet, bounded memory) and the rest read by calamine; once one sheet is
    streamed, the `_tmis` sheet is read by the streaming reader too (calamine would load every shared
    string a second time)."""
    from python_calamine import CalamineWorkbook, PasswordError, SheetTypeEnum, SheetVisibleEnum

    from processor.readers.xlsx_stream import StreamBook, StreamSheet

    if check is not None and check.format in TRIAL_FORMATS:
        trial_parse(path, name, limits.max_parse_bytes, limits.parse_seconds)  # bounded memory, or InputError
    big = _big_sheets(path, name, check)
    book = StreamBook(path, name, date1904=check.date1904) if big and check is not None else None

    try:
        with rust_stderr_to_log(name):
            if check is not None and check.wrong_suffix:
                # calamine picks its parser by the extension; a renamed file is read by its content instead.
                with path.open("rb") as fh:
                    wb = CalamineWorkbook.from_filelike(fh)
            else:
                wb = CalamineWorkbook.from_path(str(path))
    except PasswordError as exc:
        raise InputError("文件设置了打开密码，无法读取", file=name, hint=HINT_PASSWORD) from exc
    except BaseException as exc:  # calamine may raise a Rust panic, which is a BaseException
        if isinstance(exc, _PASSTHROUGH):
            raise
        raise _corrupt(name, exc) from exc
    sheets: list[Any] = []
    meta_items: list[tuple[str, str]] = []
    cells = 0
    try:
        for info in wb.sheets_metadata:
            if info.typ != SheetTypeEnum.WorkSheet:
                continue
            hidden = info.visible != SheetVisibleEnum.Visible
            is_meta = info.name.strip().lower() == META_SHEET
            part = big.get(info.name) or (check.sheet_parts.get(info.name) if is_meta and book and check else None)
            if book is not None and part:
                stream = StreamSheet(book, part, info.name, hidden)
                if is_meta:
                    meta_items.extend(_meta_rows(row for _, row in stream.rows()))
                    continue
                # The guard's bound on the cells with content: a used range stretched to row 1,048,576 by
                # format-only cells (LibreOffice, WPS) costs nothing when streamed.
                bound = check.extents.get(part) if check is not None else None
                cells += min(stream.height * stream.width, bound[0] * bound[1]) if bound else stream.height * stream.width
                if cells > limits.max_cells:
                    raise InputError(f"文件的单元格总数超过上限 {limits.max_cells} 个", file=name,
                                     hint="请删除多余的行列，或把数据分成几个文件提交。")
                sheets.append(stream)
                continue
            try:
                with rust_stderr_to_log(f"{name} / {info.name}"):
                    sheet = wb.get_sheet_by_name(info.name)
            except PasswordError as exc:
                raise InputError("文件设置了打开密码，无法读取", file=name, hint=HINT_PASSWORD) from exc
            except BaseException as exc:
                if isinstance(exc, _PASSTHROUGH):
                    raise
                raise _corrupt(name, exc) from exc
            if is_meta:
                meta_items.extend(_meta_rows(sheet.iter_rows()))
                continue
            if sheet.height > limits.max_rows:
                raise InputError(f"工作表“{info.name}”有 {sheet.height} 行，超过上限 {limits.max_rows} 行", file=name,
                                 hint="请删除多余的行，或把数据分成几个文件提交。")
            cells += sheet.height * sheet.width
            if cells > limits.max_cells:
                raise InputError(f"文件的单元格总数超过上限 {limits.max_cells} 个", file=name,
                                 hint="请删除多余的行列，或把数据分成几个文件提交。")
            sheets.append(ExcelSheet(sheet, info.name, hidden))
    finally:
        # The sheets keep their own data; the workbook handle (open file) is no longer needed.
        try:
            wb.close()
        except BaseException as exc:  # noqa: BLE001 - closing must not hide the result
            if isinstance(exc, _PASSTHROUGH):
                raise
    return sheets, meta_items


def _meta_rows(rows: Any) -> list[tuple[str, str]]:
    """Key/value pairs from the first 2,000 rows of the `_tmis` sheet."""
    items: list[tuple[str, str]] = []
    for n, row in enumerate(rows):
        if n >= 2000:
            break
        if len(row) >= 2:
            items.append((cell_text(row[0]), cell_text(row[1])))
    return items

