"""The composition root: the only place concrete classes are chosen and wired together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actions import staff_commands
from actions.staff_command_parser import StaffCommandParser
from actions.staff_commands import StaffDeps
from bot import app_keys
from bot.dialogue.context import Categoriser, DialogueDeps, Vocabulary
from bot.dialogue.locks import LocalUserLocks, RedisUserLocks, UserLocks
from bot.dialogue.state import Lang
from bot.dialogue.store import SqlConversationStore
from bot.jobs import lifecycle as lifecycle_jobs
from bot.jobs.housekeeping import alert_missing_calendar_years, sync_qr_codes
from bot.jobs.leader import LeaderLease
from bot.jobs.lifecycle import JobDeps
from bot.jobs.scheduler import Schedule, Scheduler
from bot.kv import KeyValueStore, MemoryKeyValueStore, RedisKeyValueStore, SqlKeyValueStore
from bot.links import LinkSigner
from bot.messages import InboundMessage, Reply
from bot.observability import http as observability
from bot.outbox import OutboxWorker
from bot.pipeline import Pipeline
from bot.ratelimit import RateLimiter
from bot.redis_batch import RedisBatcher
from bot.replies import ReplyCatalog
from bot.settings import Environment, NluEngineName, Settings
from bot.voice import wiring as voice_wiring
from bot.voice.audio_link import AudioEndpoint, AudioLinks
from bot.voice.inbox import MediaStore, VoiceInbox
from bot.voice.speech import SpokenReplies, prompt_library
from bot.web.console import ConsoleDeps, add_console_routes
from bot.web.h5 import add_resident_pages
from bot.web.policy_page import PolicyPage
from bot.web.report import ReportEndpoint
from bot.wechat.api_client import WeChatApiClient, WeComApiClient
from bot.wechat.inbound import parse_inbound, parse_wecom_inbound
from bot.wechat.messenger import WeChatOutboxSender
from bot.wechat.routes import CallbackHandler, Deliver, TurnText, add_routes, split_for_passive
from bot.wechat.security import CallbackSecurity
from governance.clock import Clock, SystemClock
from governance.db import autocommit_sessions, create_engine, create_session_factory
from governance.outbox.models import OutboxChannel
from governance.outbox.service import enqueue
from governance.petitions.responsibility import ResponsibilityMatrix
from governance.petitions.sla import SlaPolicies
from governance.policies.catalog import LANGUAGES, PolicyCatalog
from governance.policies.revisions import LiveCatalog
from governance.policies.service import PolicyAnswerer, SearchFunction
from nlu.embedded import load_or_train
from nlu.language import detect_language
from nlu.parsed import CATEGORIES, Language, NluEngine
from nlu.rasa_engine import RasaEngine
from nlu.retrieval import LanguageIndexes
from voice.recognizer import WhisperRecognizer

log = logging.getLogger(__name__)
INFRASTRUCTURE_ERRORS = (SQLAlchemyError, RedisError, OSError)
"""Database, Redis or network down: the turn rolled back, so the resident may simply resend."""
DEDUP_TTL_SECONDS = 3600
CLAIM_TTL_SECONDS = 8
"""Until answered. WeChat retries an unanswered callback after 5 s, three tries in all: if the
worker holding the claim dies before answering, the claim lapses before the last retry, which
another worker then handles (nothing is lost; a committed turn is re-run at worst)."""
OUTBOX_STOP_SECONDS = 10.0
"""How long shutdown waits for the push in flight (a platform call times out before this)."""


def create_app(
    settings: Settings, *, clock: Clock | None = None, nlu: NluEngine | None = None
) -> web.Application:
    """Build the gateway application; resources open and close with it (cleanup_ctx)."""
    app = web.Application(client_max_size=settings.wechat.max_body_bytes * 2)
    app[app_keys.SETTINGS] = settings
    app[app_keys.CLOCK] = clock or SystemClock()

    async def resources(app: web.Application) -> AsyncIterator[None]:
        async with _wire(app, settings, app[app_keys.CLOCK], nlu):
            yield

    app.cleanup_ctx.append(resources)
    app.router.add_get("/healthz", _healthz)
    observability.install(app, settings.metrics, redis_configured=bool(settings.redis.url))
    return app


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@contextlib.asynccontextmanager
async def _wire(
    app: web.Application, settings: Settings, clock: Clock, nlu: NluEngine | None
) -> AsyncIterator[None]:
    engine = create_engine(
        settings.database.url,
        echo=settings.database.echo,
        pool_size=settings.database.pool_size,
        max_overflow=settings.database.max_overflow,
    )
    sessions = create_session_factory(engine)
    redis = Redis.from_url(settings.redis.url) if settings.redis.url else None
    batcher = RedisBatcher(redis) if redis else None
    kv: KeyValueStore = (
        RedisKeyValueStore(batcher) if batcher else SqlKeyValueStore(sessions, clock)
    )
    # Replay nonces, delivery dedup and rate-limit counters are touched by every callback.
    # Without Redis the embedded (SQLite) set-up is one process, so they live in its memory
    # rather than adding three writes per message to SQLite's single write lock.
    request_kv: KeyValueStore = (
        MemoryKeyValueStore(clock)
        if redis is None and settings.database.url.startswith("sqlite")
        else kv
    )
    locks: UserLocks = RedisUserLocks(batcher) if batcher else LocalUserLocks()
    http = aiohttp.ClientSession()
    wechat_api = WeChatApiClient(
        session_factory=http,
        base_url=settings.wechat.api_base_url,
        app_id=settings.wechat.app_id,
        app_secret=settings.wechat.app_secret.get_secret_value(),
        cache=kv,
        clock=clock,
    )
    wecom_api = WeComApiClient(
        session_factory=http,
        base_url=settings.wecom.api_base_url,
        corp_id=settings.wecom.corp_id,
        corp_secret=settings.wecom.corp_secret.get_secret_value(),
        agent_id=settings.wecom.agent_id,
        cache=kv,
        clock=clock,
    )
    catalog = ReplyCatalog.load(settings.data_dir / "responses")
    embedded = await asyncio.to_thread(
        load_or_train, settings.nlu.data_dir, settings.nlu.model_dir
    )
    engine_nlu: NluEngine
    if nlu is not None:
        engine_nlu = nlu
    elif settings.nlu.engine is NluEngineName.RASA:
        engine_nlu = RasaEngine(
            settings.nlu.rasa_url, timeout=settings.nlu.rasa_timeout_seconds, fallback=embedded
        )
    else:
        engine_nlu = embedded
    robot_key = settings.wecom.robot_webhook_key
    signer = LinkSigner(
        settings.links_secret.get_secret_value(), ttl=timedelta(days=settings.link_ttl_days)
    )
    audio_links = AudioLinks(settings.links_secret.get_secret_value(), settings.public_base_url)
    media_store = MediaStore(settings.voice.media_dir)
    speech = SpokenReplies(prompt_library(settings.voice))
    recognition = await asyncio.to_thread(voice_wiring.recognition, settings.voice)
    worker = OutboxWorker(
        sessions=sessions,
        sender=WeChatOutboxSender(
            sessions=sessions,
            wechat=wechat_api,
            wecom=wecom_api,
            catalog=catalog,
            robot_key=robot_key.get_secret_value() if robot_key else None,
            default_link=f"{settings.public_base_url}/console/",
            clock=clock,
            signer=signer,
            public_base_url=settings.public_base_url,
            status_template_id=settings.wechat.status_template_id,
            speech=speech,
            audio_links=audio_links,
            notify=lambda: worker.wake(),
        ),
        clock=clock,
        settings=settings.outbox,
    )
    metrics = app[observability.OBSERVABILITY].metrics
    pipeline = build_pipeline(
        settings,
        sessions=sessions,
        clock=clock,
        nlu=metrics.timed_nlu(engine_nlu, settings.nlu.engine.value),
        categoriser=embedded,
        locks=locks,
        notify_outbox=worker.wake,
        voice=VoiceInbox(
            media=wechat_api,
            store=media_store,
            recognition=metrics.timed_recognition(recognition),
            clock=clock,
        ),
        rate_limiter=RateLimiter(
            request_kv,
            clock,
            limit=settings.rate_limit.messages_per_window,
            window_seconds=settings.rate_limit.window_seconds,
        ),
    )
    # One effective policy catalog per process: answers, the H5 page and the console share it.
    policy_catalog = pipeline.policies.live or LiveCatalog(pipeline.policies.catalog)

    async def resident_turn(message: InboundMessage) -> TurnText | None:
        try:
            result = await pipeline.handle(message)
        except INFRASTRUCTURE_ERRORS as error:
            # Database or Redis unreachable: say so and ask to resend, rather than silence.
            log.warning("turn %s failed: %s; asking to retry", message.dedup_key, error)
            busy = [Reply("utter_service_busy")]
            return split_for_passive(catalog.render_all(busy, Lang.ZH, bilingual=True))
        if not result.replies:
            return None
        text = split_for_passive(
            catalog.render_all(result.replies, result.language, bilingual=result.bilingual)
        )
        if not result.speak:
            return text
        languages = ("bo", "zh") if result.bilingual else (result.language.value,)
        spoken = speech.payloads(result.replies, languages)
        return TurnText(text.passive, text.overflow, spoken)

    staff_deps = StaffDeps(
        sessions=sessions,
        clock=clock,
        parser=StaffCommandParser.load(settings.data_dir / "dialogue" / "staff_commands.yml"),
        prefecture=settings.prefecture,
        public_base_url=settings.public_base_url,
        matrix=load_matrix(settings),
        categoriser=embedded,
        category_threshold=settings.nlu.category_threshold,
    )

    async def staff_turn(message: InboundMessage) -> TurnText | None:
        replies = await staff_commands.handle(staff_deps, message)
        return split_for_passive(catalog.render_all(replies, staff_language(message)))

    def deliver_later(channel: OutboxChannel) -> Deliver:
        async def deliver(
            message: InboundMessage, texts: list[str], voice: list[dict[str, Any]]
        ) -> None:
            await enqueue_texts(channel, message, texts, voice)

        return deliver

    async def enqueue_texts(
        channel: OutboxChannel,
        message: InboundMessage,
        texts: list[str],
        voice: list[dict[str, Any]],
    ) -> None:
        """Text rows first, then spoken replies: the worker sends in id order."""
        async with sessions() as session, session.begin():
            for index, text in enumerate(texts):
                enqueue(
                    session,
                    channel=channel,
                    recipient=message.user_id,
                    payload={"text": text},
                    idempotency_key=f"reply:{message.dedup_key}:{index}",
                    now=clock.now(),
                )
            for index, payload in enumerate(voice):
                enqueue(
                    session,
                    channel=channel,
                    recipient=message.user_id,
                    payload=payload,
                    idempotency_key=f"reply:{message.dedup_key}:voice:{index}",
                    now=clock.now(),
                )
        worker.wake()

    async def claim(prefix: str, key: str) -> bool:
        return await request_kv.add(f"dedup:{prefix}:{key}", "1", CLAIM_TTL_SECONDS)

    async def confirm(prefix: str, key: str) -> None:
        await request_kv.set(f"dedup:{prefix}:{key}", "1", DEDUP_TTL_SECONDS)

    async def release(prefix: str, key: str) -> None:
        await request_kv.delete(f"dedup:{prefix}:{key}")

    aes_keys = [
        key.get_secret_value()
        for key in (settings.wechat.aes_key, settings.wechat.previous_aes_key)
        if key is not None
    ]
    wechat_handler = CallbackHandler(
        security=CallbackSecurity(
            token=settings.wechat.token.get_secret_value(),
            receive_id=settings.wechat.app_id,
            aes_keys=aes_keys,
            replay_store=request_kv,
            clock=clock,
            replay_window_seconds=settings.wechat.replay_window_seconds,
            max_body_bytes=settings.wechat.max_body_bytes,
        ),
        parse=parse_inbound,
        turn=resident_turn,
        deliver_later=deliver_later(OutboxChannel.RESIDENT),
        claim=lambda key: claim("wechat", key),
        confirm=lambda key: confirm("wechat", key),
        release=lambda key: release("wechat", key),
        budget_seconds=settings.wechat.reply_budget_seconds,
        max_concurrent_turns=settings.wechat.max_concurrent_turns,
        max_concurrent_checks=settings.wechat.max_concurrent_checks,
    )
    wecom_handler = CallbackHandler(
        security=CallbackSecurity(
            token=settings.wecom.token.get_secret_value(),
            receive_id=settings.wecom.corp_id,
            aes_keys=[settings.wecom.aes_key.get_secret_value()],
            replay_store=request_kv,
            clock=clock,
            replay_window_seconds=settings.wechat.replay_window_seconds,
            max_body_bytes=settings.wechat.max_body_bytes,
            require_encryption=True,
        ),
        parse=parse_wecom_inbound,
        turn=staff_turn,
        deliver_later=deliver_later(OutboxChannel.STAFF),
        claim=lambda key: claim("wecom", key),
        confirm=lambda key: confirm("wecom", key),
        release=lambda key: release("wecom", key),
        budget_seconds=settings.wechat.reply_budget_seconds,
        max_concurrent_turns=settings.wechat.max_concurrent_turns,
        max_concurrent_checks=settings.wechat.max_concurrent_checks,
    )
    add_routes(app, wechat_handler, wecom_handler)
    add_resident_pages(
        app,
        sessions=sessions,
        signer=signer,
        replies=catalog,
        clock=clock,
        notify_outbox=worker.wake,
        public_base_url=settings.public_base_url,
    )
    app.router.add_get("/api/report", ReportEndpoint(sessions, clock).get)
    audio = AudioEndpoint(
        sessions=sessions, links=audio_links, store=media_store, catalog=catalog, clock=clock
    )
    app.router.add_get("/a/{token}", audio.get)
    app.router.add_get(
        "/p/{policy_id}", PolicyPage(policy_catalog, catalog, sessions=sessions).show
    )
    add_console_routes(
        app,
        ConsoleDeps(
            sessions=sessions,
            clock=clock,
            settings=settings,
            matrix=load_matrix(settings),
            notify_outbox=worker.wake,
            policies=policy_catalog,
            wechat_api=wechat_api,
            categoriser=embedded,
        ),
    )
    app[app_keys.SESSIONS] = sessions
    app[app_keys.PIPELINE] = pipeline
    app[app_keys.CATALOG] = catalog
    app[app_keys.OUTBOX] = worker
    app[app_keys.WECHAT_API] = wechat_api
    app[app_keys.WECOM_API] = wecom_api

    delivering = asyncio.create_task(worker.run(), name="outbox")
    background = [delivering]
    if isinstance(recognition.primary, WhisperRecognizer) and (
        settings.environment is not Environment.TEST
    ):  # load the model now so the first elder does not wait (tests load it on first use)
        background.append(asyncio.create_task(recognition.primary.warm_up(), name="whisper"))
    scheduler = None
    if settings.scheduler.enabled:
        scheduler = Scheduler(LeaderLease(kv), timezone=settings.scheduler.timezone)
        scheduler.add(
            "qr-sync",
            partial(sync_qr_codes, sessions, wechat_api),
            Schedule(hour=3, at_start=True),
        )
        scheduler.add(
            "calendar-check",
            partial(alert_missing_calendar_years, sessions, clock, settings.prefecture),
            Schedule(hour=8, at_start=True),
        )
        if isinstance(kv, SqlKeyValueStore):
            scheduler.add("kv-purge", kv.purge_expired, Schedule(seconds=3600))
        jobs = JobDeps(sessions, clock, settings.prefecture, settings.public_base_url, worker.wake)
        scheduler.add(
            "sla-sweep",
            partial(lifecycle_jobs.sla_sweep, jobs),
            Schedule(seconds=settings.scheduler.sla_sweep_seconds, at_start=True),
        )
        scheduler.add("daily-digest", partial(lifecycle_jobs.daily_digest, jobs), Schedule(hour=9))
        scheduler.add(
            "followup-timeout",
            partial(lifecycle_jobs.close_silent_followups, jobs),
            Schedule(seconds=3600, at_start=True),
        )
        await scheduler.start()
    app[observability.OBSERVABILITY].attach(
        observability.Resources(sessions=sessions, redis=redis, nlu=engine_nlu, clock=clock)
    )
    try:
        yield
    finally:
        app[observability.OBSERVABILITY].detach()
        if scheduler is not None:
            await scheduler.stop()
        await wechat_handler.drain()
        await wecom_handler.drain()
        # The outbox finishes the push in flight (the turns just drained may have queued more:
        # they wait in the database for the next start); the rest is cancelled.
        worker.stop()
        await asyncio.wait({delivering}, timeout=OUTBOX_STOP_SECONDS)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await http.close()
        if isinstance(engine_nlu, RasaEngine):
            await engine_nlu.close()
        if redis is not None:
            await redis.aclose()
        await engine.dispose()


def build_pipeline(
    settings: Settings,
    *,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    nlu: NluEngine,
    categoriser: Categoriser,
    locks: UserLocks,
    notify_outbox: Callable[[], None],
    voice: VoiceInbox | None = None,
    rate_limiter: RateLimiter | None = None,
) -> Pipeline:
    """The dialogue side of the bot, shared by the gateway and the conversation tests."""
    deps = DialogueDeps(
        sessions=sessions,
        quick_sessions=autocommit_sessions(sessions),
        clock=clock,
        categoriser=categoriser,
        sla_policies=SlaPolicies.load(settings.data_dir / "governance" / "sla.yml"),
        vocabulary=Vocabulary.load(settings.data_dir / "dialogue" / "vocabulary.yml"),
        prefecture=settings.prefecture,
        public_base_url=settings.public_base_url,
        intent_threshold=settings.nlu.confidence_threshold,
        category_threshold=settings.nlu.category_threshold,
        idle_timeout=timedelta(minutes=settings.dialogue.idle_timeout_minutes),
        notify_outbox=notify_outbox,
        matrix=load_matrix(settings),
        policies=load_policies(settings),
    )
    return Pipeline(
        locks=locks,
        store=SqlConversationStore(sessions, clock),
        nlu=nlu,
        deps=deps,
        voice=voice,
        rate_limiter=rate_limiter,
    )


def load_policies(settings: Settings) -> PolicyAnswerer:
    """Policy content from data/policies with staff's console edits over it (the newest
    revision in the database wins), searchable by BM25 in each language. The answerer checks
    the catalog version at each policy question (``refresh``) and rebuilds its indexes when
    any worker saved an edit."""
    seed = PolicyCatalog.load(settings.data_dir / "policies")
    return PolicyAnswerer.live_over(LiveCatalog(seed), policy_search)


def policy_search(catalog: PolicyCatalog) -> SearchFunction:
    """BM25 indexes over a catalog, one per language."""
    indexes = LanguageIndexes(
        {language: catalog.documents(language) for language in LANGUAGES},
        stopwords=catalog.stopwords,
    )
    return indexes.search


def load_matrix(settings: Settings) -> ResponsibilityMatrix:
    return ResponsibilityMatrix.load(
        settings.data_dir / "governance" / "responsibility.yml", known_categories=CATEGORIES
    )


def staff_language(message: InboundMessage) -> Lang:
    """Staff are answered in the script they wrote in (Chinese unless it is Tibetan)."""
    return Lang.BO if detect_language(message.text) is Language.BO else Lang.ZH
