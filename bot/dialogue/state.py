"""Conversation state: which flow a resident is in, what it asked last, what it has collected."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Lang(StrEnum):
    """A language the bot answers in."""

    ZH = "zh"
    BO = "bo"


class FlowName(StrEnum):
    PETITION_INTAKE = "petition_intake"
    FIND_STAFF = "find_staff"
    ELDERCARE_BOOKING = "eldercare_booking"
    BOOKING_CHANGE = "booking_change"
    """Waiting for the new time (or a numbered alternative) of an existing booking."""
    POLICY_QA = "policy_qa"
    """A policy was answered: follow-up questions ("what must I bring?") refer to it."""
    CLARIFY = "clarify"
    """Waiting for the resident to pick one of the numbered meanings we offered."""


@dataclass(slots=True)
class Conversation:
    user_id: str
    language: Lang = Lang.ZH
    flow: FlowName | None = None
    requested_slot: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None
    stored: str | None = field(default=None, repr=False, compare=False)
    """The state as the SQL store last read or wrote it (canonical JSON): an idle conversation
    that did not change is not written again."""

    def reset(self) -> None:
        """Leave the current flow; the language preference stays."""
        self.flow = None
        self.requested_slot = None
        self.slots = {}

    def to_record(self) -> dict[str, Any]:
        return {
            "language": self.language.value,
            "flow": self.flow.value if self.flow else None,
            "requested_slot": self.requested_slot,
            "slots": self.slots,
        }

    @classmethod
    def from_record(
        cls, user_id: str, record: dict[str, Any], updated_at: datetime | None
    ) -> Conversation:
        flow = record.get("flow")
        return cls(
            user_id=user_id,
            language=Lang(record.get("language", Lang.ZH)),
            flow=FlowName(flow) if isinstance(flow, str) and flow in set(FlowName) else None,
            requested_slot=record.get("requested_slot"),
            slots=dict(record.get("slots") or {}),
            updated_at=updated_at,
        )
