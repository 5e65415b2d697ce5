"""SQLAlchemy base, the aware-datetime column type and engine/session factories."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always returns them aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UtcDateTime()}  # noqa: RUF012


def create_engine(
    url: str,
    *,
    echo: bool = False,
    command_timeout: float | None = 15.0,
    pool_size: int = 20,
    max_overflow: int = 10,
) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout so workers share it.

    On PostgreSQL a statement longer than `command_timeout` seconds fails (None: no limit, for
    migrations)."""
    if url.startswith("sqlite"):
        # aiosqlite's DEBUG records carry statement parameters (cached access tokens, console
        # session tokens): never let them reach a log, whatever the root level.
        logging.getLogger("aiosqlite").setLevel(logging.WARNING)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(
        url,
        echo=echo,
        # No pool_pre_ping: it costs a round trip per checkout. After a server restart the
        # first statement on a dead connection fails (that turn answers "please retry") and
        # SQLAlchemy then invalidates every older pooled connection.
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=5,
        # An unreachable server must fail a turn within seconds (WeChat waits 5 s), not hold
        # the resident's lock for asyncpg's default 60 s connect timeout.
        connect_args={"timeout": 3, "command_timeout": command_timeout}
        if "asyncpg" in url
        else {},
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def autocommit_engine(sessions: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    """The sessions' engine (same pool) with every statement committing by itself."""
    engine: AsyncEngine = sessions.kw["bind"]
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def autocommit_sessions(
    sessions: async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    """Sessions on the same engine whose every statement commits by itself: one-statement reads
    and writes on a message's path then skip the BEGIN and COMMIT round trips."""
    return async_sessionmaker(autocommit_engine(sessions), expire_on_commit=False)


def dialect_name(session: AsyncSession) -> str:
    """The dialect name ("sqlite", "postgresql"): picks the INSERT … ON CONFLICT construct."""
    return session.get_bind().dialect.name
