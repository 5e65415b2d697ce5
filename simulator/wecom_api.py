"""The WeCom (WeChat Work) API the bot calls, under `/wecom/cgi-bin/...`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.errors import ApiError, Err
from simulator.http import platform_endpoint, platform_json, read_json, sim
from simulator.state import Entry, SimulatorState

routes = web.RouteTableDef()

TEXT_MAX_BYTES = 2048
TEXTCARD_LIMITS = {"title": 128, "description": 512}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def wecom_entry(state: SimulatorState, body: dict[str, Any], channel: str) -> Entry:
    """A text, markdown or textcard body as a timeline entry (recording oversize fields)."""
    msgtype = _text(body.get("msgtype"))
    payload = body.get(msgtype)
    if msgtype not in ("text", "markdown", "textcard"):
        raise ApiError(Err.INVALID_MESSAGE_TYPE, f"msgtype {msgtype!r}")
    if not isinstance(payload, dict):
        raise ApiError(Err.DATA_FORMAT_ERROR, f"missing {msgtype} object")
    if msgtype in ("text", "markdown"):
        content = _text(payload.get("content"))
        if not content:
            raise ApiError(Err.EMPTY_CONTENT)
        size = len(content.encode("utf-8"))
        if size > TEXT_MAX_BYTES:
            state.violation(f"wecom_{msgtype}_too_long", channel=channel, bytes=size)
        extra: dict[str, Any] = {}
        for key in ("mentioned_list", "mentioned_mobile_list"):
            if isinstance(payload.get(key), list):
                extra[key] = payload[key]
        return Entry(channel=channel, msgtype=msgtype, content=content, extra=extra)
    title, description, url = (
        _text(payload.get("title")),
        _text(payload.get("description")),
        _text(payload.get("url")),
    )
    missing = [
        name
        for name, value in (("title", title), ("description", description), ("url", url))
        if not value
    ]
    if missing:
        raise ApiError(Err.INVALID_PARAMETER, f"textcard missing {', '.join(missing)}")
    for name, limit in TEXTCARD_LIMITS.items():
        size = len(_text(payload.get(name)).encode("utf-8"))
        if size > limit:
            state.violation("wecom_textcard_too_long", field=name, bytes=size, limit=limit)
    btntxt = _text(payload.get("btntxt"))
    return Entry(
        channel=channel,
        msgtype="textcard",
        title=title,
        description=description,
        url=url,
        extra={"btntxt": btntxt} if btntxt else {},
    )


@routes.get("/wecom/cgi-bin/gettoken")
@platform_endpoint()
async def gettoken(request: web.Request) -> web.StreamResponse:
    """The app's access token (the same one while it is valid)."""
    state = sim(request).state
    issued = state.wecom_token(
        request.query.get("corpid", ""), request.query.get("corpsecret", "")
    )
    return platform_json(access_token=issued.value, expires_in=state.expires_in(issued))


@routes.post("/wecom/cgi-bin/appchat/create")
@platform_endpoint("wecom_api", token="wecom")
async def appchat_create(request: web.Request) -> web.StreamResponse:
    """Create a group chat owned by the app."""
    state = sim(request).state
    body = await read_json(request)
    userlist = body.get("userlist")
    if not isinstance(userlist, list) or not all(isinstance(u, str) for u in userlist):
        raise ApiError(Err.INVALID_CHAT_MEMBERS, "userlist must be a list of userids")
    chatid = body.get("chatid")
    group = state.create_group(
        name=_text(body.get("name")),
        owner=_text(body.get("owner")),
        userlist=userlist,
        chatid=chatid if isinstance(chatid, str) and chatid else None,
    )
    return platform_json(chatid=group.chatid)


@routes.post("/wecom/cgi-bin/appchat/send")
@platform_endpoint("wecom_api", "wecom_appchat", token="wecom")
async def appchat_send(request: web.Request) -> web.StreamResponse:
    """Post text, markdown or a textcard into a group the app created."""
    state = sim(request).state
    body = await read_json(request)
    group = state.group(_text(body.get("chatid")))
    state.append(group.messages, wecom_entry(state, body, "appchat"))
    return platform_json()


@routes.post("/wecom/cgi-bin/message/send")
@platform_endpoint("wecom_api", token="wecom")
async def message_send(request: web.Request) -> web.StreamResponse:
    """The app's 1:1 message to one or more staff members (`a|b`)."""
    simulator = sim(request)
    state = simulator.state
    body = await read_json(request)
    agentid = body.get("agentid")
    if str(agentid) != str(simulator.config.wecom.agent_id):
        raise ApiError(Err.INVALID_AGENTID)
    users = [user for user in _text(body.get("touser")).split("|") if user]
    if not users:
        raise ApiError(Err.INVALID_PARAMETER, "touser is empty")
    template = wecom_entry(state, body, "api")
    msgid = f"sim{state.next_msg_id()}"
    for user in users:
        entry = Entry(
            channel=template.channel,
            msgtype=template.msgtype,
            content=template.content,
            title=template.title,
            description=template.description,
            url=template.url,
            direction="from_app",
            extra=dict(template.extra),
        )
        state.append(state.staff_timeline(user), entry)
    return platform_json(invaliduser="", invalidparty="", invalidtag="", msgid=msgid)


@routes.post("/wecom/cgi-bin/webhook/send")
@platform_endpoint("wecom_robot")
async def webhook_send(request: web.Request) -> web.StreamResponse:
    """Group robot: push-only, 20 messages a minute per key (45009 beyond)."""
    state = sim(request).state
    key = request.query.get("key", "")
    if not key:
        raise ApiError(Err.INVALID_WEBHOOK_KEY)
    body = await read_json(request)
    entry = wecom_entry(state, body, "robot")
    state.robot_allow(key)
    entry.extra["key"] = key
    state.append(state.robot, entry)
    return platform_json()


@routes.get("/wecom/cgi-bin/media/get")
@platform_endpoint("wecom_api", token="wecom")
async def media_get(request: web.Request) -> web.StreamResponse:
    """Media from the shared store (for completeness)."""
    item = sim(request).state.get_media(request.query.get("media_id"))
    return web.Response(
        body=item.data,
        content_type=item.content_type,
        headers={"Content-disposition": f'attachment; filename="{item.filename}"'},
    )
