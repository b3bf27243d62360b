"""The sample itself: reproducible from its seed, whatever order the store returns rows in.

Each candidate gets the key SHA-256("<seed>:school:<school code>") (teachers: "<seed>:teacher:<school>:<identity
number>"); the sample is the N schools with the smallest keys, then in each of them the M teachers with the
smallest keys. The same seed and the same archive give the same sample on SQLite and PostgreSQL; a teacher
added later changes only whether that teacher is drawn, never the order of the others."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.credits.plan import CreditsError
from processor.review.history import subtree
from processor.store.models import Teacher, Unit


def new_seed() -> str:
    """A seed for a sample drawn without one (printed, so that the sample can be drawn again)."""
    return secrets.token_hex(8)


def _key(*parts: str) -> str:
    return hashlib.sha256(":".join(parts).encode("utf-8")).hexdigest()


def draw(session: Session, unit: str, schools: int, teachers: int, seed: str) -> dict[str, Any]:
    """{"unit", "seed", "schools": [{"code", "name", "teachers": [{"id", "id_number", "name"}]}]}."""
    if schools < 1 or teachers < 1:
        raise CreditsError("抽查的学校数和每校教师数都至少为 1", hint="例如 --schools 3 --teachers 5。")
    root = session.get(Unit, unit)
    if root is None:
        raise CreditsError(f"单位代码 {unit} 不在单位名录中", hint="可用 tmis units list 查看单位代码。")
    if root.level == "school":
        raise CreditsError(f"{root.name}是学校，抽查要由其上级教育行政部门发起",
                           hint="请用 --unit 指定县、市或省级单位的代码。")
    scope = subtree(session, unit)
    candidates = sorted(((c, n) for c, n in session.execute(
        select(Unit.code, Unit.name).where(Unit.code.in_(scope), Unit.level == "school"))),
        key=lambda x: _key(seed, "school", x[0]))
    out = []
    for code, name in candidates:
        if len(out) == schools:
            break
        staff = sorted(session.execute(select(Teacher.id, Teacher.id_number, Teacher.name).where(
            Teacher.unit_code == code, Teacher.status == "active")), key=lambda t: _key(seed, "teacher", code, t[1]))
        if not staff:
            continue  # a school with no effective teacher has nothing to check
        out.append({"code": code, "name": name, "available": len(staff),
                    "teachers": [{"id": t, "id_number": n, "name": nm} for t, n, nm in staff[:teachers]]})
    if not out:
        raise CreditsError(f"{root.name}下属学校还没有已生效的教师记录，无从抽查",
                           hint="教师的基本信息审核生效后才能抽查。")
    return {"unit": unit, "name": root.name, "seed": seed, "schools_asked": schools, "teachers_asked": teachers,
            "schools": out, "schools_available": len(candidates)}
