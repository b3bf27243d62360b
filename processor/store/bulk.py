"""Bulk writes for big files: many rows per statement, no ORM objects, ids without per-row RETURNING.

One mechanism for every path that stores a province-size file (the pipeline's ingest, exchange import,
making versions effective, teacher numbers, report facts, findings):

- ``insert_rows``: a Core executemany (``sqlite3.executemany``; psycopg's batched insert on PostgreSQL).
  The ORM's bulk insert builds a state per row first (about 3× slower here).
- ``insert_with_ids``: the same, with the primary keys handed out before the insert, so that callers get
  the ids of what they inserted in order. ``INSERT … RETURNING`` with ``sort_by_parameter_order`` made
  SQLAlchemy run one statement per row on SQLite (390,115 statements for a 100,000-row import). On
  SQLite the ids continue from ``max(id)``: every write transaction starts with ``BEGIN IMMEDIATE``
  (processor/store/db.py), so no other writer can take the same ids before the commit. On PostgreSQL they
  come from the column's own sequence (``nextval`` over ``generate_series``), which is safe across workers.
- ``update_by_id``: one ``UPDATE … WHERE id = ?`` executemany per set of columns.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Table, bindparam, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

BATCH = 5000


class JSONText(str):
    """A JSON column's value already encoded (the engine's ``json_serializer``, processor/store/db.py, passes
    it through as it is instead of encoding the text as a JSON string)."""

    __slots__ = ()


def json_dumps(value: Any) -> str:
    """The engines' JSON serializer: ``json.dumps`` as SQLAlchemy's default, except for JSONText."""
    return value if type(value) is JSONText else json.dumps(value)


def _table(model_or_table: Any) -> Table:
    return getattr(model_or_table, "__table__", model_or_table)


def insert_rows(session: Session, model_or_table: Any, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows`` (dicts with the same keys) in the session's transaction; returns how many."""
    if not rows:
        return 0
    table = _table(model_or_table)
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        _insert_sqlite(conn, table, rows)
    else:
        _insert_postgres(conn, table, rows)
    return len(rows)


def _driver_rows(conn: Any, table: Table, rows: Sequence[dict[str, Any]]) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """The column names and the rows as the driver takes them: each column's own bind processing (JSON,
    DateTime) and the Python defaults of the columns not given, without SQLAlchemy's per-row parameter
    building (most of the cost of a Core executemany here)."""
    dialect = conn.dialect
    keys = list(rows[0])
    given = set(keys)
    defaults: list[tuple[str, Any]] = []
    for col in table.columns:
        if col.key in given or col.default is None or getattr(col.default, "is_sequence", False):
            continue
        arg = col.default.arg  # type: ignore[attr-defined]
        defaults.append((col.key, arg(None) if col.default.is_callable else arg))  # type: ignore[attr-defined]
    names = keys + [k for k, _ in defaults]
    procs = [table.c[k].type._cached_bind_processor(dialect) for k in names]
    fixed = [v for _, v in defaults]
    fixed_done = tuple(p(v) if p is not None else v for p, v in zip(procs[len(keys):], fixed, strict=True))
    key_procs = list(zip(keys, procs[:len(keys)], strict=True))

    def converted() -> Iterator[tuple[Any, ...]]:
        last: dict[str, tuple[Any, Any]] = {}
        for row in rows:
            values = []
            for k, proc in key_procs:
                v = row[k]
                if proc is not None and v is not None:
                    hit = last.get(k)
                    if hit is not None and hit[0] is v:  # one timestamp for a whole batch: processed once
                        v = hit[1]
                    else:
                        done = proc(v)
                        last[k] = (v, done)
                        v = done
                values.append(v)
            yield (*values, *fixed_done)

    return names, converted()


def _insert_sqlite(conn: Any, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """The driver's executemany, BATCH rows at a time."""
    names, converted = _driver_rows(conn, table, rows)
    sql = (f'INSERT INTO "{table.name}" ({", ".join(chr(34) + n + chr(34) for n in names)}) '
           f'VALUES ({", ".join("?" * len(names))})')
    while params := list(islice(converted, BATCH)):
        conn.exec_driver_sql(sql, params)


def _insert_postgres(conn: Any, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """``COPY … FROM STDIN`` on the transaction's own connection. psycopg's executemany sends one INSERT per
    row (pipelined); COPY streams the rows in one statement, several times faster for a school's file and a
    province's chunk alike."""
    names, converted = _driver_rows(conn, table, rows)
    sql = f'COPY "{table.name}" ({", ".join(chr(34) + n + chr(34) for n in names)}) FROM STDIN'
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cursor = conn.connection.cursor()
    try:
        with cursor.copy(sql) as copy:
            for row in converted:
                copy.write_row(row)
    except dbapi_error as exc:
        # As SQLAlchemy raises them for its own statements: callers catch IntegrityError (a second worker's
        # teacher, the same content twice) to validate the file again.
        raise DBAPIError.instance(sql, None, exc, dbapi_error, dialect=conn.dialect) from exc
    finally:
        cursor.close()


def insert_tuples(session: Session, model_or_table: Any, names: Sequence[str], rows: Sequence[tuple[Any, ...]],
                  constants: dict[str, Any] | None = None) -> int:
    """Insert ``rows`` (tuples of the columns ``names``) with the same ``constants`` (column → value) in each; returns
    how many. For the biggest inserts (record versions, report facts): on SQLite the tuples go to the driver as they
    are, the constants bind-processed once, so the varying values must be what the driver takes (ints, str, None;
    JSONText for a JSON column). Elsewhere they become dicts for :func:`insert_rows`."""
    if not rows:
        return 0
    table = _table(model_or_table)
    constants = constants or {}
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return insert_rows(session, table, [{**dict(zip(names, row, strict=True)), **constants} for row in rows])
    dialect = conn.dialect
    fixed = []
    for k, v in constants.items():
        proc = table.c[k].type._cached_bind_processor(dialect)
        fixed.append(proc(v) if proc is not None and v is not None else v)
    fixed_t = tuple(fixed)
    columns = [*names, *constants]
    sql = (f'INSERT INTO "{table.name}" ({", ".join(chr(34) + n + chr(34) for n in columns)}) '
           f'VALUES ({", ".join("?" * len(columns))})')
    for i in range(0, len(rows), BATCH):
        part = rows[i:i + BATCH]
        conn.exec_driver_sql(sql, [r + fixed_t for r in part] if fixed_t else list(part))
    return len(rows)


_SEQUENCES: dict[tuple[str, str], str] = {}  # (database, table) → its id sequence: one round trip less per insert


def allocate_ids(session: Session, model_or_table: Any, n: int) -> list[int]:
    """``n`` fresh primary keys of the table's integer ``id`` column, in increasing order."""
    if n <= 0:
        return []
    table = _table(model_or_table)
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        where = (conn.engine.url.render_as_string(hide_password=True), table.name)
        seq = _SEQUENCES.get(where)
        if seq is None:
            seq = _SEQUENCES[where] = conn.execute(
                text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}).scalar_one()
        return list(conn.execute(text(f"SELECT nextval('{seq}') FROM generate_series(1, :n)"), {"n": n}).scalars())
    top = conn.execute(select(func.max(table.c.id))).scalar() or 0
    return list(range(top + 1, top + 1 + n))


def insert_with_ids(session: Session, model_or_table: Any, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` with ids handed out first (set in each dict as ``id``); returns the ids in row order."""
    ids = allocate_ids(session, model_or_table, len(rows))
    for row, new_id in zip(rows, ids, strict=True):
        row["id"] = new_id
    insert_rows(session, model_or_table, rows)
    return ids


def update_by_id(session: Session, model_or_table: Any, rows: Iterable[dict[str, Any]]) -> int:
    """``UPDATE table SET … WHERE id = :id`` for each dict (grouped by the columns they set)."""
    table = _table(model_or_table)
    by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    n = 0
    for row in rows:
        by_keys[tuple(sorted(k for k in row if k != "id"))].append(row)
        n += 1
    conn = session.connection()
    for keys, part in by_keys.items():
        if not keys:
            continue
        if conn.dialect.name == "sqlite":
            procs = [(k, table.c[k].type._cached_bind_processor(conn.dialect)) for k in keys]
            sql = (f'UPDATE "{table.name}" SET {", ".join(chr(34) + k + chr(34) + " = ?" for k in keys)} '
                   'WHERE id = ?')
            memo: dict[str, tuple[Any, Any]] = {}

            def value(k: str, proc: Any, v: Any, memo: dict[str, tuple[Any, Any]] = memo) -> Any:
                if proc is None or v is None:
                    return v
                hit = memo.get(k)
                if hit is not None and hit[0] is v:
                    return hit[1]
                done = proc(v)
                memo[k] = (v, done)
                return done

            for i in range(0, len(part), BATCH):
                conn.exec_driver_sql(sql, [(*(value(k, proc, r[k]) for k, proc in procs), r["id"])
                                           for r in part[i:i + BATCH]])
            continue
        stmt = (table.update().where(table.c.id == bindparam("_id"))
                .values({k: bindparam(f"_v_{k}") for k in keys}))
        params = [{"_id": r["id"], **{f"_v_{k}": r[k] for k in keys}} for r in part]
        for i in range(0, len(params), BATCH):
            conn.execute(stmt, params[i:i + BATCH])
    return n
