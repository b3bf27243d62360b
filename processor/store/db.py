"""Engine and session setup (SQLite in WAL mode or PostgreSQL via psycopg 3) and Alembic migrations run from code."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from processor.errors import StoreError
from processor.store import bulk

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# How long a SQLite connection waits for another writer before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KB = 32_768  # page cache per connection (PRAGMA cache_size)


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, fit for messages and logs."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    # Rendering percent-encodes non-ASCII paths (a SQLite file under 实例/): render only when there is a password.
    return url if parsed.password is None else parsed.render_as_string(hide_password=True)


def _is_sqlite(url: str) -> bool:
    try:
        return make_url(url).get_backend_name() == "sqlite"
    except ArgumentError:
        return False  # make_engine reports the bad URL


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for in-memory databases)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite database file (the state folder) when it does not exist yet."""
    if _is_sqlite(url):
        path = _sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> Engine:
    """An engine for a SQLAlchemy URL.

    SQLite connections get WAL journaling, foreign keys, a busy timeout and synchronous=NORMAL, and
    transactions start with ``BEGIN IMMEDIATE`` so that two workers never deadlock on a read-then-write
    upgrade of their locks (the second simply waits up to the busy timeout). ``read_only`` engines (the
    store look-ups of a validating child: processor/forked.py, processor/exchange/worker.py) begin deferred
    and refuse writes: in WAL mode they read the last commit and never wait for a writer. PostgreSQL URLs
    are given the psycopg 3 driver when they name none (``postgresql://`` → ``postgresql+psycopg://``).
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"数据库地址 {url} 不是有效的 SQLAlchemy URL",
                         hint="例如 sqlite:///var/tmis.db 或 postgresql+psycopg://user@127.0.0.1:5432/tmis。") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(parsed, pool_pre_ping=parsed.get_backend_name() != "sqlite",
                               json_serializer=bulk.json_dumps, **kwargs)
    except (NoSuchModuleError, ArgumentError) as exc:
        raise StoreError(f"不支持的数据库地址 {mask_url(url)}（{exc}）",
                         hint="请使用 sqlite:/// 或 postgresql+psycopg:// 开头的地址。") from exc
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, read_only)
    elif read_only:
        engine = engine.execution_options(postgresql_readonly=True)
    return engine


def _configure_sqlite(engine: Engine, read_only: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (see on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA synchronous = NORMAL")
            # 32 MB of page cache instead of SQLite's 2 MB: a province's file inserts a million keys in random
            # order into the identity-number indexes, which a 2 MB cache reads back from the OS page by page.
            cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KB}")
            if read_only:
                cursor.execute("PRAGMA query_only = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits when the block ends normally and rolls back when it raises."""
    session = sessionmaker(bind=engine, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig(str(MIGRATIONS_DIR / "alembic.ini"))
    # Absolute, so migrations run from any working directory and from an installed package.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    """The newest migration this version of tmis ships."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def _unreachable(url: str, exc: BaseException) -> StoreError:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    reason = lines[0] if lines else type(orig).__name__
    return StoreError(f"无法连接数据库 {mask_url(url)}（{reason}）",
                      hint="请检查配置文件 [database] url 或环境变量 TMIS_DATABASE_URL，并确认数据库服务已启动。")


def upgrade(url: str, revision: str = "head") -> str:
    """Run the Alembic migrations on the database at ``url`` up to ``revision``; returns the revision reached.

    A SQLite database file and its folder are created when missing.
    """
    ensure_sqlite_folder(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            cfg = _alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
            connection.commit()
            if connection.info.pop("foreign_keys_off", False):  # migrations/env.py: off while tables are copied
                connection.connection.driver_connection.execute("PRAGMA foreign_keys = ON")
        return current_revision(url, engine=engine) or ""
    except DBAPIError as exc:
        raise _unreachable(url, exc) from exc
    finally:
        engine.dispose()


def current_revision(url: str, *, engine: Engine | None = None) -> str | None:
    """The migration the database is at (None when it has never been upgraded)."""
    own = engine is None
    if engine is None:
        if _is_sqlite(url):
            path = _sqlite_file(url)
            if path is not None and not path.exists():
                return None
        engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except DBAPIError as exc:
        raise _unreachable(url, exc) from exc
    finally:
        if own:
            engine.dispose()


def check_revision(url: str, engine: Engine) -> None:
    """Raise StoreError unless the database is at the migration this version of tmis ships."""
    current = current_revision(url, engine=engine)
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise StoreError(f"数据库 {mask_url(url)} 尚未初始化", hint="请先运行 tmis db upgrade。")
    script = ScriptDirectory.from_config(_alembic_config())
    try:
        script.get_revision(current)
    except CommandError:
        raise StoreError(f"数据库 {mask_url(url)} 的版本 {current} 比本程序（{head}）新",
                         hint="请升级 tmis 后再使用该数据库。") from None
    raise StoreError(f"数据库 {mask_url(url)} 的版本 {current} 低于本程序要求的 {head}",
                     hint="请先运行 tmis db upgrade。")


def open_store(config: Any) -> Engine:
    """The engine for the configured database, after checking it is reachable and fully upgraded.

    ``config`` is a processor.config.Config (anything with ``database_url``). Raises StoreError with one
    Chinese line naming the URL (password masked) otherwise.
    """
    url = config.database_url
    if _is_sqlite(url):
        path = _sqlite_file(url)
        if path is not None and not path.exists():
            raise StoreError(f"数据库 {mask_url(url)} 不存在", hint="请先运行 tmis db upgrade（或 tmis init 新建实例）。")
    engine = make_engine(url)
    try:
        check_revision(url, engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
