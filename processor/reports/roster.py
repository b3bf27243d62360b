"""Workgroup rosters (联合工作组名单): the rule pack in rules/roster/, the inbox handler that takes a filled
roster back (validated by the same engine and reported like a submission), and the consolidated roster report
of every unit below, listing the units that have not sent one."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer
from sqlalchemy import Connection, and_, delete, func, insert, select
from sqlalchemy.orm import Session

from processor.reports import figures as fig
from processor.reports import render as rd
from processor.reports.runs import base_name
from processor.rulepack.model import RulePack
from processor.sidepacks import Intake, label, pack_for_kind, take_in
from processor.store.models import RosterMember, Submission, Unit

KIND = "roster"
ROLE_ORDER = {"组长": 0, "副组长": 1, "成员": 2}


def roster_pack() -> RulePack:
    pack = pack_for_kind(KIND)
    assert pack is not None
    return pack


def _store(session: Session, sub: Submission, records: dict[str, list[Any]], unit: Unit) -> int:
    """An accepted roster replaces the unit's roster."""
    pack = roster_pack()
    session.execute(delete(RosterMember).where(RosterMember.unit_code == unit.code))
    rows = [{"unit_code": unit.code, "submission_id": sub.id, "seq": i, "name": r.values.get("name") or "",
             "department": r.values.get("department") or "", "post": r.values.get("post") or "",
             "role": label(pack, "roster_role", r.values.get("role")),
             "duty": "、".join(label(pack, "roster_duty", c) for c in (r.values.get("duty") or ())),
             "office_phone": r.values.get("office_phone") or "", "mobile": r.values.get("mobile") or "",
             "email": r.values.get("email") or ""} for i, r in enumerate(records.get("roster", []), start=1)]
    if rows:
        session.execute(insert(RosterMember), rows)
    return len(rows)


def handle(job: Any) -> Any:
    """A filled roster from the inbox: validate; without errors it replaces the unit's roster. Either way the
    unit gets its report (annotated workbook or receipt, with JSON) and the file is archived."""
    return take_in(job, Intake(KIND, check=lambda *_: [], store=_store, audit_action="roster.receive"))


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
