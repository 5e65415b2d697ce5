"""What every resident H5 page shares: language and elder-mode choice (query → cookie → the
resident's own setting), the friendly "link not valid" page in both languages, per-page form
nonces with once-only submission, and the route table (`add_resident_pages`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dialogue.state import Lang
from bot.links import LinkProblem, LinkSigner
from bot.replies import Catalog, ReplyCatalog
from governance.clock import Clock
from governance.kv import KeyValueEntry

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
LANG_COOKIE = "mq_lang"
ELDER_COOKIE = "mq_elder"
COOKIE_AGE = int(timedelta(days=365).total_seconds())
FORM_KEPT = timedelta(days=2)
"""How long a submitted form's nonce is remembered (a double click comes within seconds)."""
LANGS = {lang.value for lang in Lang}


@dataclass(frozen=True, slots=True)
class Look:
    """How one request wants the page: its language and whether elder mode is on."""

    lang: Lang
    elder: bool

    def catalog(self, replies: ReplyCatalog) -> Catalog:
        return replies.catalog(self.lang)


def choose_look(request: web.Request, *, language: str | None, elder: bool | None) -> Look:
    """`?lang=` / `?elder=` first, then the cookies, then the resident's own settings."""
    asked = request.query.get("lang") or request.cookies.get(LANG_COOKIE)
    if asked not in LANGS:
        asked = language if language in LANGS else Lang.ZH.value
    elder_asked = request.query.get("elder") or request.cookies.get(ELDER_COOKIE)
    elder_on = elder_asked == "1" if elder_asked in {"0", "1"} else bool(elder)
    return Look(Lang(asked), elder_on)


def remember_look(request: web.Request, response: web.StreamResponse) -> None:
    """Keep an explicit `?lang=` / `?elder=` choice for the resident's next pages (preferences
    only, nothing secret: Secure only when this request came over HTTPS)."""
    secure = request.secure or request.headers.get("X-Forwarded-Proto") == "https"
    for param, cookie, allowed in (
        ("lang", LANG_COOKIE, LANGS),
        ("elder", ELDER_COOKIE, {"0", "1"}),
    ):
        value = request.query.get(param)
        if value in allowed:
            response.set_cookie(
                cookie,
                value,
                max_age=COOKIE_AGE,
                path="/",
                httponly=True,
                samesite="Lax",
                secure=secure,
            )


def chrome(look: Look, replies: ReplyCatalog, base: str) -> dict[str, Any]:
    """The template context every page has: language, elder mode and the two switches
    (links to the page's own address `base`)."""
    catalog = look.catalog(replies)
    other = Lang.ZH if look.lang is Lang.BO else Lang.BO
    return {
        "lang": look.lang.value,
        "html_lang": "bo" if look.lang is Lang.BO else "zh-CN",
        "elder": look.elder,
        "switch_lang": {"href": f"{base}?lang={other.value}", "label": catalog.text("h5_switch")},
        "switch_elder": {
            "href": f"{base}?elder={0 if look.elder else 1}",
            "label": catalog.text("h5_elder_off" if look.elder else "h5_elder_on"),
        },
    }


def html_response(template: str, context: Mapping[str, Any], status: int = 200) -> web.Response:
    html = TEMPLATES.get_template(template).render(**context)
    response = web.Response(text=html, content_type="text/html", status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def unavailable(replies: ReplyCatalog, key: str, status: int) -> web.Response:
    """The friendly page for a wrong, expired or revoked link: both languages, no case data."""
    messages = [
        {"lang": "zh-CN", "text": replies.catalog(Lang.ZH).text(key)},
        {"lang": "bo", "text": replies.catalog(Lang.BO).text(key)},
    ]
    return html_response("status_invalid.html", {"messages": messages}, status)


def problem_status(problem: LinkProblem) -> int:
    """404 for a token that was never genuine, 410 for one that expired or was revoked."""
    return 404 if problem is LinkProblem.INVALID else 410


def same_origin(request: web.Request) -> bool:
    """A browser's form POST names its origin; refuse one from another site."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return True
    return urlsplit(origin).netloc == request.host


async def claim_form(session: AsyncSession, key: str, now: datetime) -> bool:
    """Mark one form submission done in the caller's transaction; False if it already was.

    Two racing submissions collide on the primary key at commit (IntegrityError, caught by
    the caller as "already done").
    """
    if await session.get(KeyValueEntry, key) is not None:
        return False
    session.add(KeyValueEntry(key=key, value=now.isoformat(), expires_at=now + FORM_KEPT))
    await session.flush()
    return True


def form_key(action: str, nonce: str, content: str = "") -> str:
    """The once-only key of a submission: the action, the page's nonce and what was sent."""
    digest = hashlib.sha256(content.encode()).hexdigest()[:16] if content else ""
    return f"h5:form:{action}:{nonce}:{digest}"[:255]


@dataclass(frozen=True, slots=True)
class PageDeps:
    sessions: async_sessionmaker[AsyncSession]
    signer: LinkSigner
    replies: ReplyCatalog
    clock: Clock
    notify_outbox: Callable[[], None]
    public_base_url: str
