"""What ingest records for reports: the persons named on each file's 基本信息 rows (received, stored or not),
per stored record version the handful of values that the composition tables count, and per teacher the current
facts (``teacher_facts``: the newest live 基本信息 version's values, and the lowest live education, title and
subject) that the summary counts with a plain GROUP BY.

Whatever writes record versions or changes their review state keeps ``teacher_facts`` in step in the same
transaction: ingest calls ``refresh(session, teacher_ids)`` for the teachers it stored rows of, and the review
chain calls ``settled(session, changes)`` with the state changes it applied. ``refresh`` recomputes the rows
from the versions themselves, so it is always safe to call for more teachers than changed."""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from processor.store import bulk
from processor.store.models import IntakePerson, RecordVersion, ReportFact, TeacherFact
from processor.store.spans import id_clauses

BIANZHI = "在编"  # the employment value of a person in the establishment (是否在编 = 1)
LIVE = ("pending", "effective")  # the review states whose versions are counted
PICKED = (("education", "study"), ("title", "title"), ("subject", "teaching"))  # column, category: lowest code
FACT_CATEGORIES = frozenset({"basic"} | {category for _column, category in PICKED})  # what teacher_facts reads
_PICKED_INDEX = {category: k for k, (_column, category) in enumerate(PICKED)}
CHUNK = 2000


def _text(value: Any, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
        if value is None:
            return None
    return str(value)[:limit]


def _year(value: Any) -> int | None:
    text = str(value or "")
    return int(text[:4]) if len(text) >= 4 and text[:4].isdigit() else None


def fact_of(category: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """The report columns of one version's data, or None when its category feeds no report."""
    if category == "basic":
        employment = BIANZHI if str(data.get("is_in_bianzhi") or "") == "1" else _text(data.get("employment_form"), 10)
        return {"sex": _text(data.get("sex"), 4), "birth_year": _year(data.get("birth_date")),
                "ethnicity": _text(data.get("ethnicity"), 4), "employment": employment}
    if category == "study":
        return {"education": _text(data.get("education"), 4)}
    if category == "title":
        return {"title": _text(data.get("title"), 4)}
    if category == "teaching":
        return {"subject": _text(data.get("courses"), 10)}
    return None


def record_facts(session: Session, version_ids: Sequence[int], rows: Sequence[dict[str, Any]],
                 data: Sequence[dict[str, Any]] | None = None, known: Container[int] | None = None,
                 lowered: dict[int, list[list[str]]] | None = None) -> int:
    """Insert the report facts of freshly inserted versions (``rows`` as inserted, ids in the same order).
    ``data``: each row's values when its ``data`` was inserted as encoded JSON text.

    ``known`` (the teachers that were in the store before): a 基本信息 version of any other teacher — one the
    file just created, whose only version it is — also gets that teacher's ``teacher_facts`` row at once, the
    row :func:`refresh` would compute (no education, title or subject yet), and a later 学习经历 / 专业技术职务 /
    教育教学 version of such a teacher lowers that row's education / title / subject to its own value where it is
    lower, as :func:`refresh` would take the lowest (so the caller refreshes only the known teachers). With
    ``lowered`` those values are gathered there (teacher id → one list of values per column) for the caller to
    apply with :func:`lower_facts` — once per teacher rather than once per version; without it at once."""
    out = []
    current = []
    pending: dict[int, list[list[str]]] = {} if lowered is None else lowered
    for i, (vid, row) in enumerate(zip(version_ids, rows, strict=True)):
        category = row["category"]
        fact = fact_of(category, row["data"] if data is None else data[i])
        if fact is not None:
            out.append({"version_id": vid, "teacher_id": row["teacher_id"], "unit_code": row["unit_code"],
                        "category": category, "sex": None, "birth_year": None, "ethnicity": None,
                        "employment": None, "education": None, "title": None, "subject": None, **fact})
            if known is None or row["teacher_id"] in known:
                continue
            if category == "basic":
                current.append({"teacher_id": row["teacher_id"], "version_id": vid, "unit_code": row["unit_code"],
                                "state": row["review_state"], "education": None, "title": None, "subject": None,
                                **fact})
                continue
            k = _PICKED_INDEX.get(category)
            value = fact.get(PICKED[k][0]) if k is not None else None
            if value is not None and value != "0" and row["review_state"] in LIVE:
                lists = pending.get(row["teacher_id"])
                if lists is None:
                    lists = pending[row["teacher_id"]] = [[] for _ in PICKED]
                lists[k].append(value)  # type: ignore[index]
    bulk.insert_rows(session, TeacherFact, current)
    if lowered is None:
        lower_facts(session, pending)
    return bulk.insert_rows(session, ReportFact, out)


def record_version_facts(session: Session, category: str, unit_code: str, state: str, version_ids: Sequence[int],
                         teacher_ids: Sequence[int], data: Sequence[dict[str, Any]], known: Container[int],
                         lowered: dict[int, list[list[str]]]) -> int:
    """:func:`record_facts` for versions of one category, school and review state (what ingest inserts at once),
    built as plain tuples (processor/store/bulk.py ``insert_tuples``) instead of a dict per row. ``data``: each
    version's values; ``known`` and ``lowered`` as for :func:`record_facts` (``lowered`` is required here)."""
    if fact_of(category, {}) is None:
        return 0
    columns = list(fact_of(category, {}))  # type: ignore[arg-type]
    names = ("version_id", "teacher_id", *columns)
    constants = {c: None for c in FACT_COLUMNS[4:] if c not in columns}
    out = []
    current = []
    k = _PICKED_INDEX.get(category)
    for vid, tid, values in zip(version_ids, teacher_ids, data, strict=True):
        fact = tuple(fact_of(category, values).values())  # type: ignore[union-attr]
        out.append((vid, tid, *fact))
        if tid in known:
            continue
        if category == "basic":
            current.append((tid, vid, *fact))
        elif k is not None:
            value = fact[0]
            if value is not None and value != "0" and state in LIVE:
                lists = lowered.get(tid)
                if lists is None:
                    lists = lowered[tid] = [[] for _ in PICKED]
                lists[k].append(value)
    if current:
        bulk.insert_tuples(session, TeacherFact, ("teacher_id", "version_id", *columns), current,
                           {"unit_code": unit_code, "state": state, **constants})
    return bulk.insert_tuples(session, ReportFact, names, out, {"unit_code": unit_code, "category": category,
                                                                 **constants})


def lower_facts(session: Session, pending: dict[int, list[list[str]]]) -> int:
    """Lower the ``teacher_facts`` rows' education / title / subject to the values gathered by :func:`record_facts`
    where they are lower (or the row has none): one ``UPDATE`` per teacher (per value, when a teacher has several
    for one column). Empties ``pending``; returns the number of statements."""
    params = []
    for tid, lists in pending.items():
        for k in range(max(len(v) for v in lists)):
            params.append((*(v[k] if k < len(v) else None for v in lists), tid))
    pending.clear()
    if not params:
        return 0
    columns = [column for column, _category in PICKED]
    conn = session.connection()
    n = len(columns)
    if conn.dialect.name == "sqlite":  # the driver's executemany: SQLAlchemy's per-row parameters cost more
        sets = ", ".join(f"{c} = CASE WHEN ?{k} IS NOT NULL AND ({c} IS NULL OR {c} > ?{k}) THEN ?{k} ELSE {c} END"
                         for k, c in enumerate(columns, 1))
        sql = f"UPDATE teacher_facts SET {sets} WHERE teacher_id = ?{n + 1}"
        for i in range(0, len(params), bulk.BATCH):
            conn.exec_driver_sql(sql, params[i:i + bulk.BATCH])
        return len(params)
    tf = TeacherFact.__table__
    values = {}
    for k, c in enumerate(columns):
        given = bindparam(f"v{k}", type_=tf.c[c].type)
        values[c] = case((and_(given.is_not(None), or_(tf.c[c].is_(None), tf.c[c] > given)), given), else_=tf.c[c])
    stmt = update(tf).where(tf.c.teacher_id == bindparam("t")).values(values).execution_options(
        synchronize_session=False)
    rows = [{**{f"v{k}": p[k] for k in range(n)}, "t": p[n]} for p in params]
    for i in range(0, len(rows), bulk.BATCH):
        session.execute(stmt, rows[i:i + bulk.BATCH])
    return len(params)


def record_intake_persons(session: Session, submission_id: int, unit_code: str, received_at: datetime,
                          numbers: Iterable[str], accepted: set[str]) -> int:
    """One row per distinct identity number on the file's 基本信息 rows, marked when its row was stored."""
    rows = [{"submission_id": submission_id, "unit_code": unit_code, "received_at": received_at,
             "id_number": n[:40], "accepted": n in accepted} for n in sorted(set(numbers))]
    return bulk.insert_rows(session, IntakePerson, rows)


def current_facts(teacher_ids: Sequence[int] | None = None) -> Select[Any]:
    """SELECT of the ``teacher_facts`` rows of ``teacher_ids`` (every teacher when None), from the versions."""
    rv, rf = RecordVersion.__table__, ReportFact.__table__

    # An IN list even for consecutive ids: BETWEEN on a table without statistics yet (a province's first
    # import) makes PostgreSQL plan one row and nest the aggregates (13 s instead of 0.1 s per 2,000 teachers).
    def only(stmt: Select[Any]) -> Select[Any]:
        return stmt if teacher_ids is None else stmt.where(rv.c.teacher_id.in_(teacher_ids))

    current = only(select(func.max(rv.c.id).label("vid")).where(rv.c.category == "basic", rv.c.review_state.in_(LIVE))
                   .group_by(rv.c.teacher_id)).subquery("cur")
    picked = []
    for column, category in PICKED:
        value = rf.c[column]
        picked.append(only(select(rv.c.teacher_id.label("tid"), func.min(value).label("v"))
                           .select_from(rv.join(rf, rf.c.version_id == rv.c.id))
                           .where(rv.c.category == category, rv.c.review_state.in_(LIVE), value.is_not(None),
                                  value != "0")
                           .group_by(rv.c.teacher_id)).subquery(f"p_{column}"))
    base = rf.join(current, current.c.vid == rf.c.version_id).join(rv, rv.c.id == rf.c.version_id)
    for sub in picked:
        base = base.outerjoin(sub, sub.c.tid == rf.c.teacher_id)
    return select(rf.c.teacher_id, rf.c.version_id, rf.c.unit_code, rv.c.review_state.label("state"), rf.c.sex,
                  rf.c.birth_year, rf.c.ethnicity, rf.c.employment,
                  *(sub.c.v.label(column) for sub, (column, _c) in zip(picked, PICKED, strict=True))).select_from(base)


FACT_COLUMNS = ["teacher_id", "version_id", "unit_code", "state", "sex", "birth_year", "ethnicity", "employment",
                "education", "title", "subject"]


def refresh(session: Session, teacher_ids: Iterable[int]) -> int:
    """Recompute the ``teacher_facts`` rows of these teachers from their versions (in the caller's transaction)."""
    ids = sorted(set(teacher_ids))
    tf = TeacherFact.__table__
    for i in range(0, len(ids), CHUNK):
        part = ids[i:i + CHUNK]
        session.execute(delete(tf).where(tf.c.teacher_id.in_(part)))
        session.execute(insert(tf).from_select(FACT_COLUMNS, current_facts(part)))
    return len(ids)


def settled(session: Session, changes: Sequence[dict[str, Any]]) -> None:
    """Keep ``teacher_facts`` in step with review changes already applied (the ``id``/``review_state`` dicts
    of processor.review.decide): a version made effective changes only the state of its teacher's row (it was
    live already); a version returned or superseded left the live set, so its teacher's row is recomputed."""
    tf, rv = TeacherFact.__table__, RecordVersion.__table__
    effective = sorted(c["id"] for c in changes if c.get("review_state") == "effective")
    left = sorted(c["id"] for c in changes if c.get("review_state") in ("returned", "superseded"))
    for i in range(0, len(effective), CHUNK):
        part = effective[i:i + CHUNK]  # by teacher (the key) and version: no index on version_id needed
        pairs: list[tuple[int, int]] = []
        for where in id_clauses(rv.c.id, part):
            pairs.extend(session.execute(select(rv.c.teacher_id, rv.c.id).where(where, rv.c.category == "basic")))
        if pairs:
            tids, vids = [t for t, _ in pairs], [v for _, v in pairs]
            session.execute(update(tf).where(or_(*id_clauses(tf.c.teacher_id, tids, chunk=len(tids))),
                                             or_(*id_clauses(tf.c.version_id, vids, chunk=len(vids))))
                            .values(state="effective").execution_options(synchronize_session=False))
    teachers: set[int] = set()
    for i in range(0, len(left), CHUNK):
        teachers.update(session.scalars(select(rv.c.teacher_id).where(rv.c.id.in_(left[i:i + CHUNK])).distinct()))
    refresh(session, teachers)


def stale(conn: Any) -> int:
    """How many teachers' ``teacher_facts`` rows differ from what the versions give (0 when in step)."""
    expected = current_facts().subquery("want")
    tf = TeacherFact.__table__
    same = and_(*(tf.c[c].is_not_distinct_from(expected.c[c]) for c in FACT_COLUMNS[1:]))
    missing = select(func.count()).select_from(expected.outerjoin(tf, and_(tf.c.teacher_id == expected.c.teacher_id,
                                                                           same))).where(tf.c.teacher_id.is_(None))
    extra = select(func.count()).select_from(tf).where(tf.c.teacher_id.not_in(select(expected.c.teacher_id)))
    return int(conn.execute(missing).scalar() or 0) + int(conn.execute(extra).scalar() or 0)
