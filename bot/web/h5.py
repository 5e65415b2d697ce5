"""The resident H5 routes: status (`/s/<token>`) and booking (`/b/<token>`) pages and forms."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.links import LinkSigner
from bot.replies import ReplyCatalog
from bot.web.booking_page import BookingPage
from bot.web.resident import PageDeps
from bot.web.status_page import StatusPage
from governance.clock import Clock


def add_resident_pages(
    app: web.Application,
    *,
    sessions: async_sessionmaker[AsyncSession],
    signer: LinkSigner,
    replies: ReplyCatalog,
    clock: Clock,
    notify_outbox: Callable[[], None],
    public_base_url: str,
) -> None:
    """Register the resident's status and booking pages and their POST forms."""
    deps = PageDeps(sessions, signer, replies, clock, notify_outbox, public_base_url)
    status = StatusPage(deps)
    booking = BookingPage(deps)
    app.router.add_get("/s/{token}", status.show)
    app.router.add_post("/s/{token}/followup", status.followup)
    app.router.add_post("/s/{token}/info", status.add_info)
    app.router.add_get("/b/{token}", booking.show)
    app.router.add_post("/b/{token}/cancel", booking.cancel)
