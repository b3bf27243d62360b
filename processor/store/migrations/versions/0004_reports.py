"""Reports: intake persons, report facts (denormalised columns filled at ingest), report runs with their
figures, the once-per-period schedule, monthly returns and workgroup rosters.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "intake_persons",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("submission_id", BigId, sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("unit_code", sa.String(10), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("id_number", sa.String(40), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_intake_persons_submission_id", "intake_persons", ["submission_id"])
    op.create_index("ix_intake_person_unit", "intake_persons", ["unit_code", "received_at"])
    op.create_table(
        "report_facts",
        sa.Column("version_id", BigId, sa.ForeignKey("record_versions.id"), primary_key=True),
        sa.Column("teacher_id", BigId, nullable=False),
        sa.Column("unit_code", sa.String(10), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("sex", sa.String(4)),
        sa.Column("birth_year", sa.Integer()),
        sa.Column("ethnicity", sa.String(4)),
        sa.Column("employment", sa.String(10)),
        sa.Column("education", sa.String(4)),
        sa.Column("title", sa.String(4)),
        sa.Column("subject", sa.String(10)),
    )
    op.create_index("ix_report_fact_unit_category", "report_facts", ["unit_code", "category"])
    op.create_table(
        "report_runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("unit_code", sa.String(10), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("audit_id", sa.BigInteger()),
        sa.Column("queried_at", TS, nullable=False),
        sa.Column("scheduled", sa.Boolean(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
    )
    op.create_index("ix_report_run_kind_unit_period", "report_runs", ["kind", "unit_code", "period"])
    op.create_table(
        "scheduled_reports",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("unit_code", sa.String(10), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("run_id", BigId, sa.ForeignKey("report_runs.id")),
        sa.Column("at", TS, nullable=False),
        sa.UniqueConstraint("kind", "unit_code", "period", name="uq_scheduled_report"),
    )
    op.create_table(
        "monthly_returns",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("unit_code", sa.String(10), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("trained", sa.Integer(), nullable=False),
        sa.Column("problems", sa.Text(), nullable=False),
        sa.Column("next_steps", sa.Text(), nullable=False),
        sa.Column("filled_by", sa.String(100), nullable=False),
        sa.Column("submission_id", BigId, sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_monthly_returns_unit_code", "monthly_returns", ["unit_code"])
    op.create_table(
        "roster_members",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("unit_code", sa.String(10), nullable=False),
        sa.Column("submission_id", BigId, sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("department", sa.String(200), nullable=False),
        sa.Column("post", sa.String(100), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("duty", sa.String(200), nullable=False),
        sa.Column("office_phone", sa.String(40), nullable=False),
        sa.Column("mobile", sa.String(20), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
    )
    op.create_index("ix_roster_members_unit_code", "roster_members", ["unit_code"])


def downgrade() -> None:
    for name in ("roster_members", "monthly_returns", "scheduled_reports", "report_runs", "report_facts",
                 "intake_persons"):
        op.drop_table(name)
