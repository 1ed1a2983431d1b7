"""The demo's stage: simulators, the Slack stand-in and the whole bot on loopback, and the
people who talk to it through Slack's real request path (signed commands, clicks, forms)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr

from bot.runtime.logs import installed_masker
from bot.runtime.serve import EVENTS_PATH, RunningBot, start_bot
from bot.runtime.signed import SignedSlack, find_button
from bot.runtime.simulated import SimulatedProviders, simulated_providers
from bot.runtime.slack_messages import PostedMessage
from bot.runtime.socket_client import SocketModeConnection
from bot.runtime.socket_mode_slack import SocketSlack
from bot.runtime.standin import Ephemeral, SlackStandIn
from bot.services import Services
from bot.settings import (
    DatabaseSettings,
    EscalationLevel,
    FollowupPolicy,
    FollowupSettings,
    SecuritySettings,
    Settings,
    SlackSettings,
    WatcherSettings,
)
from bot.slack.ids import INPUT_ACTION_ID, input_block_id
from bot.watcher.schedule import Watcher
from providers.simulators.base import LoopbackServer, SimClock
from storage.alerts import pending_alerts
from storage.models import TrackedTransfer
from storage.secrets import SecretBox
from storage.transfers import get_transfer_by_ref

__all__ = ["ALERTS", "ALICE", "BOB", "OPS", "TRIAGE", "DemoFailed", "Stage", "open_stage"]

ALICE, BOB = "U0ALICE", "U0BOB"  # an operator; an approver
OPS, ALERTS = "C0OPS", "C0ALERTS"
TRIAGE = "S0TRIAGE"  # the user group an ignored stuck transfer is escalated to
PEOPLE = {ALICE: {"name": "alice", "real_name": "Alice (operator)"},
          BOB: {"name": "bob", "real_name": "Bob (approver)"}}  # fmt: skip
CHANNELS = {OPS: "transfer-ops", ALERTS: "transfer-alerts"}
TICK_SECONDS = 0.2
SETTLE_SECONDS = 30.0  # real seconds a step may take before the demo gives up


class DemoFailed(Exception):
    """The story did not go as it should; the message says which step and why."""


class _CountingWatcher(Watcher):
    """The bot's watcher, telling the story when a pass that began after its ask has run."""

    asked = 0  # bumped by the story when it wants a fresh pass
    answered = 0  # the newest ask a whole pass has run for

    async def tick(self) -> Any:
        asked = self.asked
        report = await super().tick()
        if report is not None:  # None: another pass was running, or this one failed
            self.answered = max(self.answered, asked)
        return report


@dataclass
class Stage:
    """Everything the story plays on; ``say`` prints, ``pause`` paces it for a reader."""

    providers: SimulatedProviders
    standin: SlackStandIn
    services: Services
    slack: SignedSlack
    watcher: _CountingWatcher
    bot_url: str
    out: TextIO
    pause_seconds: float
    db_path: Path
    secret_values: tuple[str, ...]  # the provider secret, bot token and signing secret
    socket: SocketSlack | None = None  # Socket Mode: what people do goes over the link

    async def _send(self, kind: str, **fields: Any) -> tuple[int, dict[str, Any]]:
        """Send a command, click or form over HTTP (signed) or the Socket Mode link; the
        status (200 once acked) and the answer in the ack."""
        if self.socket is not None:
            ack = await getattr(self.socket, kind)(**fields)
            return 200, dict(ack.get("payload") or {})
        response = await getattr(self.slack, kind)(**fields)
        return response.status_code, (response.json() if response.content else {})

    @property
    def clock(self) -> SimClock:
        return self.providers.clock

    def sim(self, provider: str) -> Any:
        return self.providers.sims[provider]

    def account(self, provider: str) -> str:
        return self.providers.account_name(provider)

    # -- narration ----------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def scene(self, number: int, title: str) -> None:
        self.say(f"\n━━ {number}. {title} " + "━" * max(3, 72 - len(title)))

    async def pause(self, factor: float = 1.0) -> None:
        if self.pause_seconds > 0:
            await asyncio.sleep(self.pause_seconds * factor)

    def _name(self, user: str) -> str:
        return str(PEOPLE.get(user, {}).get("name", user))

    # -- Slack's side: what people type and click ----------------------------------------
    async def command(self, text: str, *, user: str = ALICE, channel: str = OPS) -> None:
        """``/transfer text`` typed by ``user``; its answer shows as Slack would show it."""
        self.say(f"\n  @{self._name(user)} in #{CHANNELS[channel]}:  /transfer {text}")
        status, body = await self._send("command", text=text, user=user, channel=channel)
        _check(status, f"/transfer {text}")
        if body:  # answered in the acknowledgement itself
            answer = Ephemeral(channel, user, body.get("text", ""), body.get("blocks", []), "ack")
            self.standin.ephemerals.append(answer)
            self.standin.show(answer)
        await self.settle()

    async def click(self, label: str, message: PostedMessage, *, user: str) -> None:
        """``user`` clicks the button labelled ``label`` on ``message`` as it shows now."""
        self.say(f"\n  @{self._name(user)} clicks [ {label} ]")
        seen = {"type": "message", "ts": message.ts, "text": message.text,
                "blocks": [dict(b) for b in message.blocks]}  # fmt: skip
        if message.thread_ts and message.thread_ts != message.ts:
            seen["thread_ts"] = message.thread_ts
        try:
            button = find_button(message.blocks, label)
        except KeyError as exc:
            raise DemoFailed(f"there is no [ {label} ] button to click on that message") from exc
        status, _ = await self._send(
            "click", button=button, user=user, message=seen, channel=message.channel
        )
        _check(status, f"the {label} click")
        await self.settle()

    async def fill_in(self, values: Mapping[str, str], *, user: str = ALICE) -> None:
        """``user`` types ``values`` (input name -> text) into the form just opened, and
        submits it; what is typed is shown masked, as a secret should be."""
        opened = self.standin.calls_to("views.open")
        if not opened:
            raise DemoFailed("no form was opened")
        view = list(self.standin.views.values())[-1]
        self.say(_indent("form " + self.standin.render_view(view)))
        typed = ", ".join(f"{name} = {'•' * len(value)}" for name, value in values.items())
        did = f"types {typed} and submits the form" if typed else "submits the form as it is"
        self.say(f"\n  @{self._name(user)} {did}")
        status, body = await self._send(
            "submit",
            values={input_block_id(k): {INPUT_ACTION_ID: v} for k, v in values.items()},
            user=user,
            view=view,
        )
        _check(status, "the form")
        if body.get("response_action") == "errors":
            raise DemoFailed(f"the form was refused: {body.get('errors')}")
        await self.settle()

    # -- time and the watcher -------------------------------------------------------------
    async def later(self, seconds: float, words: str) -> None:
        """Move every clock on by ``seconds`` and let the watcher poll and post."""
        self.say(f"\n  ⏩ {words}")
        self.clock.advance(seconds)
        await self.settle(poll=True)

    async def settle(self, *, poll: bool = False) -> None:
        """Wait for work after acks, a whole watcher pass (``poll``) and every pending alert."""
        deadline = time.monotonic() + SETTLE_SECONDS
        if poll:
            self.watcher.asked += 1
            asked = self.watcher.asked
            await self._until(
                lambda: _true(self.watcher.answered >= asked), deadline, "a watcher pass"
            )
        await self.services.drain(wait_seconds=SETTLE_SECONDS)
        await self._until(self._alerts_posted, deadline, "the alerts to be posted")
        await self.services.drain(wait_seconds=SETTLE_SECONDS)

    async def _alerts_posted(self) -> bool:
        async with self.services.db.session() as session:
            return not await pending_alerts(session, limit=1)

    @staticmethod
    async def _until(check: Callable[[], Awaitable[bool]], deadline: float, what: str) -> None:
        while not await check():
            if time.monotonic() > deadline:
                raise DemoFailed(f"waited {SETTLE_SECONDS:g} s for {what}")
            await asyncio.sleep(0.02)

    # -- what the story checks ------------------------------------------------------------
    async def row(self, provider: str, ref: str) -> TrackedTransfer:
        async with self.services.db.session() as session:
            row = await get_transfer_by_ref(session, account=self.account(provider), ref=ref)
        if row is None:
            raise DemoFailed(f"the bot is not tracking {provider} transfer {ref}")
        return row

    async def expect_phase(self, provider: str, ref: str, phase: str) -> TrackedTransfer:
        row = await self.row(provider, ref)
        if row.phase != phase:
            raise DemoFailed(
                f"{provider} transfer {row.subject} is {row.phase} "
                f"({row.raw_code} {row.raw_text}), not {phase}"
            )
        return row

    def thread_about(self, words: str, channel: str = ALERTS) -> PostedMessage:
        """The newest top-level message in ``channel`` that mentions ``words``."""
        for message in reversed(self.standin.channel(channel)):
            if words in message.text:
                return message
        raise DemoFailed(f"nothing about {words} was posted in #{CHANNELS[channel]}")

    def with_button(self, label: str, thread: PostedMessage) -> PostedMessage:
        """The newest message of ``thread`` (its header included) that has ``label``."""
        for message in [*reversed(thread.replies), thread]:
            try:
                find_button(message.blocks, label)
            except KeyError:
                continue
            return message
        raise DemoFailed(f"no message in the thread about {thread.text[:60]!r} offers {label}")

    def newest(self, channel: str = OPS) -> PostedMessage:
        messages = self.standin.channel(channel)
        if not messages:
            raise DemoFailed(f"nothing was posted in #{CHANNELS[channel]}")
        return messages[-1]


def _check(status: int, what: str) -> None:
    if status != 200:
        raise DemoFailed(f"the bot answered {what} with HTTP {status}")


async def _true(value: bool) -> bool:
    return value


@asynccontextmanager
async def open_stage(
    workdir: Path,
    *,
    out: TextIO,
    pause_seconds: float,
    show: bool = True,
    socket_mode: bool = False,
) -> AsyncIterator[Stage]:
    """Start the simulators, the stand-in and the bot (HTTP mode, or Socket Mode over the
    stand-in's WebSocket link; SQLite in ``workdir``)."""
    provider_secret = secrets.token_urlsafe(24)
    token, signing_secret = f"xoxb-demo-{secrets.token_hex(8)}", secrets.token_hex(16)
    app_token = f"xapp-1-demo-{secrets.token_hex(8)}"
    installed_masker().register(provider_secret, token, signing_secret, app_token)
    clock = SimClock(frozen=True)
    standin = SlackStandIn(
        token=token,
        users=PEOPLE,
        channels=CHANNELS,
        user_groups={TRIAGE: [ALICE, BOB]},
        app_token=app_token,
        echo=(lambda text: print(_indent(text), file=out, flush=True)) if show else None,
    )
    db_path = workdir / "transferbot-demo.sqlite3"
    async with (
        simulated_providers(secret=provider_secret, clock=clock) as providers,
        standin.serve() as slack_url,
    ):
        settings = _settings(providers, f"{slack_url}/api/", token, signing_secret, db_path)
        services = Services.from_settings(settings, now=clock.now)  # as serve builds them
        running: RunningBot | None = None
        link: SocketModeConnection | None = None
        try:
            running = await start_bot(services, watcher_factory=_start_watcher)
            assert isinstance(running.watcher, _CountingWatcher)
            if socket_mode:
                link = SocketModeConnection(running.bolt_app, app_token)
                await link.open()
                await standin.socket_mode.wait_connected()
            routes = running.routes(services, events=not socket_mode, socket_mode=link)
            async with LoopbackServer(routes) as bot_url:
                bodies = SignedSlack(
                    url=f"{bot_url}{EVENTS_PATH}", signing_secret=signing_secret, standin=standin
                )
                yield Stage(
                    providers=providers,
                    standin=standin,
                    services=services,
                    slack=bodies,
                    watcher=running.watcher,
                    bot_url=bot_url,
                    out=out,
                    pause_seconds=pause_seconds,
                    db_path=db_path,
                    secret_values=(provider_secret, token, signing_secret),
                    socket=SocketSlack(standin.socket_mode, bodies) if socket_mode else None,
                )
        finally:
            if link is not None:
                await link.close()
            if running is not None:
                running.stop()
            await services.aclose()


def _start_watcher(services: Services) -> _CountingWatcher:
    watcher = _CountingWatcher(services)
    watcher.start()
    return watcher


def _settings(
    providers: SimulatedProviders, api: str, token: str, signing: str, db_path: Path
) -> Settings:
    slack = SlackSettings(
        api_base_url=api,
        alert_channel=ALERTS,
        operators=(ALICE,),
        approvers=(BOB,),
        bot_token=SecretStr(token),
        signing_secret=SecretStr(signing),
    )
    watcher = WatcherSettings(
        tick_seconds=TICK_SECONDS, sync_interval_minutes=0, lease_seconds=60, jitter=0.1
    )
    # the story's clock jumps hours at a time: a reminder 2 h after a transfer gets stuck,
    # then daily; escalation to @triage once nobody has taken it on for 6 h
    policy = FollowupPolicy(
        remind_after=timedelta(hours=2),
        remind_every=timedelta(days=1),
        escalations=(EscalationLevel(after=timedelta(hours=6), mention=(TRIAGE,)),),
    )
    return Settings(
        slack=slack,
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{db_path}"),
        security=SecuritySettings(secret_key=SecretStr(SecretBox.generate_key())),
        watcher=watcher,
        followups=FollowupSettings(policies={"default": policy}),
        accounts=tuple(providers.accounts.values()),
    )


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
