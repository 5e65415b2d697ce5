"""Prometheus instruments of one gateway application, on the application's own registry.

Labels are bounded by construction: routes are templates (`/s/{token}`, never the token),
methods a fixed set, statuses numbers, communities the directory's ids. No ticket number,
openid or token ever becomes a label value.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.voice.inbox import Recognition
from governance.directory.models import Community
from governance.outbox.models import OutboxChannel, OutboxMessage, OutboxStatus
from governance.petitions.digest import is_overdue
from governance.petitions.lifecycle import OPEN_STATUSES
from governance.petitions.models import Petition
from nlu.parsed import NluEngine, ParsedMessage
from voice.recognizer import SpeechRecognizer, Transcript

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CALLBACK_ROUTES = frozenset({"/wechat", "/wecom"})
UNMATCHED_ROUTE = "unmatched"

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ACK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 4.0, 4.5, 5.0, 10.0)
"""WeChat gives up after 5 s; the target is p99 < 300 ms."""
NLU_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
ASR_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0)


def route_label(request: web.Request) -> str:
    """The matched route's template (`/s/{token}`), or "unmatched" for 404s and probes."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED_ROUTE


def reply_kind(response: web.StreamResponse) -> str:
    """How a callback was answered: passive XML, plain `success` (async reply) or refused."""
    if response.status != 200:
        return "rejected"
    return "passive" if response.content_type == "application/xml" else "success"


class Metrics:
    """The instruments; `registry` is per application because tests build many apps."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "minqing_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "minqing_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.callback_ack = Histogram(
            "minqing_wechat_ack_seconds",
            "Time to acknowledge a WeChat/WeCom callback, by endpoint and reply kind.",
            ["endpoint", "reply"],
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self.nlu_latency = Histogram(
            "minqing_nlu_parse_seconds",
            "Time the NLU engine takes to parse one text, by configured engine.",
            ["engine"],
            buckets=NLU_BUCKETS,
            registry=self.registry,
        )
        self.asr_latency = Histogram(
            "minqing_asr_seconds",
            "Time to recognise one voice message, by recogniser and outcome.",
            ["recognizer", "outcome"],
            buckets=ASR_BUCKETS,
            registry=self.registry,
        )
        self.domain = DomainCollector()
        self.registry.register(self.domain)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count and time every request under its route template."""
        start = time.perf_counter()
        response: web.StreamResponse | None = None
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            elapsed = time.perf_counter() - start
            route = route_label(request)
            method = request.method if request.method in KNOWN_METHODS else "OTHER"
            self.http_requests.labels(route, method, str(status)).inc()
            self.http_latency.labels(route, method).observe(elapsed)
            if route in CALLBACK_ROUTES and method == "POST":
                kind = reply_kind(response) if response is not None else "rejected"
                self.callback_ack.labels(route.lstrip("/"), kind).observe(elapsed)

    def timed_nlu(self, engine: NluEngine, name: str) -> NluEngine:
        return TimedNluEngine(engine, self.nlu_latency.labels(name))

    def timed_recognition(self, recognition: Recognition) -> Recognition:
        """The same recognisers, each timed under its own name."""
        return Recognition(
            TimedRecognizer(recognition.primary, self.asr_latency),
            TimedRecognizer(recognition.fallback, self.asr_latency)
            if recognition.fallback is not None
            else None,
            recognition.thresholds,
        )


class TimedNluEngine:
    """An NluEngine that records how long each parse of the wrapped engine takes."""

    def __init__(self, inner: NluEngine, histogram: Histogram) -> None:
        self._inner = inner
        self._histogram = histogram

    async def parse(self, text: str) -> ParsedMessage:
        start = time.perf_counter()
        try:
            return await self._inner.parse(text)
        finally:
            self._histogram.observe(time.perf_counter() - start)


class TimedRecognizer:
    """A SpeechRecognizer that records each recognition's duration and outcome."""

    def __init__(self, inner: SpeechRecognizer, histogram: Histogram) -> None:
        self._inner = inner
        self._histogram = histogram
        self.name = inner.name

    async def recognise(self, wav16k: bytes, *, hint: str | None = None) -> Transcript | None:
        start = time.perf_counter()
        outcome = "error"
        try:
            transcript = await self._inner.recognise(wav16k, hint=hint)
            outcome = "none" if transcript is None else "text"
            return transcript
        finally:
            self._histogram.labels(self.name, outcome).observe(time.perf_counter() - start)


@dataclass(slots=True)
class DomainState:
    """Database facts sampled at scrape time."""

    outbox_pending: dict[str, int] = field(default_factory=dict)
    outbox_dead: dict[str, int] = field(default_factory=dict)
    oldest_pending_age_seconds: float = 0.0
    overdue_by_community: dict[str, int] = field(default_factory=dict)


async def sample_domain(sessions: async_sessionmaker[AsyncSession], now: datetime) -> DomainState:
    """Outbox depth/age/dead letters and open overdue petitions per community, right now.

    "Overdue" is the domain's own definition (`governance.petitions.digest.is_overdue`, the one
    the 09:00 digest and the report use) applied to open cases.
    """
    state = DomainState()
    async with sessions() as session:
        rows = await session.execute(
            select(OutboxMessage.status, OutboxMessage.channel, func.count(OutboxMessage.id))
            .where(OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.DEAD]))
            .group_by(OutboxMessage.status, OutboxMessage.channel)
        )
        for status, channel, count in rows:
            target = state.outbox_pending if status == OutboxStatus.PENDING else state.outbox_dead
            target[str(channel)] = int(count)
        oldest = await session.scalar(
            select(OutboxMessage.created_at)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
            .order_by(OutboxMessage.created_at)
            .limit(1)
        )
        if oldest is not None:
            state.oldest_pending_age_seconds = max(0.0, (now - oldest).total_seconds())
        communities = (await session.scalars(select(Community.id))).all()
        state.overdue_by_community = dict.fromkeys(communities, 0)
        candidates = await session.scalars(
            select(Petition).where(
                Petition.status.in_([s.value for s in OPEN_STATUSES]),
                (Petition.response_due_at < now) | (Petition.resolution_due_at < now),
            )
        )
        for petition in candidates:
            if is_overdue(petition, now):
                community = petition.community_id
                state.overdue_by_community[community] = (
                    state.overdue_by_community.get(community, 0) + 1
                )
    return state


class DomainCollector(Collector):
    """Exports the last `DomainState` sampled by the /metrics handler (collect() is sync)."""

    def __init__(self) -> None:
        self.state: DomainState | None = None
        self.failed = False

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "minqing_domain_metrics_up",
            "1 when the database answered the scrape-time queries, else 0.",
            value=0 if self.failed or self.state is None else 1,
        )
        yield up
        state = self.state
        if state is None or self.failed:
            return
        pending = GaugeMetricFamily(
            "minqing_outbox_pending", "Outbox messages waiting to be sent.", labels=["channel"]
        )
        dead = GaugeMetricFamily(
            "minqing_outbox_dead",
            "Outbox messages given up after the configured attempts (dead letters).",
            labels=["channel"],
        )
        for channel in OutboxChannel:
            pending.add_metric([channel.value], state.outbox_pending.get(channel.value, 0))
            dead.add_metric([channel.value], state.outbox_dead.get(channel.value, 0))
        yield pending
        yield dead
        yield GaugeMetricFamily(
            "minqing_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending outbox message (0 when none).",
            value=state.oldest_pending_age_seconds,
        )
        overdue = GaugeMetricFamily(
            "minqing_sla_overdue_petitions",
            "Open petitions past a running SLA clock (response or resolution), by community.",
            labels=["community"],
        )
        for community, count in sorted(state.overdue_by_community.items()):
            overdue.add_metric([community], count)
        yield overdue
