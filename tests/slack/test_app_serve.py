"""`transferbot serve` in HTTP mode: migrate, start, answer signed Slack requests, health, stop."""

from __future__ import annotations

import asyncio
import logging
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
from bot.settings import SecuritySettings, Settings
from storage.secrets import SecretBox
from tests.bot.test_cli import script_env
from tests.reliability.processes import free_port
from tests.runtime.serving import (
    HOSTWAY_SECRET,
    http_slack_when_up,
    serve_config,
    serve_script,
    serve_settings,
    sigterm,
    slow_hostway,
)
from tests.slack.conftest import ALICE, SIGNING_SECRET, TOKEN, slack_settings, when_up


async def test_serve_answers_signed_commands_and_reports_health(tmp_path: Path) -> None:
    standin = SlackStandIn(token=TOKEN)
    async with standin.serve() as slack_url:
        port = free_port()
        services = Services.from_settings(
            serve_settings(slack_url, port, _db(tmp_path)),
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
    standin = SlackStandIn(token=TOKEN)
    port = free_port()
    async with slow_hostway() as hostway, standin.serve() as slack_url:
        config = serve_config(
            tmp_path, slack_url=slack_url, db_url=_db(tmp_path), port=port, more=hostway
        )
        env = script_env(
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            TRANSFERBOT_SECRET_KEY=SecretBox.generate_key(),
            HOSTWAY_TEST_TOKEN=HOSTWAY_SECRET,
        )
        async with serve_script(config, env, tmp_path) as process:
            signed = await http_slack_when_up(standin, port, process)
            ack = await signed.command("watch hostway-test slow.example", user=ALICE)
            assert ack.status_code == 200  # acked; the answer waits on Hostway
            returncode, err = await sigterm(process)
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
