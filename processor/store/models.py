"""SQLAlchemy 2 models: units, officers, teachers, record versions, submissions, findings, reviews, audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


# Integer primary keys that autoincrement on SQLite (INTEGER) and are 64-bit on PostgreSQL.
BigId = BigInteger().with_variant(Integer, "sqlite")

LEVELS = ("nation", "province", "city", "county", "school")
LEVEL_NAMES = {"nation": "中央", "province": "省级", "city": "地市级", "county": "县级", "school": "学校"}
ROLES = {"系统管理员": "sysadmin", "信息管理员": "manager", "信息查询员": "viewer"}
ROLE_NAMES = {v: k for k, v in ROLES.items()}

# Review states of a record version: waiting at a level, effective, returned, or replaced by a newer version.
REVIEW_STATES = ("pending", "effective", "returned", "superseded")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class Unit(Base):
    """A node of the unit tree: nation, province, city, county (GB/T 2260) or school (学校标识码)."""

    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(10), index=True)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    officers: Mapped[list[Officer]] = relationship(back_populates="unit", cascade="all, delete-orphan")


class Officer(Base):
    """A real-name account of a unit in one role."""

    __tablename__ = "officers"
    __table_args__ = (UniqueConstraint("unit_code", "role", "name", name="uq_officer_unit_role_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))  # sysadmin | manager | viewer
    email: Mapped[str] = mapped_column(String(254), default="")
    mobile: Mapped[str] = mapped_column(String(20), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship(back_populates="officers")


class Teacher(Base):
    """One person, one record (一人一号): identified by document type and number."""

    __tablename__ = "teachers"
    __table_args__ = (UniqueConstraint("id_type", "id_number", name="uq_teacher_identity"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id_type: Mapped[str] = mapped_column(String(2), default="1")
    id_number: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(100))
    teacher_number: Mapped[str | None] = mapped_column(String(18), unique=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | active | left
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Submission(Base):
    """A file received (inbox drop, mail attachment, legacy import), whatever became of it."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    original_name: Mapped[str] = mapped_column(String(500))
    archived_path: Mapped[str] = mapped_column(String(1000), default="")
    channel: Mapped[str] = mapped_column(String(20), default="inbox")  # inbox | mail | legacy
    sender: Mapped[str] = mapped_column(String(254), default="")
    kind: Mapped[str | None] = mapped_column(String(40))
    unit_code: Mapped[str | None] = mapped_column(String(10), index=True)
    template_version: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="processing")
    # processing | accepted | partial | rejected | unreadable
    rows: Mapped[int] = mapped_column(Integer, default=0)
    rows_stored: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[int] = mapped_column(Integer, default=0)
    report_path: Mapped[str] = mapped_column(String(1000), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RecordVersion(Base):
    """One version of one record of one category for one teacher, with its review state."""

    __tablename__ = "record_versions"
    __table_args__ = (
        Index("ix_version_teacher_category", "teacher_id", "category"),
        Index("ix_version_unit_state", "unit_code", "review_state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("teachers.id"))
    category: Mapped[str] = mapped_column(String(40))  # sheet id, e.g. basic, study
    seq: Mapped[int] = mapped_column(Integer, default=1)  # position among the person's rows of this sheet
    unit_code: Mapped[str] = mapped_column(String(10))
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    source_sheet: Mapped[str] = mapped_column(String(100), default="")
    source_row: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    review_state: Mapped[str] = mapped_column(String(20), default="pending")
    review_level: Mapped[str] = mapped_column(String(10), default="school")  # level that must act next
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Finding(Base):
    """A finding kept with its submission (the same fields as the JSON findings)."""

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    sheet: Mapped[str | None] = mapped_column(String(100))
    row: Mapped[int | None] = mapped_column(Integer)
    column: Mapped[str | None] = mapped_column(String(5))
    field: Mapped[str | None] = mapped_column(String(60))
    value: Mapped[str | None] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(String(60))
    severity: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    hint: Mapped[str] = mapped_column(Text, default="")


class Review(Base):
    """A decision on a record version at one level (谁审核谁负责)."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("record_versions.id"), index=True)
    level: Mapped[str] = mapped_column(String(10))
    unit_code: Mapped[str] = mapped_column(String(10))
    decision: Mapped[str] = mapped_column(String(10))  # pass | return
    reviewer: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """Append-only log of what happened (a database trigger forbids UPDATE and DELETE)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[str] = mapped_column(String(100), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# --- exchange ---
class ExchangeImport(Base):
    """One import of a foreign file through an exchange profile, with its restart point.

    Each chunk of rows is stored in one transaction together with ``chunks_done``; a run that was killed
    resumes after the last committed chunk, so no row is stored twice."""

    __tablename__ = "exchange_imports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), unique=True)
    profile: Mapped[str] = mapped_column(String(60), index=True)
    profile_version: Mapped[str] = mapped_column(String(40), default="")
    unit_code: Mapped[str | None] = mapped_column(String(10))  # --unit: the subtree the rows must lie in
    chunk_rows: Mapped[int] = mapped_column(Integer, default=0)  # chunking is fixed for a resumed run
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)  # the restart point
    rows: Mapped[int] = mapped_column(Integer, default=0)
    stored: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # per sheet rows/stored, schools seen
    status: Mapped[str] = mapped_column(String(20), default="running")  # running | done
    resumed: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ExchangeExport(Base):
    """One export to an exchange profile: what it covered, so that ``--since-last`` continues from it."""

    __tablename__ = "exchange_exports"
    __table_args__ = (Index("ix_exchange_export_profile_unit", "profile", "unit_code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    profile: Mapped[str] = mapped_column(String(60))
    profile_version: Mapped[str] = mapped_column(String(40), default="")
    unit_code: Mapped[str] = mapped_column(String(10))
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    path: Mapped[str] = mapped_column(String(1000), default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
