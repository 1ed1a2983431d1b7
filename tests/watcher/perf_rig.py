"""The watcher benchmark's rig: simulators in their own processes, tracked transfers in a
real database, the watcher's services, and the peers it is measured against (a bare
aiohttp poller, a naive sequential poller, several watcher processes)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import insert, select, update

from bot.runtime.tuning import tune_gc
from bot.services import Services
from bot.settings import Settings, WatcherSettings
from bot.watcher.poll import PassReport, run_poll_pass
from bot.watcher.transport import provider_transport
from providers.base import Phase
from providers.cpanel.wire import build_request as cpanel_request
from providers.gandi.xmlrpc import build_call
from providers.hostway.wire import transfer_path
from providers.opensrs.wire import build_request as opensrs_request
from providers.opensrs.wire import sign
from providers.registry import ProviderRegistry
from providers.settings import ProviderAccount
from storage.database import Database
from storage.models import TrackedTransfer
from storage.polling import record_observation
from storage.secrets import SecretBox

SECRET = "bench-simulator-secret-0123456789"
PROVIDERS = ("cpanel", "hostway", "opensrs", "gandi")
HOSTWAY_ACCOUNT = "acct12345"
USERS = {"cpanel": "root", "opensrs": "test_rsp"}
LIFTED = {"concurrency": 100, "rate_limit": 10_000.0}


@dataclass
class Sim:
    provider: str
    url: str
    process: asyncio.subprocess.Process
    refs: list[str]
    subjects: dict[str, str]


# -- simulators ------------------------------------------------------------------------------
async def start_simulator(provider: str) -> Sim:
    exe = Path(sys.executable).with_name("transferbot")
    args = [str(exe), "simulate", provider, "--port", "0", "--secret-env", "BENCH_SIM_SECRET"]
    if provider in USERS:
        args += ["--username", USERS[provider]]
    process = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "BENCH_SIM_SECRET": SECRET},
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    match = re.search(r"at (http://\S+?)[ ;(]", line + " ")
    if not match:
        process.kill()
        raise SystemExit(f"the {provider} simulator did not start: {line!r}")
    return Sim(provider, match[1].rstrip("/"), process, [], {})


def seed_specs(provider: str, start: int, count: int) -> tuple[dict[str, Any], list[str]]:
    """Transfers that stay in flight for days: what the watcher mostly watches."""
    names = [f"{provider[:2]}{i:06d}.example" for i in range(start, start + count)]
    if provider == "cpanel":
        items = [{"script": [[0, "RUNNING"]], "accounts": [f"u{i}"]} for i in range(count)]
        return {"sessions": items}, names
    if provider == "hostway":
        return {
            "transfers": [{"domain": d, "script": "moving", "age": 10800} for d in names]
        }, names
    if provider == "opensrs":
        return {"transfers": [{"domain": d, "script": "waits_for_owner"} for d in names]}, names
    return {
        "operations": [{"domain": d, "story": "stays_waiting", "age": 60} for d in names]
    }, names


async def seed(session: aiohttp.ClientSession, sim: Sim, count: int, latency: float) -> None:
    for start in range(0, count, 1000):
        spec, names = seed_specs(sim.provider, start, min(1000, count - start))
        async with session.post(f"{sim.url}/_sim/transfers", json=spec) as response:
            answer = await response.json()
        refs = answer.get("refs") or [answer.get("ref")]
        sim.refs += [str(ref) for ref in refs]
        sim.subjects.update(zip(map(str, refs), names, strict=True))
    fault = {"mode": "latency", "seconds": latency, "times": None}
    async with session.post(f"{sim.url}/_sim/faults", json=fault) as response:
        response.raise_for_status()


async def calls(session: aiohttp.ClientSession, sims: list[Sim]) -> dict[str, int]:
    counts = {}
    for sim in sims:
        async with session.get(f"{sim.url}/_sim/calls") as response:
            counts[sim.provider] = sum((await response.json()).values())
    return counts


# -- the bot ---------------------------------------------------------------------------------
def account(sim: Sim, concurrency: int, rate: float) -> ProviderAccount:
    fields: dict[str, Any] = {
        "name": f"{sim.provider}-bench",
        "type": sim.provider,
        "base_url": sim.url,
        "secret_env": "BENCH_SIM_SECRET",
        "secret": SECRET,
        "timeout": 10.0,
        "read_retries": 0,
        "concurrency": concurrency,
        "rate_limit": rate,
    }
    if sim.provider == "hostway":
        fields["account_number"] = HOSTWAY_ACCOUNT
    if sim.provider in USERS:
        fields["username"] = USERS[sim.provider]
    return ProviderAccount.model_validate(fields)


def services_for(
    db: Database, sims: list[Sim], *, concurrency: int, rate: float, transport: Any
) -> Services:
    accounts = [account(sim, concurrency, rate) for sim in sims]
    settings = Settings(
        watcher=WatcherSettings(batch_size=200, lease_seconds=600), accounts=tuple(accounts)
    )
    return Services(
        settings=settings,
        db=db,
        registry=ProviderRegistry(accounts, transport_factory=transport),
        slack=AsyncWebClient(),
        secret_box=SecretBox(None),
        instance=f"bench-{os.getpid()}-{time.monotonic()}",
    )


async def track(db: Database, sims: list[Sim]) -> None:
    now = datetime.now(UTC)
    rows = []
    for sim in sims:
        for ref in sim.refs:
            rows.append(
                TrackedTransfer(
                    short_id=f"b-{len(rows):06d}",
                    account=f"{sim.provider}-bench",
                    provider=sim.provider,
                    ref=ref,
                    subject=sim.subjects[ref],
                    phase=Phase.PENDING.value,
                    watched_by="bench",
                    first_seen_at=now,
                    updated_at=now,
                    next_poll_at=now,
                ).model_dump(exclude={"id"})
            )
    async with db.session() as session:
        for start in range(0, len(rows), 2000):
            await session.execute(insert(TrackedTransfer), rows[start : start + 2000])


async def all_due(db: Database) -> None:
    async with db.session() as session:
        await session.execute(update(TrackedTransfer).values(next_poll_at=datetime.now(UTC)))


async def timed_pass(services: Services, *, warm: bool = True) -> tuple[float, PassReport]:
    """Time one pass over every transfer. ``warm``: first run an unmeasured pass with the
    same clients, so the measured one is a steady-state pass (connections open, OpenSRS
    orders looked up once, as in a watcher that has been running)."""
    if warm:
        await all_due(services.db)
        await run_poll_pass(services)
    await all_due(services.db)
    began = time.perf_counter()
    report = await run_poll_pass(services)
    seconds = time.perf_counter() - began
    await services.registry.aclose()
    return seconds, report


async def top_rounds(
    services: Services, sims: list[Sim], rounds: int
) -> tuple[list[float], list[float]]:
    """Polls/s of the watcher (after one warm-up pass) and of the bare poller, taking
    turns ``rounds`` times."""
    tops, bares = [], []
    await all_due(services.db)
    await run_poll_pass(services)
    for _ in range(rounds):
        await all_due(services.db)
        began = time.perf_counter()
        report = await run_poll_pass(services)
        tops.append(report.polled / (time.perf_counter() - began))
        bares.append(await bare_poller_apart(sims, LIFTED["concurrency"]))
    await services.registry.aclose()
    return tops, bares


def floor_of(made: dict[str, int], concurrency: int, rate: float, latency: float) -> float:
    """The shortest time the limits allow for these calls: the slowest account's."""
    burst = max(1.0, min(rate, float(concurrency)))
    return max(max((n - burst) / rate, n * latency / concurrency) for n in made.values())


# -- the peers -------------------------------------------------------------------------------
def bare_request(sim: Sim, ref: str) -> tuple[str, str, dict[str, str], bytes | None]:
    if sim.provider == "cpanel":
        path, params = cpanel_request("get_transfer_session_state", ref)
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return "GET", f"{sim.url}{path}?{query}", {"Authorization": f"whm root:{SECRET}"}, None
    if sim.provider == "hostway":
        url = sim.url + transfer_path(HOSTWAY_ACCOUNT, ref)
        return "GET", url, {"Authorization": f"Bearer {SECRET}", "Accept": "application/json"}, None
    if sim.provider == "opensrs":
        body = opensrs_request(
            "CHECK_TRANSFER", "DOMAIN", {"domain": sim.subjects[ref], "check_status": "1"}
        )
        headers = {
            "Content-Type": "text/xml",
            "X-Username": "test_rsp",
            "X-Signature": sign(body, SECRET),
        }
        return "POST", f"{sim.url}/", headers, body
    body = build_call("operation.info", [SECRET, int(ref)])
    return "POST", f"{sim.url}/xmlrpc/", {"Content-Type": "text/xml"}, body


async def bare_poller(sims: list[Sim], concurrency: int) -> float:
    """Polls/s of plain aiohttp sending the same requests: no parsing, no database."""
    sessions = {
        s.provider: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
        for s in sims
    }
    gates = {s.provider: asyncio.Semaphore(concurrency) for s in sims}
    jobs = [(sim, bare_request(sim, ref)) for sim in sims for ref in sim.refs]

    async def one(sim: Sim, request: tuple[str, str, dict[str, str], bytes | None]) -> None:
        method, url, headers, body = request
        async with (
            gates[sim.provider],
            sessions[sim.provider].request(method, url, headers=headers, data=body) as response,
        ):
            await response.read()

    began = time.perf_counter()
    await asyncio.gather(*(one(sim, request) for sim, request in jobs))
    seconds = time.perf_counter() - began
    for session in sessions.values():
        await session.close()
    return len(jobs) / seconds


async def bare_poller_apart(sims: list[Sim], concurrency: int) -> float:
    """bare_poller in a process of its own, so this one's peak RSS stays the watcher's."""
    spec = json.dumps(
        {
            "concurrency": concurrency,
            "sims": [[s.provider, s.url, s.refs, s.subjects] for s in sims],
        }
    ).encode()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.perf.watcher",
        "--bare",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate(spec)
    if proc.returncode != 0:
        raise SystemExit("the bare poller failed")
    return float(json.loads(out)["polls_per_s"])


async def bare_worker() -> None:
    """The process bare_poller_apart starts: the sims on stdin, polls/s on stdout."""
    spec = json.loads(sys.stdin.buffer.read())
    sims = [
        Sim(provider, url, None, refs, subjects)  # type: ignore[arg-type]
        for provider, url, refs, subjects in spec["sims"]
    ]
    print(json.dumps({"polls_per_s": await bare_poller(sims, spec["concurrency"])}))


async def replicas_top(db: Database, url: str, sims: list[Sim], workers: int) -> float:
    """Polls/s of ``workers`` watcher processes (replicas) sharing the database, limits
    lifted: how the watcher uses more than one core. Each runs a warm-up pass first."""
    config = json.dumps({"database": url, "sims": [[s.provider, s.url] for s in sims]})
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.perf.watcher",
            "--worker",
            config,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(workers)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            await proc.stdout.readline()  # ready
        for _ in ("warm-up", "measured"):
            await all_due(db)
            began = time.perf_counter()
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write(b"go\n")
                await proc.stdin.drain()
            results = [json.loads(await p.stdout.readline()) for p in procs if p.stdout]
            seconds = time.perf_counter() - began
        return sum(r["polled"] for r in results) / seconds
    finally:
        for proc in procs:
            proc.kill()
            await proc.wait()


async def worker(config: str) -> None:
    """One replica for replicas_top: a pass each time a line comes on stdin."""
    spec = json.loads(config)
    sims = [Sim(provider, url, None, [], {}) for provider, url in spec["sims"]]  # type: ignore[arg-type]
    db = Database(spec["database"])
    services = services_for(db, sims, transport=provider_transport, concurrency=100, rate=10_000)
    tune_gc()  # as `transferbot serve` does
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "go":
        report = await run_poll_pass(services)
        print(json.dumps({"polled": report.polled}), flush=True)
    await services.registry.aclose()
    await db.dispose()


async def naive_sequential(db: Database, sims: list[Sim], sample: int) -> tuple[float, int]:
    """A cron script: one account after another, one call after another, each result stored.
    Timed on ``sample`` transfers per account, extrapolated to all of them."""
    total, measured = 0.0, 0
    registry = ProviderRegistry([account(sim, 1, 10_000) for sim in sims])
    async with db.session() as session:
        ids = {
            (row.account, row.ref): row.id for row in await session.scalars(select(TrackedTransfer))
        }
    for sim in sims:
        client = registry.get(f"{sim.provider}-bench")
        refs = sim.refs[:sample]
        began = time.perf_counter()
        for ref in refs:
            snapshot = await client.get_transfer(ref)
            async with db.session() as session:
                await record_observation(
                    session, transfer_id=ids[(f"{sim.provider}-bench", ref)], transfer=snapshot
                )
        total += (time.perf_counter() - began) / len(refs) * len(sim.refs)
        measured += len(refs)
    await registry.aclose()
    return total, measured
