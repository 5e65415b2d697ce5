"""Eldercare home visits: catalogue, bookings, slot usage and number counter."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base


class ProviderKind(StrEnum):
    ORGANISATION = "organisation"
    """A canteen, housekeeping company, nursing station or health centre."""
    GRID_WORKER = "grid_worker"
    """A grid's own grid worker (the old-age allowance certification at home); one provider
    per grid."""


class BookingStatus(StrEnum):
    BOOKED = "booked"
    RESCHEDULED = "rescheduled"
    """Still upcoming, at a time other than the first one booked."""
    CANCELLED = "cancelled"
    DONE = "done"
    NO_SHOW = "no_show"
    """The provider came and nobody was home (or the visit could not happen)."""


ACTIVE_STATUSES: tuple[BookingStatus, ...] = (BookingStatus.BOOKED, BookingStatus.RESCHEDULED)


class EldercareService(Base):
    __tablename__ = "booking_service"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_bo: Mapped[str] = mapped_column(String(256))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Provider(Base):
    """Who makes the visits, when they work and how many visits fit in one slot."""

    __tablename__ = "booking_provider"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("directory_community.id"), index=True)
    grid_id: Mapped[str | None] = mapped_column(ForeignKey("directory_grid.id"), default=None)
    """Serves only this grid (grid workers); None serves the whole community."""
    staff_id: Mapped[str | None] = mapped_column(ForeignKey("directory_staff.id"), default=None)
    """The staff member who is the provider (grid workers): also gets the booking cards."""
    kind: Mapped[ProviderKind] = mapped_column(String(16))
    name_zh: Mapped[str] = mapped_column(String(128))
    name_bo: Mapped[str] = mapped_column(String(256))
    phone: Mapped[str] = mapped_column(String(32), default="")
    working_days: Mapped[list[int]] = mapped_column(JSON)
    """ISO weekdays, 1 = Monday … 7 = Sunday."""
    hours: Mapped[list[list[str]]] = mapped_column(JSON)
    """Local working ranges, e.g. [["09:00", "12:00"], ["15:00", "18:00"]]."""
    slot_minutes: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    """Visits the provider can make in one slot."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    """False once the provider left the catalogue (kept: old bookings point at it)."""


class ProviderService(Base):
    __tablename__ = "booking_provider_service"

    provider_id: Mapped[str] = mapped_column(ForeignKey("booking_provider.id"), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("booking_service.id"), primary_key=True)


class SlotUsage(Base):
    """Places taken in one provider slot; bumped by one conditional upsert, so it never passes
    the capacity even when bookings race (the row lock on PostgreSQL, the write lock on SQLite).
    """

    __tablename__ = "booking_slot_usage"
    __table_args__ = (CheckConstraint("used >= 0", name="used_not_negative"),)

    provider_id: Mapped[str] = mapped_column(ForeignKey("booking_provider.id"), primary_key=True)
    slot_start: Mapped[datetime] = mapped_column(primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)


class Booking(Base):
    __tablename__ = "booking_booking"
    __table_args__ = (
        Index("ix_booking_booking_provider_slot", "provider_id", "slot_start"),
        CheckConstraint("rating IS NULL OR (rating BETWEEN 1 AND 5)", name="rating_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    """YB20261122-0001: the local day it was booked and a per-day sequence."""
    openid: Mapped[str] = mapped_column(ForeignKey("directory_resident.openid"), index=True)
    """Who booked: the elder or a family member booking on their behalf (for_someone_else)."""
    language: Mapped[str] = mapped_column(String(8))
    """Language of the person who booked: reminders and the rating question use it."""
    for_someone_else: Mapped[bool] = mapped_column(Boolean, default=False)
    elder_name: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(512))
    phone: Mapped[str] = mapped_column(String(32))
    community_id: Mapped[str] = mapped_column(ForeignKey("directory_community.id"), index=True)
    grid_id: Mapped[str | None] = mapped_column(ForeignKey("directory_grid.id"), default=None)
    service_id: Mapped[str] = mapped_column(ForeignKey("booking_service.id"), index=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("booking_provider.id"))
    slot_start: Mapped[datetime] = mapped_column(index=True)
    slot_end: Mapped[datetime]
    status: Mapped[BookingStatus] = mapped_column(String(16), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    revision: Mapped[int] = mapped_column(Integer, default=0)
    """Times the booking was moved; part of the reminder rows' idempotency keys."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    done_at: Mapped[datetime | None] = mapped_column(default=None)
    done_by: Mapped[str | None] = mapped_column(String(64), default=None)
    """Staff id who marked the visit done or no-show."""
    rating: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    rated_at: Mapped[datetime | None] = mapped_column(default=None)
    reminder_evening_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the evening-before reminder is scheduled (None: not scheduled, too late for it)."""
    reminder_hour_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the one-hour-before reminder is scheduled (None: not scheduled)."""
    rating_requested_at: Mapped[datetime | None] = mapped_column(default=None)


class BookingDailyCounter(Base):
    """Last booking sequence used per local day; bumped atomically with an upsert."""

    __tablename__ = "booking_daily_counter"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
