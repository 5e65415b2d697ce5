"""Thin async clients for the few WeChat and WeCom server APIs the bot calls.

wechatpy is synchronous, so the HTTP side is written here on aiohttp. Access tokens live in a
shared KeyValueStore with a single refresher across processes; secrets never reach logs or errors.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp

from bot.kv import KeyValueStore
from governance.clock import Clock

log = logging.getLogger(__name__)
_T = TypeVar("_T")

NETWORK_ERROR = -1
"""errcode for network failures, timeouts and 5xx answers (WeChat's own "system busy" too)."""
UNEXPECTED_RESPONSE = -1000
"""errcode for answers that are not JSON or lack the expected fields: a bug, not retried."""

RETRYABLE_ERRCODES = frozenset({NETWORK_ERROR, 45009, 45011})
"""-1 system busy, 45009 daily/minute frequency limit, 45011 API called too often."""
TOKEN_INVALID_ERRCODES = frozenset({40001, 40014, 42001})
"""The token is stale or invalid: refresh once and retry the call once."""

TOKEN_SAFETY_MARGIN_SECONDS = 300
_SECRET_QUERY_RE = re.compile(r"((?:access_token|secret|corpsecret|key)=)[^&\s'\"]+", re.I)


def mask_secrets(text: str) -> str:
    """Hide access tokens, secrets and webhook keys in a URL or message before it is shown."""
    return _SECRET_QUERY_RE.sub(r"\1***", text)


class WeChatApiError(Exception):
    """An API call failed; `errcode` is the platform's code, or -1 for network/5xx failures."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        self.errcode = errcode
        self.errmsg = mask_secrets(errmsg)
        super().__init__(f"{errcode}: {self.errmsg}")

    @property
    def retryable(self) -> bool:
        """True when the same call may succeed later (outbox backoff); False means give up."""
        return self.errcode in RETRYABLE_ERRCODES


SessionSource = Callable[[], aiohttp.ClientSession] | aiohttp.ClientSession


class _TokenApiClient:
    """Shared plumbing: session ownership, JSON calls, token cache with a single refresher."""

    _token_kind = "wechat"

    def __init__(
        self,
        *,
        session_factory: SessionSource,
        base_url: str,
        owner_id: str,
        cache: KeyValueStore,
        clock: Clock,
        timeout_seconds: float,
    ) -> None:
        if isinstance(session_factory, aiohttp.ClientSession):
            self._session: aiohttp.ClientSession | None = session_factory
            self._factory: Callable[[], aiohttp.ClientSession] | None = None
        else:
            self._session = None
            self._factory = session_factory
        self._base_url = base_url.rstrip("/")
        self._owner_id = owner_id
        self._cache = cache
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._timeout_seconds = timeout_seconds
        self._token_key = f"{self._token_kind}:token:{owner_id}"
        self._lock_key = f"{self._token_kind}:token-lock:{owner_id}"
        self._local_refresh = asyncio.Lock()

    # -- lifecycle -----------------------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or (self._factory is not None and self._session.closed):
            assert self._factory is not None
            self._session = self._factory()
        return self._session

    async def close(self) -> None:
        """Close the session if this client created it (a passed-in session stays open)."""
        if self._factory is not None and self._session is not None and not self._session.closed:
            await self._session.close()
        if self._factory is not None:
            self._session = None

    async def __aenter__(self) -> _TokenApiClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- access token --------------------------------------------------------------------

    async def access_token(self, *, force_refresh: bool = False) -> str:
        """A valid access token from the shared cache, fetched by one refresher at a time."""
        cached = await self._cache.get(self._token_key)
        if cached and not force_refresh:
            return cached
        return await self._refresh(stale=cached if force_refresh else None, force=force_refresh)

    async def _refresh(self, *, stale: str | None, force: bool) -> str:
        async with self._local_refresh:  # one refresher per process; others share the cache
            owner = secrets.token_hex(8)
            lock_ttl = self._timeout_seconds + 5
            deadline = asyncio.get_running_loop().time() + lock_ttl + 1
            delay = 0.02
            while True:
                cached = await self._cache.get(self._token_key)
                if cached and cached != stale:
                    return cached  # someone else refreshed meanwhile
                if await self._cache.add(self._lock_key, owner, ttl_seconds=lock_ttl):
                    try:
                        cached = await self._cache.get(self._token_key)
                        if cached and cached != stale:
                            return cached  # refreshed between our look and taking the lock
                        token, expires_in = await self._fetch_token(force=force)
                        await self._cache.set(self._token_key, token, _cache_ttl(expires_in))
                        return token
                    finally:
                        await self._cache.delete_if(self._lock_key, owner)
                if asyncio.get_running_loop().time() > deadline:
                    raise WeChatApiError(NETWORK_ERROR, "timed out waiting for the token refresh")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)

    async def _fetch_token(self, *, force: bool) -> tuple[str, int]:
        raise NotImplementedError

    @staticmethod
    def _token_from(payload: Mapping[str, Any]) -> tuple[str, int]:
        token = payload.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeChatApiError(UNEXPECTED_RESPONSE, "token response without access_token")
        try:
            expires_in = int(payload.get("expires_in", 7200))
        except (TypeError, ValueError):
            expires_in = 7200
        return token, expires_in

    # -- HTTP ----------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        form: Callable[[], aiohttp.FormData] | None = None,
    ) -> dict[str, Any]:
        """An authenticated JSON call; a stale token is refreshed once and the call retried."""

        async def attempt(token: str) -> dict[str, Any]:
            query = {**(params or {}), "access_token": token}
            return await self._json_request(
                method, path, params=query, json_body=json_body, data=form() if form else None
            )

        return await self._with_token(attempt)

    async def _with_token(self, attempt: Callable[[str], Awaitable[_T]]) -> _T:
        token = await self.access_token()
        try:
            return await attempt(token)
        except WeChatApiError as exc:
            if exc.errcode not in TOKEN_INVALID_ERRCODES:
                raise
            log.info("access token rejected (%s); refreshing once", exc.errcode)
        token = await self._refresh(stale=token, force=True)
        return await attempt(token)

    async def _json_request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        data: aiohttp.FormData | None = None,
    ) -> dict[str, Any]:
        status, _content_type, body = await self._raw_request(
            method, path, params=params, json_body=json_body, data=data
        )
        return _check_payload(path, status, _parse_json(path, status, body))

    async def _raw_request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        data: aiohttp.FormData | None = None,
    ) -> tuple[int, str, bytes]:
        """One HTTP exchange → (status, content type, body); network trouble and 5xx → -1."""
        url = self._base_url + path
        headers: dict[str, str] = {}
        payload: bytes | aiohttp.FormData | None = data
        if json_body is not None:
            # WeChat mangles \\uXXXX escapes in some APIs: send UTF-8 as wechatpy does.
            payload = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            async with self._get_session().request(
                method, url, params=params, data=payload, headers=headers, timeout=self._timeout
            ) as response:
                body = await response.read()
                status = response.status
                content_type = response.headers.get("Content-Type", "")
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("%s %s failed: %s", method, path, mask_secrets(repr(exc)))
            raise WeChatApiError(
                NETWORK_ERROR, f"{type(exc).__name__} calling {path}: {mask_secrets(str(exc))}"
            ) from None
        if status >= 500 or status == 429:
            log.warning("%s %s answered HTTP %s", method, path, status)
            raise WeChatApiError(NETWORK_ERROR, f"HTTP {status} from {path}")
        log.debug("%s %s: HTTP %s", method, path, status)
        return status, content_type, body


def _cache_ttl(expires_in: int) -> float:
    """Keep a token until ~5 minutes before it expires (half its life when that is short)."""
    if expires_in > 2 * TOKEN_SAFETY_MARGIN_SECONDS:
        return float(expires_in - TOKEN_SAFETY_MARGIN_SECONDS)
    return max(1.0, expires_in / 2)


def _parse_json(path: str, status: int, body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WeChatApiError(
            UNEXPECTED_RESPONSE, f"HTTP {status} from {path} is not JSON"
        ) from None
    if not isinstance(payload, dict):
        raise WeChatApiError(UNEXPECTED_RESPONSE, f"HTTP {status} from {path} is not an object")
    return payload


def _check_payload(path: str, status: int, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        errcode = int(payload.get("errcode", 0) or 0)
    except (TypeError, ValueError):
        errcode = UNEXPECTED_RESPONSE
    if errcode != 0:
        errmsg = str(payload.get("errmsg", ""))
        log.warning("%s answered errcode %s: %s", path, errcode, mask_secrets(errmsg))
        raise WeChatApiError(errcode, f"{errmsg} ({path})")
    if status >= 400:
        raise WeChatApiError(UNEXPECTED_RESPONSE, f"HTTP {status} from {path}")
    return payload


def _json_error(body: bytes) -> dict[str, Any] | None:
    """A JSON error object in place of a file download, if that is what came back."""
    if not body.lstrip().startswith(b"{"):
        return None
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return payload if isinstance(payload, dict) and "errcode" in payload else None


class WeChatApiClient(_TokenApiClient):
    """The official account's server API: customer-service and template messages, media, QR."""

    _token_kind = "wechat"

    def __init__(
        self,
        *,
        session_factory: SessionSource,
        base_url: str,
        app_id: str,
        app_secret: str,
        cache: KeyValueStore,
        clock: Clock,
        timeout_seconds: float = 5.0,
        qrcode_base_url: str | None = None,
    ) -> None:
        super().__init__(
            session_factory=session_factory,
            base_url=base_url,
            owner_id=app_id,
            cache=cache,
            clock=clock,
            timeout_seconds=timeout_seconds,
        )
        self._app_id = app_id
        self._app_secret = app_secret
        self._qrcode_base_url = (qrcode_base_url or base_url).rstrip("/")

    async def _fetch_token(self, *, force: bool) -> tuple[str, int]:
        payload = await self._json_request(
            "POST",
            "/cgi-bin/stable_token",
            json_body={
                "grant_type": "client_credential",
                "appid": self._app_id,
                "secret": self._app_secret,
                "force_refresh": force,
            },
        )
        log.info("fetched a stable access token (force_refresh=%s)", force)
        return self._token_from(payload)

    # -- customer-service messages (48-hour window) --------------------------------------

    async def send_custom_text(self, openid: str, text: str) -> None:
        """Customer-service text; 45015 once the resident's window has closed."""
        await self._send_custom(openid, "text", {"content": text})

    async def send_custom_voice(self, openid: str, media_id: str) -> None:
        await self._send_custom(openid, "voice", {"media_id": media_id})

    async def send_custom_image(self, openid: str, media_id: str) -> None:
        await self._send_custom(openid, "image", {"media_id": media_id})

    async def _send_custom(self, openid: str, msgtype: str, body: Mapping[str, str]) -> None:
        await self._call(
            "POST",
            "/cgi-bin/message/custom/send",
            json_body={"touser": openid, "msgtype": msgtype, msgtype: dict(body)},
        )

    # -- template messages ---------------------------------------------------------------

    async def send_template(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, str],
        *,
        url: str | None,
        client_msg_id: str,
    ) -> int:
        """Template push; `client_msg_id` makes a retry within 10 minutes a no-op. → msgid."""
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {name: {"value": value} for name, value in data.items()},
            "client_msg_id": client_msg_id,
        }
        if url:
            body["url"] = url
        payload = await self._call("POST", "/cgi-bin/message/template/send", json_body=body)
        try:
            return int(payload["msgid"])
        except (KeyError, TypeError, ValueError):
            raise WeChatApiError(UNEXPECTED_RESPONSE, "template send without msgid") from None

    # -- media ---------------------------------------------------------------------------

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        """Temporary media → (content, content type); expired media raises 40007."""

        async def attempt(token: str) -> tuple[bytes, str]:
            status, content_type, body = await self._raw_request(
                "GET", "/cgi-bin/media/get", params={"access_token": token, "media_id": media_id}
            )
            error = _json_error(body)
            if error is not None or status >= 400:
                _check_payload("/cgi-bin/media/get", status, error or {})
            return body, content_type.split(";")[0].strip() or "application/octet-stream"

        return await self._with_token(attempt)

    async def upload_media(self, media_type: str, filename: str, content: bytes) -> str:
        """Upload temporary media (image, voice, video, thumb) → media_id (valid 3 days)."""
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("media", content, filename=filename, content_type=content_type)
            return data

        payload = await self._call(
            "POST", "/cgi-bin/media/upload", params={"type": media_type}, form=form
        )
        media_id = payload.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise WeChatApiError(UNEXPECTED_RESPONSE, "upload without media_id")
        return media_id

    # -- parametric QR codes -------------------------------------------------------------

    async def create_qrcode(
        self, scene: str, *, permanent: bool = True, expire_seconds: int = 2592000
    ) -> tuple[str, str]:
        """A string-scene QR code → (ticket, url); permanent ones are capped at 100,000."""
        if not 1 <= len(scene) <= 64:
            raise ValueError("scene_str must be 1-64 characters")
        body: dict[str, Any] = {
            "action_name": "QR_LIMIT_STR_SCENE" if permanent else "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene}},
        }
        if not permanent:
            body["expire_seconds"] = max(60, min(expire_seconds, 2592000))
        payload = await self._call("POST", "/cgi-bin/qrcode/create", json_body=body)
        ticket, url = payload.get("ticket"), payload.get("url")
        if not isinstance(ticket, str) or not isinstance(url, str):
            raise WeChatApiError(UNEXPECTED_RESPONSE, "QR code answer without ticket/url")
        return ticket, url

    def qrcode_image_url(self, ticket: str) -> str:
        """Where the QR picture for `ticket` is served (mp.weixin.qq.com in production)."""
        return f"{self._qrcode_base_url}/cgi-bin/showqrcode?ticket={quote(ticket, safe='')}"


class WeComApiClient(_TokenApiClient):
    """The staff-side WeCom self-built app: group chats, app messages, group robots."""

    _token_kind = "wecom"

    def __init__(
        self,
        *,
        session_factory: SessionSource,
        base_url: str,
        corp_id: str,
        corp_secret: str,
        agent_id: int,
        cache: KeyValueStore,
        clock: Clock,
        timeout_seconds: float = 5.0,
    ) -> None:
        super().__init__(
            session_factory=session_factory,
            base_url=base_url,
            owner_id=corp_id,
            cache=cache,
            clock=clock,
            timeout_seconds=timeout_seconds,
        )
        self._corp_id = corp_id
        self._corp_secret = corp_secret
        self._agent_id = agent_id

    async def _fetch_token(self, *, force: bool) -> tuple[str, int]:
        payload = await self._json_request(
            "GET",
            "/cgi-bin/gettoken",
            params={"corpid": self._corp_id, "corpsecret": self._corp_secret},
        )
        log.info("fetched a WeCom access token")
        return self._token_from(payload)

    async def create_appchat(
        self, *, name: str, owner: str, userlist: Sequence[str], chatid: str
    ) -> str:
        """Create a group chat the app can post into → chatid."""
        payload = await self._call(
            "POST",
            "/cgi-bin/appchat/create",
            json_body={"name": name, "owner": owner, "userlist": list(userlist), "chatid": chatid},
        )
        created = payload.get("chatid")
        return created if isinstance(created, str) and created else chatid

    async def send_appchat(self, chatid: str, message: Mapping[str, Any]) -> None:
        """Post into a group chat; `message` is e.g. {"msgtype": "textcard", "textcard": {...}}."""
        await self._call("POST", "/cgi-bin/appchat/send", json_body={**message, "chatid": chatid})

    async def send_app_message(
        self, touser: str | Sequence[str], message: Mapping[str, Any]
    ) -> None:
        """A 1:1 app message to staff (`touser` one UserID or several)."""
        target = touser if isinstance(touser, str) else "|".join(touser)
        payload = await self._call(
            "POST",
            "/cgi-bin/message/send",
            json_body={**message, "touser": target, "agentid": self._agent_id},
        )
        if payload.get("invaliduser"):
            log.warning("WeCom app message: unknown users %s", payload["invaliduser"])

    async def send_robot(self, key: str, message: Mapping[str, Any]) -> None:
        """Group robot webhook (push-only, 20 messages a minute): the fallback alert channel."""
        await self._json_request(
            "POST", "/cgi-bin/webhook/send", params={"key": key}, json_body=dict(message)
        )
