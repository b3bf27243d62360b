"""Foreign files made from generated teachers (processor.samples), in a profile's layout: tests and benchmark."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from processor import samples
from processor.exchange.exporter import ValueWriter, _flat_writers, flat_row, open_csv
from processor.exchange.profile import Profile
from processor.rulepack.model import RulePack


def person_records(person: samples.Person, pack: RulePack, renderer: samples.Renderer,
                   sheets: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """A generated person as normalised records per sheet (codes resolved, dates as ISO text)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for sid in sheets:
        spec = pack.sheets[sid]
        group = samples.group_for(spec)
        if group is None:
            continue
        rows = []
        for raw in samples.person_rows(person, group):
            data: dict[str, Any] = {}
            for f in spec.input_fields:
                value = raw.get(f.code)
                if value is None or value == "" or value == ():
                    continue
                if f.is_coded:
                    values = value if isinstance(value, (tuple, list)) else (value,)
                    codes = [c for c in (renderer.resolve(f, v) for v in values) if c is not None]
                    if not codes:
                        continue
                    data[f.code] = codes if f.type == "codes" else codes[0]
                elif isinstance(value, date):
                    data[f.code] = value.isoformat()
                else:
                    data[f.code] = value
            rows.append(data)
        if rows:
            out[sid] = rows
    return out


def write_foreign(path: str | Path, profile: Profile, pack: RulePack,
                  people: Sequence[tuple[samples.Person, tuple[str, str]]], *, seed: int = 1) -> Path:
    """Write the people ((person, (school code, school name)) pairs) as the profile's foreign file."""
    path = Path(path)
    renderer = samples.Renderer(pack, random.Random(seed))
    sheets = profile.target_sheets()
    if profile.layout == "flat":
        writers = _flat_writers(profile, pack)
        fh, writer = open_csv(path, profile)
        with fh:
            writer.writerow([c.header for c, _ in writers])
            for person, school in people:
                records = {sid: rows[0] for sid, rows in person_records(person, pack, renderer, sheets).items()}
                writer.writerow(flat_row(writers, records, school, None, profile))
        return path
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    by_sheet: dict[str, list[tuple[str, dict[str, Any]]]] = {sid: [] for sid in sheets}
    for person, school in people:
        for sid, rows in person_records(person, pack, renderer, sheets).items():
            by_sheet[sid].extend((school[0], r) for r in rows)
    for layout in profile.sheets:
        spec = pack.sheets[layout.sheet]
        fields = [c for c in layout.columns if c.role == "field"]
        writers = [ValueWriter(profile, pack, layout.sheet, spec.field(c.field or ""), c) for c in fields]
        ws = wb.create_sheet(layout.title[:31])
        head = [profile.school_code] if profile.school_code else []
        ws.append(head + [spec.field(c.field or "").header for c in fields])
        for school_code, data in by_sheet[layout.sheet]:
            ws.append(([school_code] if profile.school_code else []) +
                      [w(data.get(c.field or "")) for c, w in zip(fields, writers, strict=True)])
    wb.save(path)
    return path
