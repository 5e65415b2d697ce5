"""Who and where: communities, grids, grid points (QR scenes), staff and residents."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base


class StaffRole(StrEnum):
    GRID_HEAD = "grid_head"
    """Grid leader."""
    GRID_WORKER = "grid_worker"
    """Grid worker."""
    GRID_POLICE = "grid_police"
    """Grid police officer."""
    GRID_DOCTOR = "grid_doctor"
    """Grid doctor."""
    COMMUNITY_OFFICER = "community_officer"
    """Community officer: works every grid of the community."""


class Community(Base):
    __tablename__ = "directory_community"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_bo: Mapped[str] = mapped_column(String(256))
    prefecture: Mapped[str] = mapped_column(String(32), default="lhasa")
    hotline: Mapped[str] = mapped_column(String(32), default="")
    handler_chat_id: Mapped[str | None] = mapped_column(String(64), default=None)
    """WeCom group (appchat) where new cases are posted; created on first use."""


class Grid(Base):
    __tablename__ = "directory_grid"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("directory_community.id"), index=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_bo: Mapped[str] = mapped_column(String(256))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Other names residents use: building numbers, street names, courtyards."""
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)


class GridPoint(Base):
    """A poster location with its QR codes (scene ``report:<id>``)."""

    __tablename__ = "directory_grid_point"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    grid_id: Mapped[str] = mapped_column(ForeignKey("directory_grid.id"), index=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_bo: Mapped[str] = mapped_column(String(256))
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    qr_ticket: Mapped[str | None] = mapped_column(String(256), default=None)
    qr_url: Mapped[str | None] = mapped_column(String(512), default=None)


class Staff(Base):
    __tablename__ = "directory_staff"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("directory_community.id"), index=True)
    grid_id: Mapped[str | None] = mapped_column(ForeignKey("directory_grid.id"), default=None)
    role: Mapped[StaffRole] = mapped_column(String(32))
    name_zh: Mapped[str] = mapped_column(String(64))
    name_bo: Mapped[str] = mapped_column(String(128))
    phone: Mapped[str] = mapped_column(String(32), default="")
    wecom_user_id: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    duty_hours: Mapped[str] = mapped_column(String(64), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Resident(Base):
    """A follower of the official account, known by openid; language is their remembered choice."""

    __tablename__ = "directory_resident"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    grid_id: Mapped[str | None] = mapped_column(ForeignKey("directory_grid.id"), default=None)
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    elder_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    last_message_at: Mapped[datetime | None] = mapped_column(default=None)
    """Opens the 48-hour customer-service window."""
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notes: Mapped[str] = mapped_column(Text, default="")
