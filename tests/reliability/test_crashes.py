"""kill -9 of the whole bot at chosen moments, then a restart: nothing lost, nothing run twice.

The bot is a real process (``tests.reliability.run_bot``: ``serve`` with the watcher);
the simulators and the Slack stand-in are served by the test, which holds one call to
make the kill land at the moment it wants: a slow poll pass, an unanswered
``chat.update`` between approval and execution, a hanging provider action, an unanswered
``chat.postMessage`` of an alert. "Once" is proven by the provider's own count of the
action calls it received and the stand-in's count of messages per alert.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.actions.running import RUN_TIMEOUT
from storage.models import AlertState, RequestState, TrackedTransfer
from storage.requests import transition_request
from tests.reliability.crash_bot import BOB, BotProcess
from tests.reliability.processes import alerts, all_posted, wait_for
from tests.reliability.results import record
from tests.watcher.conftest import Rig, watch_blocking_and_finishing
from tests.watcher.conftest import rig as rig
from tests.watcher.conftest import watcher_config as watcher_config

MINUTE = 60.0
ABORT = "abort_transfer_session"
LEASE_SECONDS = 10  # crash_bot's watcher leases
AFTER_RUN_TIMEOUT = RUN_TIMEOUT.total_seconds() + MINUTE  # a run still "running" is presumed dead


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.slow]),
    ]
)
def database_url(request: pytest.FixtureRequest) -> str:
    """SQLite in CI (each kill costs a process start); PostgreSQL in the slow run."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def bot(rig: Rig, database_url: str, tmp_path: Path) -> AsyncIterator[BotProcess]:
    process = BotProcess(rig, database_url, tmp_path)
    try:
        yield process
    finally:
        await process.stop()


def survived(moment: str, recovered_in: float, *, kills: int = 1) -> None:
    record("crashes survived", f"bot killed with SIGKILL {moment}", kills, "crashes", combine="sum")
    record(
        "crashes survived",
        f"bot killed {moment}: restart to all recovered (slowest)",
        round(recovered_in, 2),
        "s",
        combine="max",
    )


async def test_kill_mid_poll_pass_then_restart_polls_everything_and_alerts_once(
    bot: BotProcess,
) -> None:
    rig = bot.rig
    hostway = rig.sims["hostway"]
    rows = await watch_blocking_and_finishing(rig, blocking=16, finishing=8)
    hostway.faults.add("latency", seconds=0.2, operation="get_transfer_status", times=None)
    polls = hostway.faults.calls

    await bot.start()
    await wait_for(lambda: _at_least(polls, "get_transfer_status", 16), what="a first pass")
    rig.advance(25 * MINUTE)  # 16 transfers block, 8 complete
    seen = polls["get_transfer_status"]
    await wait_for(lambda: _at_least(polls, "get_transfer_status", seen + 6), what="a pass")
    await bot.kill()  # 2 calls at a time, 0.2 s each: the pass is about half done
    held = await _leases_held(rig, "crash-bot-1")
    at_kill = await alerts(rig.services)
    print(f"at the kill: {len(held)} leases held, {len(at_kill)} of 24 alerts reserved")
    assert held  # the dead process held leases: the restart must take them back
    assert sum(a.state == AlertState.POSTED.value for a in at_kill) < 24

    await bot.start(later=LEASE_SECONDS + 1)  # back after its leases ran out
    await wait_for(lambda: all_posted(rig.services, 24), what="every alert posted")
    survived("mid poll pass", time.monotonic() - bot.started_at)

    found = await alerts(rig.services)
    assert Counter(a.kind for a in found) == {"blocked": 16, "completed": 8}
    delivered = rig.standin.delivered()
    assert {a.id for a in found} == set(delivered) and set(delivered.values()) == {1}
    for row in rows:
        now = await rig.row(row.id or 0)
        assert now.phase == ("blocked" if row.provider == "hostway" else "completed")
        assert now.lease_owner in (None, "crash-bot-2")  # none left with the dead process


async def test_kill_between_approval_and_execution_never_sends_the_action_later(
    bot: BotProcess,
) -> None:
    rig = bot.rig
    cpanel = rig.sims["cpanel"]
    row = await rig.watch("cpanel", cpanel.add_session("RUNNING", accounts=["shop"]))
    await bot.start()
    message = await bot.ask(f"cancel {row.short_id}")
    rig.standin.swallow("chat.update")  # "running…": shown, never answered
    clicked = time.monotonic()
    await bot.click("Approve", message)
    await wait_for(lambda: _arrived(rig, "chat.update", clicked), what="the running update")
    await bot.kill()
    [request] = await bot.requests()
    assert request.state == RequestState.RUNNING.value and request.decided_by == BOB
    assert cpanel.faults.calls[ABORT] == 0  # approved, claimed, not sent yet

    await bot.start(later=AFTER_RUN_TIMEOUT)
    await wait_for(lambda: _shown_unknown(bot, message), what="the outcome shown as unknown")
    survived("between approval and execution", time.monotonic() - bot.started_at)
    await _approve_again_changes_nothing(bot, message)
    assert cpanel.faults.calls[ABORT] == 0  # never sent: nobody knows it was not, so unknown


async def test_an_approval_stale_at_restart_is_expired_and_said_so_never_run(
    bot: BotProcess,
) -> None:
    """Approved, then the bot died before the run was claimed, and came back two days later:
    the approval is past its expiry, so it is expired and the request says so; the cPanel
    abort is never sent (an old approval once sent it within 8 s of the restart)."""
    rig = bot.rig
    cpanel = rig.sims["cpanel"]
    row = await rig.watch("cpanel", cpanel.add_session("RUNNING", accounts=["shop"]))
    await bot.start()
    message = await bot.ask(f"cancel {row.short_id}")

    async def message_recorded() -> bool:  # shown in Slack is not yet saved with its ts
        return [r.message_ts for r in await bot.requests()] == [message["ts"]]

    await wait_for(message_recorded, what="the request's message recorded")
    await bot.kill()
    [request] = await bot.requests()
    async with rig.services.db.session() as session:  # the Approve landed as the bot died
        assert await transition_request(
            session,
            request_id=request.id or 0,
            from_states=(RequestState.PENDING,),
            to_state=RequestState.APPROVED,
            decided_by=BOB,
            decided_at=rig.clock.now(),
        )

    await bot.start(later=2 * 86400)

    async def expired() -> bool:
        return [r.state for r in await bot.requests()] == [RequestState.EXPIRED.value]

    async def shown_expired() -> bool:
        shown = bot.now_shown(message)
        return shown is not None and "stopped before running it" in rig.standin.render(shown)

    await wait_for(expired, what="the request expired")
    try:
        await wait_for(shown_expired, 30, what="the request shown as expired")
    except AssertionError:
        shown = bot.now_shown(message)
        calls = [(m, round(at, 2)) for m, at in rig.standin.arrivals if m.startswith("chat.")]
        raise AssertionError(
            f"shown: {shown and rig.standin.render(shown)!r}; chat calls: {calls}"
        ) from None
    survived("with an approval not yet run, back two days later", time.monotonic() - bot.started_at)
    before = len(rig.standin.responses)
    await bot.click("Approve", message)  # a click on the old message runs nothing either
    await wait_for(lambda: _answered_since(bot, before), what="an answer to the click")
    assert [r.state for r in await bot.requests()] == [RequestState.EXPIRED.value]
    assert cpanel.faults.calls[ABORT] == 0


async def test_kill_while_the_action_runs_never_runs_it_twice(bot: BotProcess) -> None:
    rig = bot.rig
    cpanel = rig.sims["cpanel"]
    row = await rig.watch("cpanel", cpanel.add_session("RUNNING", accounts=["shop"]))
    cpanel.faults.add("hang", operation=ABORT, seconds=20)  # the abort is in flight
    await bot.start()
    message = await bot.ask(f"cancel {row.short_id}")
    await bot.click("Approve", message)
    await wait_for(lambda: _at_least(cpanel.faults.calls, ABORT, 1), what="the abort call")
    await bot.kill()
    [request] = await bot.requests()
    assert request.state == RequestState.RUNNING.value

    await bot.start()  # straight back: the run may still be going somewhere; it stays running
    assert [r.state for r in await bot.requests()] == [RequestState.RUNNING.value]
    await bot.kill()
    await bot.start(later=AFTER_RUN_TIMEOUT)
    await wait_for(lambda: _shown_unknown(bot, message), what="the outcome shown as unknown")
    survived("while an action runs", time.monotonic() - bot.started_at, kills=2)
    await _approve_again_changes_nothing(bot, message)
    assert cpanel.faults.calls[ABORT] == 1  # sent once, never again


async def test_kill_mid_alert_post_then_restart_posts_each_alert_once(bot: BotProcess) -> None:
    rig = bot.rig
    hostway = rig.sims["hostway"]
    for i in range(4):  # few enough to be posted one by one, each in its transfer's thread
        ref = hostway.add_transfer(f"p{i}.example", script="bad_auth", age=40 * MINUTE)
        await rig.watch("hostway", ref)
    # header, alert, header, alert, header, then the third alert: posted, never answered
    rig.standin.swallow("chat.postMessage", after=5)
    await bot.start()
    await wait_for(lambda: _at_least(hostway.faults.calls, "get_transfer_status", 4), what="polls")
    rig.advance(25 * MINUTE)  # all 4 block
    await wait_for(lambda: _posts_arrived(rig, 6), what="the sixth post")
    await bot.kill()
    at_kill = await alerts(rig.services)
    assert len(rig.standin.delivered()) == 3  # the held one is in the channel...
    assert sum(a.state == AlertState.POSTED.value for a in at_kill) == 2  # ...unconfirmed

    await bot.start(later=LEASE_SECONDS + 1)
    await wait_for(lambda: all_posted(rig.services, 4), what="every alert posted")
    survived("mid alert post", time.monotonic() - bot.started_at)
    delivered = rig.standin.delivered()
    assert {a.id for a in await alerts(rig.services)} == set(delivered)
    assert set(delivered.values()) == {1}  # the unanswered one was found, not posted again
    per_transfer = Counter(
        rig.standin.metadata[m.ts]["event_payload"]["transfer_id"] for m in rig.standin.threads()
    )
    assert len(per_transfer) == 4 and set(per_transfer.values()) == {1}


async def test_kill_between_claiming_and_posting_a_reminder_posts_it_once(
    bot: BotProcess,
) -> None:
    rig = bot.rig
    bot.followups = {"policies": {"default": {"remind_after": "3s", "remind_every": "1d"}}}
    ref = rig.sims["hostway"].add_transfer("ignored.example", script=[(0, 32)])
    row = await rig.watch("hostway", ref)  # blocked already: its thread starts with a reminder
    # the thread's header is answered; the reminder is posted, never answered
    rig.standin.swallow("chat.postMessage", after=1)
    await bot.start()
    await wait_for(lambda: _posts_arrived(rig, 2), what="the reminder's post")
    await bot.kill()
    [claimed] = [a for a in await alerts(rig.services) if a.kind == "reminder"]
    assert claimed.state == AlertState.POSTING.value  # claimed; its post unconfirmed
    assert rig.standin.delivered()[claimed.id] == 1

    await bot.start(later=LEASE_SECONDS + 1)
    await wait_for(lambda: all_posted(rig.services, 1), what="the reminder marked posted")
    survived("between claiming and posting a reminder", time.monotonic() - bot.started_at)
    assert rig.standin.delivered()[claimed.id] == 1  # found in the thread, not posted again
    assert row.id is not None
    header = rig.standin.thread_of(row.id)
    assert header is not None
    assert [m.text.split(":")[0] for m in header.replies] == ["Reminder"]


# -- helpers ---------------------------------------------------------------------------------
async def _at_least(calls: Counter[str], operation: str, count: int) -> bool:
    return calls[operation] >= count


async def _arrived(rig: Rig, method: str, since: float) -> bool:
    return any(m == method and at >= since for m, at in rig.standin.arrivals)


async def _posts_arrived(rig: Rig, count: int) -> bool:
    return sum(m == "chat.postMessage" for m, _ in rig.standin.arrivals) >= count


async def _leases_held(rig: Rig, owner: str) -> list[TrackedTransfer]:
    async with rig.services.db.session() as session:
        rows = await session.scalars(
            select(TrackedTransfer).where(TrackedTransfer.lease_owner == owner)
        )
        return list(rows)


async def _answered_since(bot: BotProcess, count: int) -> bool:
    return len(bot.rig.standin.responses) > count


async def _shown_unknown(bot: BotProcess, message: dict[str, Any]) -> bool:
    requests = await bot.requests()
    if [r.state for r in requests] != [RequestState.UNKNOWN.value]:
        return False
    now = bot.now_shown(message)
    return bool(
        now is not None
        and "Outcome unknown" in bot.rig.standin.render(now)
        and any("outcome unknown" in reply.text for reply in now.replies)
    )


async def _approve_again_changes_nothing(bot: BotProcess, message: dict[str, Any]) -> None:
    """A second click on the old message is told the outcome is unknown; nothing runs."""
    before = len(bot.rig.standin.responses)
    await bot.click("Approve", message)

    async def answered() -> bool:
        return len(bot.rig.standin.responses) > before

    await wait_for(answered, 20, what="an answer to the second click")
    told = " ".join(str(body) for _, body in bot.rig.standin.responses[before:])
    assert "outcome is unknown" in told, told
    assert [r.state for r in await bot.requests()] == [RequestState.UNKNOWN.value]
