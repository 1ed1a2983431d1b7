"""A full demo run with planted secrets: authInfo codes typed into forms and held by the
providers, the provider API key, the bot token and the signing secret. None of them may
show in any log line (debug level, as written), any recorded Slack call, what the channels
show, or the raw bytes of the database."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.runtime.demo import GANDI_NEW_AUTHINFO, NEW_AUTH_INFO, play
from bot.runtime.logs import configure_logging
from bot.runtime.stage import open_stage
from tests.reliability.results import record

GANDI_OLD_AUTHINFO = "Old-Code-1111"  # the code the demo's Gandi operation was placed with


@pytest.fixture
def written_logs() -> Iterator[io.StringIO]:
    """Every log record at debug level, as the bot's own handler writes it (secrets masked)."""
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    try:
        yield stream
    finally:
        for handler in [h for h in root.handlers if getattr(h, "_transferbot", False)]:
            root.removeHandler(handler)
        root.setLevel(level)


async def test_a_demo_run_leaks_no_planted_secret(
    tmp_path: Path, written_logs: io.StringIO
) -> None:
    shown = io.StringIO()
    async with open_stage(tmp_path, out=shown, pause_seconds=0) as stage:
        story = await play(stage)
        hostway_auth = stage.sim("hostway").transfers[story.hostway].auth_info
        planted = {
            "authInfo typed into the Hostway form": NEW_AUTH_INFO,
            "authinfo typed into the Gandi form": GANDI_NEW_AUTHINFO,
            "authinfo Gandi held before": GANDI_OLD_AUTHINFO,
            "authInfo Hostway holds now": hostway_auth,
            "provider API key": stage.secret_values[0],
            "Slack bot token": stage.secret_values[1],
            "Slack signing secret": stage.secret_values[2],
        }
        slack_calls = stage.standin.transcript()
        await stage.services.db.dispose()  # everything written out
        db_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("transferbot-demo.sqlite3*"))
    assert hostway_auth == NEW_AUTH_INFO  # the typed code really reached the provider
    places = {
        "log lines": written_logs.getvalue(),
        "Slack calls": slack_calls,
        "what the channels show": shown.getvalue(),
        "database bytes": db_bytes.decode("latin-1"),
    }
    assert written_logs.getvalue().count("\n") > 100  # debug logging really ran
    found = [(what, where) for what, value in planted.items()
             for where, text in places.items() if value in text]  # fmt: skip
    record(
        "secrets found",
        "Demo run with planted secrets: logs, Slack calls, channels, database bytes",
        len(found),
        "secrets",
        note=f"{len(planted)} planted secrets searched for in {len(places)} places after a "
        "whole demo story at debug logging.",
    )
    assert found == []
