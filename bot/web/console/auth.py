"""Sign in, sign out and the language switch.

The sign-in form has its own CSRF token (a random value in a short-lived cookie and in the
form, compared in constant time), since there is no session yet. Every failure gets the same
polite answer, whatever the reason (unknown user, wrong password, locked account).
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from aiohttp import web

from bot.web.console.core import (
    CSRF_FIELD,
    LANG_COOKIE,
    LOGIN_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    ConsoleCore,
    Viewer,
    safe_next,
    secure,
)
from bot.web.console.i18n import LANGUAGES
from governance.console import audit
from governance.console.accounts import authenticate, end_session, start_session

MAX_FIELD = 256
LOGIN_TOKEN_SECONDS = 3600
LANG_COOKIE_SECONDS = 365 * 24 * 3600


class AuthPages:
    def __init__(self, core: ConsoleCore) -> None:
        self.core = core

    def _form(
        self, request: web.Request, *, error: bool = False, username: str = ""
    ) -> web.StreamResponse:
        token = secrets.token_urlsafe(24)
        response = self.core.render(
            request,
            "login.html",
            http_status=401 if error else 200,
            login_token=token,
            error=error,
            username=username,
            next=safe_next(request.query.get("next")),
        )
        response.set_cookie(
            LOGIN_COOKIE, token, max_age=LOGIN_TOKEN_SECONDS, **self.core.cookie_flags()
        )
        return secure(response)

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        return self._form(request)

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        username = str(form.get("username", ""))[:MAX_FIELD]
        password = str(form.get("password", ""))[:MAX_FIELD]
        sent = str(form.get(CSRF_FIELD, "")).encode()
        expected = request.cookies.get(LOGIN_COOKIE, "").encode()
        if not expected or not hmac.compare_digest(sent, expected):
            return secure(
                self.core.render(request, "csrf_failed.html", http_status=403, login_again=True)
            )
        settings = self.core.deps.settings.console
        now = self.core.deps.clock.now()
        ip = request.remote or ""
        async with self.core.sessions() as session, session.begin():
            result = await authenticate(
                session,
                username,
                password,
                now=now,
                max_failed=settings.max_failed_logins,
                lockout=timedelta(minutes=settings.lockout_minutes),
            )
            account = result.account
            if account is None:
                audit.record(
                    session,
                    now=now,
                    action="login_failed",
                    username=username.strip().lower(),
                    target_type="account",
                    target_id=username.strip().lower(),
                    detail={"reason": result.reason},
                    ip=ip,
                )
                token = ""
            else:
                token, _ = await start_session(
                    session, account, now=now, hours=settings.session_hours
                )
                audit.record(
                    session,
                    now=now,
                    action="login",
                    account=account,
                    target_type="account",
                    target_id=account.username,
                    ip=ip,
                )
        if not token:
            return self._form(request, error=True, username=username)
        response = web.HTTPSeeOther(safe_next(str(form.get("next", ""))))
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=settings.session_hours * 3600,
            **self.core.cookie_flags(),
        )
        response.del_cookie(LOGIN_COOKIE, path=PREFIX)
        raise response

    async def logout(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        async with self.core.sessions() as session, session.begin():
            await end_session(session, request.cookies.get(SESSION_COOKIE))
            self.core.audit(
                session,
                request,
                viewer,
                "logout",
                target_type="account",
                target_id=viewer.username,
            )
        response = web.HTTPSeeOther(f"{PREFIX}/login")
        response.del_cookie(SESSION_COOKIE, path=PREFIX)
        raise response

    async def language(self, request: web.Request) -> web.StreamResponse:
        """`/console/lang/bo?next=…`: remember the choice in a cookie, go back."""
        lang = request.match_info["lang"]
        target = safe_next(request.query.get("next"))
        response = web.HTTPSeeOther(target)
        if lang in LANGUAGES:
            response.set_cookie(
                LANG_COOKIE,
                lang,
                max_age=LANG_COOKIE_SECONDS,
                httponly=True,
                samesite="Lax",
                secure=self.core.deps.settings.console.secure_cookies,
                path=PREFIX,
            )
        raise response
