"""Shared plumbing for the HTTP handlers: app keys, JSON answers, faults and token checks."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from aiohttp import web

from simulator.errors import ERRMSG, ApiError, Err
from simulator.service import Simulator

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SIMULATOR: web.AppKey[Simulator] = web.AppKey("simulator", Simulator)


def sim(request: web.Request) -> Simulator:
    """The simulator serving this request."""
    return request.config_dict[SIMULATOR]


def platform_json(code: Err = Err.OK, errmsg: str | None = None, **data: Any) -> web.Response:
    """A platform answer: HTTP 200 with `errcode`/`errmsg` (plus data), like WeChat."""
    payload: dict[str, Any] = {"errcode": int(code), "errmsg": errmsg or ERRMSG[code], **data}
    return web.json_response(payload, dumps=lambda obj: json.dumps(obj, ensure_ascii=False))


def sim_json(data: Any, status: int = 200) -> web.Response:
    """An answer of the simulator's own API (UTF-8 JSON, no errcode wrapping)."""
    return web.json_response(
        data, status=status, dumps=lambda obj: json.dumps(obj, ensure_ascii=False)
    )


async def read_json(request: web.Request, optional: bool = False) -> dict[str, Any]:
    """The JSON object body, or 47001 (data format error) like the real platform."""
    raw = await request.read()
    if optional and not raw.strip():
        return {}
    try:
        body = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(Err.DATA_FORMAT_ERROR) from exc
    if not isinstance(body, dict):
        raise ApiError(Err.DATA_FORMAT_ERROR)
    return body


async def apply_fault(simulator: Simulator, key: str) -> web.Response | None:
    """The injected failure for this API group, if any is active."""
    mode = simulator.state.faults.take(key)
    if mode is None:
        return None
    simulator.state.stats.counters[f"fault_{key}"] += 1
    if mode == "error_500":
        return web.Response(status=500, text="simulated server error")
    if mode == "timeout":
        await asyncio.sleep(simulator.config.fault_timeout_seconds)
        return web.Response(status=504, text="simulated timeout")
    code = int(mode.removeprefix("errcode_"))
    return web.json_response({"errcode": code, "errmsg": "simulated fault"})


def platform_endpoint(
    *faults: str, token: Literal["wechat", "wecom"] | None = None
) -> Callable[[Handler], Handler]:
    """Wrap a platform handler: apply faults, check `access_token`, render ApiError."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            simulator = sim(request)
            simulator.state.stats.counters[f"api {request.path}"] += 1
            for key in faults:
                faulted = await apply_fault(simulator, key)
                if faulted is not None:
                    return faulted
            try:
                if token is not None:
                    simulator.state.check_token(
                        request.query.get("access_token"), wecom=token == "wecom"
                    )
                return await handler(request)
            except ApiError as exc:
                simulator.state.stats.counters[f"errcode {int(exc.code)}"] += 1
                return platform_json(exc.code, exc.errmsg)

        return wrapper

    return decorate
