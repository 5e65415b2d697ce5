"""Outgoing messages written in the same transaction as the change that caused them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base


class OutboxChannel(StrEnum):
    RESIDENT = "resident"
    """To a resident: customer-service message inside the 48 h window, else a template push."""
    HANDLER_GROUP = "handler_group"
    """A case card in a community's WeCom group (robot webhook as fallback)."""
    STAFF = "staff"
    """A WeCom app message to one staff member."""


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"
    """Gave up after the configured attempts; kept with its last error for staff to see."""


class OutboxMessage(Base):
    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[OutboxChannel] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(96))
    """Resident openid, community id (handler group) or staff id."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Response key, parameters and language: rendered at send time by the bot."""
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[OutboxStatus] = mapped_column(String(8), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    petition_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
