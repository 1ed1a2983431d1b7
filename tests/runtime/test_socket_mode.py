"""The bot in Socket Mode, end to end: ``serve()`` connects to the Slack stand-in's WebSocket
link (found through ``apps.connections.open``) and answers envelopes sent over it."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime.serve import serve
from bot.runtime.signed import SignedSlack
from bot.runtime.socket_client import PING_SECONDS, AppTokenRefused
from bot.runtime.socket_mode_slack import SocketSlack
from bot.runtime.standin import PostedMessage, SlackStandIn
from bot.services import Services
from bot.settings import DatabaseSettings, SecuritySettings, ServerSettings, Settings
from providers.simulators.base import LoopbackServer, SimClock
from providers.simulators.cpanel import CpanelSimulator
from storage.audit import list_audit
from storage.migrate import upgrade_database
from storage.secrets import SecretBox
from tests.bot.test_cli import script_env
from tests.reliability.processes import free_port
from tests.runtime.serving import (
    APP_TOKEN,
    HOSTWAY_SECRET,
    serve_config,
    serve_script,
    serve_settings,
    sigterm,
    slow_hostway,
    socket_slack_when_up,
    watch_with_serve_simulate,
)
from tests.slack.conftest import (
    ALICE,
    APPROVERS_GROUP,
    BOB,
    CAROL,
    CHANNEL,
    ERIN,
    OPERATORS_GROUP,
    PROVIDER_SECRET,
    TOKEN,
    WHM_USER,
    _account,
    slack_settings,
    when_up,
)

SECRET_KEY = SecretBox.generate_key()
ABORT = "abort_transfer_session"


@dataclass
class SocketBot:
    standin: SlackStandIn
    slack: SocketSlack
    services: Services
    cpanel: CpanelSimulator
    running: asyncio.Task[None]
    port: int

    @property
    def link(self) -> Any:
        return self.standin.socket_mode

    async def command(self, text: str, *, user: str = ALICE) -> dict[str, Any]:
        ack = await self.slack.command(text, user=user, channel=CHANNEL)
        await self.services.drain(wait_seconds=20)
        return ack

    async def click(self, label: str, message: dict[str, Any], *, user: str) -> dict[str, Any]:
        ack = await self.slack.click(label, user=user, message=message, channel=CHANNEL)
        await self.services.drain(wait_seconds=20)
        return ack

    def told(self, user: str) -> list[str]:
        return [e.text for e in self.standin.ephemerals if e.user == user]

    def request_message(self) -> dict[str, Any]:
        newest: PostedMessage = self.standin.channel(CHANNEL)[-1]
        return {"type": "message", "ts": newest.ts, "text": newest.text, "blocks": newest.blocks}

    async def audit(self, verb: str) -> list[str]:
        async with self.services.db.session() as session:
            entries = await list_audit(session, limit=1000)
        return [e.actor for e in entries if e.verb == verb]


@asynccontextmanager
async def running_bot(
    standin: SlackStandIn, cpanel_url: str, db_url: str
) -> AsyncIterator[tuple[Services, asyncio.Task[None], int]]:
    """``serve()`` in Socket Mode against the stand-in, until the block ends: its services,
    its task and its health port."""
    api = f"{standin.base_url}/api/"
    port = free_port()
    settings = Settings(
        slack=slack_settings(api_base_url=api, app_token=SecretStr(APP_TOKEN), signing_secret=None),
        security=SecuritySettings(secret_key=SecretStr(SECRET_KEY)),
        server=ServerSettings(host="127.0.0.1", port=port),
        database=DatabaseSettings(url=db_url),
        accounts=(_account("whm-east", "cpanel", cpanel_url, username=WHM_USER),),
    )
    services = Services.from_settings(settings, slack=AsyncWebClient(token=TOKEN, base_url=api))
    stop = asyncio.Event()
    running = asyncio.create_task(serve(settings, services=services, stop=stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as web:
            await when_up(web, running)
        yield services, running, port
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=15)


def _cpanel() -> CpanelSimulator:
    return CpanelSimulator(secret=PROVIDER_SECRET, username=WHM_USER, clock=SimClock(frozen=True))


def _standin() -> SlackStandIn:
    standin = SlackStandIn(
        token=TOKEN,
        app_token=APP_TOKEN,
        user_groups={OPERATORS_GROUP: [CAROL], APPROVERS_GROUP: [CAROL, ERIN]},
        channels={CHANNEL: "transfer-ops"},
    )
    standin.socket_mode.ack_seconds = 1.0  # redeliveries within a test's patience
    return standin


@pytest.fixture
async def socket_bot(tmp_path: Path) -> AsyncIterator[SocketBot]:
    cpanel, standin = _cpanel(), _standin()
    async with standin.serve(), LoopbackServer(cpanel) as cpanel_url:
        db_url = f"sqlite+aiosqlite:///{tmp_path}/socket.sqlite3"
        async with running_bot(standin, cpanel_url, db_url) as (services, running, port):
            await standin.socket_mode.wait_connected()
            bodies = SignedSlack(url="unused", signing_secret="unused", standin=standin)
            yield SocketBot(
                standin, SocketSlack(standin.socket_mode, bodies), services, cpanel, running, port
            )


async def test_apps_connections_open_takes_only_the_app_level_token() -> None:
    standin = SlackStandIn(token=TOKEN, app_token=APP_TOKEN)
    async with standin.serve() as url:
        good = await AsyncWebClient(base_url=f"{url}/api/").apps_connections_open(
            app_token=APP_TOKEN
        )
        assert good["ok"] is True
        assert good["url"].startswith(url.replace("http://", "ws://") + "/link/?ticket=")
        async with httpx.AsyncClient() as client:
            for token in (TOKEN, "xapp-1-wrong"):
                wrong = await client.post(
                    f"{url}/api/apps.connections.open",
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert wrong.json() == {"ok": False, "error": "invalid_auth"}


async def test_the_link_says_hello_resends_an_unacknowledged_envelope_and_takes_its_ack() -> None:
    standin = SlackStandIn(token=TOKEN, app_token=APP_TOKEN)
    standin.socket_mode.ack_seconds = 0.3
    async with standin.serve() as url, aiohttp.ClientSession() as session:
        opened = await AsyncWebClient(base_url=f"{url}/api/").apps_connections_open(
            app_token=APP_TOKEN
        )
        async with session.ws_connect(opened["url"]) as ws:
            hello = await ws.receive_json(timeout=5)
            assert hello["type"] == "hello" and hello["connection_info"]["app_id"] == "A0STANDIN"
            delivery = asyncio.create_task(
                standin.socket_mode.deliver(
                    "slash_commands", {"command": "/transfer"}, accepts_response_payload=True
                )
            )
            first = await ws.receive_json(timeout=5)
            again = await ws.receive_json(timeout=5)  # not acked within 0.3 s
            assert first["type"] == "slash_commands" and first["accepts_response_payload"]
            assert (first["retry_attempt"], first["retry_reason"]) == (0, "")
            assert again["envelope_id"] == first["envelope_id"]
            assert (again["retry_attempt"], again["retry_reason"]) == (1, "timeout")
            await ws.send_str(
                json.dumps({"envelope_id": first["envelope_id"], "payload": {"a": 1}})
            )
            assert await asyncio.wait_for(delivery, 5) == {
                "envelope_id": first["envelope_id"],
                "payload": {"a": 1},
            }
        with pytest.raises(aiohttp.WSServerHandshakeError):  # a ticket opens one connection
            await session.ws_connect(opened["url"])


async def test_the_link_gives_each_envelope_to_one_of_several_connections_and_warns() -> None:
    standin = SlackStandIn(token=TOKEN, app_token=APP_TOKEN)
    standin.socket_mode.refresh_grace_seconds = 0.5
    web = AsyncWebClient(token=TOKEN)
    async with standin.serve() as url, aiohttp.ClientSession() as session:
        web.base_url = f"{url}/api/"
        sockets = []
        for n in (1, 2):
            opened = await web.apps_connections_open(app_token=APP_TOKEN)
            ws = await session.ws_connect(opened["url"])
            hello = await ws.receive_json(timeout=5)
            assert hello["num_connections"] == n
            sockets.append(ws)

        async def answer(ws: aiohttp.ClientWebSocketResponse) -> list[str]:
            seen = []
            async for message in ws:
                envelope = json.loads(message.data)
                if envelope["type"] == "disconnect":
                    seen.append(envelope["reason"])
                    continue
                seen.append(envelope["envelope_id"])
                await ws.send_str(json.dumps({"envelope_id": envelope["envelope_id"]}))
            return seen

        answering = [asyncio.create_task(answer(ws)) for ws in sockets]
        for n in range(10):
            await standin.socket_mode.deliver(
                "events_api", {"n": n}, accepts_response_payload=False
            )
        await standin.socket_mode.refresh("warning")  # Slack closes both a little later
        first, second = await asyncio.wait_for(asyncio.gather(*answering), timeout=10)

    sent = [e.envelope_id for e in standin.socket_mode.envelopes]
    assert first[-1] == second[-1] == "warning"
    assert sorted(first[:-1] + second[:-1]) == sorted(sent)  # each to one connection only
    assert first[:-1] and second[:-1]  # and both had some
    assert all(e.retry_attempt == 0 for e in standin.socket_mode.envelopes)


async def test_serve_in_socket_mode_connects_through_apps_connections_open(
    socket_bot: SocketBot,
) -> None:
    ack = await socket_bot.slack.command("help", user=ALICE, channel=CHANNEL)

    assert socket_bot.standin.calls_to("apps.connections.open")
    assert socket_bot.link.opened == 1
    assert ack["envelope_id"] == socket_bot.link.envelopes[-1].envelope_id


async def test_a_command_over_the_websocket_is_answered(socket_bot: SocketBot) -> None:
    ack = await socket_bot.command("help")  # the roster needs Slack's user groups: answered after

    assert set(ack) == {"envelope_id"}
    [answer] = [e for e in socket_bot.standin.ephemerals if e.user == ALICE]
    assert answer.via == "response_url" and "/transfer watch" in str(answer.blocks)


async def ask_to_cancel(bot: SocketBot) -> dict[str, Any]:
    """A running cPanel session, watched, and Alice's request to cancel it, over the link."""
    session = bot.cpanel.add_session("RUNNING", accounts=["shop", "blog"])
    await bot.command(f"watch whm-east {session}")
    assert any("Now watching" in text for text in bot.told(ALICE)), bot.told(ALICE)
    await bot.command(f"cancel {session}")
    return bot.request_message()


async def test_a_cancel_approved_over_the_websocket_runs_once(socket_bot: SocketBot) -> None:
    request = await ask_to_cancel(socket_bot)
    assert socket_bot.cpanel.faults.calls[ABORT] == 0

    await socket_bot.click("Approve", request, user=BOB)

    assert socket_bot.cpanel.faults.calls[ABORT] == 1
    assert await socket_bot.audit("approved") == [BOB]


async def test_an_approve_sent_again_after_a_lost_ack_runs_its_action_once(
    socket_bot: SocketBot,
) -> None:
    request = await ask_to_cancel(socket_bot)
    socket_bot.link.lose_acks = 1  # the bot's first ack never reaches Slack

    await socket_bot.click("Approve", request, user=BOB)

    envelope = socket_bot.link.envelopes[-1]
    assert envelope.retry_attempt == 1 and len(envelope.sent_on) == 2  # delivered twice
    assert socket_bot.cpanel.faults.calls[ABORT] == 1
    assert await socket_bot.audit("approved") == [BOB]


# On a loaded machine an envelope can be in flight on the old connection as slack_sdk closes
# it; the stand-in sends it again (retry_attempt 1), and the bot takes it on: it never saw
# that trigger_id.
async def test_a_refresh_in_the_middle_of_a_burst_loses_no_command_and_runs_none_twice(
    socket_bot: SocketBot,
) -> None:
    sessions = [  # 12: the account's lane (4 running, 8 waiting) takes them all
        socket_bot.cpanel.add_session("RUNNING", accounts=[f"acct{n}"]) for n in range(12)
    ]

    async def watch(n: int, ref: str) -> dict[str, Any]:
        await asyncio.sleep(n * 0.01)  # a command every 10 ms
        return await socket_bot.slack.command(f"watch whm-east {ref}", user=ALICE)

    burst = [asyncio.create_task(watch(n, ref)) for n, ref in enumerate(sessions)]
    await asyncio.wait(burst, return_when=asyncio.FIRST_COMPLETED)
    in_flight = sum(not task.done() for task in burst)
    await socket_bot.link.refresh()  # Slack asks for a new connection mid-burst
    acks = await asyncio.wait_for(asyncio.gather(*burst), timeout=30)
    await socket_bot.services.drain(wait_seconds=20)

    assert in_flight > 0  # commands were on their way or not yet sent
    assert socket_bot.link.opened == 2
    assert len({a["envelope_id"] for a in acks}) == len(sessions)
    watched = [t for t in socket_bot.told(ALICE) if "Now watching" in t]
    assert len(watched) == len(sessions), socket_bot.told(ALICE)  # each answered once
    assert len(await socket_bot.audit("watched")) == len(sessions)


async def test_a_command_lost_with_a_refreshed_connection_runs_when_sent_again(
    socket_bot: SocketBot,
) -> None:
    session = socket_bot.cpanel.add_session("RUNNING", accounts=["shop"])
    await socket_bot.link.refresh()
    socket_bot.link.lose_sends = 1  # in flight on the old connection as the bot closed it

    await socket_bot.command(f"watch whm-east {session}")

    envelope = socket_bot.link.envelopes[-1]
    assert envelope.retry_attempt == 1 and len(envelope.sent_on) == 2
    assert any("Now watching" in text for text in socket_bot.told(ALICE)), socket_bot.told(ALICE)
    assert len(await socket_bot.audit("watched")) == 1


async def test_a_dropped_connection_is_opened_again_and_envelopes_flow_on_it(
    socket_bot: SocketBot,
) -> None:
    await socket_bot.link.drop()

    await socket_bot.link.wait_connected(opened=2, seconds=20)
    ack = await socket_bot.slack.command("help", user=ALICE, channel=CHANNEL)

    assert len(socket_bot.standin.calls_to("apps.connections.open")) == 2  # a new URL
    assert ack["envelope_id"] == socket_bot.link.envelopes[-1].envelope_id
    assert socket_bot.link.envelopes[-1].sent_on == [2]


def test_the_demo_plays_its_story_in_socket_mode(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    assert main(["demo", "--socket-mode", "--speed", "200"]) == 0
    shown = capsys.readouterr().out
    assert "Socket Mode" in shown and "The story is complete" in shown


def _token_settings(slack_url: str, tmp_path: Path, app_token: str, port: int) -> Settings:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/token.sqlite3"
    return serve_settings(slack_url, port, db_url, app_token=app_token)


@pytest.mark.parametrize("refusal", ["invalid_auth", "not_allowed_token_type"])
async def test_serve_with_a_refused_app_token_stops_at_start(tmp_path: Path, refusal: str) -> None:
    standin = SlackStandIn(token=TOKEN, app_token=APP_TOKEN)
    if refusal != "invalid_auth":  # a bot token where the app token belongs
        standin.fail("apps.connections.open", refusal, times=None)
    async with standin.serve() as slack_url:
        settings = _token_settings(slack_url, tmp_path, "xapp-1-revoked", free_port())
        services = Services.from_settings(
            settings, slack=AsyncWebClient(token=TOKEN, base_url=f"{slack_url}/api/")
        )
        with pytest.raises(AppTokenRefused) as refused:
            await asyncio.wait_for(serve(settings, services=services), timeout=20)
    assert refused.value.error == refusal
    assert "SLACK_APP_TOKEN" in refused.value.message and "xapp-1-revoked" not in str(refused.value)
    assert len(standin.calls_to("apps.connections.open")) == 1  # asked once, not for ever
    assert standin.socket_mode.opened == 0


async def test_a_refused_app_token_ends_transferbot_serve_with_one_sentence(tmp_path: Path) -> None:
    standin = SlackStandIn(token=TOKEN, app_token=APP_TOKEN)
    async with standin.serve() as slack_url:
        db_url = f"sqlite+aiosqlite:///{tmp_path}/cli.sqlite3"
        config = serve_config(tmp_path, slack_url=slack_url, db_url=db_url, port=free_port())
        env = script_env(
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_APP_TOKEN="xapp-1-revoked-0123",
            TRANSFERBOT_SECRET_KEY=SECRET_KEY,
        )
        async with serve_script(config, env, tmp_path) as process:
            _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    problems = err.decode()
    assert process.returncode == 2, problems
    assert "Slack refused the app-level token in SLACK_APP_TOKEN (invalid_auth)" in problems
    assert "Traceback" not in problems and "xapp-1-revoked-0123" not in problems


async def test_slack_unreachable_at_start_is_asked_again_and_health_answers_meanwhile(
    tmp_path: Path,
) -> None:
    """Connection refused is no answer about the token: serve keeps asking, `/healthz` says
    the link is not open yet, and once Slack answers the bot connects."""
    slack_port, port = free_port(), free_port()
    settings = _token_settings(f"http://127.0.0.1:{slack_port}", tmp_path, APP_TOKEN, port)
    services = Services.from_settings(
        settings, slack=AsyncWebClient(token=TOKEN, base_url=f"http://127.0.0.1:{slack_port}/api/")
    )
    stop = asyncio.Event()
    running = asyncio.create_task(serve(settings, services=services, stop=stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as web:
            health = await when_up(web, running)
            assert health.status_code == 200 and health.json()["status"] == "degraded"
            assert health.json()["checks"]["socket_mode"]["status"] == "connecting"
            standin = SlackStandIn(token=TOKEN, app_token=APP_TOKEN)
            async with standin.serve(port=slack_port):
                await standin.socket_mode.wait_connected(seconds=30)
                health = await _health_until(web, "ok")
                assert health["checks"]["socket_mode"]["connections_opened"] == 1
                assert not running.done()
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=15)


async def _health_until(web: httpx.AsyncClient, status: str, seconds: float = 30) -> dict[str, Any]:
    """Ask `/healthz` until it says ``status``; its body then."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        body: dict[str, Any] = (await web.get("/healthz")).json()
        if body["status"] == status or asyncio.get_running_loop().time() > deadline:
            assert body["status"] == status, body
            return body
        await asyncio.sleep(0.05)


async def test_a_dropped_link_is_degraded_health_until_it_is_opened_again(
    socket_bot: SocketBot,
) -> None:
    link = socket_bot.link
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{socket_bot.port}") as web:
        assert (await _health_until(web, "ok"))["checks"]["socket_mode"]["status"] == "connected"
        socket_bot.standin.fail("apps.connections.open", "internal_error", times=None)
        await link.drop()  # and Slack does not hand out a new URL for now

        down = await _health_until(web, "degraded")
        assert (await web.get("/healthz")).status_code == 200
        check = down["checks"]["socket_mode"]
        assert check["ok"] is False and check["status"] == "reconnecting", check
        assert "Socket Mode connection to Slack has been down" in check["error"]

        socket_bot.standin.clear_faults()  # Slack is back: opened again within the bound
        await link.wait_connected(opened=2, seconds=3 * PING_SECONDS + 5)
        up = await _health_until(web, "ok")
    assert up["checks"]["socket_mode"]["connections_opened"] == 2
    ack = await socket_bot.slack.command("help", user=ALICE, channel=CHANNEL)
    assert (
        link.envelopes[-1].sent_on == [2] and ack["envelope_id"] == link.envelopes[-1].envelope_id
    )


@pytest.mark.parametrize("reason", ["refresh_requested", "warning"])
async def test_a_disconnect_message_is_followed_by_a_new_connection(
    socket_bot: SocketBot, reason: str
) -> None:
    await socket_bot.link.refresh(reason)

    await socket_bot.link.wait_connected(opened=2, seconds=10)
    await socket_bot.command("help")

    assert len(socket_bot.standin.calls_to("apps.connections.open")) == 2
    assert socket_bot.link.envelopes[-1].sent_on == [2]
    assert len(socket_bot.told(ALICE)) == 1


@pytest.mark.postgres
async def test_two_replicas_share_the_envelopes_and_run_each_action_once(
    postgres_url: str,
) -> None:
    """Two bots on one PostgreSQL database, each with its own connection: Slack gives each
    envelope to one of them, and an approve sent again to the other replica after a lost ack
    still runs the cancel once."""
    await upgrade_database(postgres_url)  # once, before the two starts race to migrate
    cpanel, standin = _cpanel(), _standin()
    async with (
        standin.serve(),
        LoopbackServer(cpanel) as cpanel_url,
        running_bot(standin, cpanel_url, postgres_url) as (first, _, _),
        running_bot(standin, cpanel_url, postgres_url) as (second, _, _),
    ):
        link = standin.socket_mode
        await link.wait_connected(opened=2)
        bodies = SignedSlack(url="unused", signing_secret="unused", standin=standin)
        slack = SocketSlack(link, bodies)

        async def drain() -> None:
            await asyncio.gather(first.drain(wait_seconds=20), second.drain(wait_seconds=20))

        sessions = [cpanel.add_session("RUNNING", accounts=[f"acct{n}"]) for n in range(6)]
        for session in sessions:
            await slack.command(f"watch whm-east {session}", user=ALICE, channel=CHANNEL)
        await drain()
        await slack.command(f"cancel {sessions[0]}", user=ALICE, channel=CHANNEL)
        await drain()
        newest = standin.channel(CHANNEL)[-1]
        request = {"type": "message", "ts": newest.ts, "text": newest.text, "blocks": newest.blocks}
        link.lose_acks = 1  # the first replica's ack is lost: Slack sends the click again
        await slack.click("Approve", user=BOB, message=request, channel=CHANNEL)
        await drain()

        async with first.db.session() as session:
            audit = await list_audit(session, limit=1000)

    assert {n for e in link.envelopes for n in e.sent_on} == {1, 2}  # both replicas took some
    approve = link.envelopes[-1]
    assert approve.retry_attempt >= 1 and set(approve.sent_on) == {1, 2}  # to each replica
    told = [e.text for e in standin.ephemerals if e.user == ALICE]
    assert sum("Now watching" in t for t in told) == len(sessions), told  # each answered once
    assert [e.verb for e in audit].count("watched") == len(sessions)
    assert cpanel.faults.calls[ABORT] == 1
    assert [e.actor for e in audit if e.verb == "approved"] == [BOB]


async def test_sigterm_closes_the_link_lets_acknowledged_work_finish_then_exits_0(
    tmp_path: Path,
) -> None:
    """Socket Mode's twin of the HTTP-mode SIGTERM test: a command acked over the WebSocket
    still gets its answer after SIGTERM, the bot closes its link, and serve exits 0."""
    standin = SlackStandIn(token=TOKEN, app_token=APP_TOKEN)
    port = free_port()
    async with slow_hostway() as hostway, standin.serve() as slack_url:
        db_url = f"sqlite+aiosqlite:///{tmp_path}/sigterm.sqlite3"
        config = serve_config(tmp_path, slack_url=slack_url, db_url=db_url, port=port, more=hostway)
        env = script_env(
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_APP_TOKEN=APP_TOKEN,
            TRANSFERBOT_SECRET_KEY=SECRET_KEY,
            HOSTWAY_TEST_TOKEN=HOSTWAY_SECRET,
        )
        async with serve_script(config, env, tmp_path) as process:
            slack = await socket_slack_when_up(standin, port, process)
            ack = await slack.command("watch hostway-test slow.example", user=ALICE)
            assert set(ack) == {"envelope_id"}  # acked; the answer waits on Hostway
            returncode, err = await sigterm(process)
    assert returncode == 0, err
    assert "Traceback" not in err
    assert standin.socket_mode.closed_by_app == [(1, 1000)]  # closed by the bot, not by its end
    [answer] = standin.ephemerals
    assert "Now watching" in standin.render(answer)
    assert standin.socket_mode.opened == 1  # and did not open another on the way out


async def test_serve_simulate_answers_over_the_websocket(tmp_path: Path) -> None:
    """`transferbot serve --simulate` with an app token: Socket Mode, the four simulators."""
    standin, printed = await watch_with_serve_simulate(tmp_path, socket_mode=True)
    assert "hostway simulator at http://127.0.0.1:" in printed
    assert standin.socket_mode.envelopes[-1].sent_on == [1]
    [answer] = standin.ephemerals
    shown = standin.render(answer)
    assert "Now watching" in shown and "Hostway 32" in shown


async def test_envelopes_the_bot_does_not_serve_are_acked_once_and_set_aside(
    socket_bot: SocketBot, caplog: pytest.LogCaptureFixture
) -> None:
    """Bolt answers a kind with no listener 404 and its handler then sends no ack, so Slack
    would send it again and again; a payload out of Slack's shape raised inside Bolt."""
    caplog.set_level(logging.INFO, logger="bot.runtime.socket_client")
    deep: dict[str, Any] = {"type": "block_actions"}
    nested = deep
    for _ in range(40):
        nested["x"] = {}
        nested = nested["x"]
    shortcut = {"type": "shortcut", "callback_id": "x", "trigger_id": "1.2", "user": {"id": ALICE}}

    for payload in (shortcut, deep):
        ack = await socket_bot.link.deliver("interactive", payload, accepts_response_payload=False)
        assert ack == {"envelope_id": socket_bot.link.envelopes[-1].envelope_id}

    assert [e.retry_attempt for e in socket_bot.link.envelopes] == [0, 0]  # acked the first time
    assert "set aside an envelope of a kind the bot does not serve: shortcut" in caplog.text
    assert "not in Slack's shape" in caplog.text and "Traceback" not in caplog.text
    assert socket_bot.standin.calls == socket_bot.standin.calls_to("apps.connections.open")
