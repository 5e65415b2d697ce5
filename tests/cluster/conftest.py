"""Fixtures of the cluster and chaos suites: a real PostgreSQL database and Redis DB of their own,
migrated and seeded once per module, and helpers that start bot processes on them.

Defaults: database `cluster` on 127.0.0.1:5432 (created when missing) and Redis DB 9;
override with MINQING_CLUSTER_POSTGRES_URL / MINQING_CLUSTER_REDIS_URL. The suites skip, with
the reason, only when one of the two servers does not answer.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import unused_port
from clusterharness import BotProcess, Cluster, ClusterConfig, SimulatorClient, running, stop_all
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from bot.cli import upgrade_database
from bot.settings import PROJECT_ROOT
from governance.db import Base, create_engine, create_session_factory
from governance.seed import seed_demo
from nlu.embedded import EmbeddedEngine

POSTGRES_URL = os.environ.get(
    "MINQING_CLUSTER_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/cluster"
)
REDIS_URL = os.environ.get("MINQING_CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/9")
SHARED_DATABASES = frozenset({"test", "ciclone", "postgres"})
SHARED_REDIS_DBS = frozenset({"14", "15"})


def _guard_shared_servers() -> None:
    """Never drop a schema or flush a Redis DB that other runs use."""
    database = make_url(POSTGRES_URL).database or ""
    if database in SHARED_DATABASES:
        raise pytest.UsageError(f"the cluster suite must not use the database {database!r}")
    if REDIS_URL.rstrip("/").rsplit("/", 1)[-1] in SHARED_REDIS_DBS:
        raise pytest.UsageError(f"the cluster suite must not use Redis {REDIS_URL}")


async def _prepare_postgres() -> None:
    url = make_url(POSTGRES_URL)
    server = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with server.connect() as connection:
            exists = await connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
            )
            if not exists:
                await connection.execute(text(f'CREATE DATABASE "{url.database}"'))
    finally:
        await server.dispose()
    engine = create_engine(POSTGRES_URL)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def _ping_redis() -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        await asyncio.wait_for(redis.ping(), 5)
    finally:
        await redis.aclose()


@pytest.fixture(scope="session")
def cluster_database() -> str:
    """The cluster's own database, migrated once per session (skips when a server is absent)."""
    _guard_shared_servers()
    try:
        asyncio.run(_ping_redis())
    except (OSError, TimeoutError) as error:
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {error}")
    try:
        asyncio.run(asyncio.wait_for(_prepare_postgres(), 10))
    except (OSError, TimeoutError, OperationalError, InterfaceError) as error:
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is not reachable: {error}")
    upgrade_database(POSTGRES_URL)
    return POSTGRES_URL


async def reset_state(database_url: str) -> None:
    """Empty every table, seed the demo community, and flush the cluster's Redis DB."""
    engine = create_engine(database_url)
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    async with create_session_factory(engine)() as session, session.begin():
        await seed_demo(session, PROJECT_ROOT / "data")
    await engine.dispose()
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


def _log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MINQING_CLUSTER_LOG_DIR keeps the processes' logs after the run (CI artefacts)."""
    wanted = os.environ.get("MINQING_CLUSTER_LOG_DIR")
    if not wanted:
        return tmp_path_factory.mktemp("cluster-logs")
    path = Path(wanted)
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.log"):
        old.unlink()
    return path


@pytest.fixture(scope="session")
def cluster_config(
    cluster_database: str,
    nlu_model_dir: Path,
    embedded_nlu: EmbeddedEngine,
    tmp_path_factory: pytest.TempPathFactory,
) -> ClusterConfig:
    """A fresh seeded database and an empty Redis DB for the cluster's processes."""
    asyncio.run(reset_state(cluster_database))
    return ClusterConfig(
        database_url=cluster_database,
        redis_url=REDIS_URL,
        nlu_model_dir=nlu_model_dir,
        log_dir=_log_dir(tmp_path_factory),
    )


@pytest.fixture(scope="session")
def cluster(cluster_config: ClusterConfig) -> Iterator[Cluster]:
    """Gateways A and B, scheduler 1, and `edge` (a second scheduler-enabled gateway whose
    database goes through a TCP proxy and whose Rasa server is down), plus the simulator
    posting residents' messages to A. Shared by both suites: process start-up is the slow part.
    """
    config = cluster_config
    proxy = config.db_proxy()
    a = config.gateway("gateway-a")
    b = config.gateway("gateway-b")
    scheduler = config.gateway("scheduler-1", scheduler=True)
    edge = config.gateway(
        "edge",
        scheduler=True,
        DATABASE__URL=config.proxied_database_url(proxy),
        NLU__ENGINE="rasa",
        NLU__RASA_URL=f"http://127.0.0.1:{unused_port()}",
    )
    simulator = config.simulator(a.port)
    _ACTIVE[:] = [simulator, a, b, scheduler, edge, proxy]
    try:
        proxy.start()
        asyncio.run(proxy.wait_ready())
        with running(simulator, a, b, scheduler, edge):
            yield Cluster(config, simulator, a, b, scheduler, edge, proxy)
    finally:
        stop_all([proxy])
        _ACTIVE.clear()


_ACTIVE: list[BotProcess] = []
"""The shared cluster's processes while they run."""


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the cluster right after the last test under tests/cluster, not at the end of the
    whole session: idle, its five processes would still slow down the rest of the suite."""
    if not _ACTIVE:
        return
    here = Path(__file__).parent
    if nextitem is None or here not in Path(nextitem.path).parents:
        stop_all(_ACTIVE)
        _ACTIVE.clear()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def sim(http: aiohttp.ClientSession, cluster: Cluster) -> SimulatorClient:
    return SimulatorClient(http, cluster.config.simulator_url)


@pytest.fixture
async def db(cluster: Cluster) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on the cluster's database (direct, not through the proxy)."""
    engine = create_engine(cluster.config.database_url)
    yield create_session_factory(engine)
    await engine.dispose()
