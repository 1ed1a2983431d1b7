"""Signatures are checked before anything runs; an authInfo typed into a modal stays secret."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from bot.runtime.logs import configure_logging
from bot.runtime.serve import EVENTS_PATH, http_app
from bot.runtime.signed import sign
from bot.slack.app import build_app
from bot.slack.ids import INPUT_ACTION_ID, input_block_id
from providers.simulators.base import LoopbackServer
from tests.slack.conftest import ALICE, BOB, CHANNEL, DAVE, RIGHT_EPP, SIGNING_SECRET, Bot

AUTH_INFO = "authInfo"  # the Hostway reset's input name


async def _running_session(bot: Bot) -> str:
    return await bot.watch("whm-east", bot.sims["cpanel"].add_session("RUNNING"))


@pytest.mark.parametrize(
    "tamper",
    [
        {"signature": "v0=" + "0" * 64},  # forged
        {"signed": False},  # missing
        {"timestamp": int(time.time()) - 6 * 60},  # stale: more than five minutes old
    ],
    ids=["forged", "missing", "stale"],
)
async def test_badly_signed_requests_are_refused_and_nothing_runs(
    bot: Bot, tamper: dict[str, object]
) -> None:
    short_id = await _running_session(bot)
    answers, calls = len(bot.standin.ephemerals), len(bot.standin.calls)
    response = await bot.slack.command(f"pause {short_id}", user=ALICE, **tamper)
    await bot.settle()
    assert response.status_code == 401
    assert bot.sims["cpanel"].faults.calls["pause_transfer_session"] == 0
    assert len(bot.standin.ephemerals) == answers and len(bot.standin.calls) == calls


async def test_a_forged_approve_click_is_refused(bot: Bot) -> None:
    short_id = await _running_session(bot)
    await bot.command(f"cancel {short_id}", user=ALICE)
    message = bot.as_seen(bot.request_message())
    response = await bot.slack.click(
        "Approve", user=BOB, message=message, channel=CHANNEL, signature="v0=" + "f" * 64
    )
    await bot.settle()
    assert response.status_code == 401
    assert bot.sims["cpanel"].faults.calls["abort_transfer_session"] == 0
    assert "Waiting for an approver" in bot.text_of(bot.request_message())


async def _open_retry_form(bot: Bot) -> tuple[str, dict[str, object]]:
    ref = bot.sims["hostway"].add_transfer(
        "wrong-epp.example", script="bad_auth", age=2 * 3600, correct_auth_info=RIGHT_EPP
    )
    short_id = await bot.watch("hostway-main", ref)
    await bot.command(f"retry {short_id}", user=ALICE)
    assert bot.standin.calls_to("views.open"), "no form was opened"
    view = list(bot.standin.views.values())[-1]
    return short_id, view


def _typed(value: str | None) -> dict[str, dict[str, str | None]]:
    return {input_block_id(AUTH_INFO): {INPUT_ACTION_ID: value}}


async def test_a_too_short_authinfo_is_refused_inline(bot: Bot) -> None:
    _, view = await _open_retry_form(bot)
    response = await bot.slack.submit(values=_typed("abc"), user=ALICE, view=view)
    await bot.settle()
    body = response.json()
    assert body["response_action"] == "errors"
    assert "at least 6 characters" in body["errors"][input_block_id(AUTH_INFO)]
    assert bot.channel(CHANNEL) == []  # no request was made


async def test_spaces_around_an_authinfo_do_not_count_towards_its_length(bot: Bot) -> None:
    _, view = await _open_retry_form(bot)
    response = await bot.slack.submit(values=_typed("  abc   "), user=ALICE, view=view)
    await bot.settle()
    body = response.json()
    assert "at least 6 characters" in body["errors"][input_block_id(AUTH_INFO)]
    assert bot.channel(CHANNEL) == []


async def test_an_authinfo_from_the_modal_is_used_once_and_seen_nowhere(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, view = await _open_retry_form(bot)
    response = await bot.slack.submit(values=_typed(RIGHT_EPP), user=ALICE, view=view)
    await bot.settle()
    assert response.status_code == 200 and not response.content  # the form closes
    request = bot.request_message()
    assert "provided" in bot.text_of(request)
    assert await _stored_secrets(bot) == 1  # kept, encrypted, until the action runs
    _assert_not_in_database(bot)

    await bot.click("Approve", user=BOB, message=bot.as_seen(request))

    hostway = bot.sims["hostway"]
    assert hostway.faults.calls["reset_transfer"] == 1
    assert hostway.transfers["wrong-epp.example"].auth_info == RIGHT_EPP  # it reached Hostway
    assert "Done" in bot.text_of(bot.request_message())
    assert RIGHT_EPP not in bot.standin.transcript()
    logged = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    assert logged and not [line for line in logged if RIGHT_EPP in line]
    _assert_not_in_database(bot)
    assert await _stored_secrets(bot) == 0  # erased once the action ran


async def _stored_secrets(bot: Bot) -> int:
    async with bot.services.db.session() as session:
        return int((await session.execute(text("SELECT count(*) FROM request_secrets"))).scalar())


def _assert_not_in_database(bot: Bot) -> None:
    for path in _database_files(bot.db_path):  # the database, its WAL and shared memory
        assert RIGHT_EPP.encode() not in path.read_bytes(), path.name


def _database_files(db_path: Path) -> list[Path]:
    files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]
    assert db_path in files
    return files


async def test_what_a_form_carries_is_masked_only_for_its_secret_inputs_and_only_while_held(
    bot: Bot,
) -> None:
    """A value typed by someone who may not act is never registered (the word "request"
    used to vanish from every log line); an operator's authInfo is masked while the bot
    holds it, and forgotten by the masker once the action has run and it is erased."""
    masker = bot.services.masker
    stream = io.StringIO()
    configure_logging("info", "text", masker=masker, stream=stream)  # removed after the test
    _, view = await _open_retry_form(bot)
    response = await bot.slack.submit(values=_typed("request"), user=DAVE, view=view)
    await bot.settle()
    assert response.status_code == 200 and masker.size == 0
    hostway = bot.sims["hostway"]
    hostway.faults.add("latency", operation="reset_transfer", seconds=1.0)
    await bot.slack.submit(values=_typed(RIGHT_EPP), user=ALICE, view=view)
    await bot.settle()
    request = bot.as_seen(bot.request_message())
    await bot.slack.click("Approve", user=BOB, message=request, channel=CHANNEL)
    for _ in range(500):  # until the reset is on its way to Hostway
        if hostway.faults.calls["reset_transfer"]:
            break
        await asyncio.sleep(0.01)
    assert masker.mask(f"sent {RIGHT_EPP}") != f"sent {RIGHT_EPP}"  # masked mid-call
    await bot.settle()

    assert hostway.transfers["wrong-epp.example"].auth_info == RIGHT_EPP
    assert masker.size == 0  # and no longer kept once the action ran
    logging.getLogger("bot.somewhere").info("a request was made")
    assert "a request was made" in stream.getvalue()


BODY_SECONDS = 0.5  # the deadline for a whole body, short for the test (10 s in service)


async def _slow_post(url: str, body: bytes, *, pace: float | None) -> tuple[bytes, float]:
    """POST ``body`` to the events endpoint on a raw connection, sending only its first
    bytes and then nothing (``pace`` None) or one byte every ``pace`` seconds; what came
    back before the server closed the connection, and when it closed."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    stamp = str(int(time.time()))
    head = (
        f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nX-Slack-Request-Timestamp: {stamp}\r\n"
        f"X-Slack-Signature: {sign(SIGNING_SECRET, stamp, body)}\r\n\r\n"
    )
    started = time.monotonic()
    writer.write(head.encode() + body[:10])

    async def trickle() -> None:
        # Never the last byte, and nothing in the last fifth before the deadline: a byte that
        # reaches a socket the server has just closed makes its kernel answer with a reset,
        # which can wipe the 408 before this side reads it (seen on a loaded machine). Until
        # then a byte every ``pace`` seconds, so a timeout on idleness alone would not fire.
        quiet_at = started + BODY_SECONDS * 0.8
        for byte in body[10:-1]:
            await asyncio.sleep(pace or 0)
            if time.monotonic() >= quiet_at:
                return
            writer.write(bytes([byte]))

    sending = asyncio.create_task(trickle() if pace else asyncio.sleep(3600))
    try:
        answer = await asyncio.wait_for(reader.read(), timeout=BODY_SECONDS + 5)
        return answer, time.monotonic() - started
    finally:
        sending.cancel()
        writer.close()


@pytest.mark.parametrize("pace", [None, 0.01], ids=["held back", "trickled"])
async def test_a_body_sent_too_slowly_gets_408_and_its_connection_closed(
    bot: Bot, pace: float | None
) -> None:
    short_id = await _running_session(bot)
    body = bot.slack.command_body(f"pause {short_id}", user=ALICE, channel=CHANNEL)
    app = http_app(build_app(bot.services), bot.services, body_seconds=BODY_SECONDS)
    async with LoopbackServer(app) as url:
        slow = [_slow_post(url, body, pace=pace) for _ in range(20)]
        answers = await asyncio.gather(*slow)
        await bot.settle()
    for answer, took in answers:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:60]
        assert b"connection: close" in answer.lower()
        assert BODY_SECONDS <= took < BODY_SECONDS + 3  # closed by the server, at the deadline
    assert bot.sims["cpanel"].faults.calls["pause_transfer_session"] == 0


async def test_a_client_that_goes_away_mid_body_leaves_no_traceback(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    parts = urlsplit(bot.url)
    _, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 800\r\n\r\n"
        "command=%2Ftransfer".encode()
    )
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    for _ in range(50):  # until the server has noticed
        if "went away" in caplog.text:
            break
        await asyncio.sleep(0.05)
    assert "went away" in caplog.text
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


_NOT_THE_BOT = ("asyncio", "uvicorn", "selectors", "providers.simulators", "bot.runtime.standin")


def _holding(root: object, secret: str, *, limit: int = 500_000) -> list[str]:
    """Paths to every str/bytes holding ``secret`` among the objects ``root`` reaches.

    Not followed: code (modules, classes, functions), and the event loop's machinery
    (asyncio, uvicorn), through which an open socket reaches the simulators and the Slack
    stand-in in this process: they are the provider and Slack, not the bot."""
    import gc
    import types

    needle, seen, found = secret.encode(), {id(root)}, []
    queue: list[tuple[object, str]] = [(root, type(root).__name__)]
    skip = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.CodeType)
    while queue and len(seen) < limit:
        node, path = queue.pop()
        if isinstance(node, str):
            if secret in node:
                found.append(path)
            continue
        if isinstance(node, (bytes, bytearray, memoryview)):
            if needle in bytes(node):
                found.append(path)
            continue
        for child in gc.get_referents(node):
            outside = type(child).__module__.startswith(_NOT_THE_BOT)
            if id(child) not in seen and not isinstance(child, skip) and not outside:
                seen.add(id(child))
                queue.append((child, f"{path} > {type(child).__name__}"))
    return found


async def test_after_an_approved_action_ran_nothing_the_bot_keeps_holds_the_authinfo(
    bot: Bot,
) -> None:
    """The services every listener and the watcher share (database, registry and its HTTP
    clients, the Slack clients, the masker, the provider lanes, background tasks): once the
    reset has run and the secret was erased, none of them still holds the typed authInfo."""
    _, view = await _open_retry_form(bot)
    await bot.slack.submit(values=_typed(RIGHT_EPP), user=ALICE, view=view)
    await bot.settle()
    await bot.click("Approve", user=BOB, message=bot.as_seen(bot.request_message()))
    assert bot.sims["hostway"].transfers["wrong-epp.example"].auth_info == RIGHT_EPP  # it ran

    assert _holding(bot.services, RIGHT_EPP) == []
    assert await _stored_secrets(bot) == 0
