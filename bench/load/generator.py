"""Open-loop load: messages leave at a fixed rate; each slot continues a conversation that is
ready for its next turn, or starts a new one (petition, QR scan, policy, booking, status, follow).

Every turn records the ack latency, retries, whether the reply was passive or pushed later, and
the end-to-end reply latency (push receipt time − first send time).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from bench.load.corpus import TICKET, Corpus, Language, pick
from bench.load.platform import CallbackSender, Delivery, ObservedState
from simulator.xmlcodec import XmlValue

DONE = "<done>"
Message = tuple[str, list[tuple[str, XmlValue]]]

PETITION_STEPS: tuple[tuple[str, str], ...] = (
    ("utter_petition_received", DONE),
    ("utter_petition_summary", "confirm"),
    ("utter_me_too_offer", "2"),
    ("utter_ask_phone", "skip"),
    ("utter_phone_invalid", "skip"),
    ("utter_choose_grid", "1"),
    ("utter_ask_location", "address"),
    ("utter_location_needed", "address"),
    ("utter_location_not_in_community", "address"),
    ("utter_ask_category", "1"),
    ("utter_category_not_understood", "1"),
    ("utter_description_too_short", "description"),
    ("utter_ask_description", "description"),
)
BOOKING_STEPS: tuple[tuple[str, str], ...] = (
    ("utter_booking_done", DONE),
    ("utter_booking_summary", "confirm"),
    ("utter_booking_confirm_not_understood", "confirm"),
    ("utter_booking_full", "1"),
    ("utter_booking_outside_hours", "1"),
    ("utter_booking_too_soon", "1"),
    ("utter_ask_booking_time", "time"),
    ("utter_booking_time_not_understood", "time"),
    ("utter_ask_booking_phone", "phone"),
    ("utter_booking_phone_invalid", "phone"),
    ("utter_ask_booking_address", "address"),
    ("utter_ask_elder_name", "name"),
    ("utter_ask_for_whom", "1"),
    ("utter_ask_service", "service"),
    ("utter_service_not_understood", "1"),
)
MIX: dict[str, float] = {
    "petition": 0.35,
    "qr_petition": 0.10,
    "policy": 0.20,
    "booking": 0.10,
    "status": 0.15,
    "follow": 0.10,
}
"""Share of new conversations by kind; petitions take several turns, so ~55 % of messages."""
SINGLE_SHOT = frozenset({"policy", "status", "follow"})
"""Kinds whose conversation ends with the first reply."""
GRID_POINTS = ("GP-0101", "GP-0102", "GP-0201", "GP-0202", "GP-0301")


def text(content: str) -> Message:
    """A text message's type and fields."""
    return "text", [("Content", content)]


@dataclass
class Script:
    """One resident's conversation: what to say first, and how to answer each reply."""

    kind: str
    lang: Language
    openid: str
    rng: random.Random
    steps: tuple[tuple[str, str], ...] = ()
    ticket: str | None = None
    outcome: str = "cut"

    def first(self) -> Message:
        """The opening message or event."""
        lang = self.lang
        if self.kind == "petition":
            return text(pick(self.rng, lang.descriptions))
        if self.kind == "qr_petition":
            scene = f"qrscene_report:{pick(self.rng, list(GRID_POINTS))}"
            return "event", [("Event", "subscribe"), ("EventKey", scene)]
        if self.kind == "follow":
            return "event", [("Event", "subscribe"), ("EventKey", "")]
        if self.kind == "policy":
            return text(pick(self.rng, lang.policy_questions))
        if self.kind == "booking":
            return text("4")
        return text(pick(self.rng, lang.status_questions))

    def actionable(self, keys: set[str]) -> str | None:
        """The first step this reply calls for (None: not a reply the script understands)."""
        for key, action in self.steps:
            if key in keys:
                return action
        return None

    def answer(self, action: str) -> Message:
        """The resident's next message for a step."""
        lang, rng = self.lang, self.rng
        words = {
            "confirm": lang.confirm,
            "skip": lang.skip_phone,
            "address": pick(rng, lang.addresses),
            "description": pick(rng, lang.descriptions),
            "time": pick(rng, lang.booking_times),
            "phone": f"138{rng.randrange(10**8):08d}",
            "name": pick(rng, lang.elder_names),
            "service": str(rng.randint(1, 4)),
        }
        return text(words.get(action, action))


@dataclass
class TurnRecord:
    """The measurements of one message."""

    kind: str
    lang: str
    delivery: Delivery
    e2e_ms: float | None
    passive: bool
    pushes: int


@dataclass
class LoadResult:
    """Everything one run measured (the runner adds process and database numbers)."""

    rate: float
    duration: float
    sent: int = 0
    started_at: float = 0.0
    send_window_s: float = 0.0
    max_tick_lag_ms: float = 0.0
    turns: list[TurnRecord] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    stuck_on: Counter[str] = field(default_factory=Counter)
    tickets: set[str] = field(default_factory=set)
    bookings_done: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The numbers for the report table (milliseconds, counts and shares)."""
        acks = sorted(t.delivery.ack_ms for t in self.turns if t.delivery.ack_ms is not None)
        e2e = sorted(t.e2e_ms for t in self.turns if t.e2e_ms is not None)
        delivered = [t for t in self.turns if t.delivery.acked_at is not None]
        passive = sum(1 for t in delivered if t.passive)
        pushed_only = sum(1 for t in delivered if not t.passive and t.e2e_ms is not None)
        tries = sum(len(t.delivery.statuses) for t in self.turns)
        errors = Counter(e for t in self.turns for e in t.delivery.errors)
        return {
            "rate": self.rate,
            "duration_s": self.duration,
            "sent": len(self.turns),
            "achieved_rate": round(len(self.turns) / self.send_window_s, 1)
            if self.send_window_s
            else 0.0,
            "max_tick_lag_ms": round(self.max_tick_lag_ms, 1),
            "ack_p50_ms": _pct(acks, 50),
            "ack_p95_ms": _pct(acks, 95),
            "ack_p99_ms": _pct(acks, 99),
            "ack_max_ms": round(acks[-1], 1) if acks else None,
            "passive_share": round(passive / len(delivered), 3) if delivered else None,
            "async_share": round(pushed_only / len(delivered), 3) if delivered else None,
            "no_reply": sum(1 for t in delivered if t.e2e_ms is None),
            "e2e_p50_ms": _pct(e2e, 50),
            "e2e_p99_ms": _pct(e2e, 99),
            "e2e_mean_ms": round(statistics.fmean(e2e), 1) if e2e else None,
            "replies_over_5s": sum(1 for v in e2e if v > 5000),
            "undelivered": len(self.turns) - len(delivered),
            "retries": tries - len(self.turns),
            "timeouts": errors.get("timeout", 0),
            "errors": dict(errors),
            "bad_passive_replies": sum(1 for t in self.turns if t.delivery.reply_error),
            "pushes_received": sum(t.pushes for t in self.turns),
            "tibetan_share": round(
                sum(1 for t in self.turns if t.lang == "bo") / len(self.turns), 3
            )
            if self.turns
            else None,
            "kinds": dict(Counter(t.kind for t in self.turns)),
            "outcomes": dict(self.outcomes),
            "stuck_on": dict(self.stuck_on.most_common(8)),
            "petitions_completed": len(self.tickets),
            "bookings_completed": self.bookings_done,
            **self.extra,
        }


def _pct(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    index = min(len(values) - 1, max(0, round(pct / 100 * len(values) + 0.5) - 1))
    return round(values[index], 1)


class LoadGenerator:
    """Drives conversations against one or more gateway URLs at a fixed message rate."""

    def __init__(
        self,
        *,
        sender: CallbackSender,
        state: ObservedState,
        corpus: Corpus,
        targets: list[str],
        run_id: str,
        tibetan_share: float = 0.2,
        think_seconds: tuple[float, float] = (0.2, 1.0),
        reply_wait_seconds: float = 15.0,
        max_turns: int = 10,
        seed: int = 8,
    ) -> None:
        self._sender = sender
        self._state = state
        self._corpus = corpus
        self._targets = itertools.cycle(targets)
        self._run_id = run_id
        self._tibetan = tibetan_share
        self._think = think_seconds
        self._reply_wait = reply_wait_seconds
        self._max_turns = max_turns
        self._rng = random.Random(seed)
        self._ready: deque[asyncio.Future[None]] = deque()
        self._sessions: set[asyncio.Task[None]] = set()
        self._counter = itertools.count(1)
        self._result = LoadResult(rate=0, duration=0)

    def openid_prefix(self) -> str:
        """Every resident of this run has an openid starting with this."""
        return f"lb{self._run_id}-"

    async def run(self, rate: float, duration: float) -> LoadResult:
        """Send `rate` messages per second for `duration` seconds, then wait for the replies."""
        result = self._result = LoadResult(rate=rate, duration=duration)
        loop = asyncio.get_running_loop()
        total = round(rate * duration)
        result.started_at = time.time()
        start = loop.time()
        for index in range(total):
            delay = start + index / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                result.max_tick_lag_ms = max(result.max_tick_lag_ms, -delay * 1000)
            self._next_slot()
        result.send_window_s = max(loop.time() - start, 1e-9)
        while self._ready:  # no more slots: conversations waiting for one end here
            self._ready.popleft().cancel()
        if self._sessions:
            await asyncio.wait(set(self._sessions), timeout=self._reply_wait + 20)
        for task in list(self._sessions):
            task.cancel()
        prefix = self.openid_prefix()
        result.extra["receipts_total"] = sum(
            len(receipts)
            for openid, receipts in self._state.receipts.items()
            if openid.startswith(prefix)
        )
        return result

    def _next_slot(self) -> None:
        while self._ready:
            waiting = self._ready.popleft()
            if not waiting.done():
                waiting.set_result(None)
                return
        task = asyncio.get_running_loop().create_task(self._conversation(self._new_script()))
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)

    def _new_script(self) -> Script:
        rng = random.Random(self._rng.random())
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        lang = self._corpus.languages["bo" if rng.random() < self._tibetan else "zh"]
        openid = f"{self.openid_prefix()}{next(self._counter):06d}"
        steps = BOOKING_STEPS if kind == "booking" else PETITION_STEPS
        return Script(kind=kind, lang=lang, openid=openid, rng=rng, steps=steps)

    async def _conversation(self, script: Script) -> None:
        result = self._result
        message = script.first()
        try:
            for turn in range(self._max_turns):
                if turn:
                    await asyncio.sleep(script.rng.uniform(*self._think))
                    slot = asyncio.get_running_loop().create_future()
                    self._ready.append(slot)
                    await slot
                keys, reply = await self._turn(script, message)
                if reply is None:
                    script.outcome = "no_reply"
                    return
                if script.kind in SINGLE_SHOT:
                    script.outcome = "answered"
                    return
                action = script.actionable(keys)
                if action is None:
                    script.outcome = "diverted"
                    result.stuck_on[",".join(sorted(keys)) or reply[:40]] += 1
                    return
                if action == DONE:
                    script.outcome = "completed"
                    found = TICKET.search(reply)
                    if script.kind == "booking":
                        result.bookings_done += 1
                    elif found:
                        result.tickets.add(found.group(1))
                    return
                message = script.answer(action)
            script.outcome = "too_many_turns"
        except asyncio.CancelledError:
            script.outcome = "cut"
        finally:
            result.outcomes[f"{script.kind}:{script.outcome}"] += 1

    async def _turn(self, script: Script, message: Message) -> tuple[set[str], str | None]:
        """Send one message; collect replies until the script can act (or the wait ends)."""
        openid = script.openid
        seen = len(self._state.receipts[openid])
        msgtype, fields = message
        delivery = await self._sender.send(next(self._targets), openid, msgtype, fields)
        self._result.sent += 1
        texts = [delivery.passive] if delivery.passive else []
        first_push: float | None = None
        consumed = seen
        deadline = delivery.sent_at + self._reply_wait
        keys: set[str] = set()
        while delivery.acked_at is not None:
            receipts = self._state.receipts[openid]
            if len(receipts) > consumed:
                if first_push is None:
                    first_push = receipts[consumed].at
                texts.extend(r.text for r in receipts[consumed:])
                consumed = len(receipts)
            keys = self._corpus.keys_in("\n".join(texts))
            if texts and (
                script.kind in ("policy", "status", "follow") or script.actionable(keys)
            ):
                break
            remaining = deadline - time.time()
            if remaining <= 0:
                break
            await self._state.wait_receipt(openid, consumed, remaining)
        if delivery.passive:
            e2e = delivery.ack_ms
        elif first_push is not None:
            e2e = (first_push - delivery.sent_at) * 1000
        else:
            e2e = None
        self._result.turns.append(
            TurnRecord(
                kind=script.kind,
                lang=script.lang.code,
                delivery=delivery,
                e2e_ms=e2e,
                passive=delivery.passive is not None,
                pushes=consumed - seen,
            )
        )
        return keys, "\n".join(texts) if texts else None
