"""The staff console and the residents' H5 pages on the real gateway app: authorization on every
registered /console route, grid scoping, CSRF, escaped output, unguessable status links, and no
secret in the logs."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web

from bot.app_keys import SETTINGS, WECHAT_API
from bot.links import LinkSigner
from governance.clock import SystemClock
from governance.console.demo import DEMO_PASSWORD, seed_demo_accounts
from governance.petitions.models import PetitionStatus
from governance.petitions.service import petition_by_ticket
from tests.bot.conftest import Stack, StackFactory
from tests.bot.web.console.conftest import CSRF, file_petition

PUBLIC = re.compile(r"^/console/(login|lang/.*|static/.*)$")
"""Pages a signed-out visitor may see: the sign-in form, the language switch, static files."""
SAMPLE = {"lang": "zh", "name": "console.css", "kind": "csv", "point": "GP-0101", "tail": "x"}
_PLACEHOLDER = re.compile(r"\{(\w+)(?::[^}]*)?\}")
SCRIPT = "<script>alert('xss')</script>路灯坏了"


@pytest.fixture
async def stack(make_stack: StackFactory) -> Stack:
    stack = await make_stack()
    async with stack.sessions() as session, session.begin():
        await seed_demo_accounts(session, now=SystemClock().now())
    return stack


@pytest.fixture
async def browsers() -> AsyncIterator[list[aiohttp.ClientSession]]:
    """Separate cookie jars, one per person at the console."""
    opened: list[aiohttp.ClientSession] = []
    yield opened
    for session in opened:
        await session.close()


async def _browser(stack: Stack, browsers: list[aiohttp.ClientSession]) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(
        base_url=stack.gateway_url, cookie_jar=aiohttp.CookieJar(unsafe=True)
    )
    browsers.append(session)
    return session


async def _signed_in(
    stack: Stack, browsers: list[aiohttp.ClientSession], username: str
) -> aiohttp.ClientSession:
    browser = await _browser(stack, browsers)
    async with browser.get("/console/login") as response:
        token = CSRF.search(await response.text())
    assert token is not None
    form = {"_csrf": token.group(1), "username": username, "password": DEMO_PASSWORD}
    async with browser.post("/console/login", data=form, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
    return browser


async def _file(stack: Stack, *, grid_id: str, description: str = "路灯不亮了") -> str:
    return await file_petition(
        stack.sessions,
        SystemClock().now(),
        grid_id=grid_id,
        grid_point_id="GP-0101" if grid_id == "G01" else None,
        description=description,
    )


def _console_routes(app: web.Application, ticket: str) -> list[tuple[str, str]]:
    """Every (method, concrete path) the real app registers under /console."""
    found: list[tuple[str, str]] = []
    for route in app.router.routes():
        canonical = route.resource.canonical if route.resource else ""
        if not canonical.startswith("/console") or route.method == "HEAD":
            continue
        values = {**SAMPLE, "ticket": ticket, "verb": "accept"}
        path = _PLACEHOLDER.sub(lambda m: str(values.get(m[1], "1")), canonical)  # noqa: B023
        methods = ["GET", "POST"] if route.method == "*" else [route.method]
        found.extend((method, path) for method in methods)
    return found


async def test_every_console_route_refuses_anonymous_visitors(
    stack: Stack, browsers: list[aiohttp.ClientSession]
) -> None:
    ticket = await _file(stack, grid_id="G01")
    routes = _console_routes(stack.app, ticket)
    assert len(routes) > 20, "the console's routes are enumerated from the app"
    anonymous = await _browser(stack, browsers)
    for method, path in routes:
        if PUBLIC.match(path):
            continue
        async with anonymous.request(method, path, allow_redirects=False) as response:
            body = await response.text()
            location = response.headers.get("Location", "")
        refused = response.status in (401, 403, 404) or (
            response.status in (302, 303) and location.startswith("/console/login")
        )
        assert refused, f"{method} {path} answered {response.status} {location}"
        assert ticket not in body, f"{method} {path} shows a case to a stranger"


async def test_a_grid_worker_cannot_open_another_grids_case_by_url(
    stack: Stack, browsers: list[aiohttp.ClientSession]
) -> None:
    own = await _file(stack, grid_id="G01", description="第一网格的路灯")
    other = await _file(stack, grid_id="G02", description="第二网格的秘密诉求")
    dolma = await _signed_in(stack, browsers, "dolma")  # grid worker of G01
    async with dolma.get(f"/console/cases/{own}") as response:
        assert response.status == 200
        assert "第一网格的路灯" in await response.text()
    async with dolma.get(f"/console/cases/{other}") as response:
        body = await response.text()
        assert response.status in (403, 404)
        assert "第二网格的秘密诉求" not in body
    async with dolma.get("/console/cases") as response:
        assert other not in await response.text()


async def test_posts_without_the_csrf_token_are_refused(
    stack: Stack, browsers: list[aiohttp.ClientSession]
) -> None:
    ticket = await _file(stack, grid_id="G01")
    dolma = await _signed_in(stack, browsers, "dolma")
    for form in ({}, {"_csrf": "forged"}, {"_csrf": ""}):
        async with dolma.post(
            f"/console/cases/{ticket}/accept", data=form, allow_redirects=False
        ) as response:
            assert response.status == 403, form
    async with stack.sessions() as session:
        petition = await petition_by_ticket(session, ticket)
        assert petition is not None
        assert petition.status != PetitionStatus.ACCEPTED
    admin = await _signed_in(stack, browsers, "admin")
    for method, path in _console_routes(stack.app, ticket):
        if method != "POST" or path == "/console/login":
            continue
        async with admin.post(path, data={"note": "x"}, allow_redirects=False) as response:
            assert response.status in (403, 404), f"POST {path} without CSRF: {response.status}"
    anonymous = await _browser(stack, browsers)
    login = {"username": "dolma", "password": DEMO_PASSWORD}
    async with anonymous.post("/console/login", data=login, allow_redirects=False) as response:
        assert response.status in (400, 403) or "/cases" not in response.headers.get(
            "Location", ""
        )


async def test_a_residents_script_is_shown_escaped(
    stack: Stack, browsers: list[aiohttp.ClientSession]
) -> None:
    ticket = await _file(stack, grid_id="G01", description=SCRIPT)
    dolma = await _signed_in(stack, browsers, "dolma")
    for path in (f"/console/cases/{ticket}", "/console/cases"):
        async with dolma.get(path) as response:
            body = await response.text()
        assert "<script>alert('xss')</script>" not in body, path
    assert "&lt;script&gt;" in body or "alert" not in body


async def test_forged_or_guessed_status_links_never_show_a_case(
    stack: Stack, browsers: list[aiohttp.ClientSession]
) -> None:
    ticket = await _file(stack, grid_id="G01", description="只有居民本人能看的诉求")
    settings = stack.app[SETTINGS]
    signer = LinkSigner(settings.links_secret.get_secret_value(), ttl=timedelta(days=90))
    async with stack.sessions() as session:
        petition = await petition_by_ticket(session, ticket)
        assert petition is not None
    genuine = signer.sign(petition.id, petition.resident_openid, SystemClock().now())
    forger = LinkSigner("guessed-secret", ttl=timedelta(days=90))
    flipped = genuine[:-2] + ("A" if genuine[-2] != "A" else "B") + genuine[-1]
    guesses = [
        flipped,
        forger.sign(petition.id, petition.resident_openid, SystemClock().now()),
        *(str(n) for n in range(1, 6)),
        ticket,
        genuine + "x",
        genuine[: len(genuine) // 2],
        "%00",
        "..%2f..%2fetc%2fpasswd",
    ]
    visitor = await _browser(stack, browsers)
    async with visitor.get(f"/s/{genuine}") as response:
        assert response.status == 200
        assert "只有居民本人能看的诉求" in await response.text()
    for token in guesses:
        async with visitor.get(f"/s/{token}", allow_redirects=False) as response:
            body = await response.text()
            assert response.status < 500, token
            assert "只有居民本人能看的诉求" not in body, token
            assert ticket not in body, token


def _from_simulator(record: logging.LogRecord) -> bool:
    """The simulator plays WeChat's servers: its logs (with access_token) are not the bot's."""
    if record.name.startswith("simulator"):
        return True
    return record.name == "aiohttp.access" and any(
        marker in record.getMessage() for marker in ("/cgi-bin/", "/sim/")
    )


async def _log_secrets(
    stack: Stack, browsers: list[aiohttp.ClientSession], caplog: pytest.LogCaptureFixture
) -> list[str]:
    """Run a petition and console sign-ins (one failed); the names of secrets found in logs."""
    await stack.sim("POST", "/sim/api/residents", openid="o-logs", nickname="logs")
    await stack.sim("POST", "/sim/api/residents/o-logs/scan", scene="report:GP-0101")
    for text in ("院门口的路灯坏了好几天晚上很黑", "13812345678", "1"):
        await stack.say("o-logs", text)
    await _signed_in(stack, browsers, "dolma")
    bad = await _browser(stack, browsers)
    async with bad.get("/console/login") as response:
        token = CSRF.search(await response.text())
    assert token is not None
    form = {"_csrf": token.group(1), "username": "dolma", "password": "wrong-" + DEMO_PASSWORD}
    async with bad.post("/console/login", data=form):
        pass
    settings = stack.app[SETTINGS]
    secrets = {
        "app secret": settings.wechat.app_secret.get_secret_value(),
        "corp secret": settings.wecom.corp_secret.get_secret_value(),
        "callback token": settings.wechat.token.get_secret_value(),
        "links secret": settings.links_secret.get_secret_value(),
        "access token": await stack.app[WECHAT_API].access_token(),
        "password": DEMO_PASSWORD,
    }
    logged = "\n".join(
        f"{record.getMessage()} {record.args!r}"
        for record in caplog.records
        if not _from_simulator(record)
    )
    return [name for name, value in secrets.items() if value in logged]


async def test_secrets_never_reach_the_logs_at_info_level(
    stack: Stack, browsers: list[aiohttp.ClientSession], caplog: pytest.LogCaptureFixture
) -> None:
    """INFO is the production level (JSON logs); every logger, ours and libraries'."""
    caplog.set_level(logging.INFO)
    assert await _log_secrets(stack, browsers, caplog) == []


async def test_secrets_never_reach_the_logs_even_at_debug_level(
    stack: Stack,
    browsers: list[aiohttp.ClientSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """aiosqlite logs statement parameters at DEBUG: create_engine pins it to WARNING."""
    caplog.set_level(logging.DEBUG)
    assert await _log_secrets(stack, browsers, caplog) == []
