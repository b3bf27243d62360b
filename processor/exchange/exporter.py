"""`tmis exchange export`: effective records of a unit's subtree in a profile's layout, with a manifest beside.

Only effective versions are exported (pending, returned and superseded ones never leave). ``since`` limits
the export to teachers with a version created or reviewed at or after that moment; ``since_last`` takes the
moment of the last export to the same profile and unit (``exchange_exports``), so consecutive exports cover
every change exactly once. Personal data (identity numbers, phone numbers) is masked unless the profile is
entitled to it."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Text, or_, select, type_coerce
from sqlalchemy.orm import Session

from processor.audit import audit
from processor.errors import InputError
from processor.exchange.manifest import write_manifest
from processor.exchange.profile import Column, Profile
from processor.rulepack.model import CodeTable, FieldSpec, RulePack
from processor.store.models import ExchangeExport, RecordVersion, Review, Teacher, Unit

ACTOR = "exchange"
BATCH = 5000
PHONE_FIELDS = {"phone", "mobile", "office_phone"}
ID_FIELDS = {"id_number"}


def mask_id(number: str) -> str:
    """110101********123X: the area code and the last four characters stay, the birth date goes."""
    text = str(number)
    if len(text) <= 8:
        return "*" * len(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]


def mask_phone(text: str) -> str:
    """138****5678 for each number of the cell (several may be separated by / or ,)."""
    out = []
    for part in _split_numbers(str(text)):
        digits = part.strip()
        if len(digits) >= 7:
            out.append(digits[:3] + "*" * (len(digits) - 7) + digits[-4:] if len(digits) > 7 else
                       digits[:3] + "****")
        else:
            out.append(part)
    return "/".join(out)


def _split_numbers(text: str) -> list[str]:
    import re

    return [p for p in re.split(r"\s*[/,，;；、]\s*", text) if p] or [text]


@dataclass
class ExportOutcome:
    file: Path
    manifest: Path
    profile: str
    unit: str | None
    rows: int
    teachers: int
    since: datetime | None
    until: datetime
    sha256: str
    masked: bool
    rows_by_sheet: dict[str, int] = field(default_factory=dict)
    unmapped: dict[str, dict[str, int]] = field(default_factory=dict)
    more_files: list[Path] = field(default_factory=list)  # an .xls export too big for one file: the other parts

    def to_dict(self) -> dict[str, Any]:
        return {"file": str(self.file), "more_files": [str(p) for p in self.more_files],
                "manifest": str(self.manifest), "profile": self.profile, "unit": self.unit,
                "rows": self.rows, "teachers": self.teachers, "rows_by_sheet": self.rows_by_sheet,
                "since": self.since.isoformat() if self.since else None, "until": self.until.isoformat(),
                "sha256": self.sha256, "personal_data": "masked" if self.masked else "full",
                "unmapped_on_export": self.unmapped}


class ValueWriter:
    """Our normalised value → the foreign cell text for one column (reverse code map, date form, masking)."""

    def __init__(self, profile: Profile, pack: RulePack, sheet: str, spec: FieldSpec, col: Column | None) -> None:
        self.profile, self.spec, self.col = profile, spec, col
        self.table: CodeTable | None = pack.tables.get(spec.table) if spec.table else None
        self.mask = None
        if not profile.personal_data:
            if spec.code in ID_FIELDS:
                self.mask = mask_id
            elif spec.code in PHONE_FIELDS:
                self.mask = mask_phone
        self.unmapped: Counter[str] = Counter()
        self.key = f"{sheet}.{spec.code}"
        self._memo: dict[str, Any] = {}

    def __call__(self, value: Any) -> Any:
        if value.__class__ is str:
            hit = self._memo.get(value)
            if hit is not None:
                return hit
            if value == "":
                return ""
            hit = self._write(value)
            if hit != "" and len(self._memo) < 20_000:  # unmapped codes are counted on every row
                self._memo[value] = hit
            return hit
        if value is None or value == []:
            return ""
        return self._write(value)

    def _write(self, value: Any) -> Any:
        spec, col = self.spec, self.col
        if self.table is not None:
            codes = value if isinstance(value, list) else [value]
            out = [self._code(str(c)) for c in codes]
            if any(o is None for o in out):
                return ""
            return ",".join(out)  # type: ignore[arg-type]
        if col is not None and col.date:
            return _date_text(str(value), col.date)
        if spec.type in ("int", "decimal") and self.profile.format != "csv":
            try:
                return int(value) if spec.type == "int" else float(value)
            except (TypeError, ValueError):
                return str(value)
        text = str(value)
        return self.mask(text) if self.mask else text

    def _code(self, code: str) -> str | None:
        col, table = self.col, self.table
        if col is not None and col.map is not None:
            hit = col.map.to_value.get(code)
            entry = table.entries.get(code) if table else None
            while hit is None and entry is not None and entry.parent:  # a code below a mapped group
                hit = col.map.to_value.get(entry.parent)
                entry = table.entries.get(entry.parent)
            if hit is None:
                self.unmapped[code] += 1
            return hit
        assert table is not None
        form = self.profile.code_form
        if self.spec.type == "codes" or form == "code":
            return code
        entry = table.entries.get(code)
        if entry is None:
            return code
        return entry.name if form == "name" else f"{code}-{entry.name}"


def _date_text(iso: str, form: str) -> str:
    y, m, d = (iso.split("-") + ["", ""])[:3]
    if form == "YYYY":
        return y
    if form in ("YYYY-MM", "YYYYMM", "YYYY.MM", "YYYY.M") or not d:
        if not m:
            return y
        return {"YYYY-MM": f"{y}-{m}", "YYYYMM": f"{y}{m}", "YYYY.MM": f"{y}.{m}", "YYYY.M": f"{y}.{int(m)}"}.get(
            form, f"{y}-{m}")
    return {"YYYYMMDD": f"{y}{m}{d}", "YYYY.MM.DD": f"{y}.{m}.{d}"}.get(form, iso)


def _changed_teachers(since: datetime, until: datetime) -> Any:
    """Teachers with a version created, or a review decided, within [since, until)."""
    created = select(RecordVersion.teacher_id).where(RecordVersion.created_at >= since,
                                                     RecordVersion.created_at < until)
    reviewed = (select(RecordVersion.teacher_id).join(Review, Review.version_id == RecordVersion.id)
                .where(Review.at >= since, Review.at < until))
    return created.union(reviewed)


def _versions(session: Session, categories: list[str], unit: str | None, since: datetime | None,
              until: datetime) -> Iterator[tuple[Any, ...]]:
    """(teacher id, id_type, id_number, teacher number, school code, school name, category, seq, data) of every
    effective version, by teacher then category then seq, streamed."""
    from processor.units import subtree_codes

    stmt = (select(Teacher.id, Teacher.id_type, Teacher.id_number, Teacher.teacher_number, RecordVersion.unit_code,
                   Unit.name, RecordVersion.category, RecordVersion.seq, type_coerce(RecordVersion.data, Text))
            .join(Teacher, Teacher.id == RecordVersion.teacher_id)
            .join(Unit, Unit.code == RecordVersion.unit_code, isouter=True)
            .where(RecordVersion.review_state == "effective", RecordVersion.category.in_(categories),
                   RecordVersion.created_at < until, Teacher.status != "left")
            .order_by(Teacher.id, RecordVersion.category, RecordVersion.seq, RecordVersion.id))
    if unit is not None:
        stmt = stmt.where(RecordVersion.unit_code.in_(subtree_codes(unit)))
    if since is not None:
        stmt = stmt.where(or_(RecordVersion.teacher_id.in_(_changed_teachers(since, until))))
    # Core rows, not ORM rows: a province export reads millions of versions.
    # The JSON text is decoded here with the C scanner directly (json.loads wraps it in a whitespace check per
    # call: a third of a province export's decoding time).
    scan = json.JSONDecoder().scan_once
    result = session.connection().execution_options(yield_per=BATCH).execute(stmt)
    for part in result.partitions():
        for *head, data in part:
            yield (*head, scan(data, 0)[0] if isinstance(data, str) else data)


def _as_utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def last_export(session: Session, profile: str, unit: str) -> ExchangeExport | None:
    return session.scalars(select(ExchangeExport).where(ExchangeExport.profile == profile,
                                                        ExchangeExport.unit_code == unit)
                           .order_by(ExchangeExport.until.desc(), ExchangeExport.id.desc())).first()


def export_records(profile: Profile, config: Any, pack: RulePack, engine: Engine, *, out: str | Path,
                   unit_code: str | None = None, since: datetime | None = None,
                   since_last: bool = False) -> ExportOutcome:
    """Write the export file and its manifest; record the export (for --since-last) and an audit entry."""
    out = Path(out)
    expected = {"csv": ".csv", "xlsx": ".xlsx", "xls": ".xls"}[profile.format]
    if out.suffix.lower() != expected:
        raise InputError(f"交换档案 {profile.name} 规定为 {profile.format} 格式，输出文件应以 {expected} 结尾",
                         file=str(out), hint=f"例如 --out 导出{expected}。")
    until = datetime.now(UTC)
    with Session(engine) as session:
        unit_key = ""
        if unit_code:
            from processor.units import require_unit

            unit_code = require_unit(session, unit_code).code
            unit_key = unit_code
        if since_last:
            prev = last_export(session, profile.name, unit_key)
            since = _as_utc(prev.until) if prev is not None else None
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.part")
        xls = XlsParts(out) if profile.format == "xls" else None
        if profile.layout == "flat":
            stats = _write_flat(session, profile, pack, tmp, unit_code, since, until, xls)
        else:
            stats = _write_sheets(session, profile, pack, tmp, unit_code, since, until, xls)
    from processor.pipeline import sha256_of

    parts: list[dict[str, Any]] = []
    if xls is not None:
        parts = xls.close()
    else:
        os.replace(tmp, out)
    sha = sha256_of(out)
    if len(parts) > 1:
        stats["parts"] = parts
        stats["split"] = (f".xls 的一个工作表最多 {XLS_SHEET_ROWS:,} 行（含表头）：共 {stats['rows']:,} 行，分为 "
                          f"{len(parts)} 个文件（{'、'.join(p['file'] for p in parts)}），每个文件不超过 "
                          f"{XLS_DATA_ROWS:,} 行数据，每个工作表都有表头；请按顺序全部导入。")
    manifest = write_manifest(out, profile=profile, sha256=sha, unit=unit_code, since=since, until=until, **stats)
    outcome = ExportOutcome(out, manifest, profile.name, unit_code, stats["rows"], stats["teachers"], since, until,
                            sha, not profile.personal_data, stats["rows_by_sheet"], stats["unmapped"],
                            [Path(out.with_name(p["file"])) for p in parts[1:]])
    with Session(engine) as session, session.begin():
        session.add(ExchangeExport(profile=profile.name, profile_version=profile.version, unit_code=unit_key,
                                   since=since, until=until, rows=stats["rows"], sha256=sha, path=str(out)))
        audit(session, ACTOR, "exchange.export", "exchange_export", profile.name, {
            "file": str(out), "unit": unit_code, "rows": stats["rows"], "sha256": sha,
            "since": since.isoformat() if since else None, "until": until.isoformat(),
            "personal_data": "masked" if not profile.personal_data else "full"})
    return outcome


def _flat_writers(profile: Profile, pack: RulePack) -> list[tuple[Column, Any]]:
    out: list[tuple[Column, Any]] = []
    for col in profile.columns:
        if col.role == "field" and col.sheet and col.field and col.mobile_field:
            sheet = pack.sheets[col.sheet]
            out.append((col, _PhoneWriter(ValueWriter(profile, pack, col.sheet, sheet.field(col.field), col),
                                          ValueWriter(profile, pack, col.sheet, sheet.field(col.mobile_field), None),
                                          col.mobile_field)))
        elif col.role == "field" and col.sheet and col.field:
            out.append((col, ValueWriter(profile, pack, col.sheet, pack.sheets[col.sheet].field(col.field), col)))
        else:
            out.append((col, None))
    return out


class _PhoneWriter:
    """A legacy phone column holding both numbers: mobile first, then the landline, separated by /."""

    def __init__(self, phone: ValueWriter, mobile: ValueWriter, mobile_field: str) -> None:
        self.phone, self.mobile, self.mobile_field = phone, mobile, mobile_field
        self.unmapped = phone.unmapped
        self.key = phone.key

    def write(self, record: dict[str, Any], field_code: str) -> str:
        parts = [self.mobile(record.get(self.mobile_field)), self.phone(record.get(field_code))]
        return "/".join(p for p in parts if p)


def flat_row(writers: list[tuple[Column, Any]], records: dict[str, dict[str, Any]],
             school: tuple[str, str], teacher_number: str | None, profile: Profile) -> list[Any]:
    """One foreign row of a flat layout from a teacher's records (sheet id → field → normalised value)."""
    return _flat_plan(writers)(records, school, teacher_number)


_PLANS: dict[int, tuple[list[tuple[Column, Any]], Any]] = {}


def _flat_plan(writers: list[tuple[Column, Any]]) -> Any:
    """The columns of a flat layout compiled once into a row function (a province export calls it a million
    times): what each column takes — a field through its writer, both phone numbers, the school, the number."""
    hit = _PLANS.get(id(writers))
    if hit is not None and hit[0] is writers:
        return hit[1]
    FIELD, PHONES, CODE, NAME, NUMBER, EMPTY = range(6)
    plan: list[tuple[int, str, str, Any]] = []
    for col, writer in writers:
        if isinstance(writer, _PhoneWriter):
            plan.append((PHONES, col.sheet or "", col.field or "", writer))
        elif writer is not None:
            plan.append((FIELD, col.sheet or "", col.field or "", writer))
        else:
            kind = {"school_code": CODE, "school_name": NAME, "teacher_number": NUMBER}.get(col.role, EMPTY)
            plan.append((kind, "", "", None))
    empty: dict[str, Any] = {}

    def row(records: dict[str, dict[str, Any]], school: tuple[str, str], teacher_number: str | None) -> list[Any]:
        out: list[Any] = []
        append = out.append
        for kind, sheet, code, writer in plan:
            if kind == FIELD:
                append(writer(records.get(sheet, empty).get(code)))
            elif kind == PHONES:
                append(writer.write(records.get(sheet, empty), code))
            elif kind == CODE:
                append(school[0])
            elif kind == NAME:
                append(school[1])
            elif kind == NUMBER:
                append(teacher_number or "")
            else:
                append("")
        return out

    if len(_PLANS) > 8:
        _PLANS.clear()
    _PLANS[id(writers)] = (writers, row)
    return row


def _unmapped(writers: list[ValueWriter]) -> dict[str, dict[str, int]]:
    return {w.key: dict(w.unmapped) for w in writers if w.unmapped}


def open_csv(path: Path, profile: Profile) -> tuple[Any, Any]:
    """A file handle and a csv writer in the profile's encoding, delimiter and line ends (BOM for utf-8-sig)."""
    fh = path.open("w", encoding=profile.encoding, newline="")
    writer = csv.writer(fh, delimiter=profile.delimiter, lineterminator="\r\n" if profile.line_end == "crlf" else "\n")
    return fh, writer


def _write_flat(session: Session, profile: Profile, pack: RulePack, path: Path, unit: str | None,
                since: datetime | None, until: datetime, xls: XlsParts | None = None) -> dict[str, Any]:
    writers = _flat_writers(profile, pack)
    categories = profile.target_sheets()
    rows = 0
    header = [c.header for c, _ in writers]
    if xls is not None:
        fh, writer = xls.sheet_writer(profile.title, header)  # the header starts every sheet
    else:
        fh, writer = open_csv(path, profile)
        writer.writerow(header)
    with fh:
        current: int | None = None
        records: dict[str, dict[str, Any]] = {}
        school = ("", "")
        number: str | None = None
        for tid, _id_type, _id_number, tn, unit_code, unit_name, category, _seq, data in _versions(
                session, categories, unit, since, until):
            if tid != current:
                if current is not None:
                    writer.writerow(flat_row(writers, records, school, number, profile))
                    rows += 1
                current, records, school, number = tid, {}, (unit_code, unit_name or ""), tn
            if category not in records:  # the first record of a category (seq 1) is the one a flat row holds
                records[category] = data
        if current is not None:
            writer.writerow(flat_row(writers, records, school, number, profile))
            rows += 1
    return {"rows": rows, "teachers": rows, "rows_by_sheet": {"*": rows},
            "unmapped": _unmapped([w for _, w in writers if w is not None])}


def _write_sheets(session: Session, profile: Profile, pack: RulePack, path: Path, unit: str | None,
                  since: datetime | None, until: datetime, xls: XlsParts | None = None) -> dict[str, Any]:
    """A 'sheets' layout: one sheet per category, as an openpyxl write-only .xlsx or through ``xls``."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True) if xls is None else None
    rows_by_sheet: dict[str, int] = {}
    teachers: set[int] = set()
    all_writers: list[ValueWriter] = []
    for layout in profile.sheets:
        spec = pack.sheets[layout.sheet]
        fields = [c for c in layout.columns if c.role == "field"]
        writers = [ValueWriter(profile, pack, layout.sheet, spec.field(c.field or ""), c) for c in fields]
        all_writers += writers
        header = [profile.school_code] if profile.school_code else []
        for c in fields:
            f = spec.field(c.field or "")
            header.append(f.header if profile.required_mark else f.label)
        if wb is not None:
            ws = wb.create_sheet(layout.title[:31])
            ws.append(header)

            def write(values: list[Any], ws: Any = ws) -> None:
                cells = []
                for v in values:
                    cell = WriteOnlyCell(ws, value=v)
                    if isinstance(v, str):
                        cell.data_type = "s"  # text stays text: never a live formula in an outgoing sheet
                    cells.append(cell)
                ws.append(cells)
        else:
            write = xls.sheet_writer(layout.title, header)[1].writerow  # type: ignore[union-attr]
        n = 0
        for tid, _t, _num, _tn, unit_code, _name, _cat, _seq, data in _versions(session, [layout.sheet], unit,
                                                                                  since, until):
            values: list[Any] = [unit_code] if profile.school_code else []
            for c, w in zip(fields, writers, strict=True):
                values.append(w(data.get(c.field or "")))
            write(values)
            teachers.add(tid)
            n += 1
        rows_by_sheet[layout.sheet] = n
    if wb is not None:
        wb.save(path)
    return {"rows": sum(rows_by_sheet.values()), "teachers": len(teachers), "rows_by_sheet": rows_by_sheet,
            "unmapped": _unmapped(all_writers)}


XLS_SHEET_ROWS = 65_536  # rows of a BIFF8 worksheet
XLS_DATA_ROWS = XLS_SHEET_ROWS - 1  # below its header row


class XlsParts:
    """Real BIFF8 .xls files (xlwt) for legacy systems that take nothing else.

    A BIFF8 sheet holds at most 65,536 rows, and xlwt keeps a whole workbook in memory (about 300 bytes a
    cell), so a file holds at most one sheet's worth of data rows (65,535) in all: the export continues in
    ``<name>_2.xls``, ``<name>_3.xls`` …, each sheet starting with its header row, and the manifest lists
    the parts. Text stays text (xlwt writes a str as a string cell, never a formula)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.parts: list[dict[str, Any]] = []
        self.book: Any = None
        self.rows_in_book = 0
        self.sheet: Any = None
        self.sheet_key: tuple[str, int] | None = None
        self.sheet_row = 0
        self.header: list[str] = []
        self.title = ""

    def _path(self, n: int) -> Path:
        return self.out if n == 1 else self.out.with_name(f"{self.out.stem}_{n}{self.out.suffix}")

    def _new_book(self) -> None:
        import xlwt

        self._save()
        self.book = xlwt.Workbook(encoding="utf-8")
        self.names: set[str] = set()
        self.rows_in_book = 0
        self.sheet = None

    def _new_sheet(self) -> None:
        name, k = self.title[:31], 2
        while name in self.names:
            name = f"{self.title[:27]}({k})"
            k += 1
        self.names.add(name)
        self.sheet = self.book.add_sheet(name)
        for c, h in enumerate(self.header):
            self.sheet.write(0, c, h)
        self.sheet_row = 1

    def sheet_writer(self, title: str, header: list[str]) -> tuple[Any, Any]:
        """A (context, writer) pair like open_csv's for one foreign sheet: ``writer.writerow(values)``."""
        from contextlib import nullcontext

        self.title, self.header = re.sub(r"[\\[\]:/?*']", "_", title).strip() or "Sheet", header
        if self.book is None or self.rows_in_book >= XLS_DATA_ROWS:
            self._new_book()
        self._new_sheet()
        return nullcontext(), self

    def writerow(self, values: list[Any]) -> None:
        """One data row (the header is written by the part itself, on every sheet)."""
        self.append(values)

    def append(self, values: list[Any]) -> None:
        if self.rows_in_book >= XLS_DATA_ROWS:
            self._new_book()
            self._new_sheet()
        row = self.sheet.row(self.sheet_row)
        for c, v in enumerate(values):
            if v is None or v == "":
                continue
            row.write(c, v)
        self.sheet_row += 1
        self.rows_in_book += 1
        if self.sheet_row % 1000 == 0:
            self.sheet.flush_row_data()

    def _save(self) -> None:
        if self.book is None:
            return
        from processor.pipeline import sha256_of

        target = self._path(len(self.parts) + 1)
        tmp = target.with_name(f".{target.name}.part")
        self.book.save(str(tmp))
        os.replace(tmp, target)
        self.parts.append({"file": target.name, "rows": self.rows_in_book, "bytes": target.stat().st_size,
                           "sha256": sha256_of(target)})
        self.book = None

    def close(self) -> list[dict[str, Any]]:
        """Save the last part; (file, rows, bytes, sha256) of every part, in order."""
        if self.book is None and not self.parts:
            self._new_book()
            self.title = self.title or "Sheet"
            self._new_sheet()
        self._save()
        return self.parts


def parse_since(text: str) -> datetime:
    """--since DATE: YYYY-MM-DD (local midnight) or an ISO date-time."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return datetime(day.year, day.month, day.day).astimezone().astimezone(UTC)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--since 的值“{text}”不是日期", hint="请写 YYYY-MM-DD，例如 --since 2026-09-01。") from None
    return _as_utc(value.astimezone()) if value.tzinfo is None else value.astimezone(UTC)


__all__ = ["ExportOutcome", "export_records", "mask_id", "mask_phone", "parse_since", "flat_row", "ValueWriter"]
