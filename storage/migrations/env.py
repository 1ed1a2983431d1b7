"""Alembic environment: our models' metadata, run on a connection we hand in (async engine)."""

from __future__ import annotations

import asyncio
import logging
import os

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401 - registers the tables on SQLModel.metadata
from storage.database import DEFAULT_DATABASE_URL, create_engine

logger = logging.getLogger(__name__)

config = context.config
target_metadata = SQLModel.metadata


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=True,  # SQLite can't ALTER most things; batch mode copies the table
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_command_line() -> None:
    """`alembic -c storage/migrations/alembic.ini ...` for developers (revision --autogenerate)."""
    url = os.environ.get("TRANSFERBOT_DATABASE_URL") or DEFAULT_DATABASE_URL
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_on)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=os.environ.get("TRANSFERBOT_DATABASE_URL") or DEFAULT_DATABASE_URL,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()
elif (handed_in := config.attributes.get("connection")) is not None:
    _run_on(handed_in)
else:
    asyncio.run(_run_from_command_line())
