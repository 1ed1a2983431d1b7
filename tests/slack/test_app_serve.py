"""`transferbot serve` in HTTP mode: migrate, start, answer signed Slack requests, health, stop."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient

from bot.cli import main
from bot.runtime.serve import EVENTS_PATH, serve
from bot.runtime.signed import SignedSlack
from bot.runtime.standin import SlackStandIn
from bot.services import Services
from bot.settings import SecuritySettings, ServerSettings, Settings
from storage.secrets import SecretBox
from tests.slack.conftest import ALICE, SIGNING_SECRET, TOKEN, slack_settings, when_up


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_serve_answers_signed_commands_and_reports_health(tmp_path: Path) -> None:
    standin = SlackStandIn(token=TOKEN)
    async with standin.serve() as slack_url:
        port = _free_port()
        settings = Settings(
            slack=slack_settings(
                api_base_url=f"{slack_url}/api/", operator_groups=(), approver_groups=()
            ),
            security=SecuritySettings(secret_key=SecretStr(SecretBox.generate_key())),
            server=ServerSettings(host="127.0.0.1", port=port),
        )
        services = Services.from_settings(
            settings.model_copy(
                update={"database": settings.database.model_copy(update={"url": _db(tmp_path)})}
            ),
            slack=AsyncWebClient(token=TOKEN, base_url=f"{slack_url}/api/"),
        )
        stop = asyncio.Event()
        running = asyncio.create_task(serve(services.settings, services=services, stop=stop))
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                health = await when_up(client, running)
                assert health.status_code == 200, health.text
                assert health.json()["checks"]["database"]["ok"] is True

                signed = SignedSlack(url=f"{base}{EVENTS_PATH}", signing_secret=SIGNING_SECRET)
                answer = await signed.command("help", user=ALICE)
                assert answer.status_code == 200
                assert "/transfer watch" in str(answer.json()["blocks"])
                forged = await signed.command("help", user=ALICE, signature="v0=" + "0" * 64)
                assert forged.status_code == 401

                metrics = (await client.get("/metrics")).text
                assert 'transferbot_ack_duration_seconds_count{surface="command"} 1.0' in metrics
        finally:
            stop.set()
            await asyncio.wait_for(running, timeout=10)
    assert (tmp_path / "serve.sqlite3").exists()  # serve migrated a fresh database


def _db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/serve.sqlite3"


def test_serve_says_what_it_still_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TRANSFERBOT_SECRET_KEY", raising=False)
    config = tmp_path / "transferbot.toml"
    config.write_text(f'[database]\nurl = "{_db(tmp_path)}"\n')
    assert main(["serve", "--config", str(config)]) == 2
    problems = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN is not set" in problems
    assert "SLACK_SIGNING_SECRET is not set" in problems
    assert "TRANSFERBOT_SECRET_KEY is not set" in problems


async def test_sigterm_lets_acknowledged_work_finish_then_serve_exits_0(tmp_path: Path) -> None:
    """A deploy (``docker stop``, systemd) sends SIGTERM: the bot stops taking requests, but a
    command it has acknowledged still gets its answer before the process ends."""
    from providers.simulators import make_simulator
    from providers.simulators.base import LoopbackServer, SimClock
    from tests.bot.test_cli import SCRIPT, script_env

    hostway = make_simulator("hostway", secret="hostway-secret-0123", clock=SimClock())
    hostway.add_transfer("slow.example")
    hostway.faults.add("latency", seconds=2.0, times=None)  # the answer comes after SIGTERM
    standin = SlackStandIn(token=TOKEN)
    port = _free_port()
    async with LoopbackServer(hostway) as hostway_url, standin.serve() as slack_url:
        config = tmp_path / "transferbot.toml"
        config.write_text(
            f'[slack]\napi_base_url = "{slack_url}/api/"\nalert_channel = "C0ALERTS"\n'
            f'operators = ["{ALICE}"]\n'
            f'[database]\nurl = "{_db(tmp_path)}"\n'
            f'[server]\nhost = "127.0.0.1"\nport = {port}\n'
            "[watcher]\nsync_interval_minutes = 0\n"
            f'[[accounts]]\nname = "hostway-test"\ntype = "hostway"\nbase_url = "{hostway_url}"\n'
            'account_number = "acct12345"\nsecret_env = "HOSTWAY_TEST_TOKEN"\nread_retries = 0\n'
        )
        env = script_env(
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            TRANSFERBOT_SECRET_KEY=SecretBox.generate_key(),
            HOSTWAY_TEST_TOKEN="hostway-secret-0123",
        )
        process = await asyncio.create_subprocess_exec(
            str(SCRIPT), "serve", "--config", str(config), env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                assert (await when_up(client, process)).status_code == 200
            signed = SignedSlack(url=f"{base}{EVENTS_PATH}", signing_secret=SIGNING_SECRET)
            signed.standin = standin
            ack = await signed.command("watch hostway-test slow.example", user=ALICE)
            assert ack.status_code == 200
            process.terminate()
            assert process.stderr is not None
            err = (await asyncio.wait_for(process.stderr.read(), timeout=30)).decode()
            returncode = await asyncio.wait_for(process.wait(), timeout=30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert returncode == 0, err
    assert "Traceback" not in err
    [answer] = standin.ephemerals
    assert "Now watching" in standin.render(answer)


def test_a_start_with_the_default_token_variable_set_logs_no_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Bolt reads SLACK_BOT_TOKEN by itself; it must not warn at each start that it is unused."""
    from bot.slack.app import build_app

    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    settings = Settings(
        slack=slack_settings(),
        security=SecuritySettings(secret_key=SecretStr(SecretBox.generate_key())),
    )
    services = Services.from_settings(
        settings.model_copy(
            update={"database": settings.database.model_copy(update={"url": _db(tmp_path)})}
        ),
        slack=AsyncWebClient(token=TOKEN),
    )
    with caplog.at_level(logging.WARNING):
        build_app(services)
    assert [r.getMessage() for r in caplog.records] == []
