"""Benchmark acknowledging slash commands: ``python -m tests.perf.ack``.

Signed ``/transfer`` commands go over HTTP to ``/slack/events`` at concurrency 1, 10 and
50, from an aiohttp client in this process, to servers that each run in a process of
their own:

* **bare**: a Bolt ``AsyncApp`` whose only listener acks, behind the same Starlette route
  and uvicorn: the floor any Bolt app can reach here.
* **ours**: the bot's app (``build_app``) with a real SQLite database, asked ``help``
  (answered inside the ack) and ``status <ref>`` (an empty ack; the database, a provider
  call and the response_url post follow it, in the same process).

* **socket**: the same two apps in Socket Mode (the bot's ``SocketModeConnection``, Bolt's
  aiohttp handler), each connected to a Slack stand-in of its own in this process, which
  sends the same ``/transfer help`` as envelopes over the WebSocket; latency is from sending
  an envelope to receiving its ack.

The Slack stand-in and a Hostway simulator run in one more process, as Slack and a
provider would be elsewhere. Every server runs with Bolt's ``process_before_response``
True (the bot's choice) and False (Bolt's default, which waits for the ack by polling
every 10 ms). Latency is from sending a request to having read the whole response;
each level is measured in rounds that alternate between the servers, so background
noise on a shared machine falls on all of them alike. It prints a table, the number of
"database is locked" errors the bot's servers logged, and, last, one JSON line comparing
ours (both commands) with the bare app in the bot's mode.

Target: ours' p99 within 1.25x of the bare app's at every concurrency, and under 100 ms
at 50 concurrent requests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.runtime.signed import SignedSlack
from tests.reliability.loadgen import closed_loop, percentiles, signed_command

SECRET = "benchmark-signing-secret-0123456789"
TOKEN = "xoxb-benchmark-token"
USER = "U0BENCH"
CHANNEL = "C0BENCH"
DOMAIN = "bench.example"
HOSTWAY_ACCOUNT = "acct1"
CONCURRENCY = (1, 10, 50)
REQUESTS = {1: 900, 10: 1500, 50: 2500}  # per server and level, at --scale 1
ROUNDS = 5
TARGET_RATIO = 1.25
TARGET_P99_AT_50_MS = 100.0
# (name, server kind, process_before_response, command text, share of REQUESTS)
LOCKED = "database is locked"
CASES = (
    ("bare (pbr)", "bare", True, "help", 1.0),
    ("ours (pbr) help", "ours", True, "help", 1.0),
    ("ours (pbr) status", "ours", True, f"status {DOMAIN}", 0.4),
    ("bare (default)", "bare", False, "help", 1.0),
    ("ours (default) help", "ours", False, "help", 1.0),
)
# Socket Mode: (name, server kind, command text); process_before_response True, the bot's
SOCKET_CASES = (
    ("bare (socket)", "bare-socket", "help"),
    ("ours (socket) help", "ours-socket", "help"),
)
APP_TOKEN = "xapp-1-benchmark-app-token"


# -- the servers (each in its own process) ------------------------------------------------------
async def _backends() -> str:
    """The Slack stand-in and a Hostway simulator with one transfer: "standin hostway"."""
    from bot.runtime.standin import SlackStandIn
    from providers.simulators.base import LoopbackServer
    from providers.simulators.hostway import HostwaySimulator

    sim = HostwaySimulator(secret=SECRET, account_number=HOSTWAY_ACCOUNT)
    sim.add_transfer(DOMAIN, script="moving", age=3600)
    standin = await LoopbackServer(SlackStandIn(token=TOKEN)).start()
    return f"{standin} {await LoopbackServer(sim).start()}"


async def _bare_bolt(pbr: bool, standin: str) -> Any:
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(token=TOKEN, base_url=f"{standin}/api/")
    app = AsyncApp(client=client, signing_secret=SECRET, process_before_response=pbr)

    @app.command("/transfer")
    async def ack_only(ack: Any) -> None:
        await ack()

    return app


async def _bare_app(pbr: bool, standin: str) -> Any:
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.routing import Route

    handler = AsyncSlackRequestHandler(await _bare_bolt(pbr, standin))

    async def events(request: Request) -> Any:
        return await handler.handle(request)

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"])])


async def _our_app(pbr: bool, standin: str, hostway: str, workdir: Path) -> Any:
    from bot.runtime.serve import http_app

    bolt_app, services = await _our_bolt(pbr, standin, hostway, workdir)
    return http_app(bolt_app, services)


async def _our_bolt(pbr: bool, standin: str, hostway: str, workdir: Path) -> tuple[Any, Any]:
    """The bot's Bolt app and its services, one transfer watched."""
    from pydantic import SecretStr
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.services import Services
    from bot.settings import SecuritySettings, Settings, SlackSettings
    from bot.slack.app import build_app
    from providers.registry import ProviderRegistry
    from providers.settings import ProviderAccount
    from storage.database import Database
    from storage.migrate import upgrade_database
    from storage.secrets import SecretBox
    from storage.transfers import watch_transfer

    url = f"sqlite+aiosqlite:///{workdir}/bench.sqlite3"
    await upgrade_database(url)
    account = ProviderAccount.model_validate(
        {
            "name": "hostway-main",
            "type": "hostway",
            "base_url": hostway,
            "secret_env": "UNUSED",
            "secret": SECRET,
            "account_number": HOSTWAY_ACCOUNT,
            "rate_limit": 10_000,
            "concurrency": 100,
        }
    )
    key = SecretBox.generate_key()
    settings = Settings(
        slack=SlackSettings(
            api_base_url=f"{standin}/api/",
            operators=(USER,),
            approvers=("U0OTHER",),
            bot_token=SecretStr(TOKEN),
            signing_secret=SecretStr(SECRET),
        ),
        security=SecuritySettings(secret_key=SecretStr(key)),
        accounts=(account,),
    )
    services = Services(
        settings=settings,
        db=Database(url),
        registry=ProviderRegistry([account]),
        slack=AsyncWebClient(token=TOKEN, base_url=f"{standin}/api/"),
        secret_box=SecretBox(key),
    )
    snapshot = await services.registry.get(account.name).get_transfer(DOMAIN)
    async with services.db.session() as session:
        await watch_transfer(session, transfer=snapshot, watched_by=USER)
    return build_app(services, process_before_response=pbr), services


async def _serve(args: argparse.Namespace) -> None:
    import logging

    from providers.simulators.base import LoopbackServer

    logging.basicConfig(level=logging.WARNING)
    if args.serve == "backends":
        print(f"READY {await _backends()}", flush=True)
        await asyncio.Event().wait()
    with tempfile.TemporaryDirectory() as workdir:
        if args.serve.endswith("-socket"):
            await _serve_socket(args, Path(workdir))
        if args.serve == "bare":
            app = await _bare_app(args.pbr, args.standin)
        else:
            app = await _our_app(args.pbr, args.standin, args.hostway, Path(workdir))
        url = await LoopbackServer(app).start()
        print(f"READY {url}/slack/events", flush=True)
        await asyncio.Event().wait()


async def _serve_socket(args: argparse.Namespace, workdir: Path) -> None:
    """Connect to the stand-in at ``args.standin`` in Socket Mode and answer until killed."""
    from bot.runtime.socket_client import SocketModeConnection

    if args.serve == "bare-socket":
        app = await _bare_bolt(True, args.standin)
    else:
        app, _ = await _our_bolt(True, args.standin, args.hostway, workdir)
    connection = SocketModeConnection(app, APP_TOKEN)
    await connection.open()
    print("READY connected", flush=True)
    await asyncio.Event().wait()


@dataclass
class Process:
    """A server in a process of its own; ``urls`` are what it printed when ready."""

    name: str
    process: subprocess.Popen[str]
    urls: list[str]
    log: Path

    @classmethod
    def start(cls, name: str, logs: Path, *options: str) -> Process:
        args = [sys.executable, "-m", "tests.perf.ack", "--serve", *options]
        log = logs / f"{len(list(logs.iterdir()))}.log"
        with log.open("w") as stderr:
            process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("READY "):
            process.kill()
            raise RuntimeError(f"{name} did not start: {line!r}; see {log}")
        return cls(name, process, line.split()[1:], log)

    def count_logged(self, words: str) -> int:
        """How many lines of this server's log (its stderr) contain ``words``."""
        return sum(words in line for line in self.log.read_text(errors="replace").splitlines())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


# -- the load ------------------------------------------------------------------------------------
def _signed_requests(text: str, count: int, standin: str) -> list[tuple[bytes, dict[str, str]]]:
    """Slash-command bodies as Slack sends them (response_urls at the stand-in), signed."""
    slack = SignedSlack(url="", signing_secret=SECRET)
    return [
        signed_command(slack, text, user=USER, channel=CHANNEL, response_base=f"{standin}/response")
        for _ in range(count)
    ]


async def _load(url: str, text: str, concurrency: int, count: int, standin: str) -> list[float]:
    """Send ``count`` commands, ``concurrency`` at a time; the seconds each one took."""
    requests = iter(_signed_requests(text, count, standin))
    result = await closed_loop(
        url, lambda: next(((text, r) for r in requests), None), concurrency=concurrency
    )
    if result.errors:
        raise RuntimeError(f"{url} answered: {result.errors[0]}")
    return result.latencies


def _figures(latencies: list[float]) -> dict[str, float]:
    found = percentiles(latencies)
    return {
        "p50": round(found["p50"] * 1000, 2),
        "p99": round(found["p99"] * 1000, 2),
        "n": len(latencies),
    }


async def socket_load(link: Any, payloads: list[dict[str, str]], concurrency: int) -> list[float]:
    """Send each payload as a slash_commands envelope over the stand-in's Socket Mode
    ``link``, ``concurrency`` at a time; the seconds from sending each to receiving its ack."""
    todo, latencies = iter(payloads), []

    async def worker() -> None:
        for payload in todo:
            started = time.perf_counter()
            await link.deliver("slash_commands", payload, accepts_response_payload=True)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def _payloads(text: str, count: int, standin: str) -> list[dict[str, str]]:
    """Slash-command payloads as Socket Mode carries them (a form body's fields)."""
    from urllib.parse import parse_qsl

    slack = SignedSlack(url="", signing_secret=SECRET)
    base = f"{standin}/response"
    return [
        dict(
            parse_qsl(
                signed_command(slack, text, user=USER, channel=CHANNEL, response_base=base)[
                    0
                ].decode()
            )
        )
        for _ in range(count)
    ]


async def _run(scale: float, logs: Path) -> dict[str, dict[str, Any]]:
    from bot.runtime.standin import SlackStandIn

    backends = Process.start("backends", logs, "backends")
    standin, hostway = backends.urls
    servers: dict[str, Process] = {}
    links: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        try:
            for name, kind, pbr, _, _ in CASES:
                options = [kind, "--standin", standin, "--hostway", hostway]
                servers[name] = Process.start(name, logs, *options, *(["--pbr"] if pbr else []))
            for name, kind, _ in SOCKET_CASES:  # each with a stand-in (and link) of its own
                socket_standin = SlackStandIn(token=TOKEN, app_token=APP_TOKEN)
                url = await stack.enter_async_context(socket_standin.serve())
                options = [kind, "--standin", url, "--hostway", hostway]
                servers[name] = await asyncio.to_thread(Process.start, name, logs, *options)
                links[name] = socket_standin.socket_mode
            for name, _, _, text, _ in CASES:  # warm up: auth.test, imports, caches
                await _load(servers[name].urls[0], text, 10, 100, standin)
            for name, _, text in SOCKET_CASES:
                await socket_load(links[name], _payloads(text, 100, standin), 10)
            results: dict[str, dict[str, Any]] = {}
            for concurrency in CONCURRENCY:
                latencies: dict[str, list[float]] = {n: [] for n in [*servers]}
                for _ in range(ROUNDS):
                    for name, _, _, text, share in CASES:
                        count = max(
                            concurrency, int(scale * share * REQUESTS[concurrency] / ROUNDS)
                        )
                        url = servers[name].urls[0]
                        latencies[name] += await _load(url, text, concurrency, count, standin)
                        await asyncio.sleep(0.3 if text.startswith("status") else 0.05)
                    for name, _, text in SOCKET_CASES:
                        count = max(concurrency, int(scale * REQUESTS[concurrency] / ROUNDS))
                        payloads = _payloads(text, count, standin)
                        latencies[name] += await socket_load(links[name], payloads, concurrency)
                        await asyncio.sleep(0.05)
                for name, values in latencies.items():
                    results.setdefault(name, {})[str(concurrency)] = _figures(values)
            await asyncio.sleep(1)  # the work after the last acks (database, response_url) ends
            for name, server in servers.items():
                results[name]["locked"] = server.count_logged(LOCKED)
            return results
        finally:
            for process in [*servers.values(), backends]:
                process.stop()


def _report(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    print(f"{'server':<22}" + "".join(f"{f'c={c} p50':>11}{'p99 (ms)':>10}" for c in CONCURRENCY))
    for name, by_level in results.items():
        cells = "".join(
            f"{by_level[str(c)]['p50']:>11.2f}{by_level[str(c)]['p99']:>10.2f}" for c in CONCURRENCY
        )
        print(f"{name:<22}{cells}")
    locked = sum(by_level["locked"] for by_level in results.values())
    print(f"'{LOCKED}' errors in the bot's logs: {locked}")
    bare = results["bare (pbr)"]
    summary: dict[str, Any] = {"mode": "process_before_response=True", "p99_target": TARGET_RATIO}
    summary["database_locked_errors"] = locked
    summary["bare"] = {c: _p(bare[c]) for c in map(str, CONCURRENCY)}
    for key, name in (("socket_bare", "bare (socket)"), ("socket_ours_help", "ours (socket) help")):
        summary[key] = {c: _p(results[name][c]) for c in map(str, CONCURRENCY)}
    for key, name in (("help", "ours (pbr) help"), ("status", "ours (pbr) status")):
        ours = results[name]
        ratios = {str(c): round(ours[str(c)]["p99"] / bare[str(c)]["p99"], 3) for c in CONCURRENCY}
        summary[f"ours_{key}"] = {c: _p(ours[c]) for c in map(str, CONCURRENCY)}
        summary[f"p99_ratio_{key}"] = ratios
        summary[f"target_met_{key}"] = (
            all(r <= TARGET_RATIO for r in ratios.values())
            and ours["50"]["p99"] < TARGET_P99_AT_50_MS
        )
    return summary


def _p(figures: dict[str, float]) -> dict[str, float]:
    return {"p50": figures["p50"], "p99": figures["p99"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.perf.ack",
        description="Measure how fast slash commands are acknowledged (see the module doc).",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the request counts")
    parser.add_argument(
        "--serve",
        choices=("backends", "bare", "ours", "bare-socket", "ours-socket"),
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--pbr", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--standin", help=argparse.SUPPRESS)
    parser.add_argument("--hostway", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args))
        return 0
    with tempfile.TemporaryDirectory() as logs:
        summary = _report(asyncio.run(_run(args.scale, Path(logs))))
    print(json.dumps(summary, separators=(",", ":")))
    return 0 if summary["target_met_help"] else 1


if __name__ == "__main__":
    sys.exit(main())
