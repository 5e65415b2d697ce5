"""What every console page shares: dependencies, the signed-in viewer, rendering, the guard.

The guard is the one door: it loads the server-side session from the cookie, works out the
role scope (`governance.console.scope.scope_of`), checks the CSRF token of every POST in
constant time, and adds the security headers.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlencode

import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dialogue.context import Categoriser
from bot.settings import PROJECT_ROOT, Settings
from bot.web.console.i18n import DEFAULT_LANGUAGE, LANGUAGES, Texts, load_texts
from bot.wechat.api_client import WeChatApiClient
from governance.clock import Clock
from governance.console import audit
from governance.console.accounts import actor_of, load_session
from governance.console.models import ConsoleRole
from governance.console.scope import Scope, scope_of
from governance.petitions.responsibility import ResponsibilityMatrix
from governance.policies.revisions import LiveCatalog

PREFIX = "/console"
SESSION_COOKIE = "mq_console"
LANG_COOKIE = "mq_console_lang"
LOGIN_COOKIE = "mq_console_login"
CSRF_FIELD = "_csrf"
HERE = Path(__file__).parent
ECHARTS = PROJECT_ROOT / "node_modules" / "echarts" / "dist" / "echarts.min.js"
"""Installed from npm by scripts/bootstrap.sh; served locally (no CDN)."""

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        # ECharts writes inline styles on its tooltip: allowed, scripts stay 'self' only.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: https: http:",
        "media-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)


@dataclass(frozen=True, slots=True)
class ConsoleDeps:
    """What the console needs from the composition root (`bot/app.py`)."""

    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    settings: Settings
    matrix: ResponsibilityMatrix
    notify_outbox: Callable[[], None]
    """Wakes the outbox worker after an action committed its pushes."""
    policies: LiveCatalog | None = None
    """The policy catalog the bot answers from (YAML seed plus staff's revisions)."""
    wechat_api: WeChatApiClient | None = None
    """Creates the QR codes for posters (the simulator in development)."""
    posters_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "var" / "posters")
    categoriser: Categoriser | None = None
    """Classifies a transcript (the embedded NLU), as the WeCom transcribe command does."""
    echarts_file: Path = field(default_factory=lambda: ECHARTS)


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in console user of this request."""

    account_id: int
    username: str
    role: ConsoleRole
    staff_id: str | None
    scope: Scope
    csrf: str
    lang: str
    t: Texts
    actor: str

    @property
    def is_admin(self) -> bool:
        return self.role == ConsoleRole.SYSTEM_ADMIN


Handler = Callable[[web.Request, Viewer], Awaitable[web.StreamResponse]]


def safe_next(target: str | None, default: str = f"{PREFIX}/cases") -> str:
    """Only a path inside the console (never another host: no open redirect)."""
    if not target or not target.startswith(f"{PREFIX}/") or target.startswith("//"):
        return default
    if target.startswith((f"{PREFIX}/login", f"{PREFIX}/logout")):
        return default
    if "\\" in target or "\n" in target or "\r" in target:
        return default
    return target


def secure(response: web.StreamResponse) -> web.StreamResponse:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def query_url(path: str, query: dict[str, str]) -> str:
    return f"{path}?{urlencode(query)}" if query else path


class ConsoleCore:
    def __init__(self, deps: ConsoleDeps) -> None:
        self.deps = deps
        self.texts = load_texts(deps.settings.data_dir / "console")
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals["query_url"] = query_url
        self.templates.globals["PREFIX"] = PREFIX
        self.templates.globals["CSRF_FIELD"] = CSRF_FIELD

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.deps.sessions

    def language(self, request: web.Request) -> str:
        asked = request.cookies.get(LANG_COOKIE, DEFAULT_LANGUAGE)
        return asked if asked in LANGUAGES else DEFAULT_LANGUAGE

    def render(
        self,
        request: web.Request,
        template: str,
        *,
        viewer: Viewer | None = None,
        http_status: int = 200,
        **context: Any,
    ) -> web.Response:
        lang = viewer.lang if viewer else self.language(request)
        t = self.texts[lang]
        html = self.templates.get_template(template).render(
            v=viewer, t=t, lang=lang, path=request.path_qs, **context
        )
        return web.Response(text=html, content_type="text/html", status=http_status)

    def audit(
        self,
        session: AsyncSession,
        request: web.Request,
        viewer: Viewer,
        action: str,
        *,
        target_type: str = "",
        target_id: str = "",
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Record what the signed-in user did, in the caller's transaction (see audit.record)."""
        audit.record(
            session,
            now=self.deps.clock.now(),
            action=action,
            account_id=viewer.account_id,
            username=viewer.username,
            target_type=target_type,
            target_id=target_id,
            detail=detail,
            ip=request.remote or "",
        )

    def not_found(self, request: web.Request, viewer: Viewer | None) -> web.Response:
        return self.render(request, "not_found.html", viewer=viewer, http_status=404)

    def cookie_flags(self) -> dict[str, Any]:
        return {
            "httponly": True,
            "samesite": "Lax",
            "secure": self.deps.settings.console.secure_cookies,
            "path": PREFIX,
        }

    def guard(
        self, handler: Handler, *, admin: bool = False, max_body: int | None = None
    ) -> Callable[..., Any]:
        """Wrap a page: signed in (else to the login page), CSRF on POST, admin-only pages 404.

        `max_body` raises the app's small request-size limit for one route (audio uploads).
        """

        async def wrapped(request: web.Request) -> web.StreamResponse:
            if max_body is not None:
                request = request.clone(client_max_size=max_body)
            now = self.deps.clock.now()
            async with self.sessions() as session, session.begin():
                loaded = await load_session(session, request.cookies.get(SESSION_COOKIE), now=now)
                if loaded is None:
                    return _to_login(request)
                row, account = loaded
                scope = await scope_of(session, account)
            lang = self.language(request)
            viewer = Viewer(
                account_id=account.id,
                username=account.username,
                role=ConsoleRole(account.role),
                staff_id=account.staff_id,
                scope=scope,
                csrf=row.csrf_token,
                lang=lang,
                t=self.texts[lang],
                actor=actor_of(account),
            )
            if request.method == "POST":
                try:
                    form = await request.post()
                except web.HTTPRequestEntityTooLarge:
                    return secure(
                        self.render(request, "too_large.html", viewer=viewer, http_status=413)
                    )
                sent = str(form.get(CSRF_FIELD, ""))
                if not hmac.compare_digest(sent.encode(), viewer.csrf.encode()):
                    return secure(
                        self.render(request, "csrf_failed.html", viewer=viewer, http_status=403)
                    )
            if admin and not viewer.is_admin:
                return secure(self.not_found(request, viewer))
            return secure(await handler(request, viewer))

        return wrapped


def _to_login(request: web.Request) -> NoReturn:
    target = request.path_qs if request.method == "GET" else ""
    location = query_url(f"{PREFIX}/login", {"next": target} if target else {})
    raise web.HTTPSeeOther(location)
