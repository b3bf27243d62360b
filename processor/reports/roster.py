"""Workgroup rosters (联合工作组名单): the rule pack in rules/roster/, the inbox handler that takes a filled
roster back (validated by the same engine and reported like a submission), and the consolidated roster report
of every unit below, listing the units that have not sent one."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer
from sqlalchemy import Connection, and_, delete, func, insert, select
from sqlalchemy.orm import Session

from processor.audit import audit
from processor.findings import ERROR, Finding
from processor.paths import PROJECT_ROOT
from processor.reports import figures as fig
from processor.reports import render as rd
from processor.reports.runs import base_name
from processor.rulepack.model import RulePack
from processor.store.models import RosterMember, Submission, Unit

ROSTER_DIR = PROJECT_ROOT / "rules" / "roster"
KIND = "roster"
ROLE_ORDER = {"组长": 0, "副组长": 1, "成员": 2}


@cache
def roster_pack() -> RulePack:
    from processor.rulepack.loader import load_pack

    return load_pack(ROSTER_DIR)


def pack_for_kind(kind: str | None) -> RulePack | None:
    """The pack of a kind that is not teacher data (today: the roster), or None."""
    return roster_pack() if kind == KIND else None


def _label(pack: RulePack, table: str, code: Any) -> str:
    entry = pack.tables[table].entries.get(str(code))
    return entry.name if entry else str(code or "")


def handle(job: Any) -> Any:
    """A filled roster from the inbox: validate; without errors it replaces the unit's roster. Either way the
    unit gets its report (annotated workbook or receipt, with JSON) and the file is archived."""
    from processor.engine import Validator
    from processor.feedback import ReportContext, SheetStat, safe_filename, write_report
    from processor.pipeline import Outcome, _limits, _quarantine, move_file
    from processor.readers import read_workbook

    pack = roster_pack()
    try:
        wb = read_workbook(job.path, pack, _limits(job.config), name=job.name)
    except Exception as exc:  # noqa: BLE001 - unreadable after all: quarantined with the reason
        return _quarantine(job.path, job.name, job.sha256, job.config, job.engine, job.dirs, str(exc), job.received,
                           job.channel, job.sender)
    unit_code = wb.unit_code
    with Session(job.engine) as session:
        unit = session.get(Unit, unit_code) if unit_code else None
        unit_name = unit.name if unit else None
    result = Validator(pack, today=job.config.today).validate(wb)
    findings = list(result.findings)
    if unit is None:
        findings.insert(0, Finding(None, None, None, None, unit_code, "UNIT-UNKNOWN", ERROR,
                                   f"名单中的单位代码 {unit_code or '（空）'} 不在本系统的单位名录中",
                                   "请使用本单位的名单模板（tmis template roster --unit 本单位代码）填写后重新报送。"))
    errors = sum(1 for f in findings if f.severity == ERROR)
    records = result.rows.get("roster", [])
    status = "rejected" if errors else "accepted"
    with Session(job.engine, expire_on_commit=False) as session, session.begin():
        sub = Submission(sha256=job.sha256, original_name=job.name[:500], channel=job.channel, sender=job.sender,
                         kind=KIND, unit_code=unit_code if unit else None,
                         template_version=(wb.meta or {}).get("template_version"), status=status,
                         received_at=job.received, rows=len(records), errors=errors,
                         warnings=len(findings) - errors)
        session.add(sub)
        session.flush()
        archived = job.dirs.archive / job.received.astimezone().strftime("%Y-%m") / \
            f"{sub.id}__{safe_filename(job.name, 150)}"
        sub.archived_path = str(archived)
        if not errors:
            session.execute(delete(RosterMember).where(RosterMember.unit_code == unit_code))
            rows = [{"unit_code": unit_code, "submission_id": sub.id, "seq": i, "name": r.values.get("name") or "",
                     "department": r.values.get("department") or "", "post": r.values.get("post") or "",
                     "role": _label(pack, "roster_role", r.values.get("role")),
                     "duty": "、".join(_label(pack, "roster_duty", c) for c in (r.values.get("duty") or ())),
                     "office_phone": r.values.get("office_phone") or "", "mobile": r.values.get("mobile") or "",
                     "email": r.values.get("email") or ""} for i, r in enumerate(records, start=1)]
            if rows:
                session.execute(insert(RosterMember), rows)
            sub.rows_stored = len(rows)
        title = pack.sheets["roster"].name
        ctx = ReportContext(original_name=job.name, received_at=job.received, sha256=job.sha256, unit_code=unit_code,
                            unit_name=unit_name, kind=KIND, kind_title=pack.kinds[KIND]["title"], submission_id=sub.id,
                            status=status, rows=len(records), stored=sub.rows_stored or 0,
                            sheets=[SheetStat(title, len(records), sub.rows_stored or 0, errors, len(findings) - errors)],
                            instance_name=job.config.get("instance", "name"), unit_known=unit is not None,
                            labels={(title, f.code): f.label for f in pack.sheets["roster"].fields})
        files = write_report(ctx, findings, outbox=job.config.outbox, wb_data=wb, source=job.path)
        sub.report_path = str(files.report)
        sub.processed_at = datetime.now(UTC)
        audit(session, "intake", "roster.receive", "submission", str(sub.id),
              {"file": job.name, "unit": unit_code, "status": status, "members": len(records), "errors": errors})
        sub_id = sub.id
    target = move_file(job.path, archived)
    return Outcome(status, job.name, job.sha256, sub_id, unit_code, target, files.report, len(records),
                   sub.rows_stored or 0, errors, len(findings) - errors)


def compute(conn: Connection, config: Any, pack: Any, unit: str, period: Any, queried_at: datetime) -> dict[str, Any]:
    """Members of the rosters of every admin unit below ``unit`` (and its own), and the units without one."""
    t = fig.subtree(unit)
    u, m = Unit.__table__, RosterMember.__table__
    admin = and_(u.c.code == t.c.code, u.c.level != "school")
    members = [{"unit": c, "unit_name": un, "name": n, "role": r, "department": d, "post": p, "duty": du,
                "office_phone": op, "mobile": mo, "email": e}
               for c, un, n, r, d, p, du, op, mo, e in conn.execute(
                   select(m.c.unit_code, u.c.name, m.c.name, m.c.role, m.c.department, m.c.post, m.c.duty,
                          m.c.office_phone, m.c.mobile, m.c.email)
                   .select_from(t.join(u, admin).join(m, m.c.unit_code == u.c.code))
                   .order_by(m.c.unit_code, m.c.seq))]
    members.sort(key=lambda x: (x["unit"], ROLE_ORDER.get(x["role"], 9)))
    sent = {x["unit"] for x in members}
    missing = [{"unit": c, "name": n} for c, n in conn.execute(
        select(u.c.code, u.c.name).select_from(t.join(u, admin)).order_by(u.c.code)) if c not in sent]
    count = conn.execute(select(func.count()).select_from(t.join(u, admin))).scalar() or 0
    return {"members": members, "missing": missing, "units": count}


HEADERS = ["单位代码", "单位", "姓名", "组内职务", "部门", "职务", "分工", "办公电话", "手机", "邮箱"]


def render(figures: dict[str, Any], folder: Path) -> list[Path]:
    base = base_name(figures)
    title = f"{figures['name']}教师信息管理联合工作组名单汇总"
    rows = [[x["unit"], x["unit_name"], x["name"], x["role"], x["department"], x["post"], x["duty"],
             x["office_phone"], x["mobile"], x["email"]] for x in figures["members"]]
    note = (f"共 {figures['units']} 个单位，已交名单 {figures['units'] - len(figures['missing'])} 个，"
            f"未交 {len(figures['missing'])} 个。")
    wb = Workbook()
    rd.sheet_table(wb, "名单汇总", title, HEADERS, rows, first=True, notes=[note],
                   widths=[10, 16, 10, 10, 18, 12, 26, 15, 14, 24])
    rd.sheet_table(wb, "未交名单的单位", "尚未交名单的单位", ["单位代码", "单位名称"],
                   [[x["unit"], x["name"]] for x in figures["missing"]], widths=[12, 30])
    xlsx = rd.save_workbook(wb, folder / f"{base}.xlsx")
    st = rd.styles()
    tmp, pdf = rd.pdf_target(folder / f"{base}.pdf")
    doc = rd.ReportDoc(tmp, title, wide=True)
    story: list[Any] = [Paragraph(title, st["h1"]), Paragraph(note, st["body"]), Spacer(1, 3 * mm),
                        rd.pdf_table(HEADERS[1:], [r[1:] for r in rows],
                                     [w * mm for w in (30, 18, 18, 32, 20, 45, 26, 24, 44)]),
                        Paragraph("尚未交名单的单位", st["h1"]),
                        rd.pdf_table(["单位代码", "单位名称"], [[x["unit"], x["name"]] for x in figures["missing"]],
                                     [30 * mm, 80 * mm])]
    rd.build(doc, story, with_toc=False)
    tmp.replace(pdf)
    return [xlsx, pdf]
