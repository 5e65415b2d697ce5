"""Shared fixtures: real databases (SQLite always, PostgreSQL when configured), migrations run
once per session, the demo community seeded per test, and one trained embedded NLU model.

PostgreSQL runs when MINQING_TEST_POSTGRES_URL is set (`make test` sets it; CI must have it).
When it is set but the server does not answer, the tests fail rather than skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cli import upgrade_database
from bot.settings import PROJECT_ROOT, Settings
from governance.clock import ManualClock
from governance.db import Base, create_engine, create_session_factory
from governance.seed import seed_demo
from nlu.embedded import EmbeddedEngine, load_or_train

POSTGRES_URL = os.environ.get("MINQING_TEST_POSTGRES_URL")
NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
"""10:00 in Lhasa on Sunday 2026-11-22."""


def _backends() -> list[object]:
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrations run once, as in CI)."""
    path = tmp_path_factory.mktemp("db") / "template.db"
    upgrade_database(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    if not POSTGRES_URL:
        pytest.skip("MINQING_TEST_POSTGRES_URL not set (make test sets it)")

    async def reset_schema() -> None:
        engine = create_engine(POSTGRES_URL)
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(reset_schema())
    upgrade_database(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture(params=_backends())
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "minqing.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_migrated")
    yield url


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on a freshly seeded database (PostgreSQL tables emptied first)."""
    engine = create_engine(database_url)
    if engine.dialect.name == "postgresql":
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        await seed_demo(session, PROJECT_ROOT / "data")
    yield factory
    await engine.dispose()


@pytest.fixture(scope="session")
def nlu_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nlu")


@pytest.fixture(scope="session")
def embedded_nlu(nlu_model_dir: Path) -> EmbeddedEngine:
    """The real embedded engine trained on data/nlu once per test session."""
    return load_or_train(PROJECT_ROOT / "data" / "nlu", nlu_model_dir)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def settings(database_url: str, nlu_model_dir: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        database={"url": database_url},
        nlu={"model_dir": nlu_model_dir},
        scheduler={"enabled": False},
    )


@contextlib.contextmanager
def recorded_statements(sessions: async_sessionmaker[AsyncSession]) -> Iterator[list[str]]:
    """The start of every SQL statement the engine sends meanwhile, prefixed with "(tx)" when
    it runs inside a transaction (a BEGIN and a COMMIT round trip more)."""
    engine = sessions.kw["bind"].sync_engine
    seen: list[str] = []

    def on_execute(connection: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        autocommit = connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        seen.append(("" if autocommit else "(tx) ") + " ".join(statement.split()[:3]))

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
