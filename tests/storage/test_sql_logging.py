"""SQL in the logs: none at ``--log-level debug`` unless asked for, and never a parameter.

Each case runs in a process of its own, logging set up as the CLI does
(``configure_logging("debug")``), and stores, reads and erases a request secret on SQLite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from storage.database import SQL_DEBUG_ENV

ROOT = Path(__file__).resolve().parents[2]
RUN = """
import asyncio, sys
from datetime import timedelta

from bot.cli import configure_logging

configure_logging("debug")

from sqlalchemy import select
from providers.base import Action
from storage.database import Database
from storage.migrate import upgrade_database
from storage.models import RequestSecret
from storage.requests import create_request
from storage.secrets import SecretBox, erase_secret, store_secret
from storage.transfers import watch_transfer
from tests.storage.samples import T0, hostway_blocked


async def main(url):
    await upgrade_database(url)
    box = SecretBox(SecretBox.generate_key())
    async with Database(url) as db:
        async with db.session() as session:
            row = (await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1"))
            request = await create_request(
                session, transfer_id=row.transfer.id, action=Action.RETRY, requested_by="U1",
                expires_at=T0 + timedelta(hours=1),
            )
            await store_secret(session, request_id=request.id, value="Zq8#authinfo-77", box=box)
        async with db.session() as session:
            token = await session.scalar(select(RequestSecret.token))
        async with db.session() as session:
            await erase_secret(session, request_id=request.id)
    print(token)


asyncio.run(main(sys.argv[1]))
"""


def run(tmp_path: Path, **env: str) -> tuple[str, list[str]]:
    """The stored ciphertext, and every log line the run wrote."""
    environ = {k: v for k, v in os.environ.items() if k != SQL_DEBUG_ENV} | env
    done = subprocess.run(
        [sys.executable, "-c", RUN, f"sqlite+aiosqlite:///{tmp_path}/bot.sqlite3"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environ,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip(), done.stderr.splitlines()


def sql_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if " aiosqlite: " in line or " sqlalchemy." in line]


def test_at_debug_level_no_sql_is_logged_and_never_the_ciphertext(tmp_path: Path) -> None:
    token, lines = run(tmp_path)

    assert token.startswith("gAAAAA")
    assert not any(token in line for line in lines)
    assert sql_lines(lines) == [], sql_lines(lines)[:5]


def test_sql_asked_for_shows_statements_but_no_parameters(tmp_path: Path) -> None:
    token, lines = run(tmp_path, **{SQL_DEBUG_ENV: "1"})

    shown = sql_lines(lines)
    assert any("INSERT INTO request_secrets" in line for line in shown), shown[:5]
    assert not any(token in line for line in lines)
    assert not any("Zq8#authinfo-77" in line for line in lines)
