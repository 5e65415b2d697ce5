"""Forms: required slots asked in order, each answer checked by `validate_<slot>`.

A subclass lists `required_slots`, writes `validate_<slot>(ctx) -> SlotResult` for each, and
`submit(ctx)`. Questions come from `utter_ask_<slot>` unless the form defines `ask_<slot>`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bot.dialogue.context import TurnContext
from bot.dialogue.state import FlowName


@dataclass(frozen=True, slots=True)
class SlotResult:
    """A validated answer (with any slots it fills on the way) or a polite rejection."""

    accepted: bool
    value: Any = None
    also: dict[str, Any] = field(default_factory=dict)
    reject_key: str | None = None
    reject_params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def ok(cls, value: Any, **also: Any) -> SlotResult:
        return cls(True, value, also)

    @classmethod
    def reject(cls, key: str, **params: Any) -> SlotResult:
        return cls(False, reject_key=key, reject_params=params)

    @classmethod
    def silent(cls) -> SlotResult:
        """Not an answer, and the validator already said why (e.g. it showed a list)."""
        return cls(False)


class FormFlow:
    name: ClassVar[FlowName]
    required_slots: ClassVar[tuple[str, ...]]

    async def run(self, ctx: TurnContext) -> None:
        """Ask the first missing slot, or submit when all are filled."""
        conversation = ctx.conversation
        conversation.flow = self.name
        for slot in self.required_slots:
            if slot not in conversation.slots:
                conversation.requested_slot = slot
                await self.ask(slot, ctx)
                return
        conversation.requested_slot = None
        await self.submit(ctx)

    async def resume(self, ctx: TurnContext) -> None:
        """Take the resident's answer to the slot we asked, then continue."""
        slot = ctx.conversation.requested_slot
        if slot is None:
            await self.run(ctx)
            return
        result = await self._validator(slot)(ctx)
        if result.accepted:
            ctx.conversation.slots[slot] = result.value
            ctx.conversation.slots.update(result.also)
            await self.run(ctx)
            return
        if result.reject_key is not None:
            ctx.say(result.reject_key, **result.reject_params)
            await self.ask(slot, ctx)

    async def ask(self, slot: str, ctx: TurnContext) -> None:
        custom: Callable[[TurnContext], Awaitable[None]] | None = getattr(
            self, f"ask_{slot}", None
        )
        if custom is not None:
            await custom(ctx)
        else:
            ctx.say(f"utter_ask_{slot}")

    def _validator(self, slot: str) -> Callable[[TurnContext], Awaitable[SlotResult]]:
        validator: Callable[[TurnContext], Awaitable[SlotResult]] = getattr(
            self, f"validate_{slot}"
        )
        return validator

    async def submit(self, ctx: TurnContext) -> None:
        raise NotImplementedError
