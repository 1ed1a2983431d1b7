"""Database loss: PostgreSQL drops every connection of the bot while the watcher polls.

Two ways the loss is made. ``terminate``: ``pg_terminate_backend`` from an admin
connection, in a tight loop for a few seconds, on the backends whose ``application_name``
is this test's; it needs no root and touches nothing else; each connection dies as in a
restart or a fail-over ("terminating connection due to administrator command"), and a new
one lives a few milliseconds at most. ``restart``: the server itself restarted under the
bot (``pg_ctlcluster … restart``), so for a moment connections are refused too; it needs
root (CI has it) and cuts every other user of the cluster, so it is skipped elsewhere.

The watcher runs for real (``bot.watcher.schedule.Watcher``, a tick every 0.5 s) on the
watcher rig, its clock running 60 times faster than real time; ``/healthz`` is served as
``transferbot serve`` serves it. The bot must say the database is down (a log line and a
503), come back by itself, and lose nothing: every transfer in the phase it reached, each
one still in flight polled again afterwards, and every alert posted once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.runtime.serve import HEALTH_PATH, http_app
from bot.settings import WatcherSettings
from bot.watcher.schedule import Watcher
from providers.simulators.base import LoopbackServer
from tests.reliability.processes import alerts, all_posted, wait_for
from tests.reliability.results import record
from tests.watcher.conftest import Rig, watcher_settings
from tests.watcher.conftest import rig as rig

pytestmark = pytest.mark.postgres

MINUTE = 60.0
SPEED = 60.0  # simulated seconds per real second
OUTAGE_SECONDS = 3.0
APP = f"transferbot-dbloss-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """The test's PostgreSQL schema; its connections are named so that only they are cut."""
    url = make_url(postgres_url).update_query_dict({"application_name": APP})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def watcher_config() -> WatcherSettings:
    return watcher_settings(
        tick_seconds=0.5,
        min_interval_seconds=1,
        max_detection_delay_seconds=60,
        max_interval_seconds=120,
        lease_seconds=120,  # 2 s of real time at SPEED
        sync_interval_minutes=0,
    )


@pytest.fixture
async def cutter(postgres_url: str) -> AsyncIterator[Cutter]:
    cut = Cutter(postgres_url)
    try:
        yield cut
    finally:
        await cut.engine.dispose()


class Cutter:
    """Terminates this test's backends, from a connection of its own (not named APP), or
    restarts the server."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.engine = create_async_engine(self.url.set(drivername="postgresql+psycopg"))
        self.killed = 0

    async def lose(self, how: str) -> None:
        if how == "restart":
            await self.restart()
        else:
            await self.cut_for(OUTAGE_SECONDS)

    async def restart(self) -> None:
        """Restart the cluster listening on the URL's port (root only)."""
        listing = await _run("pg_lsclusters", "-h")
        port = str(self.url.port or 5432)
        cluster = next(line.split()[:2] for line in listing.splitlines() if line.split()[2] == port)
        await _run("pg_ctlcluster", *cluster, "restart", "-m", "fast")
        self.killed += 1

    async def cut_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        async with self.engine.connect() as connection:
            while time.monotonic() < end:
                result = await connection.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                        "FROM pg_stat_activity WHERE application_name = :app"
                    ),
                    {"app": APP},
                )
                self.killed += int(result.scalar_one())
                await connection.commit()
                await asyncio.sleep(0.002)


async def _run(*command: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, f"{' '.join(command)}: {out.decode(errors='replace')}"
    return out.decode()


HOW = {
    "terminate": "PostgreSQL connections cut under the watcher (pg_terminate_backend, 3 s)",
    "restart": "PostgreSQL restarted under the watcher (pg_ctlcluster restart)",
}


@pytest.mark.parametrize("how", list(HOW))
async def test_the_bot_reports_a_lost_database_recovers_by_itself_and_loses_nothing(
    rig: Rig, cutter: Cutter, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    if how == "restart" and (os.geteuid() != 0 or shutil.which("pg_ctlcluster") is None):
        pytest.skip("restarting the cluster needs root and Debian's pg_ctlcluster")
    hostway, cpanel = rig.sims["hostway"], rig.sims["cpanel"]
    rows = []
    for i in range(4):  # each blocks at its own minute: before, during and after the loss
        ref = hostway.add_transfer(f"db{i}.example", script="bad_auth", age=(58 - 2 * i) * MINUTE)
        rows.append(await rig.watch("hostway", ref))
    for i in range(2):
        script = [(0, "RUNNING"), ((3 + 3 * i) * MINUTE, "COMPLETED")]
        rows.append(
            await rig.watch("cpanel", cpanel.add_session(script=script, accounts=[f"d{i}"]))
        )
    watcher = Watcher(rig.services)
    health = LoopbackServer(http_app(None, rig.services, watcher=watcher))
    url = f"{await health.start()}{HEALTH_PATH}"
    caplog.set_level(logging.WARNING)
    try:
        watcher.start()
        rig.clock.set_speed(SPEED)
        await wait_for(lambda: _polled_all(rig, rows), 30, what="a first poll of every transfer")
        async with httpx.AsyncClient(timeout=5) as client:
            assert await _database_ok(client, url)
            statuses = asyncio.create_task(_watch_health(client, url, OUTAGE_SECONDS + 1))
            await cutter.lose(how)
            back_at = rig.clock.now()
            during = await statuses
            print(f"{cutter.killed} connections cut; /healthz during the loss: {during}")
            await wait_for(lambda: _database_ok(client, url), 30, what="/healthz: database ok")
        await wait_for(lambda: all_posted(rig.services, 6), 60, what="every alert posted")
    finally:
        watcher.shutdown()
        await health.stop()

    assert cutter.killed > 0 and False in during  # the loss was real, and /healthz said so
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("database" in line.lower() for line in logged), logged
    for row in rows:
        now = await rig.row(row.id or 0)
        assert now.phase == ("blocked" if row.provider == "hostway" else "completed")
        if now.phase == "blocked":  # still in flight, so polled again once the database was back
            assert now.last_polled_at is not None and now.last_polled_at > back_at
        # a finished transfer is not polled again: on a loaded machine a session may finish
        # before the database is back, and then its last poll came before
    found = await alerts(rig.services)
    assert sorted(a.kind for a in found) == ["blocked"] * 4 + ["completed"] * 2
    delivered = rig.standin.delivered()
    assert {a.id for a in found} == set(delivered) and set(delivered.values()) == {1}
    record(
        "faults survived",
        HOW[how],
        cutter.killed,
        "faults",
        combine="sum",
        note="Every connection the bot had or opened was cut (terminated for 3 s, or the "
        "server restarted); it recovered by itself.",
    )


async def _polled_all(rig: Rig, rows: list) -> bool:  # type: ignore[type-arg]
    for row in rows:
        now = await rig.row(row.id or 0)
        if now.last_polled_at is None or now.last_polled_at <= row.first_seen_at:
            return False
    return True


async def _watch_health(client: httpx.AsyncClient, url: str, seconds: float) -> list[bool]:
    """/healthz's database check, every 0.1 s. (Its scheduler check is not asked: at 60 times
    real time the 0.5 s ticks look late.)"""
    seen: list[bool] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        seen.append(await _database_ok(client, url))
        await asyncio.sleep(0.1)
    return seen


async def _database_ok(client: httpx.AsyncClient, url: str) -> bool:
    """True when /healthz finds the database; a database down must make it 503 and say so."""
    response = await client.get(url)
    body = response.json()
    if "checks" in body:  # the full report
        ok = bool(body["checks"]["database"]["ok"])
    else:  # the bot could not even read what to check
        ok = False
        assert "database" in body["error"], body
    assert ok or response.status_code == 503, body
    return ok
