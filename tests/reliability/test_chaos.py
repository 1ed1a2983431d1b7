"""Provider chaos: a simulated day of polling with 20 % of provider calls faulted.

The same day runs twice on the watcher rig's parts (the four simulators and the Slack
stand-in on loopback, a real database, one stepped clock): once with no faults, once with
latency, HTTP 5xx, hangs past the client's timeout, 429s and garbage replies on a fifth
of the calls to every simulator. The faulty day must end where the clean one does: every
transfer in the same phase, the same alerts (by transfer and kind), each posted once.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.services import Services
from bot.watcher.transport import provider_transport
from providers.registry import ProviderRegistry
from providers.simulators import make_simulator
from providers.simulators.base import FaultRule, Faults, LoopbackServer, SimClock
from storage.database import Database
from storage.migrate import upgrade_database
from storage.secrets import SecretBox
from tests.reliability.processes import alerts
from tests.reliability.results import record
from tests.watcher.conftest import (
    CHANNEL,
    PROVIDERS,
    SECRET,
    TOKEN,
    ReadableStandIn,
    Rig,
    account_for,
    make_settings,
    watcher_settings,
)

MINUTE, HOUR = 60.0, 3600.0
DAY = 24 * HOUR
STEP = 10 * MINUTE
FAULT_RATE = 0.20
TIMEOUT = 0.25  # seconds per provider call in this rig; a hang lasts past it
# the mix of a fault, by mode: garbage comes in three shapes
MIX = {
    "latency": 0.2,
    "error": 0.2,
    "hang": 0.15,
    "ratelimit": 0.1,
    "malformed": 0.15,
    "truncated": 0.1,
    "wrong_content_type": 0.1,
}

# (provider, story) for each transfer: all settle, or stay put, within the day
TRANSFERS: tuple[tuple[str, Any], ...] = (
    ("cpanel", [(0, "RUNNING"), (2 * HOUR, "COMPLETED")]),
    ("cpanel", [(0, "RUNNING"), (5 * HOUR, "FAILED")]),
    ("cpanel", [(0, "RUNNING")]),
    ("hostway", "bad_auth"),
    ("hostway", "fails"),
    ("hostway", "moving"),
    ("opensrs", "quick"),
    ("opensrs", "bad_auth"),
    ("opensrs", "completes"),
    ("gandi", "completes"),
    ("gandi", "authorization_error"),
    ("gandi", "duplicate"),
    ("gandi", "stays_waiting"),
)


class ChaosFaults(Faults):
    """Faults that strike a given share of calls at random, counting each one by mode."""

    def __init__(self, rate: float, seed: int, *, seconds: Callable[[str], float]) -> None:
        super().__init__(rng=random.Random(seed))
        self.rate = rate
        self.seconds = seconds
        self.injected: Counter[str] = Counter()

    def pick(self, operation: str) -> FaultRule | None:
        if self.rng.random() >= self.rate:
            return None
        mode = self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
        self.injected[mode] += 1
        return FaultRule(mode, operation, seconds=self.seconds(mode), retry_after=1)


def _seconds(mode: str) -> float:
    return {"latency": TIMEOUT / 5, "hang": TIMEOUT * 3}.get(mode, 0.0)


@dataclass
class Day:
    """How a simulated day ended."""

    phases: list[str]
    alerts: Counter[tuple[int, str]]  # (transfer's place in TRANSFERS, alert kind)
    delivered: Counter[int] = field(default_factory=Counter)  # messages per alert id
    faults: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    poll_errors: int = 0


@asynccontextmanager
async def day_rig(url: str, *, seed: int) -> AsyncIterator[Rig]:
    """The watcher rig's parts, with retries as deployed and chaos switches (off at first)."""
    await upgrade_database(url)
    db = Database(url)
    clock = SimClock(frozen=True)
    sims = {p: make_simulator(p, secret=SECRET, clock=clock) for p in PROVIDERS}
    for n, sim in enumerate(sims.values()):
        sim.faults = ChaosFaults(0.0, seed + n, seconds=_seconds)
    standin = ReadableStandIn(token=TOKEN, channels={CHANNEL: "transfer-alerts"})
    servers = [LoopbackServer(sim) for sim in sims.values()]
    urls = [await server.start() for server in servers]
    try:
        async with standin.serve() as slack_url:
            accounts = {
                p: account_for(p, u, timeout=TIMEOUT, read_retries=2)
                for p, u in zip(sims, urls, strict=True)
            }
            api = f"{slack_url}/api/"
            services = Services(
                settings=make_settings(api, list(accounts.values()), watcher_settings()),
                db=db,
                registry=ProviderRegistry(accounts.values(), transport_factory=provider_transport),
                slack=AsyncWebClient(token=TOKEN, base_url=api),
                secret_box=SecretBox(None),
                instance="chaos-1",
                now=clock.now,
            )
            try:
                yield Rig(clock, sims, accounts, standin, services)
            finally:
                await services.aclose()
    finally:
        for server in servers:
            await server.stop()


async def simulated_day(url: str, *, rate: float, seed: int = 11) -> Day:
    async with day_rig(url, seed=seed) as rig:
        rows = []
        for n, (provider, story) in enumerate(TRANSFERS):
            rows.append(await rig.watch(provider, _add(rig.sims[provider], n, story)))
        for sim in rig.sims.values():  # the day starts now, faults on
            sim.faults.calls.clear()
            sim.faults.rate = rate
        errors = 0
        for _ in range(int(DAY / STEP)):
            errors += (await rig.step(STEP)).errors
        await rig.step(0)  # posts whatever the last step's failures held back
        place = {row.id: n for n, row in enumerate(rows)}
        found = await alerts(rig.services)
        return Day(
            phases=[(await rig.row(row.id or 0)).phase for row in rows],
            alerts=Counter((place.get(a.transfer_id, -1), a.kind) for a in found),
            delivered=rig.standin.delivered(),
            faults=sum((s.faults.injected for s in rig.sims.values()), Counter()),
            calls=sum(sum(s.faults.calls.values()) for s in rig.sims.values()),
            poll_errors=errors,
        )


def _add(sim: Any, n: int, story: Any) -> str:
    domain = f"chaos{n}.example"
    if sim.name == "cpanel":
        return str(sim.add_session(script=story, accounts=[f"user{n}"]))
    if sim.name == "hostway":
        return str(sim.add_transfer(domain, script=story))
    if sim.name == "opensrs":
        return str(sim.add_order(domain, script=story))
    return str(sim.add_operation(domain, story=story))


@pytest.mark.parametrize("seed", [11, pytest.param(23, marks=pytest.mark.slow)])
async def test_a_day_with_a_fifth_of_provider_calls_faulted_ends_where_a_clean_day_does(
    tmp_path: Path, seed: int
) -> None:
    clean = await simulated_day(f"sqlite+aiosqlite:///{tmp_path}/clean.sqlite3", rate=0.0)
    chaos = await simulated_day(
        f"sqlite+aiosqlite:///{tmp_path}/chaos.sqlite3", rate=FAULT_RATE, seed=seed
    )
    injected = sum(chaos.faults.values())
    print(
        f"clean day: {clean.calls} calls; faulty day: {chaos.calls} calls, {injected} faults "
        f"({dict(chaos.faults)}), {chaos.poll_errors} polls failed after retries; "
        f"phases {Counter(clean.phases)}, alerts {sum(clean.alerts.values())}"
    )
    assert clean.faults == Counter() and injected >= 0.15 * chaos.calls
    assert set(chaos.faults) == set(MIX)  # every kind of fault struck
    assert len(set(clean.phases)) >= 4  # the day itself moves: completed, failed, blocked...
    assert chaos.phases == clean.phases
    assert chaos.alerts == clean.alerts  # the same alerts, none extra, none missing
    assert set(clean.delivered.values()) == set(chaos.delivered.values()) == {1}
    assert sum(chaos.delivered.values()) == sum(clean.alerts.values())
    record(
        "faults survived",
        "provider faults in a simulated day (20 % of calls, all four providers)",
        injected,
        "faults",
        combine="sum",
        note="Latency, HTTP 5xx, hangs past the timeout, 429s and garbage replies at random.",
    )
