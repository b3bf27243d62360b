"""The figures of every report, aggregated in SQL over the store (never by loading record data into Python).

Definitions (the same words are on each report's 说明 sheet and in docs/architecture.md):
- scope: the units directly below the report's unit, each with its whole subtree (a recursive CTE over units);
- files: submissions of teacher-data kinds (teachers, new-teachers, or legacy files without a kind) from
  schools, not unreadable, received before the cut-off (the end of the month, or now for the current month);
- schools_submitted: schools with at least one such file; teachers_received: distinct identity numbers on the
  基本信息 rows of those files; teachers_accepted: those whose 基本信息 row was stored;
- teachers_effective, pending: 基本信息 versions by review_state now ('effective'; 'pending' per review_level) of
  counted teachers: on the roll of the version's school and in post (status pending or active — not 长期离岗,
  交流轮岗中, 离职, 退休, 去世, nor the old school's versions of a teacher transferred away; processor/workflows);
- rows_with_errors: distinct (file, sheet, row) with an error finding, in the files received in the month;
- on time: a school whose first file arrived by the end of day ``monthly_day`` of the month.
The total row is the sum of the unit rows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, distinct, func, literal, or_, select

from processor.errors import TmisError
from processor.store.models import (
    AuditEntry,
    Officer,
    RecordVersion,
    ReportFact,
    Submission,
    Teacher,
    Unit,
)
from processor.store.models import Finding as FindingRow
from processor.store.models import IntakePerson as IP

TEACHER_KINDS = ("teachers", "new-teachers")
LIVE = ("pending", "effective")
COUNTED = ("pending", "active")  # Teacher.status of the teachers the figures count (in post)


def counted_teacher(rv: Any) -> Any:
    """Join condition of ``teachers`` onto record versions ``rv``: the version's teacher is counted, at that school."""
    tch = Teacher.__table__
    return and_(tch.c.id == rv.c.teacher_id, tch.c.unit_code == rv.c.unit_code, tch.c.status.in_(COUNTED))


class ReportError(TmisError):
    """A report cannot be made as asked (bad month, unknown unit): refused with exit code 2."""

    exit_code = 2


@dataclass(frozen=True)
class Period:
    """A report month: local-time boundaries as UTC instants, the cut-off and the deadline."""

    month: str  # YYYY-MM
    start: datetime
    end: datetime
    cutoff: datetime
    deadline: datetime
    previous: str

    @property
    def first_day(self) -> date:
        return date(int(self.month[:4]), int(self.month[5:]), 1)


def _local_midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day).astimezone().astimezone(UTC)


def period_of(month: str, *, deadline_day: int = 25, now: datetime | None = None) -> Period:
    """The Period of 'YYYY-MM'; ReportError with the fix for anything else."""
    text = (month or "").strip()
    try:
        year, mon = int(text[:4]), int(text[5:7])
        if len(text) != 7 or text[4] != "-" or not 1 <= mon <= 12:
            raise ValueError
        first = date(year, mon, 1)
    except ValueError:
        raise ReportError(f"月份“{month}”的格式不对", hint="请写成 年-月，例如 --month 2026-11。") from None
    nxt = date(year + (mon == 12), mon % 12 + 1, 1)
    prev = date(year - (mon == 1), (mon - 2) % 12 + 1, 1)
    now = now or datetime.now(UTC)
    start, end = _local_midnight(first), _local_midnight(nxt)
    day = min(deadline_day, (nxt - timedelta(days=1)).day)
    deadline = _local_midnight(date(year, mon, day) + timedelta(days=1))
    return Period(text, start, end, min(end, now), deadline, f"{prev:%Y-%m}")


def tree(root: str) -> Any:
    """CTE (code, top): every unit below ``root`` with the unit directly below root it belongs to."""
    u = Unit.__table__
    base = select(u.c.code.label("code"), u.c.code.label("top")).where(u.c.parent_code == root).cte(
        "scope", recursive=True)
    return base.union_all(select(u.c.code, base.c.top).join(base, u.c.parent_code == base.c.code))


def subtree(root: str) -> Any:
    """CTE (code, top) of ``root`` itself and everything below it (top = root)."""
    u = Unit.__table__
    base = select(u.c.code.label("code"), literal(root).label("top")).where(u.c.code == root).cte(
        "whole", recursive=True)
    return base.union_all(select(u.c.code, base.c.top).join(base, u.c.parent_code == base.c.code))


def children(conn: Connection, root: str) -> list[tuple[str, str, str]]:
    """(code, name, level) of the units directly below ``root``, in code order."""
    u = Unit.__table__
    return [tuple(r) for r in conn.execute(
        select(u.c.code, u.c.name, u.c.level).where(u.c.parent_code == root).order_by(u.c.code))]


def unit_row(conn: Connection, code: str) -> tuple[str, str, str]:
    u = Unit.__table__
    row = conn.execute(select(u.c.code, u.c.name, u.c.level).where(u.c.code == code)).first()
    if row is None:
        raise ReportError(f"单位代码 {code} 不在单位库中", hint="请用 tmis units list 查看单位代码，或先用 tmis units import 导入。")
    return tuple(row)  # type: ignore[return-value]


def last_audit_id(conn: Connection) -> int | None:
    return conn.execute(select(func.max(AuditEntry.id))).scalar()


def _teacher_file() -> Any:
    s = Submission.__table__
    return and_(s.c.status != "unreadable", or_(s.c.kind.is_(None), s.c.kind.in_(TEACHER_KINDS)))


def _as_utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _grouped(conn: Connection, stmt: Any) -> dict[str, Any]:
    return {r[0]: r[1] for r in conn.execute(stmt)}


def progress(conn: Connection, root: str, period: Period, *, queried_at: datetime) -> dict[str, Any]:
    """The monthly progress figures of every unit directly below ``root`` (and their sum)."""
    t = tree(root)
    u, s, o, rv, f = (Unit.__table__, Submission.__table__, Officer.__table__, RecordVersion.__table__,
                      FindingRow.__table__)
    ip = IP.__table__
    school = and_(u.c.code == t.c.code, u.c.level == "school")
    schools = _grouped(conn, select(t.c.top, func.count()).select_from(t.join(u, school)).group_by(t.c.top))
    with_officers = _grouped(conn, select(t.c.top, func.count(distinct(o.c.unit_code))).select_from(
        t.join(u, school).join(o, o.c.unit_code == t.c.code)).group_by(t.c.top))
    files_from = t.join(u, school).join(s, s.c.unit_code == t.c.code)
    file_rows = conn.execute(select(
        t.c.top,
        func.count(distinct(case((s.c.received_at < period.cutoff, s.c.unit_code)))),
        func.count(distinct(case((s.c.received_at < period.start, s.c.unit_code)))),
        func.count(case((s.c.received_at < period.cutoff, 1))),
        func.count(case((and_(s.c.received_at >= period.start, s.c.received_at < period.cutoff), 1))),
    ).select_from(files_from).where(_teacher_file()).group_by(t.c.top))
    files = {r[0]: r[1:] for r in file_rows}
    firsts = select(t.c.top.label("top"), s.c.unit_code.label("school"),
                    func.min(s.c.received_at).label("first")).select_from(files_from).where(
        _teacher_file(), s.c.received_at < period.cutoff).group_by(t.c.top, s.c.unit_code).subquery()
    timely = {r[0]: (r[1], r[2]) for r in conn.execute(select(
        firsts.c.top, func.count(case((firsts.c.first < period.deadline, 1))), func.min(firsts.c.first)
    ).group_by(firsts.c.top))}
    persons = {r[0]: r[1:] for r in conn.execute(select(
        t.c.top,
        func.count(distinct(case((ip.c.received_at < period.cutoff, ip.c.id_number)))),
        func.count(distinct(case((and_(ip.c.received_at < period.cutoff, ip.c.accepted), ip.c.id_number)))),
        func.count(distinct(case((ip.c.received_at < period.start, ip.c.id_number)))),
        func.count(distinct(case((and_(ip.c.received_at < period.start, ip.c.accepted), ip.c.id_number)))),
    ).select_from(t.join(ip, ip.c.unit_code == t.c.code)).group_by(t.c.top))}
    basic = t.join(rv, and_(rv.c.unit_code == t.c.code, rv.c.category == "basic")).join(Teacher.__table__, counted_teacher(rv))
    effective = _grouped(conn, select(t.c.top, func.count(distinct(rv.c.teacher_id))).select_from(basic).where(
        rv.c.review_state == "effective").group_by(t.c.top))
    pending: dict[str, dict[str, int]] = defaultdict(dict)
    oldest: dict[str, dict[str, float]] = defaultdict(dict)
    for top, level, n, first in conn.execute(
            select(t.c.top, rv.c.review_level, func.count(), func.min(rv.c.created_at)).select_from(basic).where(
                rv.c.review_state == "pending").group_by(t.c.top, rv.c.review_level)):
        pending[top][level] = n
        first = _as_utc(first)
        oldest[top][level] = round((queried_at - first).total_seconds() / 86400, 1) if first else 0.0
    bad_rows = select(t.c.top.label("top"), f.c.submission_id, f.c.sheet, f.c.row).select_from(
        files_from.join(f, f.c.submission_id == s.c.id)).where(
        _teacher_file(), s.c.received_at >= period.start, s.c.received_at < period.cutoff,
        f.c.severity == "error", f.c.row.is_not(None)).distinct().subquery()
    errors = _grouped(conn, select(bad_rows.c.top, func.count()).group_by(bad_rows.c.top))

    rows = []
    for code, name, level in children(conn, root):
        n_schools = schools.get(code, 0)
        submitted, submitted_before, files_total, files_month = files.get(code, (0, 0, 0, 0))
        received, accepted, received_before, accepted_before = persons.get(code, (0, 0, 0, 0))
        on_time, first = timely.get(code, (0, None))
        row = {
            "unit": code, "name": name, "level": level,
            "schools": n_schools, "schools_with_officers": with_officers.get(code, 0),
            "schools_submitted": submitted, "schools_silent": n_schools - submitted,
            "teachers_received": received, "teachers_accepted": accepted,
            "teachers_effective": effective.get(code, 0),
            "pending": dict(sorted(pending.get(code, {}).items())),
            "pending_total": sum(pending.get(code, {}).values()),
            "oldest_pending_days": dict(sorted(oldest.get(code, {}).items())),
            "completion": round(100.0 * submitted / n_schools, 1) if n_schools else 0.0,
            "rows_with_errors": errors.get(code, 0),
            "files": files_total, "files_this_month": files_month,
            "resubmissions": files_total - submitted,
            "schools_on_time": on_time,
            "timeliness": round(100.0 * on_time / n_schools, 1) if n_schools else 0.0,
            "first_arrival": _as_utc(first).isoformat() if first else None,
            "change": {"schools_submitted": submitted - submitted_before,
                       "teachers_received": received - received_before,
                       "teachers_accepted": accepted - accepted_before},
        }
        rows.append(row)
    return {"rows": rows, "total": total_of(rows)}


ADDITIVE = ("schools", "schools_with_officers", "schools_submitted", "schools_silent", "teachers_received",
            "teachers_accepted", "teachers_effective", "pending_total", "rows_with_errors", "files",
            "files_this_month", "resubmissions", "schools_on_time")


def total_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The total row: sums of the additive figures, rates recomputed from the sums."""
    total: dict[str, Any] = {k: sum(r[k] for r in rows) for k in ADDITIVE}
    pending: dict[str, int] = defaultdict(int)
    oldest: dict[str, float] = {}
    change: dict[str, int] = defaultdict(int)
    for r in rows:
        for level, n in r["pending"].items():
            pending[level] += n
        for level, days in r["oldest_pending_days"].items():
            oldest[level] = max(oldest.get(level, 0.0), days)
        for k, v in r["change"].items():
            change[k] += v
    n = total["schools"]
    total.update({"unit": "", "name": "合计", "pending": dict(sorted(pending.items())),
                  "oldest_pending_days": dict(sorted(oldest.items())), "change": dict(change),
                  "completion": round(100.0 * total["schools_submitted"] / n, 1) if n else 0.0,
                  "timeliness": round(100.0 * total["schools_on_time"] / n, 1) if n else 0.0})
    return total


def late_schools(conn: Connection, root: str, period: Period, limit: int = 500) -> list[dict[str, Any]]:
    """Schools below ``root`` with no file before the cut-off, or whose first file came after the deadline."""
    t = subtree(root)
    u, s = Unit.__table__, Submission.__table__
    first = select(s.c.unit_code.label("code"), func.min(s.c.received_at).label("first")).where(
        _teacher_file(), s.c.received_at < period.cutoff).group_by(s.c.unit_code).subquery()
    parent = Unit.__table__.alias("parent")
    stmt = (select(u.c.code, u.c.name, parent.c.name, first.c.first)
            .select_from(t.join(u, and_(u.c.code == t.c.code, u.c.level == "school"))
                         .join(parent, parent.c.code == u.c.parent_code, isouter=True)
                         .join(first, first.c.code == u.c.code, isouter=True))
            .where(or_(first.c.first.is_(None), first.c.first >= period.deadline))
            .order_by(first.c.first.is_not(None), u.c.code).limit(limit))
    return [{"unit": c, "name": n, "parent": p or "", "first_arrival": _as_utc(fa).isoformat() if fa else None}
            for c, n, p, fa in conn.execute(stmt)]


AGE_BANDS = ((0, 29, "29 岁及以下"), (30, 39, "30～39 岁"), (40, 49, "40～49 岁"), (50, 54, "50～54 岁"),
             (55, 200, "55 岁及以上"))
UNKNOWN = "未填报"


def _age_band(year: int | None, at: int) -> str:
    if year is None:
        return UNKNOWN
    age = at - year
    for lo, hi, label in AGE_BANDS:
        if lo <= age <= hi:
            return label
    return UNKNOWN


def composition(conn: Connection, root: str, pack: Any, *, at_year: int) -> dict[str, Any]:
    """Counts of the teachers below ``root`` (each once, by their latest live 基本信息 version) by sex, age band,
    ethnicity, employment form and school type; highest education, title and subject from their live versions."""
    t = subtree(root)
    rv, rf = RecordVersion.__table__, ReportFact.__table__
    in_scope = rv.c.unit_code.in_(select(t.c.code))
    current = select(func.max(rv.c.id).label("vid")).select_from(rv.join(Teacher.__table__, counted_teacher(rv))).where(
        rv.c.category == "basic", rv.c.review_state.in_(LIVE), in_scope).group_by(rv.c.teacher_id).subquery()
    prefix = func.substr(rf.c.unit_code, 1, 2)
    dims: dict[str, dict[str, int]] = {k: defaultdict(int) for k in
                                        ("sex", "age", "ethnicity", "employment", "school_type")}
    total = 0
    for sex, year, eth, emp, pre, n in conn.execute(
            select(rf.c.sex, rf.c.birth_year, rf.c.ethnicity, rf.c.employment, prefix, func.count())
            .select_from(rf.join(current, current.c.vid == rf.c.version_id))
            .group_by(rf.c.sex, rf.c.birth_year, rf.c.ethnicity, rf.c.employment, prefix)):
        total += n
        dims["sex"][_code_name(pack, "sex", sex)] += n
        dims["age"][_age_band(year, at_year)] += n
        dims["ethnicity"][_code_name(pack, "ethnicity", eth)] += n
        dims["employment"][emp if emp == "在编" else _code_name(pack, "employment_form", emp)] += n
        dims["school_type"][_school_type(pack, pre)] += n
    for dim, category, column, table, pick in (
            ("education", "study", rf.c.education, "education", func.min),
            ("title", "title", rf.c.title, "tech_position", func.min),
            ("subject", "teaching", rf.c.subject, "teach_course", func.min)):
        live = rv.c.review_state.in_(LIVE)
        per_teacher = (select(rf.c.teacher_id, pick(column).label("v"))
                       .select_from(rf.join(rv, rv.c.id == rf.c.version_id).join(Teacher.__table__, counted_teacher(rv)))
                       .where(rf.c.category == category, live, in_scope, column.is_not(None), column != "0")
                       .group_by(rf.c.teacher_id).subquery())
        counted = 0
        out: dict[str, int] = defaultdict(int)
        for value, n in conn.execute(select(per_teacher.c.v, func.count()).group_by(per_teacher.c.v)):
            label = _education_group(pack, value) if dim == "education" else _code_name(pack, table, value)
            out[label] += n
            counted += n
        if total - counted > 0:
            out[UNKNOWN] += total - counted
        dims[dim] = out
    ordered = {k: dict(sorted(v.items(), key=lambda kv: (kv[0] == UNKNOWN, -kv[1], kv[0]))) for k, v in dims.items()}
    age_order = [b[2] for b in AGE_BANDS] + [UNKNOWN]
    ordered["age"] = {k: dims["age"][k] for k in age_order if dims["age"].get(k)}
    return {"teachers": total, **ordered}


def _code_name(pack: Any, table: str, code: str | None) -> str:
    if code is None or code == "":
        return UNKNOWN
    entry = getattr(pack, "tables", {}).get(table)
    hit = entry.entries.get(code) if entry is not None else None
    return hit.name if hit is not None else str(code)


def _education_group(pack: Any, code: str | None) -> str:
    table = getattr(pack, "tables", {}).get("education")
    entry = table.entries.get(code) if table is not None and code else None
    return _code_name(pack, "education", (entry.parent if entry is not None else None) or code)


def _school_type(pack: Any, prefix: str | None) -> str:
    key = pack.school_type_for(f"{prefix or ''}00000000") if prefix else None
    names = (getattr(pack, "settings", {}) or {}).get("school_types", {})
    return str(names.get(key, key or UNKNOWN))


def quality(conn: Connection, root: str, period: Period, *, months: int = 6) -> dict[str, Any]:
    """The rules most broken and the units with most errors (files received up to the cut-off), and error
    findings per month over the last ``months`` months."""
    t = tree(root)
    s, f, u = Submission.__table__, FindingRow.__table__, Unit.__table__
    src = t.join(s, s.c.unit_code == t.c.code).join(f, f.c.submission_id == s.c.id)
    where = (_teacher_file(), f.c.severity == "error", s.c.received_at < period.cutoff)
    rules = [{"rule": r, "count": n} for r, n in conn.execute(
        select(f.c.rule, func.count()).select_from(src).where(*where).group_by(f.c.rule)
        .order_by(func.count().desc(), f.c.rule).limit(10))]
    units = [{"unit": c, "name": nm, "count": n} for c, nm, n in conn.execute(
        select(t.c.top, u.c.name, func.count()).select_from(src.join(u, u.c.code == t.c.top)).where(*where)
        .group_by(t.c.top, u.c.name).order_by(func.count().desc(), t.c.top).limit(10))]
    trend = []
    month = period.month
    marks = []
    for _ in range(months):
        marks.append(month)
        month = period_of(month).previous
    for m in reversed(marks):
        p = period_of(m)
        n = conn.execute(select(func.count()).select_from(src).where(
            _teacher_file(), f.c.severity == "error", s.c.received_at >= p.start, s.c.received_at < p.end)).scalar()
        trend.append({"month": m, "errors": n or 0})
    return {"rules": rules, "units": units, "trend": trend}
