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
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, stored in UTC. SQLite keeps a datetime as the wall-clock text of whatever zone it came in, so a
    moment in local time (a schedule's "today 07:00" on a machine in UTC+8) would be stored and compared eight
    hours off; every aware value is turned to UTC before it reaches the database, on both stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value


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
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

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
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship(back_populates="officers")


class Teacher(Base):
    """One person, one record (一人一号): identified by document type and number."""

    __tablename__ = "teachers"
    # id_number first: the one index serves every look-up by identity number (migration 0011).
    __table_args__ = (UniqueConstraint("id_number", "id_type", name="uq_teacher_identity"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id_type: Mapped[str] = mapped_column(String(2), default="1")
    id_number: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    teacher_number: Mapped[str | None] = mapped_column(String(18), unique=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | active | left
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


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
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class RecordVersion(Base):
    """One version of one record of one category for one teacher, with its review state."""

    __tablename__ = "record_versions"
    __table_args__ = (
        Index("ix_version_teacher_category", "teacher_id", "category"),
        Index("ix_version_unit_state", "unit_code", "review_state"),
        Index("ix_version_review_unit_state", "review_unit", "review_state"),
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
    review_unit: Mapped[str | None] = mapped_column(String(10))  # the unit that must act next (migration 0003)
    level_since: Mapped[datetime | None] = mapped_column(UtcDateTime())  # since when at that level
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


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
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    problem_fields: Mapped[str] = mapped_column(Text, default="")  # 问题字段 as the officer named them (0003)
    sheet_id: Mapped[str | None] = mapped_column(String(40))  # the return sheet that carried it (0003)


class AuditEntry(Base):
    """Append-only log of what happened (a database trigger forbids UPDATE and DELETE)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[str] = mapped_column(String(100), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), default="")  # hash of the entry before (0003)
    hash: Mapped[str] = mapped_column(String(64), default="")  # over prev_hash and this entry (0003)


# --- review ---
# The review chain (processor/review/): return sheets issued to reviewing units, the versions each lists,
# the teacher numbers handed out. Migration 0003 also adds columns to record_versions (review_unit,
# level_since), reviews (problem_fields, sheet_id) and audit_log (prev_hash, hash), declared on those classes.

class ReturnSheet(Base):
    """A return sheet (审核回执单) issued to one reviewing unit: open until applied or expired."""

    __tablename__ = "return_sheets"
    __table_args__ = (Index("ix_return_sheet_unit_status", "unit_code", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    level: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | applied | expired
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    path: Mapped[str] = mapped_column(String(1000), default="")
    signature: Mapped[str] = mapped_column(String(64), default="")
    versions: Mapped[int] = mapped_column(Integer, default=0)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    applied_submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    reviewer: Mapped[str] = mapped_column(String(100), default="")


class ReturnSheetItem(Base):
    """One version listed on a return sheet, where, and the hash it had when the sheet was issued."""

    __tablename__ = "return_sheet_items"

    sheet_id: Mapped[str] = mapped_column(ForeignKey("return_sheets.id"), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("record_versions.id"), primary_key=True, index=True)
    old_version_id: Mapped[int | None] = mapped_column(BigId)  # the effective version it corrects (复本比对)
    sheet_title: Mapped[str] = mapped_column(String(100))
    row: Mapped[int] = mapped_column(Integer)
    school_code: Mapped[str] = mapped_column(String(10))
    hash: Mapped[str] = mapped_column(String(64))


class TeacherNumber(Base):
    """Every teacher number ever handed out ([numbering]); a number is never given twice."""

    __tablename__ = "teacher_numbers"

    number: Mapped[str] = mapped_column(String(18), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(14), index=True)  # division code + unit number
    teacher_id: Mapped[int] = mapped_column(ForeignKey("teachers.id"), index=True)
    unit_code: Mapped[str] = mapped_column(String(10))
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class NumberingUnit(Base):
    """The 8-digit unit number of a school within its division for teacher numbers (assigned once)."""

    __tablename__ = "numbering_units"
    __table_args__ = (UniqueConstraint("division", "unit_number", name="uq_numbering_unit"),)

    unit_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    division: Mapped[str] = mapped_column(String(6))
    unit_number: Mapped[str] = mapped_column(String(8))


# --- mail ---
MAIL_IN_STATES = ("processing", "done", "quarantined", "released")
MAIL_OUT_STATES = ("waiting", "sent", "failed")


class MailIn(Base):
    """A received mail message (SMTP, IMAP or Maildir), keyed by its Message-ID: what became of it."""

    __tablename__ = "mail_in"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)  # Message-ID, or sha256 of the raw message
    source: Mapped[str] = mapped_column(String(10), default="smtp")  # smtp | imap | maildir
    sender: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    unit_code: Mapped[str | None] = mapped_column(String(10))  # the sender's unit
    state: Mapped[str] = mapped_column(String(20), default="processing", index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    spool_path: Mapped[str] = mapped_column(String(1000), default="")
    submissions: Mapped[list[Any]] = mapped_column(JSON, default=list)  # submission ids of its attachments
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    listed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # in the admin's daily list


class MailOut(Base):
    """An outgoing mail message: waiting until the server accepted it (sent) or it failed for good."""

    __tablename__ = "mail_out"
    __table_args__ = (Index("ix_mail_out_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dedup_key: Mapped[str | None] = mapped_column(String(300), unique=True)  # enqueue twice → one message
    to_addr: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(40), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"path", "name"}]
    entitled: Mapped[bool] = mapped_column(default=False)
    in_reply_to: Mapped[str] = mapped_column(String(300), default="")
    message_id: Mapped[str] = mapped_column(String(300), default="")
    state: Mapped[str] = mapped_column(String(10), default="waiting")  # waiting | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


# --- reports ---


class IntakePerson(Base):
    """A person named on a 基本信息 row of a received file, stored or not: the base of 'teachers received'."""

    __tablename__ = "intake_persons"
    __table_args__ = (Index("ix_intake_person_unit", "unit_code", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    unit_code: Mapped[str] = mapped_column(String(10))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    id_number: Mapped[str] = mapped_column(String(40))
    accepted: Mapped[bool] = mapped_column(default=False)  # its 基本信息 row was stored


class ReportFact(Base):
    """The few values of a record version that reports aggregate, as plain columns filled at ingest
    (so that a province of a million teachers is counted in SQL, never by loading JSON)."""

    __tablename__ = "report_facts"
    __table_args__ = (Index("ix_report_fact_unit_category", "unit_code", "category"),)

    version_id: Mapped[int] = mapped_column(ForeignKey("record_versions.id"), primary_key=True)
    teacher_id: Mapped[int] = mapped_column(BigId)
    unit_code: Mapped[str] = mapped_column(String(10))
    category: Mapped[str] = mapped_column(String(40))
    sex: Mapped[str | None] = mapped_column(String(4))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    ethnicity: Mapped[str | None] = mapped_column(String(4))
    employment: Mapped[str | None] = mapped_column(String(10))
    education: Mapped[str | None] = mapped_column(String(4))
    title: Mapped[str | None] = mapped_column(String(4))
    subject: Mapped[str | None] = mapped_column(String(10))


class TeacherFact(Base):
    """Each teacher's current report facts, one row per teacher with a live (pending or effective) 基本信息
    version: the unit, state and person values of the newest such version, and the lowest education, title and
    subject code of their live 学习经历 / 专业技术职务 / 教育教学 versions. Kept by processor.reports.facts at
    ingest and when review settles (migration 0006), so the composition of a million teachers is a GROUP BY
    over this narrow table instead of a grouping of versions per report."""

    __tablename__ = "teacher_facts"
    __table_args__ = (Index("ix_teacher_fact_unit_state", "unit_code", "state"),)

    teacher_id: Mapped[int] = mapped_column(ForeignKey("teachers.id"), primary_key=True)
    version_id: Mapped[int] = mapped_column(BigId)  # the current 基本信息 version
    unit_code: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20))  # review_state of that version: pending | effective
    sex: Mapped[str | None] = mapped_column(String(4))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    ethnicity: Mapped[str | None] = mapped_column(String(4))
    employment: Mapped[str | None] = mapped_column(String(10))
    education: Mapped[str | None] = mapped_column(String(4))
    title: Mapped[str | None] = mapped_column(String(4))
    subject: Mapped[str | None] = mapped_column(String(10))


class ReportRun(Base):
    """A report as rendered: what it was computed from (last audit entry, query time) and its figures, so
    that `tmis report rerender ID` renders the same numbers whatever changed since."""

    __tablename__ = "report_runs"
    __table_args__ = (Index("ix_report_run_kind_unit_period", "kind", "unit_code", "period"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))  # monthly | summary | bulletin | roster
    unit_code: Mapped[str] = mapped_column(String(10))
    period: Mapped[str] = mapped_column(String(20), default="")  # YYYY-MM, or YYYY-YYYY (credits; 0010)
    audit_id: Mapped[int | None] = mapped_column(BigInteger)  # the last audit entry when computed
    queried_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    scheduled: Mapped[bool] = mapped_column(default=False)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    files: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ScheduledReport(Base):
    """A scheduled report done for one period (exactly once, whichever worker ran it)."""

    __tablename__ = "scheduled_reports"
    __table_args__ = (UniqueConstraint("kind", "unit_code", "period", name="uq_scheduled_report"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    unit_code: Mapped[str] = mapped_column(String(10))
    period: Mapped[str] = mapped_column(String(7))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("report_runs.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class DeadlineReminder(Base):
    """A deadline reminder done (migration 0006): one row per deadline and reminder day, written in the
    transaction that queues its mail, so each reminder goes once whichever worker or restart runs it."""

    __tablename__ = "deadline_reminders"
    __table_args__ = (UniqueConstraint("deadline", "days_before", name="uq_deadline_reminder"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    deadline: Mapped[str] = mapped_column(String(80))  # the deadline's key: its date and name
    days_before: Mapped[int] = mapped_column(Integer)
    units: Mapped[int] = mapped_column(Integer, default=0)  # units reminded
    messages: Mapped[int] = mapped_column(Integer, default=0)  # messages queued
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class MonthlyReturn(Base):
    """What a unit filled in on its monthly form (培训人数, 问题, 下一步), taken back through the inbox."""

    __tablename__ = "monthly_returns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(String(10), index=True)
    period: Mapped[str] = mapped_column(String(7))
    trained: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[str] = mapped_column(Text, default="")
    next_steps: Mapped[str] = mapped_column(Text, default="")
    filled_by: Mapped[str] = mapped_column(String(100), default="")
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class RosterMember(Base):
    """One member of a unit's joint workgroup (联合工作组名单) from the unit's latest accepted roster."""

    __tablename__ = "roster_members"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(String(10), index=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    seq: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(100))
    department: Mapped[str] = mapped_column(String(200), default="")
    post: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(10))  # 组长 | 副组长 | 成员
    duty: Mapped[str] = mapped_column(String(200), default="")
    office_phone: Mapped[str] = mapped_column(String(40), default="")
    mobile: Mapped[str] = mapped_column(String(20), default="")
    email: Mapped[str] = mapped_column(String(254), default="")


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
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ExchangeExport(Base):
    """One export to an exchange profile: what it covered, so that ``--since-last`` continues from it."""

    __tablename__ = "exchange_exports"
    __table_args__ = (Index("ix_exchange_export_profile_unit", "profile", "unit_code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    profile: Mapped[str] = mapped_column(String(60))
    profile_version: Mapped[str] = mapped_column(String(40), default="")
    unit_code: Mapped[str] = mapped_column(String(10))
    since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    until: Mapped[datetime] = mapped_column(UtcDateTime())
    rows: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    path: Mapped[str] = mapped_column(String(1000), default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


# --- training credits, registration, sampling audits (migration 0010) ---
# Credits are kept in thousandths (credits_milli) so that both SQLite and PostgreSQL add them exactly.

class TrainingProject(Base):
    """One project of a training plan (培训计划) filed by the unit that owns it."""

    __tablename__ = "training_projects"
    __table_args__ = (UniqueConstraint("unit_code", "project_code", name="uq_training_project_code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)  # the owner that filed it
    project_code: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(10))  # national | province | city | county | school | self
    provider: Mapped[str] = mapped_column(String(200), default="")
    hours: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[str] = mapped_column(String(10))  # ISO date
    end_date: Mapped[str] = mapped_column(String(10))
    school_code: Mapped[str | None] = mapped_column(String(10))  # 校本 / 自主研修: the school
    confirm_unit: Mapped[str] = mapped_column(String(10))  # who confirms its results (rule: confirmed_by)
    remarks: Mapped[str] = mapped_column(Text, default="")
    plan_submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    plan_row: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class TrainingResult(Base):
    """A provider's result sheet for one project, awaiting the confirmation of ``confirm_unit``."""

    __tablename__ = "training_results"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("training_projects.id"), index=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    status: Mapped[str] = mapped_column(String(20), default="awaiting")  # awaiting | confirmed | refused
    confirm_unit: Mapped[str] = mapped_column(String(10))
    confirmation: Mapped[str] = mapped_column(String(60), default="")  # the signed confirmation sheet
    confirmed_by: Mapped[str] = mapped_column(String(100), default="")
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    rows: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class TrainingResultRow(Base):
    """One teacher on a result sheet: hours, passed, the credits the rule gives, and the confirmer's decision."""

    __tablename__ = "training_result_rows"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("training_results.id"), index=True)
    row: Mapped[int] = mapped_column(Integer)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("teachers.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    hours: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(default=False)
    credits_milli: Mapped[int] = mapped_column(Integer, default=0)
    decision: Mapped[str | None] = mapped_column(String(10))  # confirm | refuse
    reason: Mapped[str] = mapped_column(Text, default="")


class CreditEntry(Base):
    """One entry of a teacher's credit account (学分银行), traceable to plan, result sheet and confirmation."""

    __tablename__ = "credit_entries"
    __table_args__ = (UniqueConstraint("project_id", "teacher_id", name="uq_credit_project_teacher"),
                      Index("ix_credit_teacher_year", "teacher_id", "year"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("teachers.id"))
    year: Mapped[int] = mapped_column(Integer)  # the year the training ended
    level: Mapped[str] = mapped_column(String(10))
    hours: Mapped[int] = mapped_column(Integer)
    credits_milli: Mapped[int] = mapped_column(Integer)
    project_id: Mapped[int] = mapped_column(ForeignKey("training_projects.id"))
    result_id: Mapped[int] = mapped_column(ForeignKey("training_results.id"))
    result_row_id: Mapped[int] = mapped_column(ForeignKey("training_result_rows.id"))
    plan_submission_id: Mapped[int] = mapped_column(BigId)
    result_submission_id: Mapped[int] = mapped_column(BigId)
    confirmation: Mapped[str] = mapped_column(String(60))
    confirm_unit: Mapped[str] = mapped_column(String(10))
    confirmed_by: Mapped[str] = mapped_column(String(100))
    confirmed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    rule_province: Mapped[str] = mapped_column(String(6))
    rule_version: Mapped[str] = mapped_column(String(40))


class AssessmentRecord(Base):
    """A year's annual assessment (年度考核) or ethics assessment (师德考核) of a teacher; the latest filing wins."""

    __tablename__ = "assessment_records"
    __table_args__ = (UniqueConstraint("teacher_id", "kind", "year", name="uq_assessment_teacher_kind_year"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("teachers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # annual | ethics
    year: Mapped[int] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(20))  # the conclusion's name (优秀, 合格, …)
    breach: Mapped[str] = mapped_column(Text, default="")
    remarks: Mapped[str] = mapped_column(Text, default="")
    unit_code: Mapped[str] = mapped_column(String(10))  # who filed it
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class RegistrationDecision(Base):
    """A periodic registration decision (定期注册) taken back by signed sheet, and the 教师资格 version it made."""

    __tablename__ = "registration_decisions"
    __table_args__ = (UniqueConstraint("teacher_id", "cycle", "seq", name="uq_registration_teacher_cycle_seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("teachers.id"), index=True)
    cycle: Mapped[int] = mapped_column(Integer)  # first year of the cycle
    seq: Mapped[int] = mapped_column(Integer)  # the 教师资格 record (one per certificate)
    unit_code: Mapped[str] = mapped_column(String(10))  # the deciding authority
    decision: Mapped[str] = mapped_column(String(4))  # registration_result code
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(100))
    confirmation: Mapped[str] = mapped_column(String(60))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("record_versions.id"))
    credits_milli: Mapped[int] = mapped_column(Integer, default=0)  # what the archive said when decided
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class AuditSample(Base):
    """A random sample (随机抽查) of schools and teachers below a unit, reproducible from its seed."""

    __tablename__ = "audit_samples"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    seed: Mapped[str] = mapped_column(String(64))
    schools: Mapped[int] = mapped_column(Integer)
    teachers: Mapped[int] = mapped_column(Integer)  # per school
    status: Mapped[str] = mapped_column(String(20), default="issued")  # issued | checked
    confirmation: Mapped[str] = mapped_column(String(60), default="")
    checked_by: Mapped[str] = mapped_column(String(100), default="")
    checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    files: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class AuditSampleItem(Base):
    """One sampled teacher and, once the check sheet is back, the auditor's finding."""

    __tablename__ = "audit_sample_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("audit_samples.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    school_code: Mapped[str] = mapped_column(String(10))
    teacher_id: Mapped[int] = mapped_column(ForeignKey("teachers.id"))
    result: Mapped[str | None] = mapped_column(String(10))  # match | mismatch
    field: Mapped[str] = mapped_column(String(200), default="")  # the field(s) the auditor names
    note: Mapped[str] = mapped_column(Text, default="")


# --- workflows ---
# Requests that travel between units (processor/workflows/): status changes, transfers, rotations, and the
# kinds other areas register. Each request has a chain of confirming steps; each step is confirmed on a signed
# confirmation sheet (确认单) issued to that unit's officers. Migration 0009.
REQUEST_STATES = ("open", "applied", "rejected", "withdrawn")


class WorkflowRequest(Base):
    """One request (申请): what is asked, by whom, the chain of units that must confirm and where it stands."""

    __tablename__ = "wf_requests"
    __table_args__ = (Index("ix_wf_request_kind_state", "kind", "state"),
                      Index("ix_wf_request_waiting", "state", "waiting_unit"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # e.g. TR-20261201-3f9a2c
    kind: Mapped[str] = mapped_column(String(40))
    unit_code: Mapped[str] = mapped_column(String(10), index=True)  # the unit that filed it
    teacher_id: Mapped[int | None] = mapped_column(ForeignKey("teachers.id"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the request's fields as filed
    steps: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"unit", "role"}] in order
    step: Mapped[int] = mapped_column(Integer, default=0)  # index of the step that must act next
    waiting_unit: Mapped[str | None] = mapped_column(String(10))  # steps[step]["unit"] while open
    state: Mapped[str] = mapped_column(String(20), default="open")  # open | applied | rejected | withdrawn
    filed_by: Mapped[str] = mapped_column(String(100), default="")
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what applying it did
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class WorkflowStep(Base):
    """Everything that happened to a request: filed, confirmed or rejected at a step, applied (谁确认谁负责)."""

    __tablename__ = "wf_steps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("wf_requests.id"), index=True)
    step: Mapped[int] = mapped_column(Integer)  # -1: filing; 0..n-1: the confirming steps; n: applied
    unit_code: Mapped[str] = mapped_column(String(10))
    action: Mapped[str] = mapped_column(String(20))  # filed | confirmed | rejected | applied
    by: Mapped[str] = mapped_column(String(100), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the confirming unit's other inputs
    sheet_id: Mapped[str | None] = mapped_column(String(40))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ConfirmSheet(Base):
    """A confirmation sheet (确认单) issued to one unit for requests waiting at it: open until used or expired."""

    __tablename__ = "wf_sheets"
    __table_args__ = (Index("ix_wf_sheet_unit_status", "unit_code", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | applied | expired
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    path: Mapped[str] = mapped_column(String(1000), default="")
    signature: Mapped[str] = mapped_column(String(64), default="")
    requests: Mapped[int] = mapped_column(Integer, default=0)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    applied_submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    confirmer: Mapped[str] = mapped_column(String(100), default="")


class ConfirmSheetItem(Base):
    """One request listed on a confirmation sheet: its row, the step it was listed for, the hash it had."""

    __tablename__ = "wf_sheet_items"

    sheet_id: Mapped[str] = mapped_column(ForeignKey("wf_sheets.id"), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("wf_requests.id"), primary_key=True, index=True)
    row: Mapped[int] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class StatusChange(Base):
    """The history of a teacher's status (在岗, 长期离岗, 离职, 退休, 去世, 交流轮岗 …): one row per change applied."""

    __tablename__ = "teacher_status_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("teachers.id"), index=True)
    unit_code: Mapped[str] = mapped_column(String(10))
    old_status: Mapped[str] = mapped_column(String(20))
    new_status: Mapped[str] = mapped_column(String(20))
    change: Mapped[str] = mapped_column(String(20))  # the request's change code (absence, leave, retire, …)
    effective_date: Mapped[str] = mapped_column(String(10), default="")  # YYYY-MM-DD
    reason: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[str | None] = mapped_column(ForeignKey("wf_requests.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Worker(Base):
    """A `tmis run` process (on any machine): when it was last seen and how many jobs it finished."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # [workers] name, or <host>:<pid>
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="running")  # running | stopped
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    jobs_done: Mapped[int] = mapped_column(Integer, default=0)
    queue_worker_id: Mapped[int | None] = mapped_column(BigInteger)  # procrastinate_workers.id of this run


class FileJob(Base):
    """One received file (inbox claim, mailed message, exchange import) as a job: the row keyed by the file's
    identity that makes exactly one worker process it (PostgreSQL; processor.queue)."""

    __tablename__ = "file_jobs"
    __table_args__ = (UniqueConstraint("key", name="uq_file_job_key"), Index("ix_file_jobs_state", "state"),
                      Index("ix_file_jobs_finished", "finished_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(700))  # inbox:<claim name> | mail:<message key> | exchange:<claim name>
    kind: Mapped[str] = mapped_column(String(20))  # inbox | mail | exchange
    path: Mapped[str] = mapped_column(String(1000))
    original_name: Mapped[str] = mapped_column(String(500))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), default="waiting")  # waiting | running | done | failed
    job_id: Mapped[int | None] = mapped_column(BigInteger)  # procrastinate_jobs.id
    worker: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(20))  # the pipeline's Outcome.status
    submission_id: Mapped[int | None] = mapped_column(BigId)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ScheduleRun(Base):
    """A piece of scheduled work done for one period (exactly once, whichever worker ran it)."""

    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("name", "period", name="uq_schedule_run"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(60))
    period: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
