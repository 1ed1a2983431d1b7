"""Schema migrations with Alembic, configured in code: `transferbot db upgrade` and first start."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import create_engine, describe_url
from storage.errors import DatabaseUnavailable

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "downgrade_engine",
    "head_revision",
    "upgrade_database",
    "upgrade_engine",
]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x7472_616E_7366  # "transf": one replica migrates at a time


def alembic_config() -> Config:
    """Alembic's configuration without any alembic.ini: our packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade_database(url: str | URL) -> None:
    """Bring the database at ``url`` to the newest schema; a new SQLite file is created.

    Raises DatabaseUnavailable (with a sentence to show) when the database can't be reached.
    """
    engine = create_engine(url)
    try:
        await upgrade_engine(engine)
    finally:
        await engine.dispose()


async def upgrade_engine(engine: AsyncEngine, revision: str = "head") -> None:
    await _run(engine, "upgrade", revision)


async def downgrade_engine(engine: AsyncEngine, revision: str = "base") -> None:
    await _run(engine, "downgrade", revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def _run(engine: AsyncEngine, direction: str, revision: str) -> None:
    where = describe_url(engine.url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate, direction, revision)
            await connection.commit()
    except OperationalError as exc:
        logger.error("migrating %s failed: %s", where, exc.orig)
        raise DatabaseUnavailable(
            f"The database at {where} can't be opened or migrated: {_reason(exc)}"
        ) from exc
    logger.info("database %s: %s to %s done", where, direction, revision)


def _migrate(connection: Connection, direction: str, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        # Replicas starting together: the first migrates, the others wait and find it done.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    config = alembic_config()
    config.attributes["connection"] = connection
    if direction == "upgrade":
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)


def _reason(exc: OperationalError) -> str:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unknown error"
    return reason.rstrip(".") + "."
