"""Workbooks that are not teacher data but are filled like it: the workgroup roster, the training plan and
result sheet, the annual assessment register. Each kind has a rule pack of its own in rules/ (same formats as
the core pack), so `tmis template`, `tmis check` and the annotated error report work for it unchanged; and
`take_in` is the one inbox path for them: read with the kind's pack, validate, add the checks that need the
store, keep the rows (only without errors), report like a submission, archive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from processor.audit import audit
from processor.findings import ERROR, Finding
from processor.paths import PROJECT_ROOT
from processor.rulepack.model import RulePack
from processor.store.models import Submission, Unit

# kind (template metadata) → the pack directory that defines it
PACK_DIRS: dict[str, Path] = {
    "roster": PROJECT_ROOT / "rules" / "roster",
    "training-plan": PROJECT_ROOT / "rules" / "training",
    "training-result": PROJECT_ROOT / "rules" / "training",
    "assessment": PROJECT_ROOT / "rules" / "assessment",
}


@cache
def _load(directory: Path) -> RulePack:
    from processor.rulepack.loader import load_pack

    return load_pack(directory)


def pack_for_kind(kind: str | None) -> RulePack | None:
    """The pack of a kind that is not teacher data (roster, training-plan, …), or None."""
    directory = PACK_DIRS.get(kind or "")
    return _load(directory) if directory else None


def kinds_text() -> str:
    """The side kinds with their titles, for a hint."""
    return "、".join(f"{k}（{pack_for_kind(k).kinds[k].get('title', k)}）" for k in PACK_DIRS)  # type: ignore[union-attr]


def label(pack: RulePack, table: str, code: Any) -> str:
    """The name of ``code`` in a code table of ``pack`` (the code itself when unknown)."""
    entry = pack.tables[table].entries.get(str(code))
    return entry.name if entry else str(code or "")


@dataclass
class Intake:
    """What a kind's handler gives ``take_in``: the store checks and the store step."""

    kind: str
    # (session, wb, records by sheet id, unit or None) → more findings (the unit's problems, unknown teachers …)
    check: Callable[[Session, Any, dict[str, list[Any]], Unit | None], list[Finding]]
    # (session, submission, records by sheet id, unit) → rows stored; called only when there is no error
    store: Callable[[Session, Submission, dict[str, list[Any]], Unit], int]
    audit_action: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


def cell_finding(wb: Any, sheet_id: str, row: int, field_code: str, value: Any, rule: str, message: str, hint: str,
                 severity: str = ERROR) -> Finding:
    """A finding on the cell of ``field_code`` in Excel row ``row`` of the block of ``sheet_id``."""
    from processor.findings import column_letter, display_value

    for block in wb.blocks:
        if block.spec.id == sheet_id:
            col = block.columns.get(field_code)
            return Finding(block.title, row, column_letter(col) if col is not None else None, field_code,
                           display_value(value), rule, severity, message, hint)
    return Finding(None, row, None, field_code, display_value(value), rule, severity, message, hint)


def unit_unknown(unit_code: str | None, kind_title: str, kind: str) -> Finding:
    return Finding(None, None, None, None, unit_code, "UNIT-UNKNOWN", ERROR,
                   f"{kind_title}中的单位代码 {unit_code or '（空）'} 不在本系统的单位名录中",
                   f"请使用本单位的模板（tmis template {kind} --unit 本单位代码）填写后重新报送。")


def take_in(job: Any, intake: Intake) -> Any:
    """A filled side-kind workbook from the inbox: validate with its pack and ``intake.check``; without errors
    ``intake.store`` keeps its rows. Either way the unit gets its report (annotated workbook or receipt, with
    JSON) and the file is archived with its Submission row, in one transaction."""
    from processor.engine import Validator
    from processor.feedback import ReportContext, SheetStat, safe_filename, write_report
    from processor.pipeline import Outcome, _limits, _quarantine, move_file
    from processor.readers import read_workbook

    pack = pack_for_kind(intake.kind)
    assert pack is not None
    try:
        wb = read_workbook(job.path, pack, _limits(job.config), name=job.name)
    except Exception as exc:  # noqa: BLE001 - unreadable after all: quarantined with the reason
        return _quarantine(job.path, job.name, job.sha256, job.config, job.engine, job.dirs, str(exc), job.received,
                           job.channel, job.sender)
    unit_code = wb.unit_code
    result = Validator(pack, today=job.config.today).validate(wb)
    findings = list(result.findings)
    records = {sid: list(rows) for sid, rows in result.rows.items()}
    title = str(pack.kinds[intake.kind].get("title", intake.kind))
    with Session(job.engine) as session:
        unit = session.get(Unit, unit_code) if unit_code else None
        unit_name = unit.name if unit else None
        if unit is None:
            findings.insert(0, unit_unknown(unit_code, title, intake.kind))
        else:
            session.expunge(unit)
        findings.extend(intake.check(session, wb, records, unit))  # every problem at once, rule and store
    errors = sum(1 for f in findings if f.severity == ERROR)
    rows = sum(len(v) for v in records.values())
    status = "rejected" if errors else "accepted"
    with Session(job.engine, expire_on_commit=False) as session, session.begin():
        sub = Submission(sha256=job.sha256, original_name=job.name[:500], channel=job.channel, sender=job.sender,
                         kind=intake.kind, unit_code=unit_code if unit else None,
                         template_version=(wb.meta or {}).get("template_version"), status=status,
                         received_at=job.received, rows=rows, errors=errors, warnings=len(findings) - errors)
        session.add(sub)
        session.flush()
        archived = job.dirs.archive / job.received.astimezone().strftime("%Y-%m") / \
            f"{sub.id}__{safe_filename(job.name, 150)}"
        sub.archived_path = str(archived)
        stored = 0
        if not errors and unit is not None:
            stored = intake.store(session, sub, records, session.get(Unit, unit.code))
        sub.rows_stored = stored
        stats = []
        for sheet_id in pack.kinds[intake.kind].get("sheets", []):
            spec = pack.sheets[sheet_id]
            n = len(records.get(sheet_id, []))
            e = sum(1 for f in findings if f.sheet == spec.name and f.severity == ERROR)
            w = sum(1 for f in findings if f.sheet == spec.name and f.severity != ERROR)
            stats.append(SheetStat(spec.name, n, n if not errors else 0, e, w))
        labels = {(pack.sheets[s].name, f.code): f.label for s in pack.kinds[intake.kind].get("sheets", [])
                  for f in pack.sheets[s].fields}
        ctx = ReportContext(original_name=job.name, received_at=job.received, sha256=job.sha256, unit_code=unit_code,
                            unit_name=unit_name, kind=intake.kind, kind_title=title, submission_id=sub.id,
                            status=status, rows=rows, stored=stored, sheets=stats,
                            instance_name=job.config.get("instance", "name"), unit_known=unit is not None,
                            labels=labels)
        files = write_report(ctx, findings, outbox=job.config.outbox, wb_data=wb, source=job.path)
        sub.report_path = str(files.report)
        sub.processed_at = datetime.now(UTC)
        audit(session, "intake", intake.audit_action or f"{intake.kind}.receive", "submission", str(sub.id),
              {"file": job.name, "unit": unit_code, "status": status, "rows": rows, "stored": stored,
               "errors": errors, **intake.detail})
        sub_id = sub.id
    target = move_file(job.path, archived)
    return Outcome(status, job.name, job.sha256, sub_id, unit_code, target, files.report, rows, stored, errors,
                   len(findings) - errors)
