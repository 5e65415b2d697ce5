"""Policy questions the bot could not answer, kept for staff to write content for."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
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
