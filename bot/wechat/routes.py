"""① `/wechat` and `/wecom` callbacks: verify, normalise, dedupe, then reply within the budget.

A turn that finishes inside `reply_budget_seconds` goes back as the passive reply (no quota);
a slower one answers ``success`` and its replies leave through the outbox as customer-service
messages. A voice message is answered ``success`` at once (recognition takes seconds): its
replies always go through the outbox. Retries of a delivery never run the turn twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.messages import InboundMessage, MessageKind
from bot.wechat.outbound import passive_text_xml, split_text_for_wechat
from bot.wechat.security import CallbackRejected, CallbackSecurity, OpenedCallback

log = logging.getLogger(__name__)

SUCCESS = "success"
IMMEDIATE_SUCCESS_KINDS = frozenset({MessageKind.VOICE})
"""Answered ``success`` without waiting: the turn is slow by nature (speech recognition)."""


@dataclass(frozen=True, slots=True)
class TurnText:
    """A finished turn rendered for the transport: the passive text and what must follow it."""

    passive: str
    overflow: list[str]
    voice: list[dict[str, Any]] = field(default_factory=list)
    """Outbox payloads of spoken versions of the replies (elder mode), sent after the text."""


Turn = Callable[[InboundMessage], Coroutine[Any, Any, TurnText | None]]
"""Runs the pipeline and renders its replies; None when there is nothing to say."""
Deliver = Callable[[InboundMessage, list[str], list[dict[str, Any]]], Awaitable[None]]
"""Queues texts, then spoken replies, for the resident through the outbox."""
Claim = Callable[[str], Awaitable[bool]]
"""Atomically claims a delivery's dedup key; False when another request already has it.

The claim is short-lived until the callback is answered (`Confirm` then keeps it), so a worker
that dies before answering does not make WeChat's last retry look like a duplicate."""
Confirm = Callable[[str], Awaitable[None]]
Release = Callable[[str], Awaitable[None]]
"""Gives a claim back: the delivery was refused, and its retry must not look like a duplicate."""


class CallbackHandler:
    """Shared by the official-account and WeCom endpoints; they differ in parser and security."""

    def __init__(
        self,
        *,
        security: CallbackSecurity,
        parse: Callable[[str], InboundMessage],
        turn: Turn,
        deliver_later: Deliver,
        claim: Claim,
        budget_seconds: float,
        confirm: Confirm | None = None,
        release: Release | None = None,
        max_concurrent_turns: int = 16,
        max_concurrent_checks: int = 64,
    ) -> None:
        self._security = security
        self._parse = parse
        self._turn = turn
        self._deliver_later = deliver_later
        self._claim = claim
        self._confirm = confirm
        self._release = release
        self._budget = budget_seconds
        self._slots = asyncio.Semaphore(max_concurrent_turns)
        self._checks = asyncio.Semaphore(max_concurrent_checks)
        self._inflight: dict[str, asyncio.Task[TurnText | None]] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def verify(self, request: web.Request) -> web.Response:
        try:
            return web.Response(text=self._security.verify_url(request.query))
        except CallbackRejected as rejected:
            return web.Response(status=rejected.status, text=rejected.reason)

    async def receive(self, request: web.Request) -> web.Response:
        # One budget from arrival: the replay check and dedup claim (store round trips) spend it.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._budget
        body = await request.content.read(self._security.max_body_bytes + 1)
        # A burst waits for a check slot (within the budget) instead of exhausting the Redis or
        # database pool; one slot covers the replay check and the claim together.
        try:
            await asyncio.wait_for(self._checks.acquire(), max(deadline - loop.time(), 0.0))
        except TimeoutError:
            log.warning("no check slot within the reply budget; asking WeChat to retry")
            return web.Response(status=503, text="busy, retry")
        try:
            checked = await self._check(request, body, deadline)
        finally:
            self._checks.release()
        if isinstance(checked, web.Response):
            return checked
        opened, message, claimed = checked
        if not claimed:
            return await self._answer_duplicate(message, opened)
        task = asyncio.create_task(self._bounded_turn(message))
        self._inflight[message.dedup_key] = task
        task.add_done_callback(lambda _t: self._inflight.pop(message.dedup_key, None))
        if message.kind not in IMMEDIATE_SUCCESS_KINDS:
            done, _ = await asyncio.wait({task}, timeout=max(deadline - loop.time(), 0.0))
            if done:
                response = self._passive(task, message, opened)
                self._spawn(self._answered(message.dedup_key))
                return response
        task.add_done_callback(lambda t: self._spawn(self._finish_late(t, message)))
        self._spawn(self._answered(message.dedup_key))
        return web.Response(text=SUCCESS)

    async def _check(
        self, request: web.Request, body: bytes, deadline: float
    ) -> web.Response | tuple[OpenedCallback, InboundMessage, bool]:
        """Signature, decryption, replay check and dedup claim, or the refusal to send.

        The replay check and the claim do not depend on each other, so they run together (on
        Redis in one round trip); a refused delivery gives back the claim it took."""
        try:
            opened = self._security.unseal(request.query, body)
            message = self._parse(opened.xml)
        except CallbackRejected as rejected:
            log.warning("callback rejected: %s", rejected.reason)
            return web.Response(status=rejected.status, text=rejected.reason)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            # A parser bug on a signed callback: a 500 would make WeChat retry the same body.
            log.exception("verified callback could not be parsed")
            return web.Response(status=400, text="unparseable callback")
        replay = asyncio.ensure_future(self._security.check_replay(opened))
        claim = asyncio.ensure_future(self._claim(message.dedup_key))
        remaining = max(deadline - asyncio.get_running_loop().time(), 0.0)
        await asyncio.wait({replay}, timeout=remaining)
        refusal = self._replay_refusal(replay)
        if refusal is not None:
            self._spawn(self._give_back(claim, message.dedup_key))
            return refusal
        try:
            claimed = await claim
        except Exception as error:
            return self._store_failed("dedup claim", error)
        return replay.result(), message, claimed

    def _replay_refusal(self, replay: asyncio.Future[OpenedCallback]) -> web.Response | None:
        """The answer to a callback whose replay check failed or did not finish in time."""
        if not replay.done():
            replay.cancel()
            # Nothing will run; WeChat's retry of this delivery counts as a resend.
            log.warning("replay check slower than the reply budget; asking WeChat to retry")
            return web.Response(status=503, text="busy, retry")
        error = replay.exception()
        if error is None:
            return None
        if isinstance(error, CallbackRejected):
            log.warning("callback rejected: %s", error.reason)
            return web.Response(status=error.status, text=error.reason)
        # The replay store (database, Redis) failed: retry later.
        return self._store_failed("replay check", error)

    async def _give_back(self, claim: asyncio.Future[bool], dedup_key: str) -> None:
        """Release the claim a refused delivery took, once its claim call has finished."""
        try:
            taken = await claim
        except Exception:  # nothing was claimed
            return
        if taken and self._release is not None:
            try:
                await self._release(dedup_key)
            except Exception as error:  # the short claim lapses by itself
                log.warning("could not give back the claim of %s (%s)", dedup_key, error)

    @staticmethod
    def _store_failed(step: str, error: BaseException) -> web.Response:
        """503 without a traceback: under an overload storm one line per callback is enough,
        and WeChat sends the delivery again."""
        log.warning(
            "%s failed (%s: %s); asking WeChat to retry", step, type(error).__name__, error
        )
        return web.Response(status=503, text="busy, retry")

    async def _bounded_turn(self, message: InboundMessage) -> TurnText | None:
        """The turn, once a slot is free: waiting spends the reply budget, and a turn that
        starts too late for it is answered through the outbox like any slow turn."""
        async with self._slots:
            return await self._turn(message)

    async def _answered(self, dedup_key: str) -> None:
        """WeChat will not retry an answered callback: keep its claim for the dedup period.
        Runs beside the response (the 8 s claim covers the moment in between), in a check slot."""
        if self._confirm is None:
            return
        try:
            async with self._checks:
                await self._confirm(dedup_key)
        except Exception as error:  # the short claim then lapses; no retry is coming anyway
            log.warning(
                "could not extend the dedup claim of %s (%s: %s)",
                dedup_key,
                type(error).__name__,
                error,
            )

    async def _answer_duplicate(
        self, message: InboundMessage, opened: OpenedCallback
    ) -> web.Response:
        """A WeChat retry: repeat the passive reply if this worker is still running the turn."""
        task = self._inflight.get(message.dedup_key)
        if task is not None and message.kind not in IMMEDIATE_SUCCESS_KINDS:
            done, _ = await asyncio.wait({task}, timeout=self._budget)
            if done:
                return self._passive(task, message, opened, deliver_overflow=False)
        return web.Response(text=SUCCESS)

    def _passive(
        self,
        task: asyncio.Task[TurnText | None],
        message: InboundMessage,
        opened: OpenedCallback,
        *,
        deliver_overflow: bool = True,
    ) -> web.Response:
        if task.exception() is not None:
            log.error("turn failed", exc_info=task.exception())
            return web.Response(text=SUCCESS)
        result = task.result()
        if result is None or not result.passive:
            return web.Response(text=SUCCESS)
        if (result.overflow or result.voice) and deliver_overflow:
            self._spawn(self._deliver_later(message, result.overflow, result.voice))
        xml = passive_text_xml(
            to_user=message.user_id,
            from_user=message.account_id,
            content=result.passive,
            created=message.received_at,
        )
        return web.Response(text=self._security.seal(xml, opened), content_type="application/xml")

    async def _finish_late(
        self, task: asyncio.Task[TurnText | None], message: InboundMessage
    ) -> None:
        if task.cancelled() or task.exception() is not None:
            log.error("late turn failed", exc_info=None if task.cancelled() else task.exception())
            return
        result = task.result()
        if result is not None and result.passive:
            await self._deliver_later(message, [result.passive, *result.overflow], result.voice)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Let turns and late deliveries finish before shutdown."""
        pending = [*self._inflight.values(), *self._background]
        if pending:
            await asyncio.wait(pending, timeout=10)


def split_for_passive(text: str) -> TurnText:
    chunks = split_text_for_wechat(text)
    return TurnText(chunks[0] if chunks else "", chunks[1:])


def add_routes(app: web.Application, wechat: CallbackHandler, wecom: CallbackHandler) -> None:
    app.router.add_get("/wechat", wechat.verify)
    app.router.add_post("/wechat", wechat.receive)
    app.router.add_get("/wecom", wecom.verify)
    app.router.add_post("/wecom", wecom.receive)
