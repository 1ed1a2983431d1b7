"""`/healthz`: database reachable, scheduler ticking, which provider accounts are down, and
(in Socket Mode) whether the WebSocket to Slack is open.

Status codes, for a load balancer or an orchestrator:

* **200 "ok"** — the database answers and the scheduler ticks.
* **200 "degraded"** — the same, but one or more provider accounts are unreachable, or (in
  Socket Mode) the WebSocket to Slack is down while the bot opens a new one. The bot itself
  is fine (it reports a provider outage in the channel and backs off; it reconnects to Slack
  by itself), so restarting it or taking it out of a load balancer would help nobody.
* **503 "unhealthy"** — the database can't be reached, or the scheduler has not ticked for
  more than three tick intervals: this replica can't do its job.

Given its start time, a process whose scheduler has not ticked yet during its first three
tick intervals is "starting", which counts as healthy.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from storage.database import Database
from storage.errors import StorageError
from storage.health import list_account_health

__all__ = [
    "DB_TIMEOUT_SECONDS",
    "STALL_TICKS",
    "HealthInputs",
    "Pingable",
    "SocketModeHealth",
    "SocketModeLink",
    "health_report",
    "health_route",
    "read_unreachable_accounts",
]

logger = logging.getLogger(__name__)

STALL_TICKS = 3  # the scheduler is stalled after this many tick intervals without a tick
DB_TIMEOUT_SECONDS = 5.0  # a database that takes longer to answer SELECT 1 counts as down
NO_DATABASE = "The bot's database can't be reached."
NO_INPUTS = "The bot could not gather its health checks."

Unreachable = Iterable[str] | Mapping[str, datetime | None]


class Pingable(Protocol):
    async def ping(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SocketModeHealth:
    """The Socket Mode connection as the bot sees it now."""

    connected: bool
    opened: int  # connections Slack has said hello on since the start
    connected_at: datetime | None = None
    down_since: datetime | None = None


class SocketModeLink(Protocol):
    async def health(self) -> SocketModeHealth: ...


@dataclass(frozen=True, slots=True)
class HealthInputs:
    """What the health report looks at, gathered by the app at request time."""

    db: Pingable
    last_tick_at: datetime | None
    now: datetime
    tick_seconds: float
    unreachable_accounts: Unreachable = ()
    started_at: datetime | None = None
    db_timeout: float = DB_TIMEOUT_SECONDS
    socket_mode: SocketModeHealth | None = None  # None: HTTP mode


async def health_report(
    *,
    db: Pingable,
    last_tick_at: datetime | None,
    now: datetime,
    tick_seconds: float,
    unreachable_accounts: Unreachable = (),
    started_at: datetime | None = None,
    db_timeout: float = DB_TIMEOUT_SECONDS,
    socket_mode: SocketModeHealth | None = None,
) -> tuple[int, dict[str, Any]]:
    """The `/healthz` status code and JSON body.

    Args:
        db: the database; its ``ping()`` must answer within ``db_timeout`` seconds.
        last_tick_at: when the watcher's scheduler last ticked (None: not yet).
        now: the current time (aware, like ``last_tick_at``).
        tick_seconds: the scheduler's tick interval (``watcher.tick_seconds``).
        unreachable_accounts: provider account names that are down, or a mapping of
            name to the time each went down.
        started_at: when this process started; with it, a scheduler that never ticked is
            reported stalled once three tick intervals have passed. Without it, it is
            reported "not started" and counts as healthy.
        db_timeout: seconds to wait for the database.
        socket_mode: the Socket Mode connection (None in HTTP mode: no such check).
    """
    database = await _database_check(db, db_timeout)
    scheduler = _scheduler_check(last_tick_at, now, tick_seconds, started_at)
    providers = _providers_check(unreachable_accounts)
    checks = {"database": database, "scheduler": scheduler, "providers": providers}
    if socket_mode is not None:
        checks["socket_mode"] = _socket_mode_check(socket_mode, now)
    if not (database["ok"] and scheduler["ok"]):
        status, code = "unhealthy", 503
    elif not all(check["ok"] for check in checks.values()):
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    body = {"status": status, "time": now.isoformat(), "checks": checks}
    return code, body


async def _database_check(db: Pingable, wait_seconds: float) -> dict[str, Any]:
    try:
        async with asyncio.timeout(wait_seconds):
            await db.ping()
    except TimeoutError:
        return _failing(
            "unreachable", f"The bot's database did not answer within {wait_seconds:g} s."
        )
    except StorageError as exc:
        return _failing("unreachable", exc.message)
    except Exception as exc:  # a driver error may quote the URL: never show its words
        logger.warning("health: database ping failed (%s)", type(exc).__name__)
        return _failing("unreachable", NO_DATABASE)
    return {"ok": True, "status": "reachable"}


def _failing(status: str, error: str, **details: Any) -> dict[str, Any]:
    """A check that fails: its status, the sentence saying what is wrong, and its figures."""
    return {"ok": False, "status": status, "error": error, **details}


def _scheduler_check(
    last_tick_at: datetime | None,
    now: datetime,
    tick_seconds: float,
    started_at: datetime | None,
) -> dict[str, Any]:
    limit = STALL_TICKS * tick_seconds
    check: dict[str, Any] = {"tick_seconds": tick_seconds, "limit_seconds": limit}
    if last_tick_at is None:
        if started_at is None:
            return {"ok": True, "status": "not started", **check}
        waited = (now - started_at).total_seconds()
        if waited <= limit:
            return {"ok": True, "status": "starting", **check}
        error = f"The scheduler has not ticked since the bot started {waited:.0f} s ago."
        return _failing("stalled", error, **check)
    since = max(0.0, (now - last_tick_at).total_seconds())
    check |= {"last_tick_at": last_tick_at.isoformat(), "seconds_since_tick": round(since, 3)}
    if since <= limit:
        return {"ok": True, "status": "ticking", **check}
    return _failing(
        "stalled", f"The scheduler last ticked {since:.0f} s ago (limit {limit:g} s).", **check
    )


def _socket_mode_check(link: SocketModeHealth, now: datetime) -> dict[str, Any]:
    check: dict[str, Any] = {"connections_opened": link.opened}
    if link.connected:
        since = link.connected_at.isoformat() if link.connected_at else None
        return {"ok": True, "status": "connected", "since": since, **check}
    down = max(0.0, (now - link.down_since).total_seconds()) if link.down_since else 0.0
    return {
        "ok": False,
        "status": "connecting" if link.opened == 0 else "reconnecting",
        "since": link.down_since.isoformat() if link.down_since else None,
        "error": f"The Socket Mode connection to Slack has been down for {down:.0f} s; "
        "the bot is opening a new one (commands and clicks wait until it is open).",
        **check,
    }


def _providers_check(unreachable: Unreachable) -> dict[str, Any]:
    if isinstance(unreachable, Mapping):
        items = sorted(unreachable.items())
    else:
        items = [(name, None) for name in sorted(set(unreachable))]
    down = [
        {"account": name, "since": since.isoformat() if since else None} for name, since in items
    ]
    return {"ok": not down, "status": "degraded" if down else "ok", "unreachable": down}


async def read_unreachable_accounts(
    db: Database, *, after_failures: int
) -> dict[str, datetime | None]:
    """The accounts the database records as down (``after_failures`` failed calls in a row).

    Every replica sees the same answer, whichever one made the failing calls.
    """
    async with db.session() as session:
        rows = await list_account_health(session)
    return {
        row.account: row.failing_since for row in rows if row.consecutive_failures >= after_failures
    }


Inputs = Callable[[], HealthInputs | Awaitable[HealthInputs]]


def health_route(inputs: Inputs, path: str = "/healthz") -> Route:
    """A Starlette route for `/healthz`; ``inputs`` (sync or async) gathers what to check.

    If gathering the inputs fails (e.g. reading the outages from a database that is
    down), the answer is 503 with the reason, never an error page.
    """

    async def serve_health(request: Request) -> JSONResponse:
        try:
            gathered = inputs()
            given = await gathered if inspect.isawaitable(gathered) else gathered
        except Exception as exc:
            message = exc.message if isinstance(exc, StorageError) else NO_INPUTS
            logger.warning("health: could not gather the inputs (%s)", type(exc).__name__)
            return JSONResponse({"status": "unhealthy", "error": message}, status_code=503)
        code, body = await health_report(
            db=given.db,
            last_tick_at=given.last_tick_at,
            now=given.now,
            tick_seconds=given.tick_seconds,
            unreachable_accounts=given.unreachable_accounts,
            started_at=given.started_at,
            db_timeout=given.db_timeout,
            socket_mode=given.socket_mode,
        )
        return JSONResponse(body, status_code=code, headers={"Cache-Control": "no-store"})

    return Route(path, serve_health, methods=["GET", "HEAD"], name="healthz")
