"""Files that are not teacher data: kinds of workbook tmis issued and takes back (return sheets, report
forms, rosters, requests). The pipeline reads a file, and when its hidden metadata names one of these kinds
it hands the file to that kind's handler instead of validating it as teacher information.

A handler is ``fn(job: FileJob) -> Outcome``; it owns the file from then on exactly as the pipeline does:
the file must end archived (its Submission row committed with the file's sha256, so the same content sent
again is answered as a duplicate) or quarantined, and its report written into the outbox.
Each area adds its kinds to HANDLERS as "module:function" so that nothing is imported until needed."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

# kind (the template metadata's "kind") -> "module:function"
HANDLERS: dict[str, str] = {
    "return-sheet": "processor.review.takeback:handle",
    "roster": "processor.reports.roster:handle",
    "monthly-form": "processor.reports.forms:handle",
    "training-plan": "processor.credits.plan:handle_plan",
    "training-result": "processor.credits.plan:handle_result",
    "assessment": "processor.credits.assessment:handle",
    # workflows (processor/workflows/): every request kind's form, and the confirmation sheets
    "confirm-sheet": "processor.workflows.confirm:handle",
    "status-change": "processor.workflows.intake:handle",
    "transfer": "processor.workflows.intake:handle",
    "rotation": "processor.workflows.intake:handle",
}


@dataclass
class FileJob:
    """One received file, read, whose metadata names a handled kind."""

    path: Path  # the claimed copy under var/processing/
    name: str  # the file name as sent
    sha256: str
    config: Any
    pack: Any
    engine: Any
    dirs: Any  # pipeline.StateDirs
    wb: Any  # readers.WorkbookData (meta, blocks, findings)
    received: datetime
    channel: str = "inbox"
    sender: str = ""


def handler_for(kind: str | None) -> Callable[[FileJob], Any] | None:
    """The handler registered for ``kind``, or None for teacher data and unknown kinds."""
    target = HANDLERS.get(kind or "")
    if not target:
        return None
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)  # type: ignore[no-any-return]
