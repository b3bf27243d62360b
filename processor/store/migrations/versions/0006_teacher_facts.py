"""Reports: each teacher's current facts (teacher_facts), filled from the versions already stored; deadline
reminders done (deadline_reminders).

The summary's composition of the teaching force counts one row per teacher: the newest live 基本信息 version's
values and the lowest live education, title and subject. Kept by processor.reports.facts at ingest and when
review settles; this migration fills it once for the versions stored before.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

LIVE = "('pending', 'effective')"


def _lowest(column: str, category: str) -> str:
    return (f"(SELECT w.teacher_id AS tid, MIN(x.{column}) AS v FROM record_versions w "
            f"JOIN report_facts x ON x.version_id = w.id WHERE w.category = '{category}' AND w.review_state IN {LIVE} "
            f"AND x.{column} IS NOT NULL AND x.{column} <> '0' GROUP BY w.teacher_id)")


BACKFILL = f"""
INSERT INTO teacher_facts (teacher_id, version_id, unit_code, state, sex, birth_year, ethnicity, employment,
                           education, title, subject)
SELECT f.teacher_id, f.version_id, f.unit_code, v.review_state, f.sex, f.birth_year, f.ethnicity, f.employment,
       e.v, t.v, s.v
FROM report_facts f
JOIN (SELECT MAX(id) AS vid FROM record_versions WHERE category = 'basic' AND review_state IN {LIVE}
      GROUP BY teacher_id) c ON c.vid = f.version_id
JOIN record_versions v ON v.id = f.version_id
LEFT JOIN {_lowest("education", "study")} e ON e.tid = f.teacher_id
LEFT JOIN {_lowest("title", "title")} t ON t.tid = f.teacher_id
LEFT JOIN {_lowest("subject", "teaching")} s ON s.tid = f.teacher_id
"""


def upgrade() -> None:
    op.create_table(
        "teacher_facts",
        sa.Column("teacher_id", BIG_ID, sa.ForeignKey("teachers.id"), primary_key=True),
        sa.Column("version_id", BIG_ID, nullable=False),
        sa.Column("unit_code", sa.String(10), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("sex", sa.String(4)),
        sa.Column("birth_year", sa.Integer()),
        sa.Column("ethnicity", sa.String(4)),
        sa.Column("employment", sa.String(10)),
        sa.Column("education", sa.String(4)),
        sa.Column("title", sa.String(4)),
        sa.Column("subject", sa.String(10)),
    )
    op.create_index("ix_teacher_fact_unit_state", "teacher_facts", ["unit_code", "state"])
    op.execute(BACKFILL)
    op.create_table(
        "deadline_reminders",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("deadline", sa.String(80), nullable=False),
        sa.Column("days_before", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("deadline", "days_before", name="uq_deadline_reminder"),
    )


def downgrade() -> None:
    op.drop_table("deadline_reminders")
    op.drop_index("ix_teacher_fact_unit_state", table_name="teacher_facts")
    op.drop_table("teacher_facts")
