"""The events endpoint's door: replays remembered cheaply, in every replica, slow bodies cut off."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest
from starlette.requests import Request

from bot.runtime.guard import RequestGuard
from bot.runtime.signed import sign
from storage.database import Database
from storage.signatures import count_signatures

SECRET = "signing-secret-for-guard-tests-0123"
WINDOW = 5 * 60  # Slack's: a signature is good for five minutes


@dataclass
class SteppedClock:
    """The guard's clock: starts now and moves only when told."""

    now: float

    def __call__(self) -> float:
        return self.now

    def step(self, seconds: float) -> None:
        self.now += seconds


def signed_request(body: bytes, *, timestamp: int) -> Request:
    """A request to the events endpoint as the server hands it to the route, signed."""
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "content-length": str(len(body)),
        "x-slack-request-timestamp": str(timestamp),
        "x-slack-signature": sign(SECRET, timestamp, body),
    }
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/slack/events",
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    delivered = False

    async def receive() -> dict[str, object]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


def command(n: int) -> bytes:
    return f"command=%2Ftransfer&text=help&user_id=U0ALICE&trigger_id={n}.standin".encode()


def click(n: int) -> bytes:
    """A click on a button: a request kind whose signature the guard records in the database."""
    payload = {
        "type": "block_actions",
        "user": {"id": "U0ALICE"},
        "trigger_id": f"{n}.standin",
        "actions": [{"action_id": "transfer.approve", "value": str(n)}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


async def marked_as_retry(guard: RequestGuard, body: bytes, *, timestamp: int) -> bool:
    checked = await guard.check(signed_request(body, timestamp=timestamp))
    assert isinstance(checked, AsyncBoltRequest), checked
    return "x-slack-retry-num" in checked.headers


async def test_a_replay_among_100001_young_signatures_is_caught_and_each_check_stays_cheap() -> (
    None
):
    clock = SteppedClock(time.time())
    guard = RequestGuard(SECRET, clock=clock)
    signed_at = int(clock.now)
    count = 100_001
    for n in range(count):
        assert not await marked_as_retry(guard, command(n), timestamp=signed_at)
        clock.step(0.001)  # 100 s in all: every one of them is still young
    # the first one sent again, well within its five minutes: still known
    assert await marked_as_retry(guard, command(0), timestamp=signed_at)
    assert await marked_as_retry(guard, command(count - 1), timestamp=signed_at)
    assert len(guard.memory) == count
    # the work of forgetting: about one look per check, however many are remembered
    checks = count + 2
    assert guard.memory.looked_at <= 2 * checks

    clock.step(WINDOW)  # every signature is now older than five minutes
    before = guard.memory.looked_at
    assert not await marked_as_retry(guard, command(count), timestamp=int(clock.now))
    assert len(guard.memory) == 1  # the expired ones are forgotten, in one pass
    assert guard.memory.looked_at - before <= count + 1
    for n in range(count + 1, count + 1001):  # and the next checks are cheap again
        assert not await marked_as_retry(guard, command(n), timestamp=int(clock.now))
    assert guard.memory.looked_at - before <= count + 1 + 2 * 1000


async def test_the_database_forgets_signatures_once_they_are_past_five_minutes(
    db: Database,
) -> None:
    clock = SteppedClock(time.time())
    guard = RequestGuard(SECRET, db=db, clock=clock)
    for n in range(3):
        assert not await marked_as_retry(guard, click(n), timestamp=int(clock.now))
    async with db.session() as session:
        assert await count_signatures(session) == 3
    restarted = RequestGuard(SECRET, db=db, clock=clock)  # a new process: its memory empty
    assert await marked_as_retry(restarted, click(0), timestamp=int(clock.now))

    clock.step(WINDOW + 2 * 60)  # past the five minutes, and the minute kept for clocks
    assert not await marked_as_retry(guard, click(3), timestamp=int(clock.now))
    async with db.session() as session:
        assert await count_signatures(session) == 1  # only the newest is kept


async def test_requests_get_in_while_the_database_cannot_record_signatures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    down = Database("postgresql+psycopg://bot:not-shown-pw@127.0.0.1:1/transferbot")
    clock = SteppedClock(time.time())
    guard = RequestGuard(SECRET, db=down, clock=clock)
    try:
        assert not await marked_as_retry(guard, click(1), timestamp=int(clock.now))
        assert await marked_as_retry(guard, click(1), timestamp=int(clock.now))  # memory
        for n in range(2, 5):
            clock.step(10)  # past the pause after a failure: the database is tried again
            assert not await marked_as_retry(guard, click(n), timestamp=int(clock.now))
    finally:
        await down.dispose()
    warnings = [r for r in caplog.records if r.name == "bot.runtime.replays"]
    assert [r.levelno for r in warnings] == [logging.WARNING]  # one, not one a request
    assert "not-shown-pw" not in caplog.text


async def test_a_slash_command_is_let_in_with_no_database_write(db: Database) -> None:
    """Help is answered inside the ack: the door checks a command's signature in memory
    only (its listener records the trigger_id of one it takes on), so nothing waits on the
    database before the answer; a replay to this process is still caught."""
    clock = SteppedClock(time.time())
    guard = RequestGuard(SECRET, db=db, clock=clock)
    assert not await marked_as_retry(guard, command(1), timestamp=int(clock.now))
    assert await marked_as_retry(guard, command(1), timestamp=int(clock.now))
    async with db.session() as session:
        assert await count_signatures(session) == 0
