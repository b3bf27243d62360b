"""procrastinate's tables, types and functions in our PostgreSQL database, applied by migration 0008 so that
`tmis db upgrade` alone makes a fresh instance ready for any number of workers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

QUEUE_TABLE = "procrastinate_jobs"
QUEUE_PREFIX = "procrastinate_"


def is_queue_table(name: str) -> bool:
    """A table of procrastinate's schema (not one of tmis's models)."""
    return name.startswith(QUEUE_PREFIX)


def ours(name: str | None, type_: str, parent_names: object) -> bool:
    """For Alembic's ``include_name``: compare tmis's own tables only, not procrastinate's."""
    return not (type_ == "table" and is_queue_table(name or ""))


def has_queue_schema(connection: Any) -> bool:
    return connection.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": QUEUE_TABLE}).scalar_one()


def apply_queue_schema(connection: Any) -> None:
    """Create procrastinate's schema (the version installed) unless it is there already."""
    from procrastinate.schema import SchemaManager

    if has_queue_schema(connection):
        return
    # No parameters: psycopg sends the script with the simple query protocol, several statements at once.
    cursor = connection.connection.cursor()
    try:
        cursor.execute(SchemaManager.get_schema())
    finally:
        cursor.close()


def drop_queue_schema(connection: Any) -> None:
    """Remove every procrastinate object (tables, functions, types)."""
    connection.execute(text("""
        DO $$
        DECLARE r record;
        BEGIN
            FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema()
                     AND tablename LIKE 'procrastinate%' LOOP
                EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', r.tablename);
            END LOOP;
            FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                     WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%' LOOP
                EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', r.sig);
            END LOOP;
            FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                     WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate%' AND t.typtype IN ('e', 'c')
                     LOOP
                EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', r.typname);
            END LOOP;
        END $$;
    """))
