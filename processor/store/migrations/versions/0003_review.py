"""Review chain: return sheets and their items, teacher numbers, review columns; the audit log as a hash chain.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 11:10:00

Existing audit entries are chained in id order (the append-only triggers are lifted for that one update
and put back exactly as 0001 created them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY_MESSAGE = "audit_log is append-only"
SQLITE_GUARD = [
    f"""CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END""",
    f"""CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END""",
]


def _chain_existing() -> None:
    from processor.audit import entry_hash

    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, at, actor, action, object_type, object_id, detail FROM audit_log "
                                "ORDER BY id")).fetchall()
    if not rows:
        return
    import json
    from datetime import datetime

    postgresql = bind.dialect.name == "postgresql"
    if postgresql:
        bind.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete"))
    else:
        bind.execute(sa.text("DROP TRIGGER audit_log_no_update"))
    prev = ""
    for row in rows:
        at = row.at if isinstance(row.at, datetime) else datetime.fromisoformat(str(row.at))
        detail = row.detail if not isinstance(row.detail, str) else json.loads(row.detail)
        digest = entry_hash(prev, at, row.actor, row.action, row.object_type, row.object_id, detail)
        bind.execute(sa.text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE id = :id"),
                     {"p": prev, "h": digest, "id": row.id})
        prev = digest
    if postgresql:
        bind.execute(sa.text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete"))
    else:
        bind.execute(sa.text(SQLITE_GUARD[0]))


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(64), nullable=False, server_default=""))
    op.add_column("audit_log", sa.Column("hash", sa.String(64), nullable=False, server_default=""))
    _chain_existing()
    op.add_column("record_versions", sa.Column("review_unit", sa.String(10), nullable=True))
    op.add_column("record_versions", sa.Column("level_since", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_version_review_unit_state", "record_versions", ["review_unit", "review_state"])
    op.add_column("reviews", sa.Column("problem_fields", sa.Text(), nullable=False, server_default=""))
    op.add_column("reviews", sa.Column("sheet_id", sa.String(40), nullable=True))
    op.create_table(
        "return_sheets",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("unit_code", sa.String(10), sa.ForeignKey("units.code"), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("signature", sa.String(64), nullable=False),
        sa.Column("versions", sa.Integer(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied_submission_id", BigId, sa.ForeignKey("submissions.id"), nullable=True),
        sa.Column("reviewer", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_return_sheet_unit_status", "return_sheets", ["unit_code", "status"])
    op.create_table(
        "return_sheet_items",
        sa.Column("sheet_id", sa.String(40), sa.ForeignKey("return_sheets.id"), nullable=False),
        sa.Column("version_id", BigId, sa.ForeignKey("record_versions.id"), nullable=False),
        sa.Column("old_version_id", BigId, nullable=True),
        sa.Column("sheet_title", sa.String(100), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("school_code", sa.String(10), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("sheet_id", "version_id"),
    )
    op.create_index(op.f("ix_return_sheet_items_version_id"), "return_sheet_items", ["version_id"])
    op.create_table(
        "teacher_numbers",
        sa.Column("number", sa.String(18), nullable=False),
        sa.Column("prefix", sa.String(14), nullable=False),
        sa.Column("teacher_id", BigId, sa.ForeignKey("teachers.id"), nullable=False),
        sa.Column("unit_code", sa.String(10), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("number"),
    )
    op.create_index(op.f("ix_teacher_numbers_prefix"), "teacher_numbers", ["prefix"])
    op.create_index(op.f("ix_teacher_numbers_teacher_id"), "teacher_numbers", ["teacher_id"])
    op.create_table(
        "numbering_units",
        sa.Column("unit_code", sa.String(10), nullable=False),
        sa.Column("division", sa.String(6), nullable=False),
        sa.Column("unit_number", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("unit_code"),
        sa.UniqueConstraint("division", "unit_number", name="uq_numbering_unit"),
    )


def downgrade() -> None:
    op.drop_table("numbering_units")
    op.drop_index(op.f("ix_teacher_numbers_teacher_id"), table_name="teacher_numbers")
    op.drop_index(op.f("ix_teacher_numbers_prefix"), table_name="teacher_numbers")
    op.drop_table("teacher_numbers")
    op.drop_index(op.f("ix_return_sheet_items_version_id"), table_name="return_sheet_items")
    op.drop_table("return_sheet_items")
    op.drop_index("ix_return_sheet_unit_status", table_name="return_sheets")
    op.drop_table("return_sheets")
    with op.batch_alter_table("reviews") as batch:
        batch.drop_column("sheet_id")
        batch.drop_column("problem_fields")
    op.drop_index("ix_version_review_unit_state", table_name="record_versions")
    with op.batch_alter_table("record_versions") as batch:
        batch.drop_column("level_since")
        batch.drop_column("review_unit")
    # audit_log keeps its chain columns: dropping a column rebuilds the table on SQLite, which the
    # append-only guard exists to prevent.
