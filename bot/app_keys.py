"""Typed keys for what `create_app` puts on the aiohttp application."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outbox import OutboxWorker
from bot.pipeline import Pipeline
from bot.replies import ReplyCatalog
from bot.settings import Settings
from bot.wechat.api_client import WeChatApiClient, WeComApiClient
from governance.clock import Clock

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
PIPELINE = web.AppKey("pipeline", Pipeline)
CATALOG = web.AppKey("catalog", ReplyCatalog)
OUTBOX = web.AppKey("outbox", OutboxWorker)
WECHAT_API = web.AppKey("wechat_api", WeChatApiClient)
WECOM_API = web.AppKey("wecom_api", WeComApiClient)
