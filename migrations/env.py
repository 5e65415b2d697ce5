"""Alembic environment: URL from the bot's Settings (or `-x url=…`), models from every package."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import bot.dialogue.models  # noqa: F401  (registers the conversation table)
import governance.bookings.models
import governance.calendar
import governance.console.models
import governance.directory.models
import governance.kv
import governance.outbox.models
import governance.petitions.models
import governance.policies.models  # noqa: F401
from governance.db import Base, create_engine

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if url:
        return url
    from bot.settings import Settings

    return Settings().database.url


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = create_engine(database_url(), command_timeout=None)
    async with engine.connect() as connection:
        await connection.run_sync(run_migrations)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_online())
