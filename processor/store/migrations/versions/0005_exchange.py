"""Exchange: imports through a profile (with their restart point) and exports per profile.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "exchange_imports",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("submission_id", BIG_ID, sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("profile", sa.String(60), nullable=False),
        sa.Column("profile_version", sa.String(40), nullable=False),
        sa.Column("unit_code", sa.String(10), nullable=True),
        sa.Column("chunk_rows", sa.Integer(), nullable=False),
        sa.Column("chunks_done", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("resumed", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id"),
    )
    op.create_index("ix_exchange_imports_profile", "exchange_imports", ["profile"])
    op.create_table(
        "exchange_exports",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("profile", sa.String(60), nullable=False),
        sa.Column("profile_version", sa.String(40), nullable=False),
        sa.Column("unit_code", sa.String(10), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_exchange_export_profile_unit", "exchange_exports", ["profile", "unit_code"])


def downgrade() -> None:
    op.drop_index("ix_exchange_export_profile_unit", table_name="exchange_exports")
    op.drop_table("exchange_exports")
    op.drop_index("ix_exchange_imports_profile", table_name="exchange_imports")
    op.drop_table("exchange_imports")
