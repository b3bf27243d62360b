"""The store: migrations, the append-only audit log, engine settings, open_store and the db commands."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import DBAPIError

from processor.audit import audit
from processor.cli import main
from processor.config import load_config
from processor.errors import StoreError
from processor.queue.schema import is_queue_table, ours
from processor.store.db import (
    current_revision,
    head_revision,
    make_engine,
    mask_url,
    open_store,
    session_scope,
    upgrade,
)
from processor.store.models import AuditEntry, Base, Unit


def _config(tmp_path: Path, url: str):
    return load_config(tmp_path / "无此文件.toml", environ={"TMIS_DATABASE_URL": url})


def test_migrations_create_every_table(upgraded_url: str) -> None:
    engine = make_engine(upgraded_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {t for t in tables if not is_queue_table(t)} == set(Base.metadata.tables) | {"alembic_version"}
    queue = {"procrastinate_jobs", "procrastinate_workers", "procrastinate_events", "procrastinate_periodic_defers"}
    assert {t for t in tables if is_queue_table(t)} == (queue if upgraded_url.startswith("postgresql") else set())


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True, "include_name": ours}),
                                Base.metadata)
    assert diff == []


def test_upgrade_reaches_head_and_can_run_again(store_url: str) -> None:
    assert current_revision(store_url) is None
    assert upgrade(store_url) == head_revision()
    assert upgrade(store_url) == head_revision()
    assert current_revision(store_url) == head_revision()


def test_audit_log_rejects_update(engine: Engine) -> None:
    with session_scope(engine) as session:
        audit(session, "cli:tester", "unit.add", "unit", "360000", {"name": "江西省"})
    with pytest.raises(DBAPIError, match="audit_log is append-only"), session_scope(engine) as session:
        session.execute(text("UPDATE audit_log SET actor = 'someone else'"))
    with session_scope(engine) as session:
        assert session.scalars(select(AuditEntry.actor)).all() == ["cli:tester"]


def test_audit_log_rejects_delete(engine: Engine) -> None:
    with session_scope(engine) as session:
        audit(session, "cli:tester", "unit.add", "unit", "360000", {"name": "江西省"})
    with pytest.raises(DBAPIError, match="audit_log is append-only"), session_scope(engine) as session:
        session.execute(text("DELETE FROM audit_log"))
    with session_scope(engine) as session:
        entry = session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.object_type, entry.object_id, entry.detail) == (
        "unit.add", "unit", "360000", {"name": "江西省"})


def test_audit_log_accepts_new_entries_after_a_refused_change(engine: Engine) -> None:
    with session_scope(engine) as session:
        audit(session, "cli:tester", "first")
    with pytest.raises(DBAPIError), session_scope(engine) as session:
        session.execute(text("DELETE FROM audit_log"))
    with session_scope(engine) as session:
        audit(session, "cli:tester", "second")
    with session_scope(engine) as session:
        assert session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all() == ["first", "second"]


def test_session_scope_rolls_back_when_the_block_raises(engine: Engine) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        session.add(Unit(code="360000", name="江西省", level="province"))
        session.flush()
        raise RuntimeError("boom")
    with session_scope(engine) as session:
        assert session.scalars(select(Unit)).all() == []


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(DBAPIError), session_scope(engine) as session:
        session.add(Unit(code="360100", name="南昌市", level="city", parent_code="360000"))


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    try:
        with engine.connect() as connection:
            pragmas = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                       for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")}
    finally:
        engine.dispose()
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000, "synchronous": 1}


def test_two_sqlite_writers_wait_for_each_other(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    upgrade(url)
    first, second = make_engine(url), make_engine(url)
    started = threading.Event()

    def slow_writer() -> None:
        with session_scope(first) as session:
            session.add(Unit(code="360000", name="江西省", level="province"))
            session.flush()
            started.set()
            time.sleep(0.5)

    thread = threading.Thread(target=slow_writer)
    thread.start()
    started.wait(5)
    # The second writer reads, then writes: it waits for the first instead of failing with "database is locked".
    with session_scope(second) as session:
        parent = session.get(Unit, "360000")
        session.add(Unit(code="360100", name="南昌市", level="city", parent_code=parent.code))
    thread.join()
    with session_scope(first) as session:
        assert session.scalars(select(Unit.code).order_by(Unit.code)).all() == ["360000", "360100"]
    first.dispose()
    second.dispose()


def test_bad_database_url_is_a_store_error() -> None:
    with pytest.raises(StoreError) as caught:
        make_engine("postgresql//localhost/tmis")
    assert str(caught.value) == ("数据库地址 postgresql//localhost/tmis 不是有效的 SQLAlchemy URL。"
                                 "例如 sqlite:///var/tmis.db 或 postgresql+psycopg://user@127.0.0.1:5432/tmis。")


def test_postgresql_url_without_driver_gets_psycopg() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:5432/test")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_mask_url_hides_the_password() -> None:
    assert mask_url("postgresql+psycopg://tmis:s3cret@db.example.cn/tmis") == (
        "postgresql+psycopg://tmis:***@db.example.cn/tmis")


def test_open_store_returns_an_engine_when_upgraded(upgraded_url: str, tmp_path: Path) -> None:
    engine = open_store(_config(tmp_path, upgraded_url))
    try:
        with session_scope(engine) as session:
            assert session.scalars(select(Unit)).all() == []
    finally:
        engine.dispose()


def test_open_store_refuses_a_database_that_was_never_upgraded(store_url: str, tmp_path: Path) -> None:
    if store_url.startswith("sqlite"):
        Path(store_url.removeprefix("sqlite:///")).parent.mkdir(parents=True)
        make_engine(store_url).connect().close()  # an empty database file
    with pytest.raises(StoreError) as caught:
        open_store(_config(tmp_path, store_url))
    assert str(caught.value) == f"数据库 {store_url} 尚未初始化。请先运行 tmis db upgrade。"


def test_open_store_refuses_a_missing_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'tmis.db'}"
    with pytest.raises(StoreError) as caught:
        open_store(_config(tmp_path, url))
    assert str(caught.value) == f"数据库 {url} 不存在。请先运行 tmis db upgrade（或 tmis init 新建实例）。"
    assert not (tmp_path / "var").exists()


def test_open_store_refuses_a_schema_newer_than_the_program(upgraded_url: str, tmp_path: Path) -> None:
    engine = make_engine(upgraded_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(StoreError) as caught:
        open_store(_config(tmp_path, upgraded_url))
    assert str(caught.value) == f"数据库 {upgraded_url} 的版本 0099 比本程序（{head_revision()}）新。请升级 tmis 后再使用该数据库。"


def test_open_store_names_the_unreachable_database_with_the_password_masked(tmp_path: Path) -> None:
    url = "postgresql+psycopg://tmis:s3cret@127.0.0.1:1/tmis"
    with pytest.raises(StoreError) as caught:
        open_store(_config(tmp_path, url))
    message = str(caught.value)
    assert message.startswith("无法连接数据库 postgresql+psycopg://tmis:***@127.0.0.1:1/tmis（")
    assert message.endswith("）。请检查配置文件 [database] url 或环境变量 TMIS_DATABASE_URL，并确认数据库服务已启动。")
    assert "s3cret" not in message


def test_db_current_and_upgrade_commands(runner, store_url: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./config.toml: defaults plus TMIS_DATABASE_URL
    env = {"TMIS_DATABASE_URL": store_url}
    before = runner.invoke(main, ["db", "current", "--config", str(tmp_path / "c.toml")], env=env)
    assert before.exit_code == 2  # an explicit --config must exist
    assert before.output == f"错误：{tmp_path / 'c.toml'}：找不到配置文件。请用 --config 指定正确的路径，或先运行 tmis init 目录 创建实例。\n"
    head = head_revision()
    current = runner.invoke(main, ["db", "current"], env=env)
    assert (current.exit_code, current.output) == (
        0, f"数据库 {store_url} 尚未初始化（本程序要求版本 {head}）。请运行 tmis db upgrade。\n")
    done = runner.invoke(main, ["db", "upgrade"], env=env)
    assert (done.exit_code, done.output) == (0, f"数据库 {store_url} 已从 空库 升级到版本 {head}。\n")
    again = runner.invoke(main, ["db", "upgrade"], env=env)
    assert (again.exit_code, again.output) == (0, f"数据库 {store_url} 已是最新版本 {head}，无需升级。\n")
    current = runner.invoke(main, ["db", "current"], env=env)
    assert (current.exit_code, current.output) == (0, f"数据库 {store_url} 的版本为 {head}（最新）。\n")


def test_migration_0011_keeps_every_teacher_and_reference_and_still_refuses_a_second_identity(store_url: str) -> None:
    from sqlalchemy.exc import IntegrityError

    upgrade(store_url, "0010")
    engine = make_engine(store_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO units (code, name, level, parent_code, created_at, updated_at) "
                              "VALUES ('2136010001', '南昌市第一中学', 'school', NULL, :t, :t)"), {"t": "2026-12-01"})
            conn.execute(text("INSERT INTO submissions (id, sha256, original_name, archived_path, channel, sender, "
                              "status, received_at, rows, rows_stored, errors, warnings, report_path, message) "
                              "VALUES (1, :sha, 'a.xlsx', '', 'inbox', '', 'accepted', :t, 2, 2, 0, 0, '', '')"),
                         {"sha": "0" * 64, "t": "2026-12-01"})
            for tid, number in ((1, "360102198001011234"), (2, "36010219800101123X")):
                conn.execute(text("INSERT INTO teachers (id, id_type, id_number, name, unit_code, status, created_at, "
                                  "updated_at) VALUES (:id, '1', :n, '张三', '2136010001', 'active', :t, :t)"),
                             {"id": tid, "n": number, "t": "2026-12-01"})
                conn.execute(text("INSERT INTO record_versions (id, teacher_id, category, seq, unit_code, submission_id, "
                                  "source_sheet, source_row, data, review_state, review_level, created_at) VALUES "
                                  "(:id, :id, 'basic', 1, '2136010001', 1, '基本信息', 3, '{}', 'effective', 'school', :t)"),
                             {"id": tid, "t": "2026-12-01"})
    finally:
        engine.dispose()
    assert upgrade(store_url) == head_revision()
    engine = make_engine(store_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT t.id, t.id_number, v.id FROM teachers t JOIN record_versions v "
                                     "ON v.teacher_id = t.id ORDER BY t.id")).all()
            assert [tuple(r) for r in rows] == [(1, "360102198001011234", 1), (2, "36010219800101123X", 2)]
            indexes = {i["name"] for i in inspect(conn).get_indexes("teachers")}
            uniques = [u["column_names"] for u in inspect(conn).get_unique_constraints("teachers")
                       if u["name"] == "uq_teacher_identity"]
            assert "ix_teachers_id_number" not in indexes
            assert uniques == [["id_number", "id_type"]]
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("INSERT INTO teachers (id, id_type, id_number, name, unit_code, status, created_at, "
                              "updated_at) VALUES (3, '1', '360102198001011234', '李四', '2136010001', 'active', :t, :t)"),
                         {"t": "2026-12-01"})
    finally:
        engine.dispose()


def test_a_bulk_insert_of_an_identity_already_stored_raises_integrity_error_and_stores_nothing(engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm import Session

    from processor.store import bulk
    from processor.store.models import Teacher

    def teacher(number: str) -> dict[str, object]:
        return {"id_type": "1", "id_number": number, "name": "张三", "unit_code": "2136010001", "status": "pending"}

    with Session(engine) as session, session.begin():
        session.add(Unit(code="2136010001", name="南昌市第一中学", level="school"))
        session.flush()
        bulk.insert_with_ids(session, Teacher, [teacher("360102198001011234")])
    with pytest.raises(IntegrityError), Session(engine) as session, session.begin():
        # The pipeline catches IntegrityError (another worker stored the person first) and validates again.
        bulk.insert_with_ids(session, Teacher, [teacher("36010219800101123X"), teacher("360102198001011234")])
    with Session(engine) as session:
        assert session.scalars(select(Teacher.id_number)).all() == ["360102198001011234"]


def test_a_moment_given_in_beijing_time_is_stored_and_compared_as_the_same_instant(engine: Engine) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from sqlalchemy.orm import Session

    beijing = timezone(timedelta(hours=8))
    with Session(engine) as s, s.begin():
        s.add(Unit(code="360102", name="东湖区", level="county", created_at=datetime(2026, 12, 2, 7, 0, tzinfo=beijing)))
    with Session(engine) as s:  # 07:00 in Beijing is 23:00 UTC of the day before
        before = s.scalars(select(Unit.code).where(Unit.created_at < datetime(2026, 12, 1, 23, 30, tzinfo=UTC))).all()
        after = s.scalars(select(Unit.code).where(Unit.created_at > datetime(2026, 12, 1, 22, 30, tzinfo=UTC))).all()
        stored = s.scalar(select(Unit.created_at))
    assert (before, after) == (["360102"], ["360102"])
    assert stored.replace(tzinfo=stored.tzinfo or UTC) == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
