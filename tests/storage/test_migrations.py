"""Migrations: from empty to head on SQLite and PostgreSQL, matching the models exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import storage.models  # noqa: F401 - the tables
from storage.database import Database, create_engine
from storage.errors import DatabaseUnavailable
from storage.migrate import (
    current_revision,
    downgrade_engine,
    head_revision,
    upgrade_database,
    upgrade_engine,
)

TABLES = {
    "tracked_transfers",
    "transfer_events",
    "action_requests",
    "request_secrets",
    "alerts",
    "account_health",
    "audit_log",
    "seen_signatures",
    "followups",
    "change_feeds",
    "seen_changes",
}


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def _pending_autogenerate_diff(engine: AsyncEngine) -> list[object]:
    def diff(sync: Connection) -> list[object]:
        context = MigrationContext.configure(sync, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))

    async with engine.connect() as connection:
        return await connection.run_sync(diff)


async def test_upgrade_from_empty_reaches_head_and_matches_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert await _tables(engine) == set()
        await upgrade_database(database_url)
        assert await _tables(engine) == TABLES | {"alembic_version"}
        assert await current_revision(engine) == head_revision()
        assert await _pending_autogenerate_diff(engine) == []
    finally:
        await engine.dispose()


async def test_upgrade_twice_is_harmless_and_downgrade_empties(database_url: str) -> None:
    await upgrade_database(database_url)
    await upgrade_database(database_url)
    db = Database(database_url)
    try:
        await downgrade_engine(db.engine, "base")
        assert await _tables(db.engine) == {"alembic_version"}
        assert await current_revision(db.engine) is None
        await upgrade_engine(db.engine)
        assert await _tables(db.engine) == TABLES | {"alembic_version"}
    finally:
        await db.dispose()


async def test_a_new_sqlite_file_is_created_with_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "not" / "there" / "bot.sqlite3"
    await upgrade_database(f"sqlite:///{path}")  # plain sqlite: gets the async driver
    assert path.exists()
    async with Database(f"sqlite:///{path}") as db:
        assert await current_revision(db.engine) == head_revision()


async def test_an_unreachable_database_is_one_sentence_without_the_password() -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        await upgrade_database("postgresql://bot:hunter2secret@127.0.0.1:1/transferbot")
    message = caught.value.message
    assert "hunter2secret" not in message
    assert message.startswith("The database at postgresql+psycopg://bot:***@127.0.0.1:1/")
    assert message.endswith(".") and "\n" not in message


def test_an_unknown_driver_is_refused_in_words() -> None:
    with pytest.raises(DatabaseUnavailable, match="not supported"):
        Database("mysql://bot:pw@localhost/transferbot")
