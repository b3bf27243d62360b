"""The audit log as a hash chain (SQLite and PostgreSQL): `tmis audit verify` passes on an intact log and
names the first entry edited or removed behind the database's back (append-only triggers dropped)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import text

from processor.audit import verify_chain
from processor.cli import main
from processor.config import load_config
from processor.store.db import make_engine, upgrade


def _import_units(runner: CliRunner, config: Path, unit_workbook: Path) -> None:
    result = runner.invoke(main, ["units", "import", str(unit_workbook), "--config", str(config)])
    assert result.exit_code == 0, result.output


def _lift_guard(connection, dialect: str) -> None:  # type: ignore[no-untyped-def]
    """What an attacker with the database password does first."""
    if dialect == "postgresql":
        connection.execute(text("DROP TRIGGER audit_log_no_update_delete ON audit_log"))
    else:
        connection.execute(text("DROP TRIGGER audit_log_no_update"))
        connection.execute(text("DROP TRIGGER audit_log_no_delete"))


def _entry_ids(engine) -> list[int]:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return [r[0] for r in c.execute(text("SELECT id FROM audit_log ORDER BY id"))]


def test_intact_audit_log_verifies(runner: CliRunner, store_instance: Path, unit_workbook: Path) -> None:
    _import_units(runner, store_instance, unit_workbook)
    result = runner.invoke(main, ["audit", "verify", "--config", str(store_instance)])
    assert result.exit_code == 0, result.output
    assert "审计日志完整" in result.output


def test_edited_audit_entry_is_found(runner: CliRunner, store_instance: Path, unit_workbook: Path) -> None:
    _import_units(runner, store_instance, unit_workbook)
    engine = make_engine(load_config(store_instance, required=True).database_url)
    ids = _entry_ids(engine)
    assert len(ids) >= 3
    with engine.begin() as c:
        _lift_guard(c, engine.dialect.name)
        c.execute(text("UPDATE audit_log SET actor = 'someone-else' WHERE id = :id"), {"id": ids[1]})
    engine.dispose()
    result = runner.invoke(main, ["audit", "verify", "--config", str(store_instance)])
    assert result.exit_code == 1
    assert f"编号 {ids[1]} 的条目内容与其哈希不符" in result.output


def test_removed_audit_entry_is_found(runner: CliRunner, store_instance: Path, unit_workbook: Path) -> None:
    _import_units(runner, store_instance, unit_workbook)
    engine = make_engine(load_config(store_instance, required=True).database_url)
    ids = _entry_ids(engine)
    with engine.begin() as c:
        _lift_guard(c, engine.dialect.name)
        c.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": ids[1]})
    engine.dispose()
    result = runner.invoke(main, ["audit", "verify", "--config", str(store_instance)])
    assert result.exit_code == 1
    assert f"编号 {ids[2]} 的条目与前一条的链接不符" in result.output


def test_entries_written_before_the_chain_existed_are_chained_by_the_migration(store_url: str) -> None:
    upgrade(store_url, "0001")
    engine = make_engine(store_url)
    with engine.begin() as c:
        for n in range(3):
            c.execute(text("INSERT INTO audit_log (at, actor, action, object_type, object_id, detail) "
                           "VALUES (:at, 'cli:old', 'unit.add', 'unit', :oid, :detail)"),
                      {"at": f"2026-11-2{n} 08:00:00.000000", "oid": str(n), "detail": json.dumps({"n": n})})
    upgrade(store_url)
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        report = verify_chain(session)
    engine.dispose()
    assert (report.intact, report.entries) == (True, 3)
