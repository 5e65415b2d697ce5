"""The console's routes under `/console`, registered by one call from `bot/app.py`."""

from __future__ import annotations

from aiohttp import web

from bot.web.console.auth import AuthPages
from bot.web.console.cases import CasePages
from bot.web.console.content import ContentPages
from bot.web.console.core import HERE, PREFIX, ConsoleCore, ConsoleDeps, Viewer, secure
from bot.web.console.dashboard import DashboardPages
from bot.web.console.outbox import OutboxPages
from bot.web.console.voice import MAX_UPLOAD_BYTES, VoicePages

STATIC_TYPES = {".css": "text/css", ".js": "application/javascript", ".svg": "image/svg+xml"}


def add_console_routes(app: web.Application, deps: ConsoleDeps) -> ConsoleCore:
    """Mount every console page; returns the core (tests and later features reuse it)."""
    core = ConsoleCore(deps)
    auth, cases = AuthPages(core), CasePages(core)
    dashboard, content = DashboardPages(core), ContentPages(core)
    voice = VoicePages(core, cases)
    outbox = OutboxPages(core)
    guard = core.guard
    router = app.router

    async def home(_request: web.Request, _viewer: Viewer) -> web.StreamResponse:
        raise web.HTTPSeeOther(f"{PREFIX}/cases")

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name == "echarts.min.js":
            path = deps.echarts_file
        else:
            path = HERE / "static" / name
            if path.suffix not in STATIC_TYPES or path.parent != HERE / "static":
                raise web.HTTPNotFound()
        if not path.is_file():
            raise web.HTTPNotFound()
        response = web.FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})
        response.content_type = STATIC_TYPES.get(path.suffix, "application/octet-stream")
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    router.add_get(f"{PREFIX}/static/{{name:[A-Za-z0-9_.-]+}}", static)
    router.add_get(f"{PREFIX}/login", auth.login_form)
    router.add_post(f"{PREFIX}/login", auth.login)
    router.add_post(f"{PREFIX}/logout", guard(auth.logout))
    router.add_get(f"{PREFIX}/lang/{{lang}}", auth.language)
    router.add_get(PREFIX, guard(home))
    router.add_get(f"{PREFIX}/", guard(home))
    router.add_get(f"{PREFIX}/cases", guard(cases.queue))
    router.add_get(f"{PREFIX}/cases/{{ticket}}", guard(cases.case))
    router.add_get(
        f"{PREFIX}/cases/{{ticket}}/audio/{{recording:[0-9]{{1,12}}}}.mp3", guard(voice.audio)
    )
    router.add_post(f"{PREFIX}/cases/{{ticket}}/transcribe", guard(voice.transcribe))
    router.add_post(f"{PREFIX}/cases/{{ticket}}/{{verb}}", guard(cases.act))
    router.add_get(f"{PREFIX}/dashboard", guard(dashboard.page))
    router.add_get(f"{PREFIX}/dashboard/data.json", guard(dashboard.data))
    router.add_get(f"{PREFIX}/dashboard/export.{{kind:csv|xlsx}}", guard(dashboard.export))
    router.add_get(f"{PREFIX}/directory", guard(content.directory))
    router.add_get(f"{PREFIX}/responsibility", guard(content.responsibility))
    router.add_get(f"{PREFIX}/calendar", guard(content.calendar))
    router.add_post(f"{PREFIX}/calendar", guard(content.calendar_change))
    router.add_get(f"{PREFIX}/policies", guard(content.policies))
    policy = f"{PREFIX}/policies/{{policy_id:[a-z][a-z0-9_]{{0,63}}}}"
    router.add_get(policy, guard(content.policy))
    router.add_post(f"{policy}/edit", guard(content.policy_save))
    router.add_post(f"{policy}/verify", guard(content.policy_verify))
    router.add_get(f"{PREFIX}/eldercare", guard(content.eldercare))
    router.add_get(f"{PREFIX}/posters", guard(content.posters_page))
    router.add_post(f"{PREFIX}/posters", guard(content.generate_posters))
    router.add_get(f"{PREFIX}/posters/{{point}}.{{kind:png|pdf}}", guard(content.poster_file))
    router.add_get(f"{PREFIX}/prompts", guard(voice.prompts))
    clip = f"{PREFIX}/prompts/{{lang:zh|bo}}/{{clip:[a-z0-9_]{{1,64}}}}"
    router.add_get(f"{clip}/audio", guard(voice.clip_audio))
    upload_limit = MAX_UPLOAD_BYTES + 64 * 1024  # the form's other fields and multipart framing
    router.add_post(clip, guard(voice.save_clip, max_body=upload_limit))
    router.add_get(f"{PREFIX}/outbox", guard(outbox.page, admin=True))
    retry = f"{PREFIX}/outbox/{{message:[0-9]{{1,12}}}}/retry"
    router.add_post(retry, guard(outbox.retry, admin=True))
    router.add_get(f"{PREFIX}/audit", guard(content.audit_log, admin=True))

    async def not_found(request: web.Request) -> web.StreamResponse:
        return secure(core.not_found(request, None))

    router.add_route("*", f"{PREFIX}/{{tail:.*}}", not_found)
    return core
