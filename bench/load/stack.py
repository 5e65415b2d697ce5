"""Real gateway processes for the benchmark: database preparation, start/stop, /proc sampling,
py-spy profiles and the petition count used to find lost petitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.load.corpus import ROOT
from governance.db import create_engine

FORBIDDEN_DATABASES = frozenset({"test", "ciclone"})
FORBIDDEN_REDIS_DBS = frozenset({"14", "15"})
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    """`uptime`'s load averages (the machine is shared: every result carries them)."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent not idle (``/proc/stat``): gateways, the
    generator, PostgreSQL, Redis and anything else running."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def _proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _proc_status_number(pid: int, name: str) -> int:
    """A numeric field of /proc/<pid>/status (sizes in KiB, counts as they are)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


@dataclass
class GatewayProcess:
    """One `python -m bot.cli serve` child."""

    role: str
    port: int
    process: subprocess.Popen[bytes]
    cpu_at_start: float = 0.0
    peak_rss_kib: int = 0
    switches_at_start: int = 0

    @property
    def url(self) -> str:
        """The WeChat callback URL."""
        return f"http://127.0.0.1:{self.port}/wechat"

    def begin_window(self) -> None:
        """Start measuring CPU and peak RSS for one run."""
        self.cpu_at_start = _proc_cpu_seconds(self.process.pid)
        self.peak_rss_kib = _proc_status_number(self.process.pid, "VmRSS")
        self.switches_at_start = self._context_switches()

    def _context_switches(self) -> int:
        """The event-loop thread's context switches: about two per socket round trip it waits
        for (a wake-up of Redis or PostgreSQL, then its own), whatever the machine's speed."""
        pid = self.process.pid
        return _proc_status_number(pid, "voluntary_ctxt_switches") + _proc_status_number(
            pid, "nonvoluntary_ctxt_switches"
        )

    def sample(self) -> None:
        """Update the peak RSS seen during the run."""
        with contextlib.suppress(OSError):
            self.peak_rss_kib = max(
                self.peak_rss_kib, _proc_status_number(self.process.pid, "VmRSS")
            )

    def window(self, seconds: float) -> dict[str, Any]:
        """CPU use (share of one core) and peak RSS over the run."""
        cpu = _proc_cpu_seconds(self.process.pid) - self.cpu_at_start
        return {
            "role": self.role,
            "cpu_core_share": round(cpu / seconds, 2),
            "cpu_seconds": round(cpu, 1),
            "peak_rss_mib": round(self.peak_rss_kib / 1024, 1),
            "vm_hwm_mib": round(_proc_status_number(self.process.pid, "VmHWM") / 1024, 1),
            "context_switches": self._context_switches() - self.switches_at_start,
        }


@dataclass
class Setup:
    """A deployment shape: database, Redis, gateway workers, scheduler process."""

    name: str
    database_url: str
    redis_url: str | None = None
    workers: int = 1
    separate_scheduler: bool = False
    aes_key: str | None = None
    base_port: int = 18180
    log_dir: Path = ROOT / "var" / "loadbench"
    processes: list[GatewayProcess] = field(default_factory=list)

    def check_safe(self) -> None:
        """Never touch databases other runs use (tests drop their schemas)."""
        url = make_url(self.database_url)
        if url.get_backend_name() == "postgresql" and url.database in FORBIDDEN_DATABASES:
            raise SystemExit(f"refusing to use the shared database {url.database!r}")
        if self.redis_url and self.redis_url.rstrip("/").rsplit("/", 1)[-1] in FORBIDDEN_REDIS_DBS:
            raise SystemExit("refusing to use Redis DB 14 or 15")

    def env(self, simulator_url: str, *, scheduler: bool) -> dict[str, str]:
        """The gateway's environment: this setup pointed at the in-process simulator."""
        env = dict(os.environ)
        env.update(
            {
                "ENVIRONMENT": "dev",
                "DATABASE__URL": self.database_url,
                "WECHAT__API_BASE_URL": simulator_url,
                "WECOM__API_BASE_URL": f"{simulator_url}/wecom",
                "SCHEDULER__ENABLED": "true" if scheduler else "false",
                "VOICE__ASR": "none",
                # As in docker/compose.yml: nginx writes the access log, not the gateway.
                "LOGGING__ACCESS_LOG": "false",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.redis_url:
            env["REDIS__URL"] = self.redis_url
        if self.aes_key:
            env["WECHAT__AES_KEY"] = self.aes_key
        return env

    async def prepare_database(self) -> None:
        """A fresh schema (SQLite file removed; PostgreSQL public schema recreated), seeded."""
        self.check_safe()
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite" and url.database:
            _remove_sqlite_files(Path(url.database))
        else:
            await _reset_schema(self.database_url)
        env = self.env("http://127.0.0.1:9", scheduler=False)
        for command in (["db", "upgrade"], ["seed", "demo"]):
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", *command,
                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            if await child.wait():
                raise RuntimeError(f"minqing {' '.join(command)} failed")
        if self.redis_url:
            client = Redis.from_url(self.redis_url)
            await client.flushdb()
            await client.aclose()

    async def redis_counters(self) -> tuple[int, int] | None:
        """Redis's commands processed and socket reads (one per request it received, however
        many pipelined commands it carried) so far; None without Redis."""
        if not self.redis_url:
            return None
        client = Redis.from_url(self.redis_url)
        try:
            stats = await client.info("stats")
        finally:
            await client.aclose()
        return int(stats["total_commands_processed"]), int(stats["total_reads_processed"])

    async def start(self, simulator_url: str) -> None:
        """Start the workers (and the scheduler process) and wait for /healthz."""
        roles = [f"gateway{i + 1}" for i in range(self.workers)]
        if self.separate_scheduler:
            roles.append("scheduler")
        for offset, role in enumerate(roles):
            self._spawn(role, self.base_port + offset, simulator_url)
        async with aiohttp.ClientSession() as http:
            for gateway in self.processes:
                await _wait_healthy(http, gateway)

    def _spawn(self, role: str, port: int, simulator_url: str) -> None:
        """One serve process; its output goes to var/loadbench/<setup>-<role>.log."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        scheduler = role == "scheduler" or not self.separate_scheduler
        with (self.log_dir / f"{self.name}-{role}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
                env=self.env(simulator_url, scheduler=scheduler),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(GatewayProcess(role, port, process))

    @property
    def gateways(self) -> list[GatewayProcess]:
        """The processes that receive callbacks (not the scheduler)."""
        return [p for p in self.processes if p.role != "scheduler"]

    def stop(self) -> None:
        """SIGINT (aiohttp shuts down cleanly), then SIGKILL after 10 s."""
        for gateway in self.processes:
            if gateway.process.poll() is None:
                gateway.process.send_signal(signal.SIGINT)
        for gateway in self.processes:
            try:
                gateway.process.wait(10)
            except subprocess.TimeoutExpired:
                gateway.process.kill()
        self.processes.clear()


def _remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)


async def _wait_healthy(http: aiohttp.ClientSession, gateway: GatewayProcess) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if gateway.process.poll() is not None:
            raise RuntimeError(f"{gateway.role} exited; see var/loadbench/*-{gateway.role}.log")
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with http.get(f"http://127.0.0.1:{gateway.port}/healthz") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"{gateway.role} not healthy after 120 s")


async def _reset_schema(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def petitions_in_database(url: str, openid_prefix: str) -> set[str]:
    """Ticket numbers of the petitions filed by this run's residents."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT ticket_no FROM petition_petition WHERE resident_openid LIKE :p"),
                {"p": openid_prefix + "%"},
            )
            return {str(row[0]) for row in rows}
    finally:
        await engine.dispose()


class Profiler:
    """`py-spy record --format raw` on each gateway during one run, summarised afterwards."""

    def __init__(self, out_dir: Path) -> None:
        self._out_dir = out_dir
        self._children: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, gateways: list[GatewayProcess], seconds: float, label: str) -> None:
        """Sample every gateway for `seconds` (py-spy runs next to the process, not inside)."""
        self._out_dir.mkdir(parents=True, exist_ok=True)
        py_spy = Path(sys.executable).with_name("py-spy")
        for gateway in gateways:
            out = self._out_dir / f"{label}-{gateway.role}.txt"
            child = subprocess.Popen(
                [
                    str(py_spy), "record", "--pid", str(gateway.process.pid), "--duration",
                    str(int(seconds)), "--rate", "100", "--format", "raw", "--nonblocking",
                    "--gil", "-o", str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            self._children.append((child, out))

    def finish(self, top: int = 15) -> dict[str, Any]:
        """Top functions by own samples and by inclusive samples, over all gateways."""
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        total = 0
        for child, out in self._children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(60)
            if not out.exists():
                continue
            for line in out.read_text(errors="replace").splitlines():
                stack, _, count_text = line.rpartition(" ")
                if not stack or not count_text.isdigit():
                    continue
                count = int(count_text)
                frames = stack.split(";")
                total += count
                own[frames[-1]] += count
                for frame in set(frames):
                    inclusive[frame] += count
        self._children.clear()

        def share(counter: Counter[str]) -> list[tuple[str, float]]:
            return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

        return {"samples": total, "own": share(own), "inclusive": share(inclusive)}
