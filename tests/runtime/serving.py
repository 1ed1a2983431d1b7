"""`transferbot serve` for the tests that start it whole, in HTTP mode and in Socket Mode
alike: its settings, its configuration file, the installed script in a process of its own
(stopped with SIGTERM), a Hostway account slow enough to answer after that SIGTERM, and
`serve --simulate` asked to watch a transfer."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from pydantic import SecretStr

from bot.runtime.serve import EVENTS_PATH
from bot.runtime.signed import SignedSlack
from bot.runtime.simulated import serve_simulated
from bot.runtime.socket_mode_slack import SocketSlack
from bot.runtime.standin import SlackStandIn
from bot.settings import DatabaseSettings, SecuritySettings, ServerSettings, Settings
from providers.simulators import make_simulator
from providers.simulators.base import LoopbackServer, SimClock
from storage.secrets import SecretBox
from tests.bot.test_cli import SCRIPT
from tests.reliability.processes import free_port
from tests.slack.conftest import ALICE, SIGNING_SECRET, TOKEN, slack_settings, when_up
from tests.waiting import until

APP_TOKEN = "xapp-1-A0STANDIN-test-app-token"
HOSTWAY_SECRET = "hostway-secret-0123"


def serve_settings(
    slack_url: str, port: int, db_url: str, *, app_token: str | None = None
) -> Settings:
    """Settings for ``serve()`` against the stand-in at ``slack_url``, health on ``port``,
    without user groups to ask Slack about; Socket Mode with ``app_token``, else HTTP."""
    mode = {"app_token": SecretStr(app_token), "signing_secret": None} if app_token else {}
    return Settings(
        slack=slack_settings(
            api_base_url=f"{slack_url}/api/", operator_groups=(), approver_groups=(), **mode
        ),
        security=SecuritySettings(secret_key=SecretStr(SecretBox.generate_key())),
        server=ServerSettings(host="127.0.0.1", port=port),
        database=DatabaseSettings(url=db_url),
    )


def serve_config(tmp_path: Path, *, slack_url: str, db_url: str, port: int, more: str = "") -> Path:
    """A ``transferbot.toml`` for ``transferbot serve`` against the stand-in at
    ``slack_url``, ALICE an operator; ``more`` goes at its end as written."""
    config = tmp_path / "transferbot.toml"
    config.write_text(
        f'[slack]\napi_base_url = "{slack_url}/api/"\nalert_channel = "C0ALERTS"\n'
        f'operators = ["{ALICE}"]\n'
        f'[database]\nurl = "{db_url}"\n'
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n' + more
    )
    return config


@asynccontextmanager
async def slow_hostway() -> AsyncIterator[str]:
    """A Hostway simulator on loopback holding ``slow.example``, each answer 2 s late: one
    asked for just before a SIGTERM comes after it. Yields the configuration of an account
    there (secret in HOSTWAY_TEST_TOKEN) and of a watcher that does not sync on its own."""
    hostway = make_simulator("hostway", secret=HOSTWAY_SECRET, clock=SimClock())
    hostway.add_transfer("slow.example")
    hostway.faults.add("latency", seconds=2.0, times=None)
    async with LoopbackServer(hostway) as url:
        yield (
            "[watcher]\nsync_interval_minutes = 0\n"
            f'[[accounts]]\nname = "hostway-test"\ntype = "hostway"\nbase_url = "{url}"\n'
            'account_number = "acct12345"\nsecret_env = "HOSTWAY_TEST_TOKEN"\nread_retries = 0\n'
        )


@asynccontextmanager
async def serve_script(
    config: Path, env: dict[str, str], cwd: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``transferbot serve --config CONFIG``, the installed script, in a process of its own
    (stderr a pipe); killed at the end of the block if it still runs."""
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT), "serve", "--config", str(config), env=env, cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def sigterm(process: asyncio.subprocess.Process) -> tuple[int, str]:
    """Stop ``process`` as a deploy does (SIGTERM): (its exit status, what it wrote on stderr)."""
    process.terminate()
    assert process.stderr is not None
    err = (await asyncio.wait_for(process.stderr.read(), timeout=30)).decode()
    return await asyncio.wait_for(process.wait(), timeout=30), err


async def http_slack_when_up(
    standin: SlackStandIn, port: int, running: asyncio.Task[None] | asyncio.subprocess.Process
) -> SignedSlack:
    """Once the bot in HTTP mode answers ``/healthz`` on ``port``: signed requests to it,
    their response_urls at the stand-in."""
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=5) as web:
        assert (await when_up(web, running)).status_code == 200
    return SignedSlack(url=f"{base}{EVENTS_PATH}", signing_secret=SIGNING_SECRET, standin=standin)


async def socket_slack_when_up(
    standin: SlackStandIn, port: int, running: asyncio.Task[None] | asyncio.subprocess.Process
) -> SocketSlack:
    """Once the bot in Socket Mode answers ``/healthz`` on ``port`` and has opened its link
    to the stand-in: envelopes sent on that link."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as web:
        await when_up(web, running)
    await standin.socket_mode.wait_connected(seconds=30)
    bodies = SignedSlack(url="unused", signing_secret="unused", standin=standin)
    return SocketSlack(standin.socket_mode, bodies)


async def watch_with_serve_simulate(
    tmp_path: Path, *, socket_mode: bool
) -> tuple[SlackStandIn, str]:
    """``transferbot serve --simulate`` (in Socket Mode, or HTTP mode) against a fresh
    stand-in; ALICE asks it to watch Hostway's wrong-epp.example, and it is stopped once
    she has her answer: (the stand-in, what serve printed)."""
    standin = SlackStandIn(token=TOKEN, app_token=APP_TOKEN)
    async with standin.serve() as slack_url:
        port = free_port()
        db_url = f"sqlite+aiosqlite:///{tmp_path}/sim.sqlite3"
        settings = serve_settings(
            slack_url, port, db_url, app_token=APP_TOKEN if socket_mode else None
        )
        printed, stop = io.StringIO(), asyncio.Event()
        running = asyncio.create_task(serve_simulated(settings, out=printed, stop=stop))
        try:
            slack: SignedSlack | SocketSlack
            if socket_mode:
                slack = await socket_slack_when_up(standin, port, running)
            else:
                slack = await http_slack_when_up(standin, port, running)
            await slack.command("watch hostway-sim wrong-epp.example", user=ALICE)
            # the answer comes after the ack, through the response_url
            await until(lambda: standin.ephemerals, seconds=10)
        finally:
            stop.set()
            await asyncio.wait_for(running, timeout=15)
    return standin, printed.getvalue()
