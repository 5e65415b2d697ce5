"""Real bot processes on PostgreSQL + Redis for the cluster and chaos tests.

Each `BotProcess` is `python -m bot.cli serve` (or `simulator`) in its own process group, with
its output in a log file the test prints on failure. Everything is stopped in finalizers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp.test_utils import unused_port
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import PROJECT_ROOT
from governance.clock import SystemClock
from governance.outbox.models import OutboxChannel, OutboxMessage, OutboxStatus
from governance.outbox.service import enqueue
from governance.petitions.models import Petition
from simulator.crypto import signature
from simulator.xmlcodec import XmlValue, build_xml

_T = TypeVar("_T")

WECHAT_TOKEN = "dev-token"
ORIGINAL_ID = "gh_minqing_dev"
READY_TIMEOUT_SECONDS = 90.0


@dataclass
class BotProcess:
    """One `minqing` process: started, killed (-9 or politely) and restarted on the same port."""

    name: str
    args: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    ready_path: str | None = "/healthz"
    """None: ready once the port accepts TCP connections."""
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart) the process; its output is appended to the log file."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"{self.name} is already running")
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts} of {self.name} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, *self.args],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def wait_ready(self, within: float = READY_TIMEOUT_SECONDS) -> None:
        """Poll the readiness URL until it answers 200; fail early if the process died."""
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as http:
            while True:
                if self.process is None or self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited while starting:\n{self.tail()}")
                if self.ready_path is None:
                    with contextlib.suppress(OSError):
                        _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                        writer.close()
                        return
                else:
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        async with http.get(
                            self.url + self.ready_path, timeout=aiohttp.ClientTimeout(total=2)
                        ) as response:
                            if response.status == 200:
                                return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not ready in {within} s:\n{self.tail()}")
                await asyncio.sleep(0.2)

    def kill9(self) -> None:
        """SIGKILL the whole process group, as the OOM killer or a power cut would."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def terminate(self) -> None:
        """SIGTERM to the process group (no wait)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period; safe to call twice."""
        self.terminate()
        self.wait_or_kill()

    def wait_or_kill(self, grace: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill9()

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def log_count(self, needle: str) -> int:
        """How many times `needle` occurs in this process's log (all its starts)."""
        try:
            return self.log_path.read_text(errors="replace").count(needle)
        except OSError:
            return 0


@dataclass
class ClusterConfig:
    """What every process of one cluster shares."""

    database_url: str
    redis_url: str
    nlu_model_dir: Path
    log_dir: Path
    simulator_port: int = field(default_factory=unused_port)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.simulator_port}"

    def bot_env(self, port: int, *, scheduler: bool, **overrides: str) -> dict[str, str]:
        """Environment of a gateway or scheduler process pointed at the shared servers."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(
                (
                    "DATABASE__",
                    "REDIS__",
                    "NLU__",
                    "WECHAT__",
                    "WECOM__",
                    "SCHEDULER__",
                    "OUTBOX__",
                    "SIMULATOR__",
                    "VOICE__",
                )
            )
        }
        env.update(
            {
                "ENVIRONMENT": "test",
                "PORT": str(port),
                "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
                "DATABASE__URL": self.database_url,
                "REDIS__URL": self.redis_url,
                "NLU__MODEL_DIR": str(self.nlu_model_dir),
                "VOICE__ASR": "none",
                "VOICE__MEDIA_DIR": str(self.log_dir / "media"),
                "WECHAT__API_BASE_URL": self.simulator_url,
                "WECOM__API_BASE_URL": f"{self.simulator_url}/wecom",
                "SCHEDULER__ENABLED": "true" if scheduler else "false",
                "SCHEDULER__SLA_SWEEP_SECONDS": "1",
                "OUTBOX__POLL_SECONDS": "0.2",
                "OUTBOX__BATCH_SIZE": "5",
                "OUTBOX__BASE_DELAY_SECONDS": "0.2",
                "OUTBOX__MAX_DELAY_SECONDS": "0.8",
                "OUTBOX__MAX_ATTEMPTS": "8",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def gateway(self, name: str, *, scheduler: bool = False, **overrides: str) -> BotProcess:
        port = unused_port()
        return BotProcess(
            name=name,
            args=["-m", "bot.cli", "serve", "--port", str(port)],
            env=self.bot_env(port, scheduler=scheduler, **overrides),
            port=port,
            log_path=self.log_dir / f"{name}.log",
        )

    def simulator(self, gateway_port: int) -> BotProcess:
        """The WeChat/WeCom stand-in; it posts residents' messages to `gateway_port`."""
        env = self.bot_env(gateway_port, scheduler=False)
        env.update(
            {
                "SIMULATOR__PORT": str(self.simulator_port),
                "SIMULATOR__GATEWAY_URL": f"http://127.0.0.1:{gateway_port}/wechat",
                "SIMULATOR__WECOM_CALLBACK_URL": f"http://127.0.0.1:{gateway_port}/wecom",
                "SIMULATOR__POST_TIMEOUT_SECONDS": "5",
                "SIMULATOR__FAULT_TIMEOUT_SECONDS": "8",
                "SIMULATOR__CS_MESSAGES_PER_WINDOW": "1000",
            }
        )
        return BotProcess(
            name="simulator",
            args=["-m", "simulator"],
            env=env,
            port=self.simulator_port,
            log_path=self.log_dir / "simulator.log",
            ready_path="/sim/api/info",
        )

    def db_proxy(self) -> BotProcess:
        """A TCP proxy in front of PostgreSQL: SIGUSR1 cuts it, SIGUSR2 restores it."""
        port = unused_port()
        url = make_url(self.database_url)
        return BotProcess(
            name="db-proxy",
            args=[
                str(Path(__file__).with_name("cluster_tcpproxy.py")),
                str(port),
                url.host or "127.0.0.1",
                str(url.port or 5432),
            ],
            env=dict(os.environ),
            port=port,
            log_path=self.log_dir / "db-proxy.log",
            ready_path=None,
        )

    def proxied_database_url(self, proxy: BotProcess) -> str:
        url = make_url(self.database_url).set(host="127.0.0.1", port=proxy.port)
        return url.render_as_string(hide_password=False)


@dataclass
class Cluster:
    """The processes both suites share: see conftest.cluster."""

    config: ClusterConfig
    simulator: BotProcess
    a: BotProcess
    b: BotProcess
    scheduler: BotProcess
    edge: BotProcess
    """Second scheduler-enabled process; reaches PostgreSQL through `proxy`, NLU engine rasa
    with an unreachable server."""
    proxy: BotProcess

    @property
    def bots(self) -> list[BotProcess]:
        return [self.a, self.b, self.scheduler, self.edge]


@contextlib.asynccontextmanager
async def started(*processes: BotProcess) -> AsyncIterator[None]:
    """Start the processes, wait until all answer, always stop them (printing their logs)."""
    try:
        for process in processes:
            process.start()
        await asyncio.gather(*(process.wait_ready() for process in processes))
        yield
    finally:
        stop_all(processes)


def stop_all(processes: Sequence[BotProcess]) -> None:
    """SIGTERM everything at once, then wait (SIGKILL stragglers); print the logs' tails."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait_or_kill()
    for process in processes:
        print(f"----- {process.name} log (tail) -----\n{process.tail(3000)}")  # noqa: T201


@contextlib.contextmanager
def running(*processes: BotProcess) -> Iterator[None]:
    """`started` for synchronous (module-scoped) fixtures."""
    try:
        for process in processes:
            process.start()

        async def ready() -> None:
            await asyncio.gather(*(process.wait_ready() for process in processes))

        asyncio.run(ready())
        yield
    finally:
        stop_all(processes)


async def eventually(
    probe: Callable[[], Awaitable[_T | None]], *, within: float = 20.0, what: str = "condition"
) -> _T:
    """Poll `probe` until it returns something other than None/False (an event, not a sleep)."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.1)


def signed_callback(
    openid: str,
    msgtype: str,
    fields: list[tuple[str, XmlValue]],
    *,
    msg_id: int,
) -> tuple[dict[str, str], bytes]:
    """A plaintext-mode WeChat message callback exactly as the platform signs it."""
    xml = build_xml(
        [
            ("ToUserName", ORIGINAL_ID),
            ("FromUserName", openid),
            ("CreateTime", int(time.time())),
            ("MsgType", msgtype),
            *fields,
            ("MsgId", msg_id),
        ]
    )
    timestamp = str(int(time.time()))
    nonce = str(secrets.randbelow(10**10))
    params = {
        "signature": signature(WECHAT_TOKEN, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": openid,
    }
    return params, xml.encode("utf-8")


def text_callback(openid: str, content: str, *, msg_id: int) -> tuple[dict[str, str], bytes]:
    return signed_callback(openid, "text", [("Content", content)], msg_id=msg_id)


def image_callback(openid: str, *, msg_id: int) -> tuple[dict[str, str], bytes]:
    media_id = f"cluster-photo-{msg_id}"
    fields: list[tuple[str, XmlValue]] = [
        ("PicUrl", f"http://127.0.0.1:9/{media_id}.png"),
        ("MediaId", media_id),
    ]
    return signed_callback(openid, "image", fields, msg_id=msg_id)


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    status: int
    body: str
    elapsed: float


async def post_callback(
    http: aiohttp.ClientSession, gateway: BotProcess, request: tuple[dict[str, str], bytes]
) -> CallbackAnswer:
    """POST a signed callback to one worker with WeChat's 5 s timeout; time the answer."""
    params, body = request
    started = time.monotonic()
    async with http.post(
        gateway.url + "/wechat",
        params=params,
        data=body,
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=aiohttp.ClientTimeout(total=5),
    ) as response:
        text = await response.text()
        return CallbackAnswer(response.status, text, time.monotonic() - started)


def reply_content(answer: CallbackAnswer) -> str:
    """The passive reply's text ('' for `success` or an empty answer)."""
    if answer.body.strip() in ("", "success"):
        return ""
    match = re.search(r"<Content><!\[CDATA\[(.*?)\]\]></Content>", answer.body, re.S)
    return match.group(1) if match else answer.body


class SimulatorClient:
    """The simulator's control API over HTTP."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self._http = http
        self.url = url

    async def get(self, path: str, **params: Any) -> Any:
        async with self._http.get(self.url + path, params=params) as response:
            return await response.json()

    async def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        async with self._http.post(self.url + path, json=dict(body or {})) as response:
            return await response.json()

    async def resident(self, openid: str) -> None:
        await self.post("/sim/api/residents", {"openid": openid, "nickname": openid[-6:]})

    async def say(self, openid: str, text: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.post(
            f"/sim/api/residents/{openid}/messages", {"type": "text", "content": text}
        )
        return result

    async def scan(self, openid: str, scene: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.post(
            f"/sim/api/residents/{openid}/scan", {"scene": scene}
        )
        return result

    async def inbox(self, openid: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.get(f"/sim/api/residents/{openid}/inbox")
        return result

    async def staff_messages(self, userid: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.get(f"/sim/api/wecom/users/{userid}/messages")
        return result

    async def group_messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        for group in await self.get("/sim/api/wecom/groups"):
            messages += await self.get(f"/sim/api/wecom/groups/{group['chatid']}/messages")
        return messages

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.get("/sim/api/stats")
        return result

    async def faults(self, **modes: str) -> None:
        await self.post("/sim/api/faults", modes)


def passive_text(report: Mapping[str, Any]) -> str:
    """The passive reply's text in a simulator report ('' when the bot answered success)."""
    reply = report.get("passive_reply") or {}
    return str(reply.get("content") or "")


MSG_IDS = itertools.count(8_100_000_000)
"""Message ids of the callbacks the tests sign themselves (far from the simulator's)."""
TICKET_RE = re.compile(r"工单号：(\d{8}-\d{4})")
STAFF_ID, STAFF_USER = "S-0101", "tsering"
"""A grid head of the demo community and their WeCom account."""


async def petitions_of(db: async_sessionmaker[AsyncSession], openid: str) -> list[Petition]:
    async with db() as session:
        rows = await session.scalars(select(Petition).where(Petition.resident_openid == openid))
        return list(rows.all())


async def start_draft(sim: SimulatorClient, openid: str, point: str = "GP-0101") -> None:
    """Scan a grid point's report code: the petition form is waiting for a description."""
    await sim.resident(openid)
    scanned = await sim.scan(openid, f"report:{point}")
    assert "您正在" in str(scanned["passive_reply"]), scanned


async def all_sent(db: async_sessionmaker[AsyncSession], keys: list[str]) -> bool:
    async with db() as session:
        statuses = (
            await session.scalars(
                select(OutboxMessage.status).where(OutboxMessage.idempotency_key.in_(keys))
            )
        ).all()
    assert OutboxStatus.DEAD not in statuses
    return len(statuses) == len(keys) and all(s == OutboxStatus.SENT for s in statuses)


async def enqueue_rows(
    db: async_sessionmaker[AsyncSession], tag: str, openid: str, *, count: int
) -> list[str]:
    """`count` resident texts and `count` staff texts, in one transaction."""
    now = SystemClock().now()
    keys: list[str] = []
    async with db() as session, session.begin():
        for index in range(count):
            for channel, recipient in (
                (OutboxChannel.RESIDENT, openid),
                (OutboxChannel.STAFF, STAFF_ID),
            ):
                key = f"cluster:{tag}:{channel}:{index}"
                enqueue(
                    session,
                    channel=channel,
                    recipient=recipient,
                    payload={"text": f"{tag}-{channel}-{index:03d}"},
                    idempotency_key=key,
                    now=now,
                )
                keys.append(key)
    return keys


async def file_petition(sim: SimulatorClient, openid: str) -> str:
    """A whole QR report through the simulator → the ticket number."""
    await start_draft(sim, openid)
    await sim.say(openid, "院门口的下水道堵了污水流到路上")
    await sim.say(openid, "跳过")
    done = await sim.say(openid, "1")
    found = TICKET_RE.search(str(done["passive_reply"]))
    assert found, done
    return found.group(1)


async def wecom_entries(sim: SimulatorClient) -> list[dict[str, Any]]:
    """Every message the app posted to staff (1:1) or to groups."""
    entries = await sim.group_messages()
    for user in await sim.get("/sim/api/wecom/users"):
        entries += [m for m in await sim.staff_messages(user) if m.get("direction") == "from_app"]
    return entries
