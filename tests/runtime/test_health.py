"""`/healthz`: 200 when the bot can work, "degraded" for a provider outage, 503 when it can't."""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from starlette.applications import Starlette

from bot.runtime.health import (
    HealthInputs,
    SocketModeHealth,
    health_report,
    health_route,
    read_unreachable_accounts,
)
from bot.runtime.metrics import Metrics, metrics_route
from providers.errors import ProviderError
from providers.hostway import HostwayProvider
from providers.settings import ProviderAccount
from providers.simulators.base import SimClock
from providers.simulators.hostway import HostwaySimulator
from storage.database import Database
from storage.errors import DatabaseUnavailable
from storage.health import record_account_failure, record_account_ok
from storage.migrate import upgrade_database
from storage.sqlite import LOST, UNAVAILABLE

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TICK = 5.0
PASSWORD = "pg-Pa55word-never-shown"


async def get_health(inputs, method: str = "GET") -> httpx.Response:
    app = Starlette(routes=[health_route(inputs)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bot"
    ) as client:
        return await client.request(method, "/healthz")


def ticking(db, **fields) -> HealthInputs:
    values = {
        "db": db,
        "last_tick_at": NOW - timedelta(seconds=2),
        "now": NOW,
        "tick_seconds": TICK,
        **fields,
    }
    return HealthInputs(**values)


async def connection_threads_stopped() -> None:
    """Wait for aiosqlite's worker threads: a connection that failed to open stops its
    thread without waiting, and the thread must not outlive the test's event loop."""
    threads = [t for t in threading.enumerate() if "_connection_worker_thread" in t.name]
    await asyncio.to_thread(lambda: [thread.join(10) for thread in threads])


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the database ---------------------------------------------------------------------------


async def test_a_reachable_database_and_a_ticking_scheduler_answer_200_ok(sqlite_db: Database):
    response = await get_health(lambda: ticking(sqlite_db))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True, "status": "reachable"}
    assert body["checks"]["scheduler"]["status"] == "ticking"
    assert body["checks"]["scheduler"]["seconds_since_tick"] == 2
    assert body["checks"]["providers"] == {"ok": True, "status": "ok", "unreachable": []}
    assert response.headers["cache-control"] == "no-store"


async def test_a_sqlite_database_that_goes_away_answers_503(tmp_path: Path):
    folder = tmp_path / "data"
    url = f"sqlite+aiosqlite:///{folder}/transferbot.sqlite3"
    await upgrade_database(url)
    db = Database(url)
    try:
        assert (await get_health(lambda: ticking(db))).status_code == 200
        await db.dispose()  # close pooled connections: the next ping opens the file afresh
        shutil.rmtree(folder)
        folder.write_text("not a directory any more")

        response = await get_health(lambda: ticking(db))
    finally:
        await db.dispose()
        await connection_threads_stopped()

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"]["status"] == "unreachable"
    assert body["checks"]["database"]["error"] == LOST  # the file opened at start is gone
    assert body["checks"]["scheduler"]["ok"] is True  # the other checks still report


async def test_a_postgresql_server_that_refuses_connections_answers_503_without_the_password():
    db = Database(f"postgresql+psycopg://bot:{PASSWORD}@127.0.0.1:{closed_port()}/transferbot")
    try:
        response = await get_health(lambda: ticking(db))
    finally:
        await db.dispose()

    assert response.status_code == 503
    assert response.json()["checks"]["database"]["ok"] is False
    assert PASSWORD not in response.text


async def test_a_database_that_never_answers_is_reported_after_the_timeout():
    class Hanging:
        async def ping(self) -> None:
            await asyncio.Event().wait()

    code, body = await health_report(
        db=Hanging(), last_tick_at=NOW, now=NOW, tick_seconds=TICK, db_timeout=0.01
    )

    assert code == 503
    assert body["checks"]["database"]["error"] == (
        "The bot's database did not answer within 0.01 s."
    )


async def test_a_driver_error_is_reported_in_our_words_not_the_drivers():
    class Broken:
        async def ping(self) -> None:
            raise RuntimeError(f"could not connect to postgresql://bot:{PASSWORD}@db/x")

    code, body = await health_report(db=Broken(), last_tick_at=NOW, now=NOW, tick_seconds=TICK)

    assert code == 503
    assert body["checks"]["database"]["error"] == "The bot's database can't be reached."
    assert PASSWORD not in str(body)


async def _record_failure(db: Database) -> None:
    async with db.session() as session:
        await record_account_failure(session, account="gandi", error="down", now=NOW)


@pytest.mark.postgres
async def test_a_postgresql_connection_left_read_only_answers_503_and_is_replaced(
    postgres_url: str,
):
    await upgrade_database(postgres_url)
    async with Database(postgres_url) as db:
        async with db.session() as session:  # the pool's one connection, read-only for good
            await session.execute(text("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"))

        during = await get_health(lambda: ticking(db))
        await _record_failure(db)  # a write, on a connection that takes writes
        after = await get_health(lambda: ticking(db))

    assert during.status_code == 503  # SELECT 1 answered; the write did not go through
    assert during.json()["checks"]["database"]["error"] == UNAVAILABLE
    assert after.status_code == 200


@pytest.fixture
async def own_postgres_database(postgres_url: str) -> AsyncIterator[str]:
    """A PostgreSQL database of this test's own (ALTER DATABASE touches nobody else)."""
    base = make_url(postgres_url).set(drivername="postgresql+psycopg")
    name = f"transferbot_ro_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name, query={}).render_as_string(hide_password=False)
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.mark.postgres
async def test_a_postgresql_database_made_read_only_answers_503_and_writes_come_back(
    own_postgres_database: str, postgres_url: str
):
    """As after a fail-over to a standby and back: connections opened meanwhile are
    read-only, and stay so unless they are replaced."""
    url = own_postgres_database
    name = make_url(url).database
    await upgrade_database(url)
    admin = create_async_engine(  # from the test database, not the one made read-only
        make_url(postgres_url).set(drivername="postgresql+psycopg", query={}),
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
    )

    async def alter(setting: str) -> None:
        async with admin.connect() as connection:
            await connection.execute(text(f'ALTER DATABASE "{name}" {setting}'))

    async with Database(url) as db:
        try:
            await alter("SET default_transaction_read_only = on")
            during = await get_health(lambda: ticking(db))
            with pytest.raises(DatabaseUnavailable) as refused:
                await _record_failure(db)
            await alter("RESET default_transaction_read_only")
            await _record_failure(db)  # the read-only connections were replaced
        finally:
            await alter("RESET default_transaction_read_only")
            await admin.dispose()
        after = await get_health(lambda: ticking(db))

    assert during.status_code == 503
    assert refused.value.message == UNAVAILABLE
    assert after.status_code == 200


# -- the scheduler --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds_ago", "code", "status"),
    [(0, 200, "ticking"), (15, 200, "ticking"), (15.5, 503, "stalled"), (3600, 503, "stalled")],
)
async def test_the_scheduler_counts_as_stalled_after_three_tick_intervals(
    sqlite_db: Database, seconds_ago: float, code: int, status: str
):
    last_tick = NOW - timedelta(seconds=seconds_ago)

    response = await get_health(lambda: ticking(sqlite_db, last_tick_at=last_tick))

    assert response.status_code == code
    scheduler = response.json()["checks"]["scheduler"]
    assert scheduler["status"] == status
    assert scheduler["limit_seconds"] == 15
    if status == "stalled":
        assert response.json()["status"] == "unhealthy"
        assert scheduler["error"].startswith(f"The scheduler last ticked {seconds_ago:.0f} s ago")


@pytest.mark.parametrize(
    ("started_ago", "code", "status"),
    [(None, 200, "not started"), (10, 200, "starting"), (16, 503, "stalled")],
)
async def test_a_scheduler_that_has_not_ticked_yet_has_three_intervals_to_start(
    sqlite_db: Database, started_ago: float | None, code: int, status: str
):
    started = None if started_ago is None else NOW - timedelta(seconds=started_ago)

    response = await get_health(lambda: ticking(sqlite_db, last_tick_at=None, started_at=started))

    assert response.status_code == code
    assert response.json()["checks"]["scheduler"]["status"] == status


# -- provider accounts ----------------------------------------------------------------------


async def test_an_unreachable_provider_account_is_degraded_but_200(sqlite_db: Database):
    since = NOW - timedelta(minutes=7)

    response = await get_health(
        lambda: ticking(sqlite_db, unreachable_accounts={"hostway-main": since, "gandi": None})
    )

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["providers"]["unreachable"] == [
        {"account": "gandi", "since": None},
        {"account": "hostway-main", "since": since.isoformat()},
    ]


async def test_a_provider_outage_and_a_database_outage_together_answer_503(tmp_path: Path):
    db = Database(f"postgresql+psycopg://bot:{PASSWORD}@127.0.0.1:{closed_port()}/transferbot")
    try:
        code, body = await health_report(
            db=db, last_tick_at=NOW, now=NOW, tick_seconds=TICK, unreachable_accounts=["gandi"]
        )
    finally:
        await db.dispose()

    assert code == 503
    assert body["status"] == "unhealthy"
    assert body["checks"]["providers"]["unreachable"] == [{"account": "gandi", "since": None}]


async def test_outages_recorded_in_the_database_are_read_by_every_replica(sqlite_db: Database):
    async with sqlite_db.session() as session:
        for _ in range(3):
            await record_account_failure(session, account="hostway-main", error="down", now=NOW)
        await record_account_failure(session, account="gandi", error="once", now=NOW)
        await record_account_failure(session, account="whm-east", error="down", now=NOW)
        await record_account_ok(session, account="whm-east", now=NOW)

    down = await read_unreachable_accounts(sqlite_db, after_failures=3)

    assert down == {"hostway-main": NOW}


async def test_inputs_that_cannot_be_gathered_answer_503_in_plain_words(tmp_path: Path):
    db = Database(f"postgresql+psycopg://bot:{PASSWORD}@127.0.0.1:{closed_port()}/transferbot")

    async def inputs() -> HealthInputs:
        return ticking(
            db, unreachable_accounts=await read_unreachable_accounts(db, after_failures=3)
        )

    try:
        response = await get_health(inputs)
    finally:
        await db.dispose()

    assert response.status_code == 503
    assert response.json() == {
        "status": "unhealthy",
        "error": "The bot's database is unavailable right now; try again in a minute.",
    }


# -- an outage at a simulator, seen by /healthz and /metrics together -----------------------


@pytest.fixture
async def hostway_down() -> AsyncIterator[HostwayProvider]:
    """A Hostway client whose simulator answers every call with HTTP 503."""
    secret = "health-test-secret-0123456789"
    simulator = HostwaySimulator(secret=secret, clock=SimClock(frozen=True))
    simulator.add_transfer("moving.example", script="moving")
    simulator.faults.add("error", status=503, times=None)
    account = ProviderAccount.model_validate(
        {
            "name": "hostway-main",
            "type": "hostway",
            "base_url": "http://hostway.test",
            "secret_env": "UNUSED",
            "secret": secret,
            "account_number": simulator.account_number,
            "read_retries": 0,
            "rate_limit": 1000,
        }
    )
    provider = HostwayProvider(account, transport=httpx.ASGITransport(app=simulator))
    try:
        yield provider
    finally:
        await provider.aclose()


async def test_a_simulated_provider_outage_shows_in_health_and_metrics(
    sqlite_db: Database, hostway_down: HostwayProvider
):
    metrics = Metrics(accounts=["hostway-main"])
    for _ in range(3):  # what the watcher does with each failed poll
        started = time.perf_counter()
        with pytest.raises(ProviderError) as failure:
            await hostway_down.get_transfer("moving.example")
        metrics.observe_poll("hostway", time.perf_counter() - started, failure.value.kind)
        async with sqlite_db.session() as session:
            await record_account_failure(
                session, account="hostway-main", error=failure.value.message, now=NOW
            )

    async def inputs() -> HealthInputs:
        down = await read_unreachable_accounts(sqlite_db, after_failures=3)
        metrics.set_unreachable(down)
        return ticking(sqlite_db, unreachable_accounts=down)

    app = Starlette(routes=[health_route(inputs), metrics_route(metrics)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bot"
    ) as client:
        health = await client.get("/healthz")
        exposition = (await client.get("/metrics")).text

    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["checks"]["providers"]["unreachable"] == [
        {"account": "hostway-main", "since": NOW.isoformat()}
    ]
    found = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }
    errors = (
        "transferbot_provider_errors_total",
        (("kind", "unavailable"), ("provider", "hostway")),
    )
    assert found[errors] == 3
    polls = ("transferbot_polls_total", (("outcome", "error"), ("provider", "hostway")))
    assert found[polls] == 3
    assert found[("transferbot_account_unreachable", (("account", "hostway-main"),))] == 1


async def test_head_answers_with_the_same_status(sqlite_db: Database):
    ok = await get_health(lambda: ticking(sqlite_db), method="HEAD")
    stalled = await get_health(
        lambda: ticking(sqlite_db, last_tick_at=NOW - timedelta(hours=1)), method="HEAD"
    )

    assert (ok.status_code, stalled.status_code) == (200, 503)
    assert ok.content == b""


async def test_a_socket_mode_link_that_is_down_is_degraded_but_200(sqlite_db: Database):
    down = SocketModeHealth(connected=False, opened=3, down_since=NOW - timedelta(seconds=42))
    up = SocketModeHealth(connected=True, opened=4, connected_at=NOW)

    degraded = await get_health(lambda: ticking(sqlite_db, socket_mode=down))
    ok = await get_health(lambda: ticking(sqlite_db, socket_mode=up))
    http_mode = await get_health(lambda: ticking(sqlite_db))

    assert degraded.status_code == 200 and degraded.json()["status"] == "degraded"
    check = degraded.json()["checks"]["socket_mode"]
    assert check["status"] == "reconnecting" and check["since"] == down.down_since.isoformat()
    assert "down for 42 s" in check["error"]
    assert ok.json()["status"] == "ok"
    assert ok.json()["checks"]["socket_mode"] == {
        "ok": True,
        "status": "connected",
        "since": NOW.isoformat(),
        "connections_opened": 4,
    }
    assert "socket_mode" not in http_mode.json()["checks"]  # no such check in HTTP mode


async def test_a_socket_mode_link_down_with_the_database_down_answers_503(tmp_path: Path):
    db = Database(f"postgresql+psycopg://bot:{PASSWORD}@127.0.0.1:{closed_port()}/transferbot")
    try:
        code, body = await health_report(
            db=db,
            last_tick_at=NOW,
            now=NOW,
            tick_seconds=TICK,
            socket_mode=SocketModeHealth(connected=False, opened=0, down_since=NOW),
        )
    finally:
        await db.dispose()

    assert code == 503 and body["status"] == "unhealthy"
    assert body["checks"]["socket_mode"]["status"] == "connecting"
