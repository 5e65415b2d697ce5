"""The conversation table (dialogue state survives restarts and is shared by workers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base


class ConversationRecord(Base):
    __tablename__ = "dialogue_conversation"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]
