"""The manifest beside every export: what the file holds and how to check it arrived whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from processor.exchange.profile import Profile
from processor.feedback import atomic_write_text


def manifest_path(out: Path) -> Path:
    """export.csv → export.csv.manifest.json (beside the file, named after it)."""
    return out.with_name(out.name + ".manifest.json")


def _tmis_version() -> str:
    try:
        return version("tmis")
    except PackageNotFoundError:
        return "unknown"


def write_manifest(out: Path, *, profile: Profile, sha256: str, unit: str | None, since: datetime | None,
                   until: datetime, rows: int, teachers: int, rows_by_sheet: dict[str, int],
                   unmapped: dict[str, dict[str, int]], parts: list[dict[str, Any]] | None = None,
                   split: str | None = None) -> Path:
    """Write ``<file>.manifest.json``: row counts, sha256 and size, time range, profile and its version.

    ``parts``: an .xls export split into several files (file, rows, bytes, sha256 each; the first is
    ``out``), with ``split`` saying why in Chinese."""
    data: dict[str, Any] = {
        "file": out.name,
        "bytes": out.stat().st_size,
        "sha256": sha256,
        "profile": profile.name,
        "profile_title": profile.title,
        "profile_version": profile.version,
        "format": profile.format,
        "encoding": profile.encoding if profile.format == "csv" else None,
        "bom": profile.format == "csv" and profile.encoding == "utf-8-sig",
        "unit": unit,
        "since": since.isoformat() if since else None,
        "until": until.isoformat(),
        "rows": rows,
        "teachers": teachers,
        "rows_by_sheet": rows_by_sheet,
        "personal_data": "full" if profile.personal_data else "masked",
        "unmapped_on_export": unmapped,
        "generated_at": datetime.now(UTC).isoformat(),
        "generator": f"tmis {_tmis_version()}",
    }
    if parts:
        data["parts"] = parts
        data["split"] = split
    target = manifest_path(out)
    atomic_write_text(target, json.dumps(data, ensure_ascii=False, indent=1))
    return target


def read_manifest(out: Path) -> dict[str, Any]:
    return json.loads(manifest_path(out).read_text(encoding="utf-8"))
