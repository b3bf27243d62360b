"""Findings are data: one object feeds the JSON output, the annotated workbook, the mail and the database."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ERROR = "error"
WARNING = "warning"
SEVERITIES = (ERROR, WARNING)


@dataclass(slots=True)
class Finding:
    """One problem on one cell (or on a sheet or the whole file when row/column are None)."""

    sheet: str | None
    row: int | None
    column: str | None
    field: str | None
    value: str | None
    rule: str
    severity: str
    message: str
    hint: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


def display_value(value: Any) -> str | None:
    """The value as a person would recognise it in a message (None stays None)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


def column_letter(index: int) -> str:
    """0-based column index to Excel letters (0 → A, 26 → AA)."""
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters
