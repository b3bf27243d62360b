"""The request kinds: what a kind's form holds, which units confirm it in turn, and what confirming it does.

A kind is a RequestKind registered under its name (the template metadata's ``kind``). Kinds live in modules
listed in KIND_MODULES, imported on first use; each module calls ``register(RequestKind(...))`` at import.
Another area adds its module to KIND_MODULES and its form kinds to processor/handlers.py HANDLERS (pointing
at ``processor.workflows.intake:handle``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from processor.errors import TmisError

# kind name -> module that registers it (imported on first use)
KIND_MODULES: dict[str, str] = {
    "status-change": "processor.workflows.kinds.status",
    "transfer": "processor.workflows.kinds.transfer",
    "rotation": "processor.workflows.kinds.rotation",
    # opened by tmis itself (no form): training credits, registration decisions, sampling checks
    "credit-confirm": "processor.credits.confirm",
    "registration": "processor.registration.decide",
    "sample-check": "processor.sampling.check",
}

CONFIRM, REJECT = "confirm", "reject"


class UnknownKind(TmisError):
    """No request kind of that name."""


@dataclass(frozen=True)
class Field:
    """One column of a request form (one request per row).

    ``type``: text | date | choice | id_number | unit (a unit code in the directory) | number.
    ``options`` (choice): (code, label) pairs; a cell may hold the label, the code or "code-label";
    ``table`` (choice): take the options from that code table of the teacher rule pack instead (less ``exclude``)."""

    code: str
    label: str
    type: str = "text"
    required: bool = True
    options: tuple[tuple[str, str], ...] = ()
    hint: str = ""
    width: int = 16
    table: str = ""
    exclude: tuple[str, ...] = ()

    def choices(self, pack: Any = None) -> tuple[tuple[str, str], ...]:
        """The (code, label) options: its own, or those of its code table in ``pack``."""
        if self.table and pack is not None and self.table in pack.tables:
            return tuple((code, e.name) for code, e in pack.tables[self.table].entries.items()
                         if code not in self.exclude)
        return self.options

    def option_label(self, code: Any, pack: Any = None) -> str:
        return next((label for c, label in self.choices(pack) if c == code), str(code or ""))


@dataclass(frozen=True)
class Input:
    """A column the confirming officer fills on a confirmation sheet. ``options`` (label → verdict or value)
    makes it a dropdown; the first Input of a kind is the verdict column (its labels map to CONFIRM / REJECT)."""

    code: str
    label: str
    options: tuple[tuple[str, str], ...] = ()
    width: int = 16


DEFAULT_INPUTS = (Input("result", "确认结果", (("同意", CONFIRM), ("不同意", REJECT)), 12),
                  Input("note", "意见", (), 40))


@dataclass(frozen=True)
class Step:
    """A confirming step: the unit that must confirm, and what it is in this request (调入学校主管部门 …)."""

    unit: str
    role: str

    def to_json(self) -> dict[str, str]:
        return {"unit": self.unit, "role": self.role}


@dataclass
class RowCheck:
    """What a kind's ``check`` gets for one filled form row; it reports problems with ``error``."""

    session: Session
    config: Any
    unit: Any  # the filing Unit
    values: dict[str, Any]  # field code -> parsed value (None when empty)
    sheet: str
    row: int
    columns: dict[str, str]  # field code -> column letter
    file: str
    errors: list[Any] = field(default_factory=list)

    def error(self, code: str, rule: str, message: str, hint: str) -> None:
        """A problem with field ``code`` of this row (the cell is named in the message by the mechanism)."""
        from processor.findings import ERROR, Finding

        col = self.columns.get(code)
        value = self.values.get(code)
        where = f"{self.file}：{self.sheet} {col or ''}{self.row}"
        self.errors.append(Finding(self.sheet, self.row, col, code, None if value is None else str(value), rule, ERROR,
                                   f"{where}：{message}", hint))


@dataclass
class Filed:
    """A checked form row: the request to open (``teacher_id`` may be None for requests about no one teacher)."""

    teacher_id: int | None
    data: dict[str, Any]


@dataclass
class ApplyContext:
    """What a kind's ``apply`` gets once the last step confirmed (inside the confirming transaction)."""

    session: Session
    config: Any
    pack: Any
    request: Any  # store.models.WorkflowRequest
    teacher: Any  # store.models.Teacher or None
    confirmations: list[dict[str, Any]]  # each step's {"unit", "by", "values", "at"} in order
    now: datetime
    submission_id: int | None


@dataclass
class AfterSheet:
    """What a kind's ``after_sheet`` gets once a confirmation sheet was applied (inside that transaction)."""

    session: Session
    config: Any
    sheet_id: str
    unit_code: str
    confirmer: str
    requests: dict[str, Any]  # request id → WorkflowRequest listed on the sheet
    confirmed: list[str]
    rejected: list[str]
    applied: list[str]
    pending: list[str]
    now: datetime
    submission_id: int | None


@dataclass(frozen=True)
class RequestKind:
    """A kind of request.

    - ``fields``: the form's columns; ``check(RowCheck) -> Filed | None`` checks one row against the store
      (report problems with ``ctx.error``; return None when the row cannot become a request);
    - ``steps(session, config, request) -> list[Step]``: the confirming units in order (the request carries
      ``unit_code``, ``teacher_id`` and ``data``); fixed when the request is opened;
    - ``blocker(session, request) -> str | None``: why the request can no longer be confirmed (the teacher's
      state changed): checked when a confirmation comes back; the sheet is then refused;
    - ``apply(ApplyContext) -> dict``: the effect, once the last step confirmed; returns what it did (JSON);
    - ``columns``: (header, fn(request) -> text) shown on confirmation sheets after 申请编号/身份证件号/姓名/申请单位;
    - ``inputs``: what the confirming officer fills (default 确认结果 同意/不同意 and 意见; 意见 is required
      when the verdict is REJECT);
    - ``input_check(values) -> (input code, message, hint) | None``: what else a decided row must hold;
    - ``after_sheet(AfterSheet)``: once per applied sheet, after all its decisions (batch work: a bulletin).
    """

    kind: str
    title: str  # 调动申请
    prefix: str  # request ids: <prefix>-<yyyymmdd>-<hex>
    fields: tuple[Field, ...]
    check: Callable[[RowCheck], Filed | None]
    steps: Callable[[Session, Any, Any], list[Step]]
    apply: Callable[[ApplyContext], dict[str, Any]]
    blocker: Callable[[Session, Any], str | None] = lambda _s, _r: None
    # (values of a decided row: input code → text) → (input code, message, hint) when the row is incomplete for its
    # verdict (e.g. 不一致 without the field): the sheet is refused (WF-INPUT) on that input's cell
    input_check: Callable[[dict[str, str]], tuple[str, str, str] | None] = lambda _v: None
    # called once per applied sheet, after every decision on it (same transaction): kinds that act on a batch
    after_sheet: Callable[[AfterSheet], None] | None = None
    columns: tuple[tuple[str, Callable[[Any], str]], ...] = ()
    inputs: tuple[Input, ...] = DEFAULT_INPUTS
    filer_levels: tuple[str, ...] = ("school",)
    instructions: str = ""
    form_rows: int = 100

    def verdict(self, values: dict[str, str]) -> str | None:
        """CONFIRM, REJECT or None (undecided) from a row's inputs."""
        first = self.inputs[0]
        return dict(first.options).get(values.get(first.code, "")) if values.get(first.code) else None


_KINDS: dict[str, RequestKind] = {}


def register(kind: RequestKind) -> RequestKind:
    """Add a kind (called by its module at import)."""
    _KINDS[kind.kind] = kind
    return kind


def is_kind(name: str | None) -> bool:
    return bool(name) and (name in _KINDS or name in KIND_MODULES)


def get(name: str) -> RequestKind:
    """The kind ``name``; UnknownKind with the list of kinds otherwise."""
    if name not in _KINDS and name in KIND_MODULES:
        importlib.import_module(KIND_MODULES[name])
    if name not in _KINDS:
        raise UnknownKind(f"未知的申请种类“{name}”", hint=f"可用的种类：{'、'.join(sorted(KIND_MODULES))}。")
    return _KINDS[name]


def all_kinds() -> list[RequestKind]:
    return [get(name) for name in sorted(KIND_MODULES)]
