"""Staff console accounts, their server-side sessions and the audit log of what they did."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base


class ConsoleRole(StrEnum):
    """What a console user may see: the scope grows from one grid to everything."""

    GRID_WORKER = "grid_worker"
    """Their own grid (from the linked `Staff` row) and the cases assigned to them."""
    COMMUNITY_OFFICER = "community_officer"
    """Every grid of their community."""
    STREET_ADMIN = "street_admin"
    """A set of communities (the street office above them)."""
    SYSTEM_ADMIN = "system_admin"
    """Everything, plus the audit log and settings pages."""


class ConsoleAccount(Base):
    """One person who signs in to the console; the password is stored as an argon2 hash."""

    __tablename__ = "console_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[ConsoleRole] = mapped_column(String(32))
    staff_id: Mapped[str | None] = mapped_column(
        ForeignKey("directory_staff.id"), default=None, index=True
    )
    """The directory entry this account acts as (its actor id on the timeline)."""
    community_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Community officers: their community; street administrators: all of theirs."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    """Consecutive failures since the last success (reset on success and after a lockout)."""
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]


class ConsoleSession(Base):
    """A signed-in browser: the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "console_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("console_account.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    """Per-session token every POST form carries in a hidden field."""
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime]


class AuditEntry(Base):
    """Who did what to which case or page, when (never deleted by the application)."""

    __tablename__ = "console_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("console_account.id"), default=None, index=True
    )
    """None for a failed sign-in with an unknown user name."""
    username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    """"case", "page", "account", "export" …"""
    target_id: Mapped[str] = mapped_column(String(128), default="", index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str] = mapped_column(String(64), default="")
