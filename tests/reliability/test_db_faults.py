"""SQLite faults under the running bot: its file deleted, made read-only or full.

The bot runs for real (``tests/slack/conftest.py``: signed slash commands over HTTP, its
``/healthz``, a migrated SQLite file). Each fault is made the way it happens, on the real
file or the real connection: the file deleted; write-protected (``chattr +i`` for root,
``chmod`` otherwise) before the bot opens it; a connection left ``PRAGMA query_only``; a
page limit reached (``PRAGMA max_page_count``). The bot must say so (503, a log line, one
sentence to the person asking), never report success it did not have, and work again by
itself once the fault is gone; a lost file is never silently replaced by an empty one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from bot.runtime.serve import HEALTH_PATH
from storage.database import Database
from storage.errors import DatabaseUnavailable
from storage.migrate import upgrade_database
from storage.sqlite import FILE_CHECK_SECONDS, FULL, LOST, UNAVAILABLE
from tests.reliability.results import record
from tests.slack.conftest import ALICE, Bot

WATCHING = "Now watching"


async def health(bot: Bot) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"{bot.url}{HEALTH_PATH}")


async def watch_answer(bot: Bot, domain: str) -> str:
    """Ask the bot to watch a new Hostway transfer; what Alice was told."""
    ref = bot.sims["hostway"].add_transfer(domain, script="moving", age=600)
    await bot.command(f"watch hostway-main {ref}")
    return bot.text_of(bot.last_answer(ALICE))


def database_error(response: httpx.Response) -> str:
    body = response.json()
    assert response.status_code == 503, body
    return str(body["checks"]["database"]["error"] if "checks" in body else body["error"])


# -- deleted ---------------------------------------------------------------------------------


async def test_a_deleted_database_file_is_noticed_said_and_not_replaced_by_an_empty_one(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    assert WATCHING in await watch_answer(bot, "before.example")
    assert (await health(bot)).status_code == 200
    caplog.set_level(logging.WARNING)

    bot.db_path.unlink()  # the file only: its -wal and -shm stay, as after a careless rm
    await asyncio.sleep(FILE_CHECK_SECONDS)  # a session looks at the file this often
    answers = [await watch_answer(bot, f"after-{i}.example") for i in range(3)]
    response = await health(bot)

    assert all(LOST in a and WATCHING not in a for a in answers), answers  # nothing was saved
    assert database_error(response) == LOST
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(str(bot.db_path) in line and "deleted" in line for line in errors), errors
    assert not bot.db_path.exists()  # no connection created an empty file at the path

    url = f"sqlite+aiosqlite:///{bot.db_path}"  # a restart: migrate, then open
    with pytest.raises(DatabaseUnavailable) as refused:
        await upgrade_database(url)
    marker = bot.db_path.with_name(f".{bot.db_path.name}.created")
    assert str(bot.db_path) in refused.value.message
    assert marker.name in refused.value.message and "restore" in refused.value.message
    assert not bot.db_path.exists()
    async with Database(url) as restarted:
        with pytest.raises(DatabaseUnavailable):
            await restarted.ping()
    assert not bot.db_path.exists()
    record(
        "faults survived",
        "SQLite file deleted under the bot: commands refused in words, no empty database made",
        len(answers),
        "faults",
        note="The file was unlinked while the bot ran; every later command was told the "
        "database is unavailable, /healthz answered 503, and a restart refused to start "
        "with an empty database.",
    )


# -- read-only -------------------------------------------------------------------------------


def _write_protect(path: Path) -> None:
    """Make the file read-only for this process, as an operator or a restore would."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        return
    if shutil.which("chattr") is None:
        pytest.skip("write-protecting a file as root needs chattr")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not allowed here: {done.stderr.decode().strip()}")


def _unprotect(path: Path) -> None:
    if os.geteuid() != 0:
        path.chmod(0o644)
    else:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.fixture
def protected(bot: Bot) -> Iterator[Path]:
    _write_protect(bot.db_path)
    try:
        yield bot.db_path
    finally:
        _unprotect(bot.db_path)


async def test_a_write_protected_database_answers_503_and_writes_work_once_it_is_writable(
    bot: Bot, protected: Path
) -> None:
    # The bot opens the file while it is write-protected: SQLite opens it read-only, for good.
    during = [await health(bot) for _ in range(2)]
    refused = await watch_answer(bot, "refused.example")

    _unprotect(protected)
    after = await watch_answer(bot, "after.example")
    response = await health(bot)
    _write_protect(protected)  # for the fixture to undo

    assert UNAVAILABLE in refused, refused
    assert WATCHING in after, after  # the read-only connection was replaced, not kept
    assert [database_error(r) for r in during] == [UNAVAILABLE] * 2  # a write was refused
    assert response.status_code == 200, response.json()
    record(
        "faults survived",
        "SQLite file write-protected under the bot: /healthz 503, the command refused in words, "
        "writes back once writable",
        len(during) + 1,
        "faults",
        note="The file was made read-only (chattr +i as root) before the bot opened it: "
        "/healthz proved a write and answered 503, the command was told the database is "
        "unavailable, and once the file was writable again the next command was saved.",
    )


async def test_a_connection_left_read_only_is_replaced(bot: Bot) -> None:
    assert WATCHING in await watch_answer(bot, "before.example")
    async with bot.services.db.session() as session:  # the pool's one connection, for good
        await session.execute(text("PRAGMA query_only = ON"))

    during = await health(bot)
    after = await watch_answer(bot, "after.example")

    assert WATCHING in after, after
    assert database_error(during) == UNAVAILABLE  # SELECT 1 still worked; a write did not
    assert (await health(bot)).status_code == 200
    record(
        "faults survived",
        "SQLite connection left read-only: /healthz 503, then the connection replaced",
        1,
        "faults",
        note="PRAGMA query_only on the pool's connection: /healthz answered 503 (SELECT 1 "
        "still worked, the write it proves did not), and the connection was replaced.",
    )


# -- full ------------------------------------------------------------------------------------


async def test_a_database_at_its_page_limit_answers_503_until_it_can_grow(bot: Bot) -> None:
    assert WATCHING in await watch_answer(bot, "before.example")
    async with bot.services.db.session() as session:  # the pool's one connection
        pages = (await session.execute(text("PRAGMA page_count"))).scalar_one()
        await session.execute(text(f"PRAGMA max_page_count = {int(pages)}"))

    full = await health(bot)
    answers = []
    while len(answers) < 200 and not any(UNAVAILABLE in a for a in answers):
        answers.append(await watch_answer(bot, f"fill-{len(answers)}.example"))  # till a new page
    after = await watch_answer(bot, "after.example")

    assert database_error(full) == FULL
    assert UNAVAILABLE in answers[-1], answers[-3:]
    assert all(WATCHING in answer for answer in answers[:-1])  # those did fit, and were kept
    assert WATCHING in after, after  # the connection that hit the limit was replaced
    assert (await health(bot)).status_code == 200
    record(
        "faults survived",
        "SQLite database full (page limit): commands saved until the last page, then refused "
        "in words",
        len(answers),
        "faults",
        note="PRAGMA max_page_count at the current size: /healthz said the database is full, "
        "every command that fitted was saved, the first that did not was told so, and the "
        "connection that hit the limit was replaced.",
    )
