"""Petitions, their timeline, followers, follow-up answers, SLA nudges, ticket counter."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base


class PetitionStatus(StrEnum):
    RECEIVED = "received"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    ON_SITE = "on_site"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    RETURNED = "returned"
    ESCALATED = "escalated"
    WAITING = "waiting"
    MERGED = "merged"
    CANCELLED = "cancelled"
    REOPENED = "reopened"


class EscalationLevel(StrEnum):
    """Who supervises the case: each escalation moves one step up."""

    GRID = "grid"
    COMMUNITY = "community"
    STREET = "street"
    """Sub-district or township office."""
    COUNTY_12345 = "county_12345"
    """The county 12345 hotline."""


ESCALATION_ORDER: tuple[EscalationLevel, ...] = tuple(EscalationLevel)


class ReturnReason(StrEnum):
    """Why staff returned a case; the reviewer re-dispatches, merges or cancels it."""

    WRONG_AREA = "wrong_area"
    WRONG_CATEGORY = "wrong_category"
    BELONGS_TO_EXTERNAL_UNIT = "belongs_to_external_unit"
    DUPLICATE = "duplicate"
    OTHER = "other"


class WaitingFor(StrEnum):
    RESIDENT = "resident"
    PARTS = "parts"


class FollowupAnswer(StrEnum):
    """The resident's follow-up answer; NO_RESPONSE is only ever set by the 3-day timeout."""

    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    NOT_FIXED = "not_fixed"
    NO_RESPONSE = "no_response"


class SlaClock(StrEnum):
    RESPONSE = "response"
    RESOLUTION = "resolution"


class NudgeLevel(StrEnum):
    HALF = "50"
    EIGHTY = "80"
    BREACH = "breach"


class PetitionSource(StrEnum):
    QR = "qr"
    """Started by scanning a grid point's problem-report QR code."""
    CHAT = "chat"
    VOICE = "voice"
    """A voice message a person must listen to (Tibetan, unclear, or recognition off)."""


class Petition(Base):
    __tablename__ = "petition_petition"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_no: Mapped[str] = mapped_column(String(16), unique=True)
    resident_openid: Mapped[str] = mapped_column(
        ForeignKey("directory_resident.openid"), index=True
    )
    community_id: Mapped[str] = mapped_column(ForeignKey("directory_community.id"), index=True)
    grid_id: Mapped[str] = mapped_column(ForeignKey("directory_grid.id"), index=True)
    grid_point_id: Mapped[str | None] = mapped_column(
        ForeignKey("directory_grid_point.id"), default=None
    )
    category: Mapped[str] = mapped_column(String(32), index=True)
    description: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(512), default="")
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    photos: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    source: Mapped[PetitionSource] = mapped_column(String(16))
    hazard: Mapped[str | None] = mapped_column(String(32), default=None)
    status: Mapped[PetitionStatus] = mapped_column(String(16), index=True)
    assignee_staff_id: Mapped[str | None] = mapped_column(
        ForeignKey("directory_staff.id"), default=None
    )
    interest_count: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(index=True)
    response_due_at: Mapped[datetime] = mapped_column(index=True)
    resolution_due_at: Mapped[datetime] = mapped_column(index=True)
    responded_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    response_met: Mapped[bool | None] = mapped_column(Boolean, default=None)
    resolution_met: Mapped[bool | None] = mapped_column(Boolean, default=None)
    escalation_level: Mapped[EscalationLevel] = mapped_column(
        String(16), default=EscalationLevel.GRID, server_default=EscalationLevel.GRID.value
    )
    external_unit: Mapped[str | None] = mapped_column(String(64), default=None)
    """A line department the community forwarded the case to (id in responsibility.yml)."""
    return_reason: Mapped[ReturnReason | None] = mapped_column(String(32), default=None)
    waiting_since: Mapped[datetime | None] = mapped_column(default=None)
    waiting_for: Mapped[WaitingFor | None] = mapped_column(String(16), default=None)
    paused_working_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Working days added to resolution_due_at for time spent waiting (all pauses together)."""
    contacted_at: Mapped[datetime | None] = mapped_column(default=None)
    """First on-site visit or staff reply: "contacted" in the response rate."""
    satisfaction: Mapped[FollowupAnswer | None] = mapped_column(String(24), default=None)
    """Outcome of the latest follow-up round (no_response when nobody answered in time)."""
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("petition_petition.id"), default=None
    )
    awaiting_transcription: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), index=True
    )
    """A voice message on this case has not been transcribed by staff yet."""


class PetitionEvent(Base):
    """One line of a petition's timeline: who did what, when, and the status it led to."""

    __tablename__ = "petition_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petition_petition.id"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16), default=None)
    to_status: Mapped[str | None] = mapped_column(String(16), default=None)
    actor: Mapped[str] = mapped_column(String(96))
    note: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    """Structured context: return reason, escalation level, old/new category, clock …"""


class PetitionFollower(Base):
    """A resident who said "me too" or was merged in from a duplicate (petitioner implied)."""

    __tablename__ = "petition_follower"
    __table_args__ = (UniqueConstraint("petition_id", "openid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petition_petition.id"), index=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    since: Mapped[datetime]
    via: Mapped[str] = mapped_column(String(16), default="me_too")
    """"me_too" or "merge"."""


class PetitionFollowupAnswer(Base):
    """One follow-up answer from one follower; all are kept, the latest valid one counts."""

    __tablename__ = "petition_followup_answer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petition_petition.id"), index=True)
    openid: Mapped[str] = mapped_column(String(64))
    answer: Mapped[FollowupAnswer] = mapped_column(String(24))
    at: Mapped[datetime]


class SlaNudge(Base):
    """One nudge per petition, clock and level: the row makes the sweep idempotent."""

    __tablename__ = "petition_sla_nudge"
    __table_args__ = (UniqueConstraint("petition_id", "clock", "level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petition_petition.id"))
    clock: Mapped[SlaClock] = mapped_column(String(16))
    level: Mapped[NudgeLevel] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(index=True)
    recipient: Mapped[str] = mapped_column(String(96), default="")
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    """Reached together with a higher level (a late sweep): recorded, not sent."""


class DailyTicketCounter(Base):
    """Last ticket sequence used per local day; bumped atomically with an upsert."""

    __tablename__ = "petition_daily_counter"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class VoiceRecordingProblem(StrEnum):
    """Why a recording has no playable audio: staff call the resident back instead."""

    DOWNLOAD_FAILED = "download_failed"
    UNCONVERTIBLE = "unconvertible"


class VoiceRecording(Base):
    """One resident voice message: where its files are, what recognition made of it, its case.

    Paths are relative to the bot's media directory; the domain only stores them.
    """

    __tablename__ = "voice_recording"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    petition_id: Mapped[int | None] = mapped_column(
        ForeignKey("petition_petition.id"), default=None, index=True
    )
    media_id: Mapped[str] = mapped_column(String(256), default="")
    original_path: Mapped[str | None] = mapped_column(String(512), default=None)
    original_format: Mapped[str] = mapped_column(String(16), default="")
    mp3_path: Mapped[str | None] = mapped_column(String(512), default=None)
    wav_path: Mapped[str | None] = mapped_column(String(512), default=None)
    duration_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    transcript: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    language_probability: Mapped[float | None] = mapped_column(Float, default=None)
    avg_logprob: Mapped[float | None] = mapped_column(Float, default=None)
    no_speech_prob: Mapped[float | None] = mapped_column(Float, default=None)
    engine: Mapped[str] = mapped_column(String(16), default="none")
    """whisper, wechat or none (recognition off, Tibetan resident, no audio)."""
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    problem: Mapped[VoiceRecordingProblem | None] = mapped_column(String(24), default=None)
    created_at: Mapped[datetime] = mapped_column(index=True)
