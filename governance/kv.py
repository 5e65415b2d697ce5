"""A small expiring key-value table: nonce replay window, delivery dedup, access-token cache.

Used when no Redis is configured; several processes on one database then share it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base


class KeyValueEntry(Base):
    __tablename__ = "infra_kv"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime] = mapped_column(index=True)
