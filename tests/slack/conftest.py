"""The Slack bot on loopback: provider simulators, the Slack stand-in, a real database, the app.

``bot`` is one running deployment: signed requests go into the app served over HTTP
(``bot.slack``), its Web API calls land in the stand-in (``bot.standin``), providers are
the simulators (``bot.sims``), the database is a migrated SQLite file, and ``/metrics``
is served too (``bot.scrape()``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.runtime.metrics import Metrics
from bot.runtime.serve import EVENTS_PATH, METRICS_PATH, http_app
from bot.runtime.signed import SignedSlack
from bot.runtime.standin import Ephemeral, PostedMessage, SlackStandIn
from bot.services import Services
from bot.settings import DatabaseSettings, RouteRule, SecuritySettings, Settings, SlackSettings
from bot.slack.app import build_app
from providers.settings import ProviderAccount
from providers.simulators.base import LoopbackServer, SimClock
from providers.simulators.cpanel import CpanelSimulator
from providers.simulators.gandi import GandiSimulator
from providers.simulators.gandi_v5 import GandiV5Simulator
from providers.simulators.hostway import HostwaySimulator
from providers.simulators.opensrs import OpenSRSSimulator
from storage.migrate import upgrade_database
from storage.secrets import SecretBox

TOKEN = "xoxb-test-token-0123"
SIGNING_SECRET = "signing-secret-for-tests-0123456789"
PROVIDER_SECRET = "provider-secret-for-tests-0123"
CHANNEL = "C0OPS"
ALERTS = "C0ALERTS"
ALICE = "U0ALICE"  # operator
BOB = "U0BOB"  # approver
CAROL = "U0CAROL"  # operator and approver, through user groups
DAVE = "U0DAVE"  # nobody in particular
ERIN = "U0ERIN"  # approver only, not an operator
OPERATORS_GROUP = "S0OPS"
APPROVERS_GROUP = "S0APPROVE"
HOSTWAY_ACCOUNT = "acct12345"
RIGHT_EPP = "Right-EPP-42"
WHM_USER = "root"
RESELLER = "test_rsp"


@dataclass
class Now:
    """The bot's clock: real time plus whatever a test skips ahead."""

    skipped: timedelta = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.skipped

    def advance(self, **delta: float) -> None:
        self.skipped += timedelta(**delta)


@dataclass
class Bot:
    services: Services
    standin: SlackStandIn
    slack: SignedSlack
    sims: dict[str, Any]
    url: str
    now: Now
    db_path: Path
    accounts: dict[str, str] = field(default_factory=dict)  # provider type -> account name

    async def settle(self) -> None:
        """Wait for everything the app started after its acks."""
        await self.services.drain(wait_seconds=20)

    async def command(self, text: str, *, user: str = ALICE, **options: Any) -> httpx.Response:
        """Send a slash command; an answer in the ack's body is shown as Slack would show it."""
        channel = options.pop("channel", CHANNEL)
        response = await self.slack.command(text, user=user, channel=channel, **options)
        if response.status_code == 200 and response.content:
            body = response.json()
            self.standin.ephemerals.append(
                Ephemeral(channel, user, body.get("text", ""), body.get("blocks", []), "ack")
            )
        await self.settle()
        return response

    async def click(self, button: Any, *, user: str, **options: Any) -> httpx.Response:
        if "view" not in options:
            options.setdefault("channel", CHANNEL)
        response = await self.slack.click(button, user=user, **options)
        await self.settle()
        return response

    def answers_to(self, user: str) -> list[Ephemeral]:
        """What only ``user`` saw (response_url replies and ephemerals), oldest first."""
        return [e for e in self.standin.ephemerals if e.user == user]

    def last_answer(self, user: str) -> Ephemeral:
        answers = self.answers_to(user)
        assert answers, f"{user} was told nothing"
        return answers[-1]

    async def scrape(self) -> str:
        """What the bot's /metrics endpoint shows now (Prometheus text)."""
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{self.url}{METRICS_PATH}")
        response.raise_for_status()
        return response.text

    def text_of(self, item: Ephemeral | PostedMessage | dict[str, Any]) -> str:
        return self.standin.render(item)

    def channel(self, channel: str = CHANNEL) -> list[PostedMessage]:
        return self.standin.channel(channel)

    def as_seen(self, message: PostedMessage) -> dict[str, Any]:
        """A message as it shows now, kept: clicks on it later come from this copy."""
        return {
            "type": "message",
            "ts": message.ts,
            "text": message.text,
            "blocks": [dict(b) for b in message.blocks],
        }

    def request_message(self, channel: str = CHANNEL) -> PostedMessage:
        """The newest top-level message in ``channel`` (an approval request)."""
        messages = self.channel(channel)
        assert messages, f"nothing was posted in {channel}"
        return messages[-1]

    async def audit(self) -> list[tuple[str, str]]:
        """(actor, verb) of every audit entry, oldest first."""
        from storage.audit import list_audit

        async with self.services.db.session() as session:
            entries = await list_audit(session, limit=1000)
        return [(e.actor, e.verb) for e in reversed(entries)]

    async def watch(self, account: str, ref: str, *, user: str = ALICE) -> str:
        """Watch a transfer through Slack; return its short id."""
        await self.command(f"watch {account} {ref}", user=user)
        answer = self.last_answer(user)
        assert "watching" in answer.text.lower() or "watched" in answer.text.lower(), answer.text
        from storage.transfers import get_transfer_by_ref

        async with self.services.db.session() as session:
            row = await get_transfer_by_ref(session, account=account, ref=ref)
        assert row is not None
        return row.short_id


async def a_resend_redelivered(
    sender: Bot, *, to: Bot | None = None
) -> tuple[OpenSRSSimulator, str]:
    """ALICE has ``sender`` resend the owner's e-mail of a watched OpenSRS order (an action
    the transfer still offers afterwards: only the database can tell a repeat); 30 s later
    (past a double click: Slack redelivers within minutes) the same signed command comes
    again, after a timeout, to ``to`` (another replica; ``sender`` itself by default). The
    e-mail went once and the redelivery got no answer: (the simulator, the short id)."""
    to = to or sender
    opensrs: OpenSRSSimulator = sender.sims["opensrs"]
    short_id = await sender.watch(
        "opensrs-main", opensrs.add_order("o.example", script="waits_for_owner")
    )
    command = sender.slack.command_body(f"resend {short_id}", user=ALICE, channel=CHANNEL)
    await sender.slack.post(command)
    await sender.settle()
    answered = len(sender.answers_to(ALICE))
    to.now.advance(seconds=30)
    await to.slack.post(command, retry_num=1, retry_reason="http_timeout")
    await to.settle()
    assert opensrs.faults.calls["SEND_PASSWORD"] == 1
    assert len(to.answers_to(ALICE)) == answered  # a redelivery is answered no more
    return opensrs, short_id


def button_labels(item: Ephemeral | PostedMessage | dict[str, Any]) -> list[str]:
    """The labels of every button in a message or view, in order."""
    blocks = item.get("blocks", []) if isinstance(item, dict) else item.blocks
    labels = []
    for block in blocks:
        elements = list(block.get("elements") or [])
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        labels += [e["text"]["text"] for e in elements if e.get("type") == "button"]
    return labels


def _account(name: str, kind: str, url: str, **fields: Any) -> ProviderAccount:
    """A provider account for tests (a planted secret, fast limits, no read retries);
    ``fields`` add to or replace these."""
    return ProviderAccount.model_validate(
        {
            "name": name,
            "type": kind,
            "base_url": url,
            "secret_env": "UNUSED_IN_TESTS",
            "secret": PROVIDER_SECRET,
            "timeout": 2,
            "read_retries": 0,
            "rate_limit": 1000,
            "concurrency": 20,
            **fields,
        }
    )


def slack_settings(**overrides: Any) -> SlackSettings:
    values: dict[str, Any] = {
        "api_base_url": "http://127.0.0.1:9/api/",
        "alert_channel": ALERTS,
        "operators": (ALICE,),
        "approvers": (BOB,),
        "operator_groups": (OPERATORS_GROUP,),
        "approver_groups": (APPROVERS_GROUP,),
        "request_expiry_minutes": 30,
        "bot_token": SecretStr(TOKEN),
        "signing_secret": SecretStr(SIGNING_SECRET),
        **overrides,
    }
    return SlackSettings(**values)


@pytest.fixture
def slack_overrides() -> dict[str, Any]:
    """Override in a test module (or parametrize) to change the [slack] settings."""
    return {}


@pytest.fixture
def routes() -> tuple[RouteRule, ...]:
    """Override in a test module to route alerts ([[routes]])."""
    return ()


@pytest.fixture
async def bot(
    tmp_path: Path, slack_overrides: dict[str, Any], routes: tuple[RouteRule, ...]
) -> AsyncIterator[Bot]:
    clock = SimClock(frozen=True)
    sims: dict[str, Any] = {
        "hostway": HostwaySimulator(
            secret=PROVIDER_SECRET, clock=clock, account_number=HOSTWAY_ACCOUNT
        ),
        "opensrs": OpenSRSSimulator(secret=PROVIDER_SECRET, username=RESELLER, clock=clock),
        "cpanel": CpanelSimulator(secret=PROVIDER_SECRET, username=WHM_USER, clock=clock),
        "gandi": GandiSimulator(secret=PROVIDER_SECRET, clock=clock),
        "gandi_v5": GandiV5Simulator(secret=PROVIDER_SECRET, clock=clock),
    }
    standin = SlackStandIn(
        token=TOKEN,
        user_groups={OPERATORS_GROUP: [CAROL], APPROVERS_GROUP: [CAROL, ERIN]},
        channels={CHANNEL: "transfer-ops", ALERTS: "transfer-alerts"},
    )
    db_path = tmp_path / "bot.sqlite3"
    url = f"sqlite+aiosqlite:///{db_path}"
    await upgrade_database(url)
    servers = {kind: LoopbackServer(sim) for kind, sim in {**sims, "slack": standin}.items()}
    urls = dict(
        zip(servers, await asyncio.gather(*(s.start() for s in servers.values())), strict=True)
    )
    standin.base_url = urls["slack"]
    accounts = (
        _account("hostway-main", "hostway", urls["hostway"], account_number=HOSTWAY_ACCOUNT),
        _account("opensrs-main", "opensrs", urls["opensrs"], username=RESELLER),
        _account("whm-east", "cpanel", urls["cpanel"], username=WHM_USER),
        _account("gandi-main", "gandi", urls["gandi"]),
        _account("gandi5-main", "gandi", urls["gandi_v5"], api="v5"),
    )
    key = SecretBox.generate_key()
    api = f"{urls['slack']}/api/"
    settings = Settings(
        slack=slack_settings(api_base_url=api, **slack_overrides),
        database=DatabaseSettings(url=url),
        security=SecuritySettings(secret_key=SecretStr(key)),
        accounts=accounts,
        routes=routes,
    )
    now = Now()
    services = Services.from_settings(  # as serve builds them: the production transport
        settings, now=now, metrics=Metrics(accounts=[a.name for a in accounts])
    )
    app = http_app(build_app(services), services, metrics=services.metrics)
    app_server = LoopbackServer(app)
    bot_url = await app_server.start()
    signed = SignedSlack(
        url=f"{bot_url}{EVENTS_PATH}", signing_secret=SIGNING_SECRET, standin=standin
    )
    try:
        yield Bot(
            services=services,
            standin=standin,
            slack=signed,
            sims=sims,
            url=bot_url,
            now=now,
            db_path=db_path,
            accounts={a.type: a.name for a in accounts},
        )
    finally:
        await app_server.stop()
        await services.aclose()
        await asyncio.gather(*(server.stop() for server in servers.values()))


async def when_up(
    client: httpx.AsyncClient,
    running: asyncio.Task[None] | asyncio.subprocess.Process,
    *,
    seconds: float = 60.0,  # a loaded machine starts Python slowly
) -> httpx.Response:
    """The first answer of ``/healthz`` from a bot being started, as a task or a process;
    fails at once, with what stopped it, if it stopped first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if isinstance(running, asyncio.Task):
            if running.done():
                running.result()  # raises what stopped it
                raise AssertionError("serve returned before answering /healthz")
        elif running.returncode is not None:
            raise AssertionError(f"serve exited with {running.returncode} before /healthz")
        try:
            return await client.get("/healthz")
        except httpx.TransportError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"serve did not answer /healthz within {seconds:g} s")
