"""Mail: received messages (mail_in) and the outgoing queue (mail_out).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mail_in",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("sender", sa.String(254), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("unit_code", sa.String(10), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("spool_path", sa.String(1000), nullable=False),
        sa.Column("submissions", sa.JSON(), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("listed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_mail_in_state", "mail_in", ["state"])
    op.create_table(
        "mail_out",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("dedup_key", sa.String(300), nullable=True),
        sa.Column("to_addr", sa.String(254), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("entitled", sa.Boolean(), nullable=False),
        sa.Column("in_reply_to", sa.String(300), nullable=False),
        sa.Column("message_id", sa.String(300), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedup_key"),
    )
    op.create_index("ix_mail_out_due", "mail_out", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_mail_out_due", table_name="mail_out")
    op.drop_table("mail_out")
    op.drop_index("ix_mail_in_state", table_name="mail_in")
    op.drop_table("mail_in")
