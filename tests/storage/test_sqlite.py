"""SQLite's file: a new one announced, a lost one never quietly replaced; its writers in turn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlmodel import col

from storage.database import Database, urgent_units
from storage.errors import DatabaseUnavailable
from storage.migrate import upgrade_database
from storage.models import TrackedTransfer
from storage.sqlite import FILE_CHECK_SECONDS, LOST
from storage.transfers import watch_transfer
from tests.storage.samples import hostway_blocked


def _marker(path: Path) -> Path:
    return path.with_name(f".{path.name}.created")


async def test_a_new_database_is_announced_loudly_and_marked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bot.sqlite3"
    caplog.set_level(logging.WARNING)

    await upgrade_database(f"sqlite+aiosqlite:///{path}")

    said = f"creating a new, empty database at {path}"
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [said]
    assert said in capsys.readouterr().err
    assert _marker(path).exists() and path.name in _marker(path).read_text()


async def test_a_missing_database_whose_marker_is_there_is_refused_not_recreated(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bot.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_database(url)
    path.unlink()

    with pytest.raises(DatabaseUnavailable) as refused:
        await upgrade_database(url)
    async with Database(url) as db:
        with pytest.raises(DatabaseUnavailable):
            async with db.session():
                pass

    assert refused.value.message == (
        f"The database file {path} is missing or empty, but {_marker(path).name} beside it "
        "shows the bot kept its database there; restore the file from a backup, or delete "
        f"{_marker(path).name} to start with an empty database."
    )
    assert not path.exists()
    _marker(path).unlink()  # what the sentence says to do for a fresh start
    await upgrade_database(url)
    assert path.exists()


async def test_a_write_ahead_log_left_by_a_crash_is_evidence_too(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_database(url)
    wal = path.with_name(f"{path.name}-wal")
    async with Database(url) as db:
        async with db.session() as session:
            await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1")
        kept = wal.read_bytes()  # what a kill -9 would leave behind; a clean close removes it
    path.unlink()
    _marker(path).unlink()
    wal.write_bytes(kept)

    with pytest.raises(DatabaseUnavailable) as refused:
        await upgrade_database(url)

    assert wal.name in refused.value.message and "restore" in refused.value.message
    assert not path.exists()


async def test_an_existing_database_without_a_marker_gets_one_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "bot.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_database(url)
    _marker(path).unlink()  # a database made before markers
    caplog.set_level(logging.WARNING)
    caplog.clear()

    async with Database(url) as db:
        await db.ping()

    assert _marker(path).exists()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_file_replaced_under_the_bot_is_refused(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    path = Path(sqlite_db.url.database or "")
    async with sqlite_db.session() as session:
        await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1")
    copy = path.with_name("copy.sqlite3")
    shutil.copyfile(path, copy)
    os.replace(copy, path)  # same name, another file: what a careless restore does
    await asyncio.sleep(FILE_CHECK_SECONDS)
    caplog.set_level(logging.ERROR)

    with pytest.raises(DatabaseUnavailable) as refused:
        async with sqlite_db.session() as session:
            await session.execute(select(func.count()).select_from(TrackedTransfer))

    assert refused.value.message == LOST
    assert any("replaced" in r.getMessage() for r in caplog.records)


async def test_fifty_units_that_read_then_write_all_commit(sqlite_db: Database) -> None:
    """Each reads first (as recording a poll does), then writes; in SQLite's default deferred
    transactions one of two such units fails with "database is locked" at once."""
    async with sqlite_db.session() as session:
        row = (await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1")).transfer

    async def bump() -> None:
        async with sqlite_db.session() as session:
            errors = await session.scalar(
                select(col(TrackedTransfer.consecutive_errors)).where(
                    col(TrackedTransfer.id) == row.id
                )
            )
            await asyncio.sleep(0)  # another unit runs here
            await session.execute(
                update(TrackedTransfer)
                .where(col(TrackedTransfer.id) == row.id)
                .values(consecutive_errors=(errors or 0) + 1)
            )

    outcomes = await asyncio.gather(*(bump() for _ in range(50)), return_exceptions=True)

    assert [o for o in outcomes if o is not None] == []
    async with sqlite_db.session() as session:
        errors = await session.scalar(
            select(col(TrackedTransfer.consecutive_errors)).where(col(TrackedTransfer.id) == row.id)
        )
    assert errors == 50  # and none was lost: each read saw the one before it


async def test_a_decisions_units_go_before_a_queue_of_ordinary_ones(sqlite_db: Database) -> None:
    """SQLite's one writer hands its turn to urgent units (a person's decision, a signature
    an ack waits for) before ordinary ones queued earlier; each kind in arrival order."""
    order: list[str] = []
    holding, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with sqlite_db.session():
            holding.set()
            await release.wait()

    async def unit(name: str, urgent: bool) -> None:
        with urgent_units() if urgent else contextlib.nullcontext():
            async with sqlite_db.session() as session:
                await session.execute(select(func.count()).select_from(TrackedTransfer))
                order.append(name)

    first = asyncio.create_task(holder())
    await holding.wait()
    waiting = [asyncio.create_task(unit(f"command {n}", urgent=False)) for n in range(3)]
    await asyncio.sleep(0.05)  # queued behind the holder
    waiting += [asyncio.create_task(unit(f"decision {n}", urgent=True)) for n in range(2)]
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.gather(first, *waiting)
    assert order == ["decision 0", "decision 1", "command 0", "command 1", "command 2"]
