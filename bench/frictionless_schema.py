"""The basic-information checks written as a frictionless Table Schema, for the benchmark's comparison.

What a Table Schema can say is a subset of what tmis checks: required cells, code lists (as enum
constraints listing every accepted spelling: code, name, alias, 'code-name'), patterns (identity number
shape, YYYY-MM months), dates and text length. It cannot say GB 11643 checksums, birth date and sex
against the identity number, date order, conditional requirements (是否在编 → 用人形式) or duplicates
across rows. The comparison therefore gives frictionless the easier job; results.md says so.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from processor.rulepack.model import CodeTable, FieldSpec, RulePack, fold_name

ID_PATTERN = r"[0-9]{17}[0-9Xx]"
MONTH_PATTERN = r"[0-9]{4}-[0-9]{2}"
YEAR_PATTERN = r"[0-9]{4}"


def accepted_spellings(table: CodeTable) -> list[str]:
    """Every spelling tmis accepts for a code without a finding: code, name, aliases, 'code-name'."""
    out: dict[str, None] = {}
    for entry in table.entries.values():
        for name in (entry.name, *entry.aliases):
            out.setdefault(name, None)
            out.setdefault(f"{entry.code}-{name}", None)
        out.setdefault(entry.code, None)
    return list(out)


def field_descriptor(f: FieldSpec, pack: RulePack, *, header: str, school_type: str | None = None) -> dict[str, Any]:
    """One Table Schema field for a tmis field specification (variant fields are required only for their
    school type, as the engine has it)."""
    constraints: dict[str, Any] = {}
    if f.required and (not f.variants or school_type in f.variants):
        constraints["required"] = True
    desc: dict[str, Any] = {"name": header, "type": "string"}
    if f.type in ("code", "yesno") and f.table in pack.tables:
        constraints["enum"] = accepted_spellings(pack.tables[f.table])
    elif f.type == "idnumber":
        constraints["pattern"] = ID_PATTERN
    elif f.type == "date":
        desc["type"] = "date"  # date cells from xlsx, ISO text (the default format) from CSV
    elif f.type == "month":
        constraints["pattern"] = MONTH_PATTERN
    elif f.type == "year":
        desc["type"] = "integer"
    elif f.type == "int":
        desc["type"] = "integer"
    elif f.type == "decimal":
        desc["type"] = "number"
    if f.max_length and desc["type"] == "string":
        constraints["maxLength"] = f.max_length
    if f.pattern and desc["type"] == "string" and "pattern" not in constraints:
        constraints["pattern"] = f.pattern
    if constraints:
        desc["constraints"] = constraints
    return desc


def build_schema(pack: RulePack, headers: list[str], sheet_id: str = "basic",
                 school_type: str | None = None) -> dict[str, Any]:
    """A Table Schema descriptor for the sheet, its field names being the file's header texts in order."""
    school_type = school_type or pack.settings.get("default_school_type")
    sheet = pack.sheets[sheet_id]
    by_key: dict[str, FieldSpec] = {}
    for f in sheet.input_fields:
        for key in f.header_keys():
            by_key.setdefault(key, f)
    fields = []
    for header in headers:
        f = by_key.get(fold_name(header))
        if f is None:
            fields.append({"name": header, "type": "any"})
        else:
            fields.append(field_descriptor(f, pack, header=header, school_type=school_type))
    return {"fields": fields, "missingValues": [""]}


def export_csv(xlsx: Path, sheet_name: str, out: Path, *, header_row: int = 1) -> Path:
    """The sheet as UTF-8 CSV (dates as YYYY-MM-DD, whole floats without '.0'), read with calamine."""
    from datetime import date, datetime

    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(xlsx))
    sheet = wb.get_sheet_by_name(sheet_name)
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        for i, row in enumerate(sheet.iter_rows(), start=1):
            if i < header_row:
                continue
            cells = []
            for v in row:
                if isinstance(v, datetime):
                    v = v.date().isoformat()
                elif isinstance(v, date):
                    v = v.isoformat()
                elif isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
                    v = int(v)
                cells.append("" if v is None else v)
            writer.writerow(cells)
    return out


def validate(path: Path, pack: RulePack, *, sheet_name: str = "基本信息", limit_rows: int | None = None,
             header_row: int = 1) -> dict[str, Any]:
    """Validate an xlsx sheet (frictionless' own openpyxl-based loader) or a CSV against the schema."""
    from frictionless import Checklist, Dialect, Resource, Schema, formats

    is_csv = path.suffix.lower() == ".csv"
    headers = _headers(path, sheet_name, header_row, is_csv)
    schema = Schema.from_descriptor(build_schema(pack, headers))
    # frictionless refuses absolute paths as unsafe; give it the folder as basepath and a relative path.
    where = {"path": path.name, "basepath": str(path.parent.resolve())}
    if is_csv:
        resource = Resource(**where, schema=schema)
    else:
        dialect = Dialect(header_rows=[header_row], controls=[formats.ExcelControl(sheet=sheet_name)])
        resource = Resource(**where, schema=schema, dialect=dialect)
    # Trailing empty cells have no XML node in streamed xlsx files; frictionless calls each a missing-cell
    # error on every row. tmis reads them as blank, so they are skipped for xlsx (a blank required cell in
    # the middle of a row is still a required-constraint error). CSV rows are complete: no checklist there,
    # which would only slow frictionless down.
    checklist = None if is_csv else Checklist(skip_errors=["missing-cell"])
    report = resource.validate(checklist, limit_rows=limit_rows, limit_errors=10_000_000)
    task = report.tasks[0]
    problems = [e for e in task.errors if e.type not in ("constraint-error", "type-error")]
    if problems:  # a broken source or schema must not pass for a fast validation
        raise RuntimeError(f"frictionless could not validate {path}: {problems[0].message}")
    return {"rows": task.stats.get("rows") or 0, "errors": len(task.errors), "valid": report.valid,
            "error_rows": sorted({e.row_number for e in task.errors if getattr(e, "row_number", None)})}


def _headers(path: Path, sheet_name: str, header_row: int, is_csv: bool) -> list[str]:
    if is_csv:
        with path.open(encoding="utf-8", newline="") as fh:
            return [str(h) for h in next(csv.reader(fh))]
    from python_calamine import CalamineWorkbook

    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet_name)
    for i, row in enumerate(sheet.iter_rows(), start=1):
        if i == header_row:
            return [str(h) for h in row]
    return []
