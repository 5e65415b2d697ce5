"""Petitions (诉求), their timeline and the per-day ticket counter."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text
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


class PetitionSource(StrEnum):
    QR = "qr"
    """Started by scanning a grid point's 问题上报码."""
    CHAT = "chat"


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
    created_at: Mapped[datetime]
    response_due_at: Mapped[datetime] = mapped_column(index=True)
    resolution_due_at: Mapped[datetime] = mapped_column(index=True)
    responded_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    response_met: Mapped[bool | None] = mapped_column(Boolean, default=None)
    resolution_met: Mapped[bool | None] = mapped_column(Boolean, default=None)


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


class DailyTicketCounter(Base):
    """Last ticket sequence used per local day; bumped atomically with an upsert."""

    __tablename__ = "petition_daily_counter"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
