"""The WeChat Official Account API the bot calls (`/cgi-bin/...`), with the platform's limits."""

from __future__ import annotations

import io
from typing import Any

import qrcode
from aiohttp import web

from simulator.errors import ApiError, Err
from simulator.http import platform_endpoint, platform_json, read_json, sim
from simulator.media import detect_format
from simulator.state import (
    QR_LIMIT_SCENE_ID_MAX,
    QR_SCENE_STR_MAX,
    Entry,
    SimulatorState,
)

routes = web.RouteTableDef()

VOICE_MAX_BYTES = 2 * 1024 * 1024
IMAGE_MAX_BYTES = 10 * 1024 * 1024
UPLOAD_RULES: dict[str, tuple[frozenset[str], int]] = {
    "image": (frozenset({"jpg", "png", "gif", "bmp"}), IMAGE_MAX_BYTES),
    "voice": (frozenset({"mp3", "amr"}), VOICE_MAX_BYTES),
    "video": (frozenset({"mp4"}), 10 * 1024 * 1024),
    "thumb": (frozenset({"jpg"}), 64 * 1024),
}
QR_ACTIONS = frozenset({"QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"})


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# -- access tokens ------------------------------------------------------------------------------


@routes.get("/cgi-bin/token")
@platform_endpoint()
async def token(request: web.Request) -> web.StreamResponse:
    """A new token per call; the previous one keeps working for five minutes."""
    state = sim(request).state
    query = request.query
    issued = state.basic_token(
        query.get("grant_type", ""), query.get("appid", ""), query.get("secret", "")
    )
    return web.json_response(
        {"access_token": issued.value, "expires_in": state.expires_in(issued)}
    )


@routes.post("/cgi-bin/stable_token")
@platform_endpoint()
async def stable_token(request: web.Request) -> web.StreamResponse:
    """The same token while valid; `force_refresh` issues a new one."""
    state = sim(request).state
    body = await read_json(request)
    issued = state.stable_token(
        _text(body.get("grant_type")),
        _text(body.get("appid")),
        _text(body.get("secret")),
        body.get("force_refresh") is True,
    )
    return web.json_response(
        {"access_token": issued.value, "expires_in": state.expires_in(issued)}
    )


# -- customer-service messages ------------------------------------------------------------------


def _custom_entry(state: SimulatorState, body: dict[str, Any]) -> Entry:
    """Turn a custom/send body into an inbox entry, validating it like the platform."""
    msgtype = _text(body.get("msgtype"))
    payload = body.get(msgtype)
    if not isinstance(payload, dict):
        if msgtype in ("text", "image", "voice", "video", "news", "msgmenu"):
            raise ApiError(Err.DATA_FORMAT_ERROR, f"missing {msgtype} object")
        raise ApiError(Err.INVALID_MESSAGE_TYPE)
    if msgtype == "text":
        content = _text(payload.get("content"))
        if not content:
            raise ApiError(Err.EMPTY_CONTENT)
        return Entry(channel="custom", msgtype="text", content=content)
    if msgtype in ("image", "voice", "video"):
        item = state.get_media(_text(payload.get("media_id")))
        return Entry(
            channel="custom",
            msgtype=msgtype,
            media_id=item.media_id,
            title=_text(payload.get("title")) or None,
            description=_text(payload.get("description")) or None,
        )
    if msgtype == "news":
        raw_articles = payload.get("articles")
        if not isinstance(raw_articles, list) or not raw_articles:
            raise ApiError(Err.EMPTY_CONTENT, "news without articles")
        if len(raw_articles) > 1:
            raise ApiError(Err.ARGUMENT_INVALID, "news carries one article")
        articles = [
            {key: _text(item.get(key)) for key in ("title", "description", "url", "picurl")}
            for item in raw_articles
            if isinstance(item, dict)
        ]
        if not articles:
            raise ApiError(Err.DATA_FORMAT_ERROR)
        return Entry(
            channel="custom",
            msgtype="news",
            content=articles[0]["title"],
            url=articles[0]["url"] or None,
            description=articles[0]["description"] or None,
            articles=articles,
        )
    if msgtype == "msgmenu":
        items = payload.get("list")
        if not isinstance(items, list) or not items:
            raise ApiError(Err.EMPTY_CONTENT, "msgmenu without list")
        menu = [
            {"id": str(item.get("id", "")), "content": _text(item.get("content"))}
            for item in items
            if isinstance(item, dict)
        ]
        return Entry(
            channel="custom",
            msgtype="msgmenu",
            content=_text(payload.get("head_content")),
            menu=menu,
            extra={"tail_content": _text(payload.get("tail_content"))},
        )
    raise ApiError(Err.INVALID_MESSAGE_TYPE)


@routes.post("/cgi-bin/message/custom/send")
@platform_endpoint("wechat_api", token="wechat")
async def custom_send(request: web.Request) -> web.StreamResponse:
    """Deliver within the customer-service window, else 45015."""
    state = sim(request).state
    body = await read_json(request)
    resident = state.resident(_text(body.get("touser")))
    state.check_reachable(resident)
    entry = _custom_entry(state, body)
    state.consume_custom_quota(resident)
    state.deliver(resident, entry)
    return platform_json()


# -- template messages --------------------------------------------------------------------------


def _template_fields(data: Any) -> dict[str, str]:
    if not isinstance(data, dict):
        raise ApiError(Err.DATA_FORMAT_ERROR, "data must be an object")
    fields: dict[str, str] = {}
    for name, item in data.items():
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise ApiError(Err.DATA_FORMAT_ERROR, f"data.{name}.value must be a string")
        fields[str(name)] = item["value"]
    return fields


@routes.post("/cgi-bin/message/template/send")
@platform_endpoint("wechat_api", token="wechat")
async def template_send(request: web.Request) -> web.StreamResponse:
    """Fields ≤ 20 characters on one line (else 47003); client_msg_id dedups for 10 minutes."""
    simulator = sim(request)
    state = simulator.state
    body = await read_json(request)
    client_msg_id = _text(body.get("client_msg_id")) or None
    duplicate = state.template_duplicate(client_msg_id)
    if duplicate is not None:
        return platform_json(msgid=duplicate)
    resident = state.resident(_text(body.get("touser")))
    state.check_reachable(resident)
    template_id = _text(body.get("template_id"))
    if not template_id:
        raise ApiError(Err.INVALID_TEMPLATE_ID)
    fields = _template_fields(body.get("data"))
    state.check_template_fields(resident.openid, template_id, fields)
    msgid = state.record_template(client_msg_id)
    extra: dict[str, Any] = {"msgid": msgid}
    if isinstance(body.get("miniprogram"), dict):
        extra["miniprogram"] = body["miniprogram"]
    entry = Entry(
        channel="template",
        msgtype="template",
        template_id=template_id,
        url=_text(body.get("url")) or None,
        fields=fields,
        content="\n".join(f"{name}: {value}" for name, value in fields.items()),
        extra=extra,
    )
    state.deliver(resident, entry)
    simulator.spawn(simulator.template_job_finished(resident.openid, msgid, "success"))
    return platform_json(msgid=msgid)


# -- temporary media ----------------------------------------------------------------------------


@routes.get("/cgi-bin/media/get")
@platform_endpoint("wechat_api", token="wechat")
async def media_get(request: web.Request) -> web.StreamResponse:
    """The bytes of a media_id younger than 3 days, else 40007."""
    item = sim(request).state.get_media(request.query.get("media_id"))
    return web.Response(
        body=item.data,
        content_type=item.content_type,
        headers={"Content-disposition": f'attachment; filename="{item.filename}"'},
    )


@routes.post("/cgi-bin/media/upload")
@platform_endpoint("wechat_api", token="wechat")
async def media_upload(request: web.Request) -> web.StreamResponse:
    """Multipart field `media`; voice ≤ 2 MB and mp3/amr, images jpg/png/gif/bmp ≤ 10 MB."""
    state = sim(request).state
    kind = request.query.get("type", "")
    if kind not in UPLOAD_RULES:
        raise ApiError(Err.INVALID_MEDIA_TYPE, f"type {kind!r}")
    if not request.content_type.startswith("multipart/"):
        raise ApiError(Err.MEDIA_DATA_MISSING)
    form = await request.post()
    upload = form.get("media")
    if not isinstance(upload, web.FileField):
        raise ApiError(Err.MEDIA_DATA_MISSING)
    data = upload.file.read()
    formats, max_bytes = UPLOAD_RULES[kind]
    if not data or len(data) > max_bytes:
        raise ApiError(Err.INVALID_FILE_SIZE, f"{kind} must be 1..{max_bytes} bytes")
    fmt = detect_format(data, upload.filename, upload.content_type)
    if fmt not in formats:
        raise ApiError(Err.INVALID_MEDIA_TYPE, f"{kind} must be one of {sorted(formats)}")
    item = state.put_media(data, kind, fmt)
    return web.json_response(
        {"type": kind, "media_id": item.media_id, "created_at": int(item.created_at)}
    )


# -- parametric QR codes ------------------------------------------------------------------------


def _scene(action_name: str, scene: Any) -> str:
    """The scene as a string, checked against the action's rules."""
    if not isinstance(scene, dict):
        raise ApiError(Err.INVALID_ARGS, "action_info.scene missing")
    if action_name.endswith("STR_SCENE"):
        value = scene.get("scene_str")
        if not isinstance(value, str) or not 1 <= len(value) <= QR_SCENE_STR_MAX:
            raise ApiError(Err.INVALID_ARGS, f"scene_str must be 1..{QR_SCENE_STR_MAX} chars")
        return value
    number = scene.get("scene_id")
    limit = QR_LIMIT_SCENE_ID_MAX if action_name == "QR_LIMIT_SCENE" else 2**32 - 1
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= limit:
        raise ApiError(Err.INVALID_ARGS, f"scene_id must be 1..{limit}")
    return str(number)


@routes.post("/cgi-bin/qrcode/create")
@platform_endpoint("wechat_api", token="wechat")
async def qrcode_create(request: web.Request) -> web.StreamResponse:
    """Permanent (capped) or temporary (≤ 30 days) codes; `{ticket, expire_seconds?, url}`."""
    state = sim(request).state
    body = await read_json(request)
    action_name = _text(body.get("action_name"))
    if action_name not in QR_ACTIONS:
        raise ApiError(Err.INVALID_ARGS, f"action_name {action_name!r}")
    info = body.get("action_info")
    scene = _scene(action_name, info.get("scene") if isinstance(info, dict) else None)
    expire = body.get("expire_seconds")
    if expire is not None and (isinstance(expire, bool) or not isinstance(expire, int)):
        raise ApiError(Err.INVALID_ARGS, "expire_seconds must be an integer")
    code = state.create_qrcode(action_name, scene, expire)
    if code.expires_at is None:
        return web.json_response({"ticket": code.ticket, "url": code.url})
    lifetime = round(code.expires_at - code.created_at)
    return web.json_response({"ticket": code.ticket, "expire_seconds": lifetime, "url": code.url})


def qr_png(url: str) -> bytes:
    """A PNG QR code encoding `url`."""
    image = qrcode.make(url)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


@routes.get("/cgi-bin/showqrcode")
async def showqrcode(request: web.Request) -> web.StreamResponse:
    """The picture of a ticket (no access_token, as on mp.weixin.qq.com)."""
    code = sim(request).state.qrcode(request.query.get("ticket", ""))
    if code is None:
        raise web.HTTPNotFound(text="unknown or expired ticket")
    return web.Response(body=qr_png(code.url), content_type="image/png")
