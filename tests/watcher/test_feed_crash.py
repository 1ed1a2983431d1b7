"""kill -9 of a watcher between recording what change-feed events caused and acknowledging
them, then a restart: the events come again, nothing is lost and nothing is posted or
acknowledged twice. The watcher runs as a real subprocess (tests.watcher.run_watcher)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from providers.simulators.opensrs import OpenSRSSimulator
from storage.models import AlertState, SeenChange
from tests.reliability.processes import alerts, all_posted, kill9, start_module, wait_for
from tests.watcher.conftest import CHANNEL, TOKEN, Rig, quick_watcher_json

MINUTE = 60.0
ORDERS = 5
DECLINES = ((0, "pending_owner", ""), (10 * MINUTE, "cancelled", "Invalid auth code"))


def config(rig: Rig, database_url: str) -> dict[str, Any]:
    account = rig.accounts["opensrs"]
    fields = account.model_dump(mode="json")
    fields.update(secret=account.secret.get_secret_value(), events=True, event_poll_seconds=5)
    return {
        "database_url": database_url,
        "slack_url": rig.services.slack.base_url,
        "token": TOKEN,
        "channel": CHANNEL,
        "accounts": [fields],
        "watcher": quick_watcher_json(),
    }


async def seen_count(rig: Rig) -> int:
    async with rig.services.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(SeenChange)) or 0)


async def test_kill_9_between_recording_and_acking_loses_nothing_and_repeats_nothing(
    rig: Rig, database_url: str, tmp_path: Path
) -> None:
    sim: OpenSRSSimulator = rig.sims["opensrs"]
    sim.events_enabled = True
    refs = [sim.add_order(f"c{i}.example", script=DECLINES) for i in range(ORDERS)]
    rows = [await rig.watch("opensrs", ref) for ref in refs]
    sim.events.clear()  # what happened before the watch is not the point here
    sim.faults.add("hang", operation="ACK", seconds=600, times=None)  # acks never answer
    path = tmp_path / "watcher.json"
    path.write_text(json.dumps(config(rig, database_url)))

    first = await start_module("tests.watcher.run_watcher", path, tmp_path)
    try:
        rig.advance(11 * MINUTE)  # every order is cancelled: two events each
        await wait_for(lambda: _at_least(sim, "ACK", 1), what="an acknowledgement sent")
        await wait_for(lambda: _seen_at_least(rig, 1), what="an event recorded")
        await kill9(first)  # recorded, not acknowledged
    finally:
        await kill9(first)
    at_kill = await seen_count(rig)
    queued = {event.event_id for event in sim.events}
    assert at_kill >= 1 and len(queued) == 2 * ORDERS  # nothing acknowledged yet
    assert not sim.acked

    sim.faults.clear()
    second = await start_module("tests.watcher.run_watcher", path, tmp_path)
    try:
        await wait_for(lambda: _queue_empty(sim), what="every event acknowledged")
        await wait_for(lambda: all_posted(rig.services, ORDERS), what="every alert posted")
    finally:
        await kill9(second)

    assert set(sim.acked) == queued and set(Counter(sim.acked).values()) == {1}
    assert await seen_count(rig) == len(queued)  # each recorded once, redeliveries included
    found = await alerts(rig.services)
    assert Counter(a.kind for a in found) == {"blocked": ORDERS}
    assert all(a.state == AlertState.POSTED.value for a in found)
    delivered = rig.standin.delivered()
    assert {a.id for a in found} == set(delivered) and set(delivered.values()) == {1}
    for row in rows:
        assert (await rig.row(row.id or 0)).phase == "blocked"


async def _at_least(sim: OpenSRSSimulator, operation: str, count: int) -> bool:
    return bool(sim.faults.calls[operation] >= count)


async def _seen_at_least(rig: Rig, count: int) -> bool:
    return await seen_count(rig) >= count


async def _queue_empty(sim: OpenSRSSimulator) -> bool:
    return not sim.events
