"""Shared fixtures. Database: a fresh, migrated database per test, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from storage.database import Database
from storage.migrate import upgrade_database

PG_URL_ENV = "TRANSFERBOT_TEST_PG_URL"


@pytest.fixture(autouse=True)
def _our_log_handler_ends_with_the_test() -> Iterator[None]:
    """A test that runs the CLI in-process gets its log handler (``configure_logging``) put
    on pytest's captured stderr, which is closed after the test; left in place, every later
    record in the session would print a "Logging error" traceback into failure reports."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in [h for h in root.handlers if getattr(h, "_transferbot", False)]:
        root.removeHandler(handler)
    root.setLevel(level)


def _postgres_base_url() -> str:
    """The test PostgreSQL's URL; skips without one, but fails in CI (CI=true)."""
    url = os.environ.get(PG_URL_ENV, "").strip()
    if not url:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"{PG_URL_ENV} is not set: CI must run the PostgreSQL tests")
        pytest.skip(f"{PG_URL_ENV} is not set")
    return url


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """An empty PostgreSQL database: a fresh schema (dropped afterwards) on the search_path."""
    base = _postgres_base_url()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    # a fresh connection each time: the schema is still dropped after a test restarted the server
    admin = create_async_engine(
        make_url(base).set(drivername="postgresql+psycopg"), poolclass=NullPool
    )
    try:
        async with admin.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        await admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    """An empty SQLite database: a file that does not exist yet."""
    return f"sqlite+aiosqlite:///{tmp_path}/transferbot.sqlite3"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database, once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@asynccontextmanager
async def migrated(url: str) -> AsyncIterator[Database]:
    """The database at ``url``, upgraded through the real migrations; disposed at the end."""
    await upgrade_database(url)
    database = Database(url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database on each backend, through the real migrations."""
    async with migrated(database_url) as database:
        yield database


@pytest.fixture
async def sqlite_db(sqlite_url: str) -> AsyncIterator[Database]:
    """A migrated SQLite database only (for tests that read the file itself)."""
    async with migrated(sqlite_url) as database:
        yield database
