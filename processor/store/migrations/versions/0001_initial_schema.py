"""Initial schema: every table of processor/store/models.py, and the append-only guard on audit_log.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 03:55:55.360909
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

# The audit log is append-only: the database itself refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL),
# so no code path, buggy or not, can rewrite history.
APPEND_ONLY_MESSAGE = "audit_log is append-only"

SQLITE_GUARD = [
    f"""CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END""",
    f"""CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END""",
]
POSTGRESQL_GUARD = [
    f"""CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END $$""",
    """CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
]


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('object_type', sa.String(length=40), nullable=False),
    sa.Column('object_id', sa.String(length=100), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)
    dialect = op.get_bind().dialect.name
    for statement in POSTGRESQL_GUARD if dialect == "postgresql" else SQLITE_GUARD:
        op.execute(statement)
    op.create_table('submissions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('original_name', sa.String(length=500), nullable=False),
    sa.Column('archived_path', sa.String(length=1000), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('sender', sa.String(length=254), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=True),
    sa.Column('unit_code', sa.String(length=10), nullable=True),
    sa.Column('template_version', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('rows_stored', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('warnings', sa.Integer(), nullable=False),
    sa.Column('report_path', sa.String(length=1000), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha256')
    )
    op.create_index(op.f('ix_submissions_unit_code'), 'submissions', ['unit_code'], unique=False)
    op.create_table('units',
    sa.Column('code', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('parent_code', sa.String(length=10), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_code'], ['units.code'], ),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_index(op.f('ix_units_level'), 'units', ['level'], unique=False)
    op.create_index(op.f('ix_units_parent_code'), 'units', ['parent_code'], unique=False)
    op.create_table('findings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('submission_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sheet', sa.String(length=100), nullable=True),
    sa.Column('row', sa.Integer(), nullable=True),
    sa.Column('column', sa.String(length=5), nullable=True),
    sa.Column('field', sa.String(length=60), nullable=True),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('rule', sa.String(length=60), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('hint', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_findings_submission_id'), 'findings', ['submission_id'], unique=False)
    op.create_table('officers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('unit_code', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('mobile', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_code'], ['units.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unit_code', 'role', 'name', name='uq_officer_unit_role_name')
    )
    op.create_index(op.f('ix_officers_unit_code'), 'officers', ['unit_code'], unique=False)
    op.create_table('teachers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id_type', sa.String(length=2), nullable=False),
    sa.Column('id_number', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('teacher_number', sa.String(length=18), nullable=True),
    sa.Column('unit_code', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_code'], ['units.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('id_type', 'id_number', name='uq_teacher_identity'),
    sa.UniqueConstraint('teacher_number')
    )
    op.create_index(op.f('ix_teachers_id_number'), 'teachers', ['id_number'], unique=False)
    op.create_index(op.f('ix_teachers_unit_code'), 'teachers', ['unit_code'], unique=False)
    op.create_table('record_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('teacher_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('unit_code', sa.String(length=10), nullable=False),
    sa.Column('submission_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source_sheet', sa.String(length=100), nullable=False),
    sa.Column('source_row', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('review_state', sa.String(length=20), nullable=False),
    sa.Column('review_level', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], ),
    sa.ForeignKeyConstraint(['teacher_id'], ['teachers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_record_versions_submission_id'), 'record_versions', ['submission_id'], unique=False)
    op.create_index('ix_version_teacher_category', 'record_versions', ['teacher_id', 'category'], unique=False)
    op.create_index('ix_version_unit_state', 'record_versions', ['unit_code', 'review_state'], unique=False)
    op.create_table('reviews',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('version_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('unit_code', sa.String(length=10), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('reviewer', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('submission_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], ),
    sa.ForeignKeyConstraint(['version_id'], ['record_versions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_reviews_version_id'), 'reviews', ['version_id'], unique=False)



def downgrade() -> None:
    op.drop_index(op.f('ix_reviews_version_id'), table_name='reviews')

    op.drop_table('reviews')
    op.drop_index('ix_version_unit_state', table_name='record_versions')
    op.drop_index('ix_version_teacher_category', table_name='record_versions')
    op.drop_index(op.f('ix_record_versions_submission_id'), table_name='record_versions')

    op.drop_table('record_versions')
    op.drop_index(op.f('ix_teachers_unit_code'), table_name='teachers')
    op.drop_index(op.f('ix_teachers_id_number'), table_name='teachers')

    op.drop_table('teachers')
    op.drop_index(op.f('ix_officers_unit_code'), table_name='officers')

    op.drop_table('officers')
    op.drop_index(op.f('ix_findings_submission_id'), table_name='findings')

    op.drop_table('findings')
    op.drop_index(op.f('ix_units_parent_code'), table_name='units')
    op.drop_index(op.f('ix_units_level'), table_name='units')

    op.drop_table('units')
    op.drop_index(op.f('ix_submissions_unit_code'), table_name='submissions')

    op.drop_table('submissions')
    op.drop_index(op.f('ix_audit_log_at'), table_name='audit_log')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER audit_log_no_update_delete ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER audit_log_no_update")
        op.execute("DROP TRIGGER audit_log_no_delete")

    op.drop_table('audit_log')
