"""SQLAlchemy 2 models. Every table SASI keeps, in one place; migrations mirror them."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Stage(enum.StrEnum):
    """The five stages of the Laboratorium Inovasi (LAN RI)."""

    DRUM_UP = "drum_up"
    DIAGNOSE = "diagnose"
    DESIGN = "design"
    DELIVER = "deliver"
    DISPLAY = "display"


class IdeaStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    VERIFIED = "verified"
    REJECTED = "rejected"
    MERGED = "merged"
    WITHDRAWN = "withdrawn"


class Role(enum.StrEnum):
    COORDINATOR = "coordinator"  # an OPD's coordinator, scoped by opd_id
    BAPPEDA = "bappeda"
    ADMIN = "admin"


class SimilarityDecisionKind(enum.StrEnum):
    CONTINUE = "continue"  # the submitter says the idea is different
    JOIN = "join"  # joined the existing idea as a collaborator
    REPLICATE = "replicate"  # recorded as a replication of the existing idea
    CANCEL = "cancel"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings: adding a value later needs no ALTER TYPE on PostgreSQL.
    return Enum(cls, name=name, native_enum=False, length=20, values_callable=_values)


def _values(cls: type[enum.Enum]) -> list[str]:
    return [str(member.value) for member in cls]


class Opd(Base):
    __tablename__ = "opds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    short_name: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    """A person. Registration fills the profile; channel identities point here."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    full_name: Mapped[str | None] = mapped_column(String(120))
    nip: Mapped[str | None] = mapped_column(String(18), unique=True)
    opd_id: Mapped[int | None] = mapped_column(ForeignKey("opds.id"))
    position: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(8))
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    opd: Mapped[Opd | None] = relationship(lazy="joined")
    # Loaded only when asked for (queries name it): the engine never needs it per message.
    identities: Mapped[list[Identity]] = relationship(back_populates="user", lazy="raise")
    # Read on demand (``session.refresh(user, ["roles"])``) by the one place that checks roles.
    roles: Mapped[list[UserRole]] = relationship(back_populates="user", lazy="raise")

    @property
    def is_registered(self) -> bool:
        return self.registered_at is not None


class Identity(Base):
    """One channel address of a person: a Telegram user id, a WhatsApp number, a terminal name."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    # Up to 160: a WhatsApp BSUID is a country code, a dot and up to 128 characters.
    external_id: Mapped[str] = mapped_column(String(160))
    display_name: Mapped[str | None] = mapped_column(String(200))
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="identities")


class IdentityAlias(Base):
    """Another address of a channel identity (a WhatsApp user's BSUID beside their number)."""

    __tablename__ = "identity_aliases"
    __table_args__ = (UniqueConstraint("channel", "alias"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(20))
    alias: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role", "opd_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    opd_id: Mapped[int | None] = mapped_column(ForeignKey("opds.id"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="roles")


class Idea(Base):
    """An innovation idea, with the fields of Kemendagri's Indeks Inovasi Daerah profile."""

    __tablename__ = "ideas"
    # The programme's figures (storage/figures.py) read ideas by stage and status from this
    # index alone, never the rows with their long texts.
    __table_args__ = (
        Index("ix_ideas_stage_status", "stage", "status", "opd_id", "created_at"),
        # Also what the OPD's foreign key and a coordinator's scope are looked up by.
        Index("ix_ideas_opd_status", "opd_id", "status", "stage", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(150))
    problem: Mapped[str] = mapped_column(Text)
    idea: Mapped[str] = mapped_column(Text)
    goal: Mapped[str | None] = mapped_column(Text)
    benefit: Mapped[str | None] = mapped_column(Text)
    beneficiaries: Mapped[str | None] = mapped_column(Text)
    is_digital: Mapped[bool | None] = mapped_column(Boolean)
    form: Mapped[str | None] = mapped_column(String(40))
    affair: Mapped[str | None] = mapped_column(String(40))
    initiator: Mapped[str | None] = mapped_column(String(40))
    budget_estimate: Mapped[int | None] = mapped_column(BigInteger)
    opd_id: Mapped[int | None] = mapped_column(ForeignKey("opds.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    stage: Mapped[Stage] = mapped_column(_enum(Stage, "stage"), default=Stage.DIAGNOSE)
    status: Mapped[IdeaStatus] = mapped_column(
        _enum(IdeaStatus, "idea_status"), default=IdeaStatus.SUBMITTED
    )
    replication_of_id: Mapped[int | None] = mapped_column(ForeignKey("ideas.id"))
    # Or a replication of an innovation from an imported directory (another region's, say).
    replication_of_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("directory_entries.id", ondelete="SET NULL")
    )
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("ideas.id"))
    # Why a reviewer rejected it or asked for a clarification, shown to its owner as written.
    status_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    programme_id: Mapped[int | None] = mapped_column(ForeignKey("programmes.id"), index=True)
    launch_date: Mapped[date | None] = mapped_column(Date)  # set by the owner in Design
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Indexed: every similarity search catches up on ideas changed since its last look.
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True
    )

    opd: Mapped[Opd | None] = relationship(lazy="joined")
    owner: Mapped[User | None] = relationship(lazy="joined", foreign_keys=[owner_id])
    collaborators: Mapped[list[IdeaCollaborator]] = relationship(lazy="selectin")
    attachments: Mapped[list[IdeaAttachment]] = relationship(lazy="selectin")

    @property
    def description(self) -> str:
        """The text the near-duplicate engine compares besides the name."""
        return f"{self.problem}\n{self.idea}"


class IdeaCollaborator(Base):
    __tablename__ = "idea_collaborators"
    __table_args__ = (UniqueConstraint("idea_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdeaAttachment(Base):
    """A file attached to an idea; ``indicator`` tags the IID eviden it proves, when known."""

    __tablename__ = "idea_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    file_name: Mapped[str] = mapped_column(String(255))
    mime_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(BigInteger)
    storage_path: Mapped[str] = mapped_column(String(500))
    indicator: Mapped[str | None] = mapped_column(String(40))
    # The monthly report it came with, when it is eviden sent during monitoring.
    report_id: Mapped[int | None] = mapped_column(
        ForeignKey("monitoring_reports.id", ondelete="SET NULL"), index=True
    )
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SimilarityDecision(Base):
    """What a submitter chose when shown a possible duplicate, for Bappeda to review and merge."""

    __tablename__ = "similarity_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    idea_id: Mapped[int | None] = mapped_column(ForeignKey("ideas.id"), index=True)
    draft_name: Mapped[str] = mapped_column(String(150))
    matched_doc_id: Mapped[str] = mapped_column(String(40))
    matched_idea_id: Mapped[int | None] = mapped_column(ForeignKey("ideas.id"))
    score: Mapped[float] = mapped_column(Float)
    decision: Mapped[SimilarityDecisionKind] = mapped_column(
        _enum(SimilarityDecisionKind, "similarity_decision")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConversationState(Base):
    """Where a person is in their conversations: a stack of frames, kept across restarts."""

    __tablename__ = "conversation_states"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    frames: Mapped[list[Any]] = mapped_column(JSON, default=list)
    offered: Mapped[list[Any]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class InboundUpdate(Base):
    """An update a channel received; stored before it is acknowledged, processed once."""

    __tablename__ = "inbound_updates"
    __table_args__ = (UniqueConstraint("channel", "update_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    update_key: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Processing attempts that failed; an update that cannot be processed is set aside:
    # marked done (``processed_at``) with ``failed_at`` and the reason, kept for inspection.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure: Mapped[str | None] = mapped_column(String(200))


class LinkEvent(enum.StrEnum):
    CODE_SENT = "code_sent"
    WRONG_CODE = "wrong_code"
    LINKED = "linked"


class LinkAttempt(Base):
    """Codes sent and guesses made to link a channel identity to a registered person.

    Kept per target person so that starting over (``/mulai``) cannot reset the limits: NIPs
    are printed on official documents, and a code must not be guessable by retrying.
    """

    __tablename__ = "link_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    requester_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    event: Mapped[LinkEvent] = mapped_column(_enum(LinkEvent, "link_event"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Programme(Base):
    """A programme run by Bappeda, e.g. "Laboratorium Inovasi 2027", with dates per 5D stage."""

    __tablename__ = "programmes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    stages: Mapped[list[ProgrammeStage]] = relationship(
        lazy="selectin", order_by="ProgrammeStage.starts", cascade="all, delete-orphan"
    )


class ProgrammeStage(Base):
    """One stage of a programme, from ``starts`` to ``ends`` (both days included, local)."""

    __tablename__ = "programme_stages"
    __table_args__ = (UniqueConstraint("programme_id", "stage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("programmes.id", ondelete="CASCADE"), index=True
    )
    stage: Mapped[Stage] = mapped_column(_enum(Stage, "stage"))
    starts: Mapped[date] = mapped_column(Date)
    ends: Mapped[date] = mapped_column(Date)


class ExtraHoliday(Base):
    """A closed day Bappeda adds to the national calendar (a regional holiday, say)."""

    __tablename__ = "extra_holidays"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ActionPlanItem(Base):
    """One milestone of an idea's rencana aksi: what will be done in which month."""

    __tablename__ = "action_plan_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), index=True)
    month: Mapped[date] = mapped_column(Date)  # the first day of the month
    activity: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MonitoringReport(Base):
    """The monthly monitoring report of a Deliver-stage idea; one per idea and period."""

    __tablename__ = "monitoring_reports"
    __table_args__ = (
        UniqueConstraint("idea_id", "period"),
        Index("ix_monitoring_reports_period", "period", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(7))  # "2027-03": the month it was asked for
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    progress: Mapped[int] = mapped_column(Integer)  # 0-100 %
    done: Mapped[str] = mapped_column(Text)
    obstacles: Mapped[list[Any]] = mapped_column(JSON, default=list)  # category codes
    obstacle_note: Mapped[str | None] = mapped_column(Text)
    next_step: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RosterEntry(Base):
    """A civil servant on the Pemda's ASN roster, registered with SASI or not.

    Participation ("one ASN, one innovation") is counted against the roster; a person who
    registers with a NIP found here is matched to it by that NIP.
    """

    __tablename__ = "asn_roster"
    # Per OPD with the echelon: the roster counted from the index alone.
    __table_args__ = (Index("ix_asn_roster_opd_echelon", "opd_id", "echelon"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nip: Mapped[str] = mapped_column(String(18), unique=True)
    full_name: Mapped[str] = mapped_column(String(120))
    opd_id: Mapped[int] = mapped_column(ForeignKey("opds.id"))
    position: Mapped[str] = mapped_column(String(200))
    # "II", "III" or "IV" for structural officials (eselon); None for everyone else.
    echelon: Mapped[str | None] = mapped_column(String(8))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    """Who did what to whom, with the state before and after: kept for Bappeda's accounts."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # The person who acted; None for the command line or the system.
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor: Mapped[str] = mapped_column(String(120))  # a readable label: name (NIP), "cli"
    action: Mapped[str] = mapped_column(String(40))  # e.g. "role.grant", "idea.verify"
    subject: Mapped[str] = mapped_column(String(60), index=True)  # e.g. "idea:12", "user:3"
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)


class Broadcast(Base):
    """A message a coordinator or Bappeda sent to a segment of people (``/siaran``).

    Each recipient gets one outbox row (key ``broadcast:{id}:{user_id}``); this row keeps
    what was sent, to whom (the segment), and where the sender follows its progress.
    """

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Made when the draft starts: confirming the same draft twice finds the first broadcast.
    draft_key: Mapped[str] = mapped_column(String(40), unique=True)
    sender_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    file_path: Mapped[str | None] = mapped_column(String(500))
    file_name: Mapped[str | None] = mapped_column(String(255))
    mime_type: Mapped[str | None] = mapped_column(String(120))
    segment: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Recipients per channel ({"telegram": 3, "whatsapp": 2}) and the special cases.
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    # The sender's chat for progress and the report, and the Telegram message edited there.
    progress_channel: Mapped[str] = mapped_column(String(20))
    progress_chat: Mapped[str] = mapped_column(String(160))
    progress_message_id: Mapped[int | None] = mapped_column(Integer)
    locale: Mapped[str] = mapped_column(String(8), default="id")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class DirectoryEntry(Base):
    """An innovation from an earlier Direktori Inovasi (this Pemda's past years, or another
    region's), imported so that new ideas are checked against it too.

    ``content_hash`` covers what the entry says, not the file it came from: importing the
    same file again, or the same entry in another file, adds nothing.
    """

    __tablename__ = "directory_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(255))  # the imported file's name
    source_row: Mapped[int] = mapped_column(Integer)  # its row there (the header is row 1)
    region: Mapped[str | None] = mapped_column(String(120))
    year: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    agency: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(500))
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DashboardLink(Base):
    """A one-time sign-in link for the dashboard: only the token's hash is kept."""

    __tablename__ = "dashboard_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DashboardSession(Base):
    """A signed-in browser; the cookie holds the secret, the table its hash."""

    __tablename__ = "dashboard_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DashboardSecret(Base):
    """The links' signing key when SASI_DASHBOARD_SECRET is not set: made once, kept here."""

    __tablename__ = "dashboard_secrets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdeaClarification(Base):
    """A reviewer's question about an idea and its owner's answer: each round is kept, so the
    detail, the queue and the audit can show who asked what, and who answered what, when."""

    __tablename__ = "idea_clarifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), index=True)
    asked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    question: Mapped[str] = mapped_column(Text)
    # None while the question is open.
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answer: Mapped[str | None] = mapped_column(Text)
