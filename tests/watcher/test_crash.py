"""kill -9 of a watcher process in the middle of a pass, then a restart: nothing is lost and no
alert is posted twice. The watcher runs as a real subprocess (tests.watcher.run_watcher)
against the simulators and the Slack stand-in served by this test."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from storage.models import Alert, AlertState, EventKind, TransferEvent
from tests.reliability.processes import alerts as all_alerts
from tests.reliability.processes import all_posted, start_module, wait_for
from tests.watcher.conftest import (
    CHANNEL,
    TOKEN,
    Rig,
    quick_watcher_json,
    watch_blocking_and_finishing,
)

MINUTE = 60.0


def config(rig: Rig, database_url: str) -> dict[str, Any]:
    accounts = []
    for provider in ("hostway", "cpanel"):
        fields = rig.accounts[provider].model_dump(mode="json")
        fields.update(secret=rig.accounts[provider].secret.get_secret_value(), concurrency=2)
        accounts.append(fields)
    watcher = quick_watcher_json()
    return {
        "database_url": database_url,
        "slack_url": rig.services.slack.base_url,
        "token": TOKEN,
        "channel": CHANNEL,
        "accounts": accounts,
        "watcher": watcher,
    }


async def start(path: Path, logs: Path) -> asyncio.subprocess.Process:
    return await start_module("tests.watcher.run_watcher", path, logs)


async def alerts(rig: Rig) -> list[Alert]:
    return await all_alerts(rig.services)


async def test_kill_9_mid_pass_then_restart_loses_nothing_and_posts_nothing_twice(
    rig: Rig, database_url: str, tmp_path: Path
) -> None:
    hostway = rig.sims["hostway"]
    rows = await watch_blocking_and_finishing(rig, blocking=30, finishing=15)
    hostway.faults.add("latency", seconds=0.15, times=None)  # a pass takes seconds
    path = tmp_path / "watcher.json"
    path.write_text(json.dumps(config(rig, database_url)))

    first = await start(path, tmp_path)
    try:
        await wait_for(lambda: _calls_at_least(hostway, 40))  # it is polling
        rig.advance(25 * MINUTE)  # 30 transfers block, 15 complete
        seen = hostway.faults.calls["get_transfer_status"]
        await wait_for(lambda: _calls_at_least(hostway, seen + 12))
        await wait_for(lambda: _some_posted(rig))
        first.send_signal(signal.SIGKILL)  # in the middle of a pass, and of posting
        await first.wait()
        at_kill = await alerts(rig)
        posted_at_kill = sum(a.state == AlertState.POSTED.value for a in at_kill)
        print(f"at the kill: {len(at_kill)} of 45 alerts reserved, {posted_at_kill} posted")
        assert posted_at_kill < 45  # it really was cut short: the restart has work to do

        second = await start(path, tmp_path)
        try:
            await wait_for(lambda: _all_posted(rig, 45))
        finally:
            second.send_signal(signal.SIGKILL)
            await second.wait()
    finally:
        if first.returncode is None:
            first.kill()

    found = await alerts(rig)
    assert Counter(a.kind for a in found) == {"blocked": 30, "completed": 15}
    assert all(a.state == AlertState.POSTED.value for a in found)
    delivered = rig.standin.delivered()
    assert {a.id for a in found} == set(delivered) and set(delivered.values()) == {1}
    per_transfer = Counter(
        rig.standin.metadata[m.ts]["event_payload"]["transfer_id"] for m in rig.standin.threads()
    )
    assert set(per_transfer.values()) <= {1}  # never two thread headers for one transfer
    for row in rows:  # every change recorded, once
        now = await rig.row(row.id)
        assert now.phase == ("blocked" if row.provider == "hostway" else "completed")
        async with rig.services.db.session() as session:
            changes = await session.scalars(
                select(TransferEvent).where(
                    TransferEvent.transfer_id == row.id,
                    TransferEvent.kind == EventKind.OBSERVED.value,
                    TransferEvent.phase == now.phase,
                )
            )
            assert len(list(changes)) == 1


async def _calls_at_least(sim: Any, count: int) -> bool:
    return bool(sim.faults.calls["get_transfer_status"] >= count)


async def _some_posted(rig: Rig) -> bool:
    return any(
        m.get("event_type") == "transferbot_alert" or m.get("event_type") == "transferbot_summary"
        for m in rig.standin.metadata.values()
    )


async def _all_posted(rig: Rig, expected: int) -> bool:
    return await all_posted(rig.services, expected)
