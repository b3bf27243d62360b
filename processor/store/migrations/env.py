"""Alembic environment: runs on the connection tmis hands over, or on the configured database."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from processor.errors import StoreError
from processor.queue.schema import ours
from processor.store.models import Base

target_metadata = Base.metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite can change tables only by copying them; batch mode does that for later migrations.
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
        compare_type=True,
        include_name=ours,  # procrastinate's tables are its schema, not our models
    )
    sqlite = connection.dialect.name == "sqlite"
    if sqlite and not connection.in_transaction():
        # A migration that copies a table others refer to (batch mode: SQLite keeps constraints inside the
        # table) must not have SQLite act on those references while the old copy is dropped. The pragma only
        # works outside a transaction; the references are checked before the migration commits.
        # The caller commits, and then turns them on again (processor/store/db.py upgrade) or closes it.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
        connection.info["foreign_keys_off"] = True
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:  # rolled back by the transaction's end
                raise StoreError(f"数据库升级会留下 {len(broken)} 处不一致的引用（{broken[0][0]} 表），已撤销本次升级",
                                 hint="数据库保持升级前的状态；请保留数据库文件，联系系统维护人员。")


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    # Run from the alembic command line: use the instance's configuration.
    from processor.config import load_config
    from processor.store.db import ensure_sqlite_folder, make_engine

    url = load_config().database_url
    ensure_sqlite_folder(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _configure_and_run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("tmis migrations run online only: alembic -c processor/store/migrations/alembic.ini upgrade head")
run_migrations_online()
