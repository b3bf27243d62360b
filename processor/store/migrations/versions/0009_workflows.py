"""Workflows: requests, their steps, confirmation sheets and the teacher status history.

Revision ID: 0009
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0005"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "wf_requests",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("unit_code", sa.String(10), nullable=False),
        sa.Column("teacher_id", BIG_ID, sa.ForeignKey("teachers.id"), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("waiting_unit", sa.String(10), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("filed_by", sa.String(100), nullable=False),
        sa.Column("submission_id", BIG_ID, sa.ForeignKey("submissions.id"), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_wf_requests_unit_code", "wf_requests", ["unit_code"])
    op.create_index("ix_wf_requests_teacher_id", "wf_requests", ["teacher_id"])
    op.create_index("ix_wf_request_kind_state", "wf_requests", ["kind", "state"])
    op.create_index("ix_wf_request_waiting", "wf_requests", ["state", "waiting_unit"])
    op.create_table(
        "wf_steps",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(40), sa.ForeignKey("wf_requests.id"), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(10), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("by", sa.String(100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("sheet_id", sa.String(40), nullable=True),
        sa.Column("submission_id", BIG_ID, sa.ForeignKey("submissions.id"), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_wf_steps_request_id", "wf_steps", ["request_id"])
    op.create_table(
        "wf_sheets",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("unit_code", sa.String(10), sa.ForeignKey("units.code"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("signature", sa.String(64), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("applied_at", TS, nullable=True),
        sa.Column("applied_submission_id", BIG_ID, sa.ForeignKey("submissions.id"), nullable=True),
        sa.Column("confirmer", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_wf_sheet_unit_status", "wf_sheets", ["unit_code", "status"])
    op.create_table(
        "wf_sheet_items",
        sa.Column("sheet_id", sa.String(40), sa.ForeignKey("wf_sheets.id"), nullable=False),
        sa.Column("request_id", sa.String(40), sa.ForeignKey("wf_requests.id"), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("sheet_id", "request_id"),
    )
    op.create_index("ix_wf_sheet_items_request_id", "wf_sheet_items", ["request_id"])
    op.create_table(
        "teacher_status_history",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("teacher_id", BIG_ID, sa.ForeignKey("teachers.id"), nullable=False),
        sa.Column("unit_code", sa.String(10), nullable=False),
        sa.Column("old_status", sa.String(20), nullable=False),
        sa.Column("new_status", sa.String(20), nullable=False),
        sa.Column("change", sa.String(20), nullable=False),
        sa.Column("effective_date", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(40), sa.ForeignKey("wf_requests.id"), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_teacher_status_history_teacher_id", "teacher_status_history", ["teacher_id"])


def downgrade() -> None:
    op.drop_table("teacher_status_history")
    op.drop_table("wf_sheet_items")
    op.drop_table("wf_sheets")
    op.drop_table("wf_steps")
    op.drop_table("wf_requests")
