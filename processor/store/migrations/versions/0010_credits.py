"""Training credits (plan, result sheets, credit bank), assessment records, registration decisions, sampling
audits; report_runs.period holds a credit period (YYYY-YYYY).

Revision ID: 0010
Revises: 0009 (0005 on the branch as first written; wfcore merged in brings 0009)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLES = ("audit_sample_items", "audit_samples", "registration_decisions", "assessment_records", "credit_entries",
          "training_result_rows", "training_results", "training_projects")


def upgrade() -> None:
    op.create_table(
        "training_projects",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("unit_code", sa.String(10), sa.ForeignKey("units.code"), nullable=False),
        sa.Column("project_code", sa.String(30), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("provider", sa.String(200), nullable=False),
        sa.Column("hours", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.String(10), nullable=False),
        sa.Column("end_date", sa.String(10), nullable=False),
        sa.Column("school_code", sa.String(10), nullable=True),
        sa.Column("confirm_unit", sa.String(10), nullable=False),
        sa.Column("remarks", sa.Text(), nullable=False),
        sa.Column("plan_submission_id", BIG_ID, sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("plan_row", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unit_code", "project_code", name="uq_training_project_code"),
    )
    op.create_index("ix_training_projects_unit_code", "training_projects", ["unit_code"])
    op.create_table(
        "training_results",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("project_id", BIG_ID, sa.ForeignKey("training_projects.id"), nullable=False),
        sa.Column("submission_id", BIG_ID, sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("confirm_unit", sa.String(10), nullable=False),
        sa.Column("confirmation", sa.String(60), nullable=False),
        sa.Column("confirmed_by", sa.String(100), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_training_results_project_id", "training_results", ["project_id"])
    op.create_table(
        "training_result_rows",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("result_id", BIG_ID, sa.ForeignKey("training_results.id"), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("teacher_id", BIG_ID, sa.ForeignKey("teachers.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("hours", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("credits_milli", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(10), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_training_result_rows_teacher_id", "training_result_rows", ["teacher_id"])
    op.create_index("ix_training_result_rows_result_id", "training_result_rows", ["result_id"])
    op.create_table(
        "credit_entries",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("teacher_id", BIG_ID, sa.ForeignKey("teachers.id"), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("hours", sa.Integer(), nullable=False),
        sa.Column("credits_milli", sa.Integer(), nullable=False),
        sa.Column("project_id", BIG_ID, sa.ForeignKey("training_projects.id"), nullable=False),
        sa.Column("result_id", BIG_ID, sa.ForeignKey("training_results.id"), nullable=False),
        sa.Column("result_row_id", BIG_ID, sa.ForeignKey("training_result_rows.id"), nullable=False),
        sa.Column("plan_submission_id", BIG_ID, nullable=False),
        sa.Column("result_submission_id", BIG_ID, nullable=False),
        sa.Column("confirmation", sa.String(60), nullable=False),
        sa.Column("confirm_unit", sa.String(10), nullable=False),
        sa.Column("confirmed_by", sa.String(100), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rule_province", sa.String(6), nullable=False),
        sa.Column("rule_version", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "teacher_id", name="uq_credit_project_teacher"),
    )
    op.create_index("ix_credit_teacher_year", "credit_entries", ["teacher_id", "year"])
    op.create_table(
        "assessment_records",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("teacher_id", BIG_ID, sa.ForeignKey("teachers.id"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(20), nullable=False),
        sa.Column("breach", sa.Text(), nullable=False),
        sa.Column("remarks", sa.Text(), nullable=False),
        sa.Column("unit_code", sa.String(10), nullable=False),
        sa.Column("submission_id", BIG_ID, sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("teacher_id", "kind", "year", name="uq_assessment_teacher_kind_year"),
    )
    op.create_index("ix_assessment_records_teacher_id", "assessment_records", ["teacher_id"])
    op.create_table(
        "registration_decisions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("teacher_id", BIG_ID, sa.ForeignKey("teachers.id"), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(10), nullable=False),
        sa.Column("decision", sa.String(4), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=False),
        sa.Column("confirmation", sa.String(60), nullable=False),
        sa.Column("version_id", BIG_ID, sa.ForeignKey("record_versions.id"), nullable=True),
        sa.Column("credits_milli", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("teacher_id", "cycle", "seq", name="uq_registration_teacher_cycle_seq"),
    )
    op.create_index("ix_registration_decisions_teacher_id", "registration_decisions", ["teacher_id"])
    op.create_table(
        "audit_samples",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("unit_code", sa.String(10), sa.ForeignKey("units.code"), nullable=False),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("schools", sa.Integer(), nullable=False),
        sa.Column("teachers", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("confirmation", sa.String(60), nullable=False),
        sa.Column("checked_by", sa.String(100), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_samples_unit_code", "audit_samples", ["unit_code"])
    op.create_table(
        "audit_sample_items",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("sample_id", BIG_ID, sa.ForeignKey("audit_samples.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("school_code", sa.String(10), nullable=False),
        sa.Column("teacher_id", BIG_ID, sa.ForeignKey("teachers.id"), nullable=False),
        sa.Column("result", sa.String(10), nullable=True),
        sa.Column("field", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_sample_items_sample_id", "audit_sample_items", ["sample_id"])
    with op.batch_alter_table("report_runs") as batch:
        batch.alter_column("period", existing_type=sa.String(7), type_=sa.String(20), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("report_runs") as batch:
        batch.alter_column("period", existing_type=sa.String(20), type_=sa.String(7), existing_nullable=False)
    for name in TABLES:
        op.drop_table(name)
