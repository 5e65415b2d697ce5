"""The simulator's own JSON API (`/sim/api/...`) for tests, scripts and the web page."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any
from urllib.parse import quote

import pydantic
from aiohttp import web

from simulator.audio import (
    WECHAT_VOICE_FORMATS,
    AudioConversionError,
    to_preview_wav,
    to_wechat_amr,
)
from simulator.clock import iso
from simulator.errors import ApiError
from simulator.http import Handler, read_json, sim, sim_json
from simulator.media import MediaItem, detect_format, extension_format, kind_of
from simulator.schemas import (
    RESIDENT_MESSAGE,
    ClockIn,
    FaultsIn,
    ImageIn,
    NewResident,
    ResidentMessage,
    ScanIn,
    StaffMessageIn,
    VoiceIn,
)
from simulator.state import FAULT_KEYS, Resident, SimulatorState, after

routes = web.RouteTableDef()
log = logging.getLogger(__name__)

RESIDENT_UPLOAD_MAX_BYTES = 10 * 1024 * 1024
MAX_WAIT_SECONDS = 60.0


def sim_endpoint(handler: Handler) -> Handler:
    """Render bad input as HTTP 400 `{"error": ...}` (and platform refusals with errcode)."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except pydantic.ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            return sim_json({"error": "invalid request", "details": errors}, status=400)
        except ApiError as exc:
            return sim_json({"error": exc.errmsg, "errcode": int(exc.code)}, status=400)
        except ValueError as exc:
            return sim_json({"error": str(exc)}, status=400)

    return wrapper


def _after(request: web.Request) -> int:
    raw = request.query.get("after", "0") or "0"
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError("after must be an integer") from exc


def _known_resident(state: SimulatorState, request: web.Request) -> Resident:
    resident = state.residents.get(request.match_info["openid"])
    if resident is None:
        raise web.HTTPNotFound(
            text='{"error": "unknown resident"}', content_type="application/json"
        )
    return resident


def _base_url(request: web.Request) -> str:
    return str(request.url.origin())


async def _store_upload(state: SimulatorState, upload: Any) -> MediaItem:
    """A resident's photo or audio file into the media store (kind from its format).

    Audio becomes what WeChat delivers: AMR-NB (AMR and Speex are kept as sent), with a
    browser-playable preview for the chat page.
    """
    if not isinstance(upload, web.FileField):
        raise ValueError("expected a multipart file field")
    data = upload.file.read()
    if not data or len(data) > RESIDENT_UPLOAD_MAX_BYTES:
        raise ValueError(f"file must be 1..{RESIDENT_UPLOAD_MAX_BYTES} bytes")
    fmt = detect_format(data, upload.filename, upload.content_type)
    if fmt == "ogg" and extension_format(upload.filename) == "speex":
        fmt = "speex"  # WeChat's Speex comes in an Ogg container: keep it as Speex
    kind = kind_of(fmt) if fmt else None
    if fmt is None or kind is None:
        raise ValueError("unsupported file: send an image or an audio file")
    if kind != "voice":
        return state.put_media(data, kind, fmt)
    if fmt in WECHAT_VOICE_FORMATS:
        item = state.put_media(data, kind, fmt)
        try:
            preview = await asyncio.to_thread(to_preview_wav, data, fmt)
        except AudioConversionError as error:  # still delivered: the bot must cope with it
            log.info("no preview for %s voice %s: %s", fmt, item.media_id, error)
        else:
            item.preview_media_id = state.put_media(preview, kind, "wav").media_id
        return item
    try:
        amr = await asyncio.to_thread(to_wechat_amr, data, fmt)
    except AudioConversionError as error:
        raise ValueError(f"could not turn this {fmt} file into a voice message: {error}") from None
    original = state.put_media(data, kind, fmt)
    item = state.put_media(amr, kind, "amr")
    item.preview_media_id = original.media_id
    return item


def _media_json(item: MediaItem) -> dict[str, Any]:
    body: dict[str, Any] = {"media_id": item.media_id, "kind": item.kind, "format": item.fmt}
    if item.preview_media_id:
        body["preview_media_id"] = item.preview_media_id
    return body


# -- residents ----------------------------------------------------------------------------------


@routes.post("/sim/api/residents")
@sim_endpoint
async def create_resident(request: web.Request) -> web.StreamResponse:
    """Create (or fetch) a resident: `{"openid"?, "nickname"?, "following"?}`."""
    body = NewResident.model_validate(await read_json(request, optional=True))
    resident = sim(request).state.add_resident(body.openid, body.nickname, body.following)
    return sim_json(resident.to_json())


@routes.get("/sim/api/residents")
async def list_residents(request: web.Request) -> web.StreamResponse:
    """All residents."""
    return sim_json([r.to_json() for r in sim(request).state.residents.values()])


@routes.get("/sim/api/residents/{openid}")
async def get_resident(request: web.Request) -> web.StreamResponse:
    """One resident."""
    return sim_json(_known_resident(sim(request).state, request).to_json())


@routes.post("/sim/api/residents/{openid}/messages")
@sim_endpoint
async def resident_message(request: web.Request) -> web.StreamResponse:
    """Send as the resident (JSON, or multipart `type` + `file`) and report the bot's answer."""
    simulator = sim(request)
    message: ResidentMessage
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        item = await _store_upload(simulator.state, form.get("file"))
        recognition = form.get("recognition")
        if item.kind == "image":
            message = ImageIn(type="image", media_id=item.media_id)
        else:
            message = VoiceIn(
                type="voice",
                media_id=item.media_id,
                recognition=recognition if isinstance(recognition, str) else None,
            )
    else:
        message = RESIDENT_MESSAGE.validate_python(await read_json(request))
    report = await simulator.resident_sends(
        request.match_info["openid"], message, _base_url(request)
    )
    return sim_json(report.to_json())


@routes.post("/sim/api/residents/{openid}/media")
@sim_endpoint
async def resident_media(request: web.Request) -> web.StreamResponse:
    """Upload a photo or audio file as the resident: multipart `file` → `{"media_id"}`."""
    state = sim(request).state
    if not request.content_type.startswith("multipart/"):
        raise ValueError("expected multipart/form-data with a `file` field")
    form = await request.post()
    state.add_resident(request.match_info["openid"])
    return sim_json(_media_json(await _store_upload(state, form.get("file"))))


@routes.post("/sim/api/residents/{openid}/scan")
@sim_endpoint
async def resident_scan(request: web.Request) -> web.StreamResponse:
    """Scan a registered ticket or a free scene: subscribe+qrscene_ or SCAN."""
    simulator = sim(request)
    body = ScanIn.model_validate(await read_json(request))
    scene, ticket = body.scene, body.ticket
    if ticket is not None:
        code = simulator.state.qrcode(ticket)
        if code is None:
            return sim_json({"error": "unknown or expired ticket"}, status=404)
        scene = code.scene
    if scene is None:
        raise ValueError("give a scene or a ticket")
    report = await simulator.scan(request.match_info["openid"], scene, ticket)
    return sim_json(report.to_json())


@routes.get("/sim/api/residents/{openid}/inbox")
@sim_endpoint
async def resident_inbox(request: web.Request) -> web.StreamResponse:
    """What the account sent this resident (passive, custom, template), after a seq."""
    resident = _known_resident(sim(request).state, request)
    return sim_json(after(resident.inbox, _after(request)))


@routes.get("/sim/api/residents/{openid}/chat")
@sim_endpoint
async def resident_chat(request: web.Request) -> web.StreamResponse:
    """Both directions merged by seq (what the chat page shows)."""
    resident = _known_resident(sim(request).state, request)
    entries = sorted([*resident.sent, *resident.inbox], key=lambda entry: entry.seq)
    return sim_json(after(entries, _after(request)))


# -- WeCom --------------------------------------------------------------------------------------


@routes.get("/sim/api/wecom/groups")
async def wecom_groups(request: web.Request) -> web.StreamResponse:
    """Groups the app created."""
    return sim_json([group.to_json() for group in sim(request).state.groups.values()])


@routes.get("/sim/api/wecom/groups/{chatid}/messages")
@sim_endpoint
async def wecom_group_messages(request: web.Request) -> web.StreamResponse:
    """A group's timeline after a seq."""
    group = sim(request).state.groups.get(request.match_info["chatid"])
    if group is None:
        return sim_json({"error": "unknown chatid"}, status=404)
    return sim_json(after(group.messages, _after(request)))


@routes.get("/sim/api/wecom/users")
async def wecom_users(request: web.Request) -> web.StreamResponse:
    """Staff userids known from group member lists and 1:1 chats."""
    state = sim(request).state
    users = dict.fromkeys(u for group in state.groups.values() for u in group.userlist)
    users.update(dict.fromkeys(state.staff))
    return sim_json(list(users))


@routes.get("/sim/api/wecom/users/{userid}/messages")
@sim_endpoint
async def wecom_user_messages(request: web.Request) -> web.StreamResponse:
    """The app's 1:1 chat with a staff member, both directions."""
    timeline = sim(request).state.staff.get(request.match_info["userid"], [])
    return sim_json(after(timeline, _after(request)))


@routes.post("/sim/api/wecom/users/{userid}/messages")
@sim_endpoint
async def wecom_user_send(request: web.Request) -> web.StreamResponse:
    """A staff member messages the app: the WeCom callback, with the decrypted reply."""
    simulator = sim(request)
    body = StaffMessageIn.model_validate(await read_json(request))
    report = await simulator.staff_sends(request.match_info["userid"], body.content)
    return sim_json(report.to_json())


@routes.get("/sim/api/wecom/robot/messages")
@sim_endpoint
async def wecom_robot(request: web.Request) -> web.StreamResponse:
    """Group robot (webhook) messages."""
    return sim_json(after(sim(request).state.robot, _after(request)))


# -- QR codes, stats, long-poll -----------------------------------------------------------------


@routes.get("/sim/api/qrcodes")
async def qrcodes(request: web.Request) -> web.StreamResponse:
    """Codes the bot created that can still be scanned."""
    state = sim(request).state
    base = _base_url(request)
    codes = [
        {
            "ticket": code.ticket,
            "scene": code.scene,
            "permanent": code.permanent,
            "url": code.url,
            "image_url": f"{base}/cgi-bin/showqrcode?ticket={quote(code.ticket)}",
            "expires_at": None if code.expires_at is None else iso(code.expires_at),
        }
        for code in state.qrcodes.values()
        if state.qrcode(code.ticket) is not None
    ]
    return sim_json(codes)


@routes.get("/sim/api/stats")
async def stats(request: web.Request) -> web.StreamResponse:
    """Counters: token refreshes, custom/template sends, violations."""
    return sim_json(sim(request).state.stats.to_json())


@routes.get("/sim/api/wait")
@sim_endpoint
async def wait(request: web.Request) -> web.StreamResponse:
    """Long-poll: returns `{"seq"}` once anything newer than `after` exists, or on timeout."""
    try:
        timeout = min(float(request.query.get("timeout", "25")), MAX_WAIT_SECONDS)
    except ValueError as exc:
        raise ValueError("timeout must be a number") from exc
    seq = await sim(request).state.wait_for_change(_after(request), max(timeout, 0.0))
    return sim_json({"seq": seq})


@routes.get("/sim/api/info")
async def info(request: web.Request) -> web.StreamResponse:
    """Configuration the page shows (no secrets)."""
    simulator = sim(request)
    config = simulator.config
    return sim_json(
        {
            "gateway_url": config.gateway_url,
            "wecom_callback_url": config.wecom_callback_url,
            "safe_mode": config.safe_mode,
            "original_id": config.wechat.original_id,
            "corp_id": config.wecom.corp_id,
            "seq": simulator.state.seq,
            "clock_offset_seconds": simulator.state.clock.offset,
        }
    )


# -- test and ops controls ----------------------------------------------------------------------


@routes.get("/sim/api/faults")
async def get_faults(request: web.Request) -> web.StreamResponse:
    """Active faults."""
    return sim_json(sim(request).state.faults.to_json())


@routes.post("/sim/api/faults")
@sim_endpoint
async def set_faults(request: web.Request) -> web.StreamResponse:
    """`{"wechat_api": "ok"|"error_500"|"timeout"|"errcode_<n>", ..., "times"?: {key: n}}`."""
    faults = sim(request).state.faults
    body = FaultsIn.model_validate(await read_json(request))
    for key in FAULT_KEYS:
        mode = getattr(body, key)
        if mode is not None:
            faults.set(key, mode, body.times.get(key))
    return sim_json(faults.to_json())


@routes.post("/sim/api/clock")
@sim_endpoint
async def clock(request: web.Request) -> web.StreamResponse:
    """Advance the virtual clock used by the API rules (`{"advance_seconds": N}`)."""
    state = sim(request).state
    body = ClockIn.model_validate(await read_json(request, optional=True))
    if body.reset:
        state.clock.reset()
    state.clock.advance(body.advance_seconds)
    state.touch()
    return sim_json({"offset_seconds": state.clock.offset, "now": iso(state.clock.now())})


@routes.post("/sim/api/reset")
async def reset(request: web.Request) -> web.StreamResponse:
    """Forget everything."""
    state = sim(request).state
    state.reset()
    return sim_json({"reset": True, "seq": state.seq})


@routes.get("/sim/media/{media_id}")
async def raw_media(request: web.Request) -> web.StreamResponse:
    """Media bytes for the page and PicUrl (no token, no expiry)."""
    item = sim(request).state.media.get(request.match_info["media_id"])
    if item is None:
        raise web.HTTPNotFound(text="unknown media")
    return web.Response(body=item.data, content_type=item.content_type)
