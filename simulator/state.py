"""All simulator state, in memory, with the platform rules that act on it.

Handlers stay thin: they parse a request, call one method here and render the result. Rules
use the virtual clock (`Clock.now`), so tests can jump past windows and expiry times.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from simulator.clock import Clock, iso
from simulator.config import SimulatorConfig
from simulator.errors import ApiError, Err
from simulator.media import MediaItem

TEMPLATE_FIELD_MAX_CHARS = 20
PASSIVE_TEXT_MAX_BYTES = 2048
QR_MAX_EXPIRE_SECONDS = 2_592_000
QR_DEFAULT_EXPIRE_SECONDS = 60
QR_SCENE_STR_MAX = 64
QR_LIMIT_SCENE_ID_MAX = 100_000
GRANTING_EVENTS = frozenset({"subscribe", "SCAN", "CLICK"})
FAULT_KEYS = ("wechat_api", "wecom_api", "wecom_appchat", "wecom_robot")
FAULT_PATTERN = re.compile(r"^(ok|error_500|timeout|errcode_\d+)$")


class TokenKind(StrEnum):
    """Where an access token came from."""

    WECHAT = "wechat"
    WECHAT_STABLE = "wechat_stable"
    WECOM = "wecom"


@dataclass(slots=True)
class Entry:
    """One message in a timeline: a resident's inbox, a WeCom group, a staff chat, the robot."""

    channel: str
    msgtype: str
    content: str | None = None
    media_id: str | None = None
    url: str | None = None
    title: str | None = None
    description: str | None = None
    template_id: str | None = None
    fields: dict[str, str] | None = None
    articles: list[dict[str, str]] | None = None
    menu: list[dict[str, str]] | None = None
    direction: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON with absent fields left out."""
        data: dict[str, Any] = {
            "seq": self.seq,
            "channel": self.channel,
            "msgtype": self.msgtype,
            "at": iso(self.at),
        }
        optional: dict[str, Any] = {
            "content": self.content,
            "media_id": self.media_id,
            "url": self.url,
            "title": self.title,
            "description": self.description,
            "template_id": self.template_id,
            "fields": self.fields,
            "articles": self.articles,
            "menu": self.menu,
            "direction": self.direction,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        data.update(self.extra)
        return data


def after(entries: Iterable[Entry], seq: int) -> list[dict[str, Any]]:
    """Entries newer than `seq`, as JSON, in arrival order."""
    return [entry.to_json() for entry in entries if entry.seq > seq]


@dataclass(slots=True)
class Grant:
    """Customer-service messages still allowed until a deadline."""

    expires_at: float
    remaining: int


@dataclass(slots=True)
class Resident:
    """A WeChat user of the official account."""

    openid: str
    nickname: str
    following: bool = False
    unsubscribed: bool = False
    last_active_at: float | None = None
    last_create_time: int = 0
    message_grant: Grant | None = None
    event_grant: Grant | None = None
    inbox: list[Entry] = field(default_factory=list)
    sent: list[Entry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Public shape of `/sim/api/residents`."""
        return {
            "openid": self.openid,
            "nickname": self.nickname,
            "following": self.following,
            "last_active_at": None if self.last_active_at is None else iso(self.last_active_at),
        }

    def next_create_time(self, event: bool) -> int:
        """Real-time CreateTime; for events strictly increasing per resident.

        The bot deduplicates events on FromUserName + CreateTime, so two quick events from the
        same resident must not share a second (messages are deduplicated on MsgId instead).
        """
        now = int(time.time())
        if not event:
            return now
        self.last_create_time = max(now, self.last_create_time + 1)
        return self.last_create_time


@dataclass(slots=True)
class IssuedToken:
    """An access token and its lifetime."""

    value: str
    kind: TokenKind
    issued_at: float
    expires_at: float
    invalid_after: float | None = None


@dataclass(slots=True)
class QrCode:
    """A parametric QR code the bot created."""

    ticket: str
    scene: str
    action_name: str
    url: str
    created_at: float
    expires_at: float | None

    @property
    def permanent(self) -> bool:
        """Permanent codes never expire and count towards the account's cap."""
        return self.expires_at is None


@dataclass(slots=True)
class WeComGroup:
    """A WeCom group chat created by the app."""

    chatid: str
    name: str
    owner: str
    userlist: list[str]
    messages: list[Entry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Public shape of `/sim/api/wecom/groups`."""
        return {
            "chatid": self.chatid,
            "name": self.name,
            "owner": self.owner,
            "userlist": list(self.userlist),
        }


@dataclass(slots=True)
class Stats:
    """Counters the tests read through `/sim/api/stats`."""

    token_requests: Counter[str] = field(default_factory=Counter)
    token_refreshes: Counter[str] = field(default_factory=Counter)
    counters: Counter[str] = field(default_factory=Counter)
    violations: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Flat JSON snapshot."""
        return {
            "token_requests": {kind.value: self.token_requests[kind] for kind in TokenKind},
            "token_refreshes": {kind.value: self.token_refreshes[kind] for kind in TokenKind},
            "custom_send": {
                "accepted": self.counters["custom_accepted"],
                "refused": self.counters["custom_refused"],
            },
            "template_send": {
                "accepted": self.counters["template_accepted"],
                "duplicates": self.counters["template_duplicates"],
                "rejected": self.counters["template_rejected"],
            },
            "counters": dict(self.counters),
            "violations": list(self.violations),
        }


@dataclass(slots=True)
class Faults:
    """Injected API failures, each optionally limited to a number of calls."""

    modes: dict[str, str] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)

    def set(self, key: str, mode: str, times: int | None = None) -> None:
        """Apply `mode` to the API group `key` (until reset, or `times` calls)."""
        if key not in FAULT_KEYS:
            raise ValueError(f"unknown fault key {key!r}; expected one of {FAULT_KEYS}")
        if not FAULT_PATTERN.match(mode):
            raise ValueError(f"unknown fault mode {mode!r}")
        self.remaining.pop(key, None)
        if mode == "ok":
            self.modes.pop(key, None)
            return
        self.modes[key] = mode
        if times is not None:
            if times < 1:
                raise ValueError("times must be at least 1")
            self.remaining[key] = times

    def take(self, key: str) -> str | None:
        """The fault to apply to this call, consuming one of a limited count."""
        mode = self.modes.get(key)
        if mode is None:
            return None
        if key in self.remaining:
            self.remaining[key] -= 1
            if self.remaining[key] <= 0:
                del self.remaining[key]
                del self.modes[key]
        return mode

    def to_json(self) -> dict[str, Any]:
        """Current faults, `ok` for the rest."""
        return {
            "faults": {key: self.modes.get(key, "ok") for key in FAULT_KEYS},
            "remaining": dict(self.remaining),
        }


def _new_openid() -> str:
    return "o" + secrets.token_urlsafe(21)[:27]


class SimulatorState:
    """Residents, inboxes, tokens, media, QR codes, WeCom timelines, faults and statistics."""

    def __init__(self, config: SimulatorConfig, nicknames: list[str] | None = None) -> None:
        self.config = config
        self.clock = Clock()
        self._nicknames = nicknames or ["resident"]
        self._seq = 0
        self._last_msg_id = 0
        self._changed = asyncio.Event()
        self._clear()

    def _clear(self) -> None:
        self.residents: dict[str, Resident] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.current_token: dict[TokenKind, IssuedToken] = {}
        self.media: dict[str, MediaItem] = {}
        self.qrcodes: dict[str, QrCode] = {}
        self.permanent_scenes: dict[str, str] = {}
        self.template_sends: dict[str, tuple[int, float]] = {}
        self.groups: dict[str, WeComGroup] = {}
        self.staff: dict[str, list[Entry]] = {}
        self.robot: list[Entry] = []
        self.robot_sends: dict[str, deque[float]] = {}
        self.faults = Faults()
        self.stats = Stats()
        self._nickname_cycle = itertools.cycle(self._nicknames)

    def reset(self) -> None:
        """Forget everything; sequence numbers and MsgIds keep increasing across resets."""
        self._clear()
        self.clock.reset()
        self.touch()

    # -- change notification ------------------------------------------------------------------

    @property
    def seq(self) -> int:
        """The latest global sequence number."""
        return self._seq

    def touch(self) -> int:
        """Take the next sequence number and wake long-pollers."""
        self._seq += 1
        self._changed.set()
        self._changed = asyncio.Event()
        return self._seq

    async def wait_for_change(self, after_seq: int, timeout_seconds: float) -> int:
        """Return the latest seq once it exceeds `after_seq`, or after `timeout_seconds`."""
        deadline = time.monotonic() + timeout_seconds
        while self._seq <= after_seq:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                break
        return self._seq

    def append(self, timeline: list[Entry], entry: Entry) -> Entry:
        """Stamp an entry with the next seq and the virtual time, and add it to a timeline."""
        entry.seq = self.touch()
        entry.at = self.clock.now()
        timeline.append(entry)
        return entry

    def next_msg_id(self) -> int:
        """A 64-bit MsgId, increasing even across resets and restarts (microsecond-based)."""
        self._last_msg_id = max(self._last_msg_id + 1, time.time_ns() // 1000)
        return self._last_msg_id

    def violation(self, kind: str, **details: Any) -> None:
        """Record a rule the bot broke (the real platform might have hidden it)."""
        self.stats.violations.append({"kind": kind, "at": iso(self.clock.now()), **details})
        self.touch()

    # -- residents ----------------------------------------------------------------------------

    def add_resident(
        self, openid: str | None = None, nickname: str | None = None, following: bool = False
    ) -> Resident:
        """Create a resident, or return (and rename) an existing one."""
        if openid and openid in self.residents:
            resident = self.residents[openid]
            if nickname:
                resident.nickname = nickname
            return resident
        resident = Resident(
            openid=openid or _new_openid(),
            nickname=nickname or next(self._nickname_cycle),
            following=following,
        )
        self.residents[resident.openid] = resident
        self.touch()
        return resident

    def resident(self, openid: str) -> Resident:
        """The resident with this openid (ApiError 40003 when unknown)."""
        found = self.residents.get(openid)
        if found is None:
            raise ApiError(Err.INVALID_OPENID)
        return found

    def note_user_message(self, resident: Resident) -> None:
        """A message opens (resets) the 48-hour window: N messages allowed."""
        now = self.clock.now()
        resident.following = True
        resident.unsubscribed = False
        resident.last_active_at = now
        resident.message_grant = Grant(
            expires_at=now + self.config.cs_window_hours * 3600,
            remaining=self.config.cs_messages_per_window,
        )

    def note_user_event(self, resident: Resident, event: str) -> None:
        """Follow, scan and menu click open a short window; unsubscribe closes everything."""
        now = self.clock.now()
        resident.last_active_at = now
        if event == "subscribe":
            resident.following = True
            resident.unsubscribed = False
        elif event == "unsubscribe":
            resident.following = False
            resident.unsubscribed = True
            resident.message_grant = None
            resident.event_grant = None
            return
        if event in GRANTING_EVENTS:
            resident.event_grant = Grant(
                expires_at=now + self.config.event_window_seconds,
                remaining=self.config.event_messages_per_window,
            )

    def check_reachable(self, resident: Resident) -> None:
        """Refuse pushes to someone who unfollowed (43004)."""
        if resident.unsubscribed and not resident.following:
            raise ApiError(Err.REQUIRE_SUBSCRIBE)

    def consume_custom_quota(self, resident: Resident) -> None:
        """Spend one customer-service message or raise 45015."""
        now = self.clock.now()
        for grant in (resident.event_grant, resident.message_grant):
            if grant is not None and grant.expires_at > now and grant.remaining > 0:
                grant.remaining -= 1
                self.stats.counters["custom_accepted"] += 1
                return
        self.stats.counters["custom_refused"] += 1
        raise ApiError(Err.OUT_OF_RESPONSE_WINDOW)

    # -- access tokens ------------------------------------------------------------------------

    def _issue(self, kind: TokenKind) -> IssuedToken:
        now = self.clock.now()
        previous = self.current_token.get(kind)
        if previous is not None and previous.invalid_after is None:
            previous.invalid_after = now + self.config.token_overlap_seconds
        token = IssuedToken(
            value=secrets.token_urlsafe(48),
            kind=kind,
            issued_at=now,
            expires_at=now + self.config.token_ttl_seconds,
        )
        self.tokens[token.value] = token
        self.current_token[kind] = token
        self.stats.token_refreshes[kind] += 1
        self.touch()
        return token

    def _check_app(self, appid: str, secret: str) -> None:
        if appid != self.config.wechat.app_id:
            raise ApiError(Err.INVALID_APPID)
        if secret != self.config.wechat.app_secret:
            raise ApiError(Err.INVALID_APPSECRET)

    def basic_token(self, grant_type: str, appid: str, secret: str) -> IssuedToken:
        """`/cgi-bin/token`: a new token each call; the previous one lives 5 more minutes."""
        self.stats.token_requests[TokenKind.WECHAT] += 1
        if grant_type != "client_credential":
            raise ApiError(Err.INVALID_GRANT_TYPE)
        self._check_app(appid, secret)
        return self._issue(TokenKind.WECHAT)

    def stable_token(
        self, grant_type: str, appid: str, secret: str, force_refresh: bool
    ) -> IssuedToken:
        """`/cgi-bin/stable_token`: the same token while valid, unless forced."""
        self.stats.token_requests[TokenKind.WECHAT_STABLE] += 1
        if grant_type != "client_credential":
            raise ApiError(Err.INVALID_GRANT_TYPE)
        self._check_app(appid, secret)
        current = self.current_token.get(TokenKind.WECHAT_STABLE)
        if not force_refresh and current is not None and self._usable(current):
            return current
        return self._issue(TokenKind.WECHAT_STABLE)

    def wecom_token(self, corpid: str, corpsecret: str) -> IssuedToken:
        """`/wecom/cgi-bin/gettoken`: like WeCom, the same token while valid."""
        self.stats.token_requests[TokenKind.WECOM] += 1
        if corpid != self.config.wecom.corp_id:
            raise ApiError(Err.INVALID_APPID, "invalid corpid")
        if corpsecret != self.config.wecom.corp_secret:
            raise ApiError(Err.INVALID_CREDENTIAL, "invalid corpsecret")
        current = self.current_token.get(TokenKind.WECOM)
        if current is not None and self._usable(current):
            return current
        return self._issue(TokenKind.WECOM)

    def _usable(self, token: IssuedToken) -> bool:
        now = self.clock.now()
        return token.expires_at > now and (
            token.invalid_after is None or token.invalid_after > now
        )

    def expires_in(self, token: IssuedToken) -> int:
        """Seconds of life left, as `expires_in` reports it."""
        return max(0, round(token.expires_at - self.clock.now()))

    def check_token(self, value: str | None, wecom: bool = False) -> None:
        """Validate an `access_token` query parameter for one side of the platform."""
        if not value:
            raise ApiError(Err.MISSING_ACCESS_TOKEN)
        invalid = Err.INVALID_ACCESS_TOKEN if wecom else Err.INVALID_CREDENTIAL
        token = self.tokens.get(value)
        if token is None or (token.kind is TokenKind.WECOM) != wecom:
            raise ApiError(invalid)
        now = self.clock.now()
        if token.invalid_after is not None and token.invalid_after <= now:
            raise ApiError(invalid)
        if token.expires_at <= now:
            raise ApiError(Err.ACCESS_TOKEN_EXPIRED)

    # -- delivery to residents ----------------------------------------------------------------

    def deliver(self, resident: Resident, entry: Entry) -> Entry:
        """Put a message from the account into the resident's inbox."""
        return self.append(resident.inbox, entry)

    def record_sent(self, resident: Resident, entry: Entry) -> Entry:
        """Keep what the resident sent (for the chat page)."""
        entry.direction = "out"
        return self.append(resident.sent, entry)

    def template_duplicate(self, client_msg_id: str | None) -> int | None:
        """The msgid of a send with the same client_msg_id in the last 10 minutes."""
        if not client_msg_id:
            return None
        previous = self.template_sends.get(client_msg_id)
        if previous is None:
            return None
        msgid, at = previous
        if self.clock.now() - at >= self.config.template_dedup_seconds:
            return None
        self.stats.counters["template_duplicates"] += 1
        return msgid

    def check_template_fields(self, openid: str, template_id: str, fields: dict[str, str]) -> None:
        """Each value ≤ 20 characters and on one line, else 47003 and a recorded violation."""
        problems: list[str] = []
        for name, value in fields.items():
            reasons = []
            if len(value) > TEMPLATE_FIELD_MAX_CHARS:
                reasons.append(f"longer than {TEMPLATE_FIELD_MAX_CHARS} characters")
            if "\n" in value or "\r" in value:
                reasons.append("contains a line break")
            for reason in reasons:
                problems.append(f"data.{name}.value {reason}")
                self.violation(
                    "template_field",
                    openid=openid,
                    template_id=template_id,
                    field=name,
                    value=value,
                    reason=reason,
                )
        if problems:
            self.stats.counters["template_rejected"] += 1
            raise ApiError(Err.ARGUMENT_INVALID, "; ".join(problems))

    def record_template(self, client_msg_id: str | None) -> int:
        """Allocate a msgid for an accepted template send and remember its client_msg_id."""
        msgid = self.next_msg_id()
        if client_msg_id:
            self.template_sends[client_msg_id] = (msgid, self.clock.now())
        self.stats.counters["template_accepted"] += 1
        return msgid

    # -- media --------------------------------------------------------------------------------

    def put_media(self, data: bytes, kind: str, fmt: str) -> MediaItem:
        """Store temporary media and give it a media_id."""
        item = MediaItem(
            media_id=secrets.token_urlsafe(32),
            data=data,
            kind=kind,
            fmt=fmt,
            created_at=self.clock.now(),
        )
        self.media[item.media_id] = item
        return item

    def get_media(self, media_id: str | None) -> MediaItem:
        """Media still within its 3 days, else 40007."""
        item = self.media.get(media_id or "")
        if item is None or self.clock.now() - item.created_at >= self.config.media_ttl_seconds:
            raise ApiError(Err.INVALID_MEDIA_ID)
        return item

    # -- QR codes -----------------------------------------------------------------------------

    def create_qrcode(self, action_name: str, scene: str, expire_seconds: int | None) -> QrCode:
        """Register a QR code; permanent codes for the same scene share one ticket."""
        permanent = action_name in ("QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE")
        now = self.clock.now()
        if permanent:
            existing = self.permanent_scenes.get(scene)
            if existing is not None:
                return self.qrcodes[existing]
            if len(self.permanent_scenes) >= self.config.permanent_qr_limit:
                raise ApiError(Err.QR_LIMIT_REACHED)
            expires_at = None
        else:
            lifetime = QR_DEFAULT_EXPIRE_SECONDS if expire_seconds is None else expire_seconds
            if not 1 <= lifetime <= QR_MAX_EXPIRE_SECONDS:
                raise ApiError(
                    Err.INVALID_ARGS, f"expire_seconds must be 1..{QR_MAX_EXPIRE_SECONDS}"
                )
            expires_at = now + lifetime
        code = QrCode(
            ticket=secrets.token_urlsafe(32),
            scene=scene,
            action_name=action_name,
            url="http://weixin.qq.com/q/" + secrets.token_urlsafe(16),
            created_at=now,
            expires_at=expires_at,
        )
        self.qrcodes[code.ticket] = code
        if permanent:
            self.permanent_scenes[scene] = code.ticket
        self.touch()
        return code

    def qrcode(self, ticket: str) -> QrCode | None:
        """A code that exists and has not expired."""
        code = self.qrcodes.get(ticket)
        if code is None or (code.expires_at is not None and code.expires_at <= self.clock.now()):
            return None
        return code

    # -- WeCom --------------------------------------------------------------------------------

    def create_group(
        self, name: str, owner: str, userlist: list[str], chatid: str | None
    ) -> WeComGroup:
        """appchat/create: 2..2000 members, name ≤ 50 characters, chatid 1..32 alphanumerics."""
        if not name or len(name) > 50:
            raise ApiError(Err.INVALID_CHAT_NAME)
        members = list(dict.fromkeys(userlist))
        if owner and owner not in members:
            members.insert(0, owner)
        if not 2 <= len(members) <= 2000:
            raise ApiError(Err.INVALID_CHAT_MEMBERS, "a group has 2 to 2000 members")
        if chatid is not None and not re.fullmatch(r"[0-9A-Za-z]{1,32}", chatid):
            raise ApiError(Err.INVALID_CHATID)
        if chatid is not None and chatid in self.groups:
            raise ApiError(Err.CHAT_EXISTS)
        group = WeComGroup(
            chatid=chatid or secrets.token_hex(16),
            name=name,
            owner=owner or members[0],
            userlist=members,
        )
        self.groups[group.chatid] = group
        self.touch()
        return group

    def group(self, chatid: str) -> WeComGroup:
        """An existing group or 86003."""
        found = self.groups.get(chatid)
        if found is None:
            raise ApiError(Err.CHAT_NOT_FOUND)
        return found

    def staff_timeline(self, userid: str) -> list[Entry]:
        """The app's 1:1 chat with one staff member (created on first use)."""
        return self.staff.setdefault(userid, [])

    def robot_allow(self, key: str) -> None:
        """Group robots accept 20 messages a minute per key, else 45009."""
        now = self.clock.now()
        sends = self.robot_sends.setdefault(key, deque())
        while sends and sends[0] <= now - 60:
            sends.popleft()
        if len(sends) >= self.config.robot_messages_per_minute:
            self.stats.counters["robot_refused"] += 1
            raise ApiError(Err.FREQUENCY_LIMIT)
        sends.append(now)
