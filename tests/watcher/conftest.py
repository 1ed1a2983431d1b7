"""A rig for the watcher: four simulators and the Slack stand-in on loopback, a real database,
and one stepped clock shared by the simulators and ``Services.now``."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response

from bot.runtime.slack_messages import PostedMessage
from bot.runtime.standin import SlackStandIn
from bot.services import Services
from bot.settings import FollowupSettings, RouteRule, Settings, SlackSettings, WatcherSettings
from bot.watcher.alerts import post_pending_alerts
from bot.watcher.poll import PassReport, run_poll_pass
from bot.watcher.reminders import ReminderReport, run_reminder_pass
from providers.base import Transfer
from providers.settings import ProviderAccount
from providers.simulators import make_simulator
from providers.simulators.base import LoopbackServer, SimClock
from storage.database import Database
from storage.models import TrackedTransfer
from storage.transfers import get_transfer, get_transfer_by_ref, watch_transfer
from tests.slack.conftest import _account

TOKEN = "xoxb-watcher-tests-0123"
CHANNEL = "C0ALERTS"
SECRET = "watcher-sim-secret-0123456789"
PROVIDERS = ("cpanel", "hostway", "opensrs", "gandi", "gandi_v5")
HOSTWAY_ACCOUNT = "acct12345"
ACCOUNT_FIELDS: Mapping[str, dict[str, Any]] = {
    "cpanel": {"username": "root"},
    "hostway": {"account_number": HOSTWAY_ACCOUNT, "auth_scheme": "bearer"},
    "opensrs": {"username": "test_rsp"},
    "gandi": {},
    "gandi_v5": {},
}


class ReadableStandIn(SlackStandIn):
    """The stand-in plus what the crash tests need: it can keep a call's answer back (the
    caller times out although the message was posted), and it notes when each call arrived."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arrivals: list[tuple[str, float]] = []  # (method, monotonic time)
        self._swallow: dict[str, list[int]] = {}  # method -> [calls to let through, to swallow]

    def swallow(self, method: str, *, times: int = 1, after: int = 0) -> None:
        """After ``after`` normal calls, do the call but never answer it (the caller times out)."""
        self._swallow[method] = [after, times]

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        self.arrivals.append((method, time.monotonic()))
        response = await super()._api(request)
        plan = self._swallow.get(method)
        if plan and plan[0] > 0:
            plan[0] -= 1
        elif plan and plan[1] > 0:
            plan[1] -= 1
            await asyncio.sleep(30)
        return response

    # -- what the tests ask ----------------------------------------------------------------
    def delivered(self) -> Counter[int]:
        """How many messages delivered each alert id (summaries count for each they hold)."""
        counts: Counter[int] = Counter()
        for metadata in self.metadata.values():
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == "transferbot_alert":
                counts[payload["alert_id"]] += 1
            elif metadata.get("event_type") == "transferbot_summary":
                counts.update(payload["alert_ids"])
        return counts

    def threads(self) -> list[PostedMessage]:
        """Top-level messages that are transfer thread headers."""
        return [
            m
            for m in self.channel(CHANNEL)
            if self.metadata.get(m.ts, {}).get("event_type") == "transferbot_thread"
        ]

    def thread_of(self, transfer_id: int) -> PostedMessage | None:
        for message in self.threads():
            payload = self.metadata[message.ts].get("event_payload") or {}
            if payload.get("transfer_id") == transfer_id:
                return message
        return None


def account_for(provider: str, base_url: str, **overrides: Any) -> ProviderAccount:
    fields = {
        "secret": SECRET,
        # No watcher test waits for a timeout; this one only has to outlast a loaded CI
        # machine (the simulators share the test's event loop). 1 s did not, once.
        "timeout": 10.0,
        "concurrency": 4,
        **ACCOUNT_FIELDS[provider],
        **overrides,
    }
    return _account(f"{provider}-test", provider, base_url, **fields)


def watcher_settings(**overrides: Any) -> WatcherSettings:
    values: dict[str, Any] = {
        "tick_seconds": 5,
        "min_interval_seconds": 15,
        "max_interval_seconds": 21600,
        "max_detection_delay_seconds": 3600,
        "jitter": 0.1,
        "batch_size": 50,
        "lease_seconds": 60,
        "outage_after_failures": 3,
        "stall_after": {"default": "7d", "opensrs:pending_owner": "2d"},
    }
    values.update(overrides)
    return WatcherSettings.model_validate(values)


def quick_watcher_json() -> dict[str, Any]:
    """Watcher settings, as JSON, for a bot or watcher in a subprocess that the crash tests
    kill: a tick every 0.5 s, a poll every few seconds, leases that run out in 10 s."""
    watcher = watcher_settings(
        tick_seconds=0.5,
        min_interval_seconds=1,
        max_detection_delay_seconds=2,
        max_interval_seconds=3,
        lease_seconds=10,
        batch_size=20,
        sync_interval_minutes=0,
    ).model_dump(mode="json")
    watcher["stall_after"] = {"default": "7d"}
    return watcher


async def watch_blocking_and_finishing(
    rig: Rig, *, blocking: int, finishing: int
) -> list[TrackedTransfer]:
    """Watch ``blocking`` Hostway transfers that block on a bad authInfo in 20 minutes and
    ``finishing`` cPanel sessions that complete in 10: the crash tests' workload."""
    hostway, cpanel = rig.sims["hostway"], rig.sims["cpanel"]
    rows = []
    for i in range(blocking):
        ref = hostway.add_transfer(f"b{i}.example", script="bad_auth", age=40 * 60)
        rows.append(await rig.watch("hostway", ref))
    for i in range(finishing):
        ref = cpanel.add_session(script=[(0, "RUNNING"), (600, "COMPLETED")], accounts=[f"u{i}"])
        rows.append(await rig.watch("cpanel", ref))
    return rows


def make_settings(
    slack_url: str,
    accounts: list[ProviderAccount],
    watcher: WatcherSettings,
    routes: tuple[RouteRule, ...] = (),
    followups: FollowupSettings | None = None,
) -> Settings:
    slack = SlackSettings.model_validate(
        {"alert_channel": CHANNEL, "api_base_url": slack_url, "bot_token": SecretStr(TOKEN)}
    )
    return Settings(
        slack=slack,
        watcher=watcher,
        followups=followups or FollowupSettings(),
        accounts=tuple(accounts),
        routes=routes,
    )


@dataclass
class Rig:
    """Simulators, stand-in, services and the one clock they share."""

    clock: SimClock
    sims: dict[str, Any]
    accounts: dict[str, ProviderAccount]
    standin: ReadableStandIn
    services: Services
    extra: list[Services] = field(default_factory=list)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def account(self, provider: str) -> str:
        return self.accounts[provider].name

    async def watch(self, provider: str, ref: str, *, due_now: bool = True) -> TrackedTransfer:
        """Watch a transfer the way the bot does: fetch it, then track it."""
        snapshot: Transfer = await self.services.registry.get(self.account(provider)).get_transfer(
            ref
        )
        now = self.services.now()
        async with self.services.db.session() as session:
            watched = await watch_transfer(
                session,
                transfer=snapshot,
                watched_by="U0ALICE",
                now=now,
                next_poll_at=now if due_now else None,
            )
        return watched.transfer

    async def row(self, transfer_id: int) -> TrackedTransfer:
        async with self.services.db.session() as session:
            row = await get_transfer(session, transfer_id=transfer_id)
        assert row is not None
        return row

    async def row_by_ref(self, provider: str, ref: str) -> TrackedTransfer | None:
        async with self.services.db.session() as session:
            return await get_transfer_by_ref(session, account=self.account(provider), ref=ref)

    async def poll(self) -> PassReport:
        return await run_poll_pass(self.services)

    async def post(self, *, pace: float = 0.0) -> int:
        return await post_pending_alerts(self.services, pace=pace)

    async def remind(self) -> ReminderReport:
        return await run_reminder_pass(self.services)

    async def step(self, seconds: float, *, post: bool = True, remind: bool = False) -> PassReport:
        """Move the clock on, run a poll pass (then the reminder pass, as the watcher's tick
        does, when ``remind``) and post what it found."""
        self.advance(seconds)
        report = await self.poll()
        if remind:
            await self.remind()
            await self.services.drain(10)  # the poster it kicked off, so each step is whole
        if post:
            await self.post()
        return report

    def make_services(self, db: Database, *, instance: str) -> Services:
        services = Services.from_settings(
            self.services.settings,
            db=db,
            slack=AsyncWebClient(token=TOKEN, base_url=self.services.slack.base_url, timeout=2),
            instance=instance,
            now=self.clock.now,
        )
        self.extra.append(services)
        return services


@pytest.fixture
def watcher_config() -> WatcherSettings:
    """Override in a test module to change the watcher's settings."""
    return watcher_settings()


@pytest.fixture
def routes() -> tuple[RouteRule, ...]:
    """Override in a test module to route alerts ([[routes]])."""
    return ()


@pytest.fixture
def followup_config() -> FollowupSettings:
    """Override in a test module to change the follow-up settings."""
    return FollowupSettings()


@pytest.fixture
async def rig(
    db: Database,
    watcher_config: WatcherSettings,
    routes: tuple[RouteRule, ...],
    followup_config: FollowupSettings,
) -> AsyncIterator[Rig]:
    clock = SimClock(frozen=True)
    sims = {
        provider: make_simulator(provider, secret=SECRET, clock=clock) for provider in PROVIDERS
    }
    standin = ReadableStandIn(token=TOKEN, channels={CHANNEL: "transfer-alerts"})
    servers = {provider: LoopbackServer(sim) for provider, sim in sims.items()}
    urls = {provider: await server.start() for provider, server in servers.items()}
    try:
        async with standin.serve() as slack_url:
            accounts = {p: account_for(p, urls[p]) for p in PROVIDERS}
            settings = make_settings(
                f"{slack_url}/api/",
                list(accounts.values()),
                watcher_config,
                routes,
                followup_config,
            )
            services = Services.from_settings(  # the production transport, as serve's
                settings,
                db=db,
                slack=AsyncWebClient(token=TOKEN, base_url=f"{slack_url}/api/", timeout=2),
                instance="watcher-test-1",
                now=clock.now,
            )
            rig = Rig(clock, sims, accounts, standin, services)
            try:
                yield rig
            finally:
                for extra in [services, *rig.extra]:
                    await extra.drain(5)
                    await extra.registry.aclose()
    finally:
        for server in servers.values():
            await server.stop()


def later(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)
