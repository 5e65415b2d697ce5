"""Policy questions the bot could not answer, kept for staff to write content for, and the
revisions staff save in the console."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base


class UnansweredQuestion(Base):
    """A resident's policy question without a good match in the catalog."""

    __tablename__ = "policy_unanswered"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    """The resident who asked (no foreign key: a question may come before registration)."""
    language: Mapped[str] = mapped_column(String(8))
    """``zh``, ``bo`` or ``mixed``."""
    text: Mapped[str] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(String(64), default=None)
    """Policy topic the NLU recognised, if any."""
    created_at: Mapped[datetime] = mapped_column(index=True)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    """When staff wrote content for it (or closed it); None while open."""
    note: Mapped[str] = mapped_column(Text, default="")
    """Staff note: which policy now answers it, or why it was closed."""


class PolicyRevision(Base):
    """One saved version of a policy, written from the staff console.

    ``content`` is the whole policy as the mapping its YAML file holds. The newest revision of
    a policy overrides ``data/policies/<id>.yml`` (the files stay the seed); older ones are the
    history. Rows are only ever added: an edit writes one with the verification cleared, a
    "mark verified" writes one copying the content with ``verified_by`` / ``verified_on`` set.
    """

    __tablename__ = "policy_revisions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    policy_id: Mapped[str] = mapped_column(String(64), index=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    edited_by: Mapped[str] = mapped_column(String(128))
    """The console user who saved it."""
    created_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")
    verified_by: Mapped[str | None] = mapped_column(String(128), default=None)
    """Set on a verification (a copy of ``content["verified_by"]``); None after an edit."""
    verified_on: Mapped[date | None] = mapped_column(Date, default=None)
