"""`transferbot demo` plays its whole story and exits 0; a story that can't go on says why and
exits non-zero; `transferbot serve --simulate` answers Slack about the simulators' transfers."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from bot.cli import main
from bot.runtime.demo import MINUTE, SCENES, hostway_blocks, place_transfers, watch_all
from bot.runtime.stage import DemoFailed, open_stage
from tests.runtime.serving import watch_with_serve_simulate


def test_the_demo_plays_every_step_of_the_story_and_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--speed", "200"]) == 0
    out = capsys.readouterr().out
    titles = re.findall(r"^━━ \d\. (.+?) ━", out, flags=re.MULTILINE)
    assert len(titles) == len(SCENES)
    for step in (
        "/transfer watch hostway-sim wrong-epp.example",  # watched at all four providers
        "/transfer watch whm-sim ",
        "/transfer watch gandi-sim ",
        "/transfer watch opensrs-sim ",
        "/transfer watch gandi5-sim studio-example.org",
        "sent to owner@example.org: not answered yet",  # the v5 card's FOA...
        "/transfer foa ",  # ...resent from Slack, at once
        "Gandi sent the approval (FOA) e-mail for studio-example.org again",
        "wrong-epp.example is stuck and needs someone.",  # the alert...
        "Hostway 32 “Canceled - Invalid EPP/authorization key",  # ...on code 32...
        "[ Retry (reset) ]",  # ...with its Retry button
        "New authInfo (EPP code): [________]",  # the form
        "@alice asks to retry (reset) `wrong-epp.example`",
        "Approved by @bob; running now.",
        "accepted the reset of wrong-epp.example's transfer with the new authInfo",
        "cPanel PAUSED “Paused”",
        "Resume of `",
        "Gandi relaunched operation",
        "was resubmitted as order",
        "wrong-epp.example has completed.",
        "bakery-example.net has completed.",
        "wingtip.biz has completed.",
        "2 accounts: shop, blog has completed.",
        "studio-example.org has completed.",
        # the ignored one: a reminder, an escalation to the user group, taken on, fixed
        "Reminder: locked-at-registrar.example is still stuck, for 2 hours now. Nobody has",
        "@S0TRIAGE 🚨 Escalation 1: locked-at-registrar.example has been stuck for 6 hours",
        "Voided in 60 days (",
        "You own `",
        "accepted the reset of locked-at-registrar.example's transfer",
        "locked-at-registrar.example has completed.",
        "━━ The story is complete",
        "6 transfers watched at 4 providers",
        "alerts: 4 blocked, 6 completed, 1 escalation, 1 reminder; 6 threads in #transfer-alerts",
        "actions: 4 approved by a second person, 3 run at once",
    ):
        assert step in out, step
    assert "Right-EPP-42" not in out and "New-Code-2222" not in out  # typed, never shown
    assert "{" not in out.replace("{}", "")  # readable text, not JSON dumps


async def test_a_provider_outage_stops_the_story_with_its_reason_and_shows_in_health_and_metrics(
    tmp_path: Path,
) -> None:
    async with open_stage(tmp_path, out=io.StringIO(), pause_seconds=0) as stage:
        story = place_transfers(stage)
        await watch_all(stage, story)
        stage.sim("hostway").faults.add("error", status=500, times=None)  # Hostway goes down
        with pytest.raises(DemoFailed, match=r"wrong-epp\.example is pending .*, not blocked"):
            await hostway_blocks(stage, story)
        for _ in range(3):  # failures enough for the bot to call the account unreachable
            await stage.later(10 * MINUTE, "10 minutes later")
        async with httpx.AsyncClient(base_url=stage.bot_url, timeout=5) as client:
            health = (await client.get("/healthz")).json()
            metrics = (await client.get("/metrics")).text
        unreachable = stage.thread_about("hostway-sim")
    assert health["status"] == "degraded"
    assert [a["account"] for a in health["checks"]["providers"]["unreachable"]] == ["hostway-sim"]
    assert "unreachable" in unreachable.text
    assert _value(metrics, 'transferbot_polls_total{outcome="error",provider="hostway"}') >= 3
    assert _value(metrics, 'transferbot_polls_total{outcome="ok",provider="gandi"}') >= 1
    errors = 'transferbot_provider_errors_total{kind="unavailable",provider="hostway"}'
    assert _value(metrics, errors) >= 3
    assert _value(metrics, 'transferbot_alerts_posted_total{kind="unreachable"}') == 1
    assert _value(metrics, 'transferbot_account_unreachable{account="hostway-sim"}') == 1
    assert _value(metrics, 'transferbot_account_unreachable{account="gandi-sim"}') == 0
    assert _value(metrics, 'transferbot_transfers_tracked{phase="pending"}') >= 1  # Hostway's


def _value(exposition: str, series: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} is not in /metrics")


async def test_serve_simulate_answers_slack_about_the_simulators_transfers(
    tmp_path: Path,
) -> None:
    standin, printed = await watch_with_serve_simulate(tmp_path, socket_mode=False)
    assert "hostway simulator at http://127.0.0.1:" in printed
    assert "wrong-epp.example" in printed  # the sample transfers are listed
    [answer] = standin.ephemerals
    shown = standin.render(answer)
    assert "Now watching" in shown and "Hostway 32" in shown


def test_a_kept_demo_stops_on_sigterm_and_leaves_nothing_behind() -> None:
    """``--keep`` runs until stopped; stopping it closes everything and removes its database.
    SIGTERM (systemd, Docker, kill) goes through the same handler as Ctrl-C, which
    ``test_simulate_serves_until_ctrl_c`` sends; by default it would end the process at once."""
    from tests.bot.test_cli import SCRIPT, script_env

    process = subprocess.Popen(
        [str(SCRIPT), "demo", "--speed", "200", "--keep"],
        env=script_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(180, process.kill)  # a story that never ends: its output does
    watchdog.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the whole story, then the --keep line
            if "Still running (--keep)" in line:
                break
        watchdog.cancel()
        database = Path(line.split("the database is ", 1)[1].split(". Ctrl-C", 1)[0])
        assert database.exists()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert not database.exists() and not database.parent.exists()
