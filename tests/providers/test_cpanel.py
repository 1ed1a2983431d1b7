"""cPanel WHM Transfer Tool: the shared contract, the seed's payloads, states, faults and quirks."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from providers import errors
from providers.base import Action, Phase, Transfer
from providers.cpanel import CpanelProvider
from providers.cpanel.parse import (
    SessionContents,
    build_transfer,
    parse_contents,
    parse_log,
    subject_of,
)
from providers.cpanel.statuses import STATE_NUMBERS, STATES, rule_for
from providers.cpanel.wire import SESSION_ID, build_request, error_for_reason, read_envelope
from providers.simulators.base import LoopbackServer, SimClock
from providers.simulators.cpanel import CpanelSimulator
from providers.simulators.cpanel.sessions import ABORT_SECONDS, PAUSE_SECONDS
from tests.providers.contract import (
    ACTION_FAULTS,
    GOOD_SECRET,
    ActionCase,
    ProviderContract,
    WrongBaseURL,
)

WHM_USER = "whmops"
WHO = "cpanel account 'cpanel-test'"

# -- seed 000: the documented request and reply ------------------------------------------
SEED_PAUSE_URL = (
    "https://hostname.example.com:2087/cpsess##########/json-api/pause_transfer_session"
    "?api.version=1&transfer_session_id=exampleservercopya20140206192428NtyW"
)
SEED_PAUSE_REPLY = b"""{
  "metadata": {
    "version": 1,
    "reason": "OK.",
    "result": 1,
    "command": "pause_transfer_session"
  }
}"""
SEED_SESSION_IDS = ("exampleservercopya20140206192428NtyW", "remoteexamplecopya20140211211719FxjU")

# master.log records in the shape WHM's fetch_transfer_session_log documentation shows
DOCS_LOG = "\n".join(
    json.dumps(record)
    for record in [
        {"contents": {"action": "start", "time": 1598991042, "child_number": 0}, "pid": 12789},
        {"contents": {"action": "version", "msg": 2.3, "time": 1598991042}, "pid": 12789},
        {"contents": {"action": "queue_count", "queue": "TRANSFER", "msg": 1, "time": 1598991042}},
        {"contents": {"action": "remotehost", "msg": "10.1.32.200", "time": 1598991042}},
        {"contents": {"item": "root", "time": 1598991042, "action": "start-item",
                      "queue": "TRANSFER", "item_name": "Account", "msg": {"size": 1}}},
        {"contents": {"item": "root", "time": 1598991042, "action": "failed-item",
                      "queue": "TRANSFER", "item_name": "Account",
                      "msg": {"size": 1, "failure":
                              "The account “root” already exists on “control.box.new”."}}},
        {"contents": {"time": 1598991042, "action": "complete", "queue": "TRANSFER"}},
        {"contents": {"time": 1598991043, "action": "complete", "child_number": 0}},
    ]
)  # fmt: skip


# -- the shared contract ---------------------------------------------------------------------
class TestCpanelContract(ProviderContract):
    provider_type = "cpanel"
    read_operation = "get_transfer_session_state"
    retry_operation = "start_transfer_session"  # resume is cPanel's way out of a stuck session
    # cPanel has no retry: a session stuck at REACHEDMAXMEM is recovered by starting it again
    # (start_transfer_session, our resume); the contract's recovery tests take that instead
    recovery_action = Action.RESUME
    action_cases = (
        ActionCase(Action.PAUSE, "seed_inflight", "pause_transfer_session"),
        ActionCase(Action.RESUME, "seed_paused", "start_transfer_session"),
        ActionCase(Action.CANCEL, "seed_inflight", "abort_transfer_session"),
    )
    action_faults = {
        **ACTION_FAULTS,  # a 500 from WHM: it may have acted before failing
        "error-501": (errors.Unavailable, True),
        "error-504": (errors.Unavailable, True),
        "wrong_content_type": (errors.BadReply, False),  # a login or proxy page: WHM never saw it
    }
    wrong_base_url = WrongBaseURL(errors.BadReply, ("HTTP 404", "base URL"))
    unsupported_words = {Action.RETRY: "can't be retried", Action.RESEND: "no approval e-mail"}
    bad_refs = ("../../etc/passwd", "")
    bad_ref_words = "not a cPanel transfer session id"

    def make_simulator(self, clock: SimClock, secret: str) -> CpanelSimulator:
        return CpanelSimulator(secret=secret, username=WHM_USER, clock=clock)

    def account_fields(self) -> dict[str, object]:
        return {"username": WHM_USER}

    def seed_inflight(self, sim: CpanelSimulator) -> str:
        return sim.add_session("RUNNING", accounts=["example", "shop", "blog"])

    def seed_blocked(self, sim: CpanelSimulator) -> str:
        return sim.add_session("REACHEDMAXMEM", accounts=["bigstore"])

    def seed_completed(self, sim: CpanelSimulator) -> str:
        return sim.add_session("COMPLETED")

    def seed_paused(self, sim: CpanelSimulator) -> str:
        return sim.add_session("PAUSED")

    def missing_ref(self) -> str:
        return "remoteexamplecopya20140206192428Zzzz"

    def seeding(self) -> tuple[dict[str, Any], dict[str, Any]]:
        spec = {"sessions": [{"state": "PAUSED", "accounts": ["a1"]},
                             {"script": [[0, "TRANSFER_PENDING"]]}]}  # fmt: skip
        return spec, {"colour": "red"}

    def check_seeded(self, transfers: list[Transfer], reply: dict[str, Any]) -> None:
        paused, queued = transfers
        assert paused.phase is Phase.PAUSED
        assert queued.waiting_for == "a free transfer slot"

    def check_action_error(self, error: errors.ProviderError, case: ActionCase, fault: str) -> None:
        assert error.message.startswith(("cpanel", "Could not"))
        if fault.startswith("error"):  # a server error says whether it may have happened
            then = (
                "check the transfer before trying again"
                if error.maybe_applied
                else ("try again in a few")
            )
            assert then in error.message


# -- pure functions on plain data --------------------------------------------------------------
def test_the_seeds_pause_request_is_what_we_build() -> None:
    seed = urlsplit(SEED_PAUSE_URL.replace("#", "0"))  # the seed's cpsess########## token
    path, query = build_request("pause_transfer_session", "exampleservercopya20140206192428NtyW")
    assert seed.path.endswith(path)
    assert dict(parse_qsl(seed.query)) == query


def test_the_seeds_pause_reply_is_a_success_without_data() -> None:
    ok, reason, data = read_envelope(
        SEED_PAUSE_REPLY, content_type="application/json", who=WHO, account="a", function="f"
    )
    assert (ok, reason, data) == (True, "OK.", {})


@pytest.mark.parametrize(("result", "reason"), [(0, "The call failed."), (1, "OK.")])
def test_a_blank_reason_is_said_in_our_words(result, reason) -> None:
    body = json.dumps({"metadata": {"result": result, "reason": " \u200b\n"}}).encode()
    said = read_envelope(body, content_type="application/json", who=WHO, account="a", function="f")
    assert said[1] == reason


@pytest.mark.parametrize("session_id", SEED_SESSION_IDS)
def test_the_seeds_session_ids_are_accepted(session_id: str) -> None:
    assert SESSION_ID.match(session_id)


EXPECTED_STATES = {
    "PENDING": (Phase.PENDING, {"resume", "cancel"}),
    "TRANSFER_PENDING": (Phase.PENDING, {"resume", "cancel"}),
    "REACHEDMAXMEM": (Phase.BLOCKED, {"resume", "cancel"}),
    "RUNNING": (Phase.ACTIVE, {"pause", "cancel"}),
    "TRANSFER_INPROGRESS": (Phase.ACTIVE, {"pause", "cancel"}),
    "RESTORE_PENDING": (Phase.ACTIVE, {"pause", "cancel"}),
    "RESTORE_INPROGRESS": (Phase.ACTIVE, {"pause", "cancel"}),
    "PAUSING": (Phase.ACTIVE, {"cancel"}),
    "ABORTING": (Phase.ACTIVE, set()),
    "PAUSED": (Phase.PAUSED, {"resume", "cancel"}),
    "COMPLETED": (Phase.COMPLETED, set()),
    "ABORTED": (Phase.CANCELLED, set()),
    "FAILED": (Phase.FAILED, set()),
}


@pytest.mark.parametrize(("state", "expected"), sorted(EXPECTED_STATES.items()))
def test_every_state_maps_to_a_phase_and_its_actions(state, expected) -> None:
    transfer = build_transfer(account="a", ref="x1", raw_state=state)
    assert (transfer.phase, set(transfer.action_names)) == expected
    assert transfer.raw_code == state and transfer.raw_text
    cancel = transfer.action(Action.CANCEL)
    assert cancel is None or (cancel.destructive and cancel.verb == "abort")


def test_the_table_covers_every_documented_state_and_stored_number() -> None:
    assert set(STATES) == set(EXPECTED_STATES)
    for number, name in STATE_NUMBERS.items():
        transfer = build_transfer(account="a", ref="x1", raw_state=str(number))
        assert transfer.phase is EXPECTED_STATES[name][0]
        assert transfer.raw_code == str(number) and name in transfer.raw_text


@pytest.mark.parametrize("state", ["QUIESCING", "running_v2", "999", "  "])
def test_an_unknown_state_is_shown_raw_as_active_with_nothing_offered(state: str) -> None:
    transfer = build_transfer(account="a", ref="x1", raw_state=state)
    assert transfer.phase is Phase.ACTIVE
    assert transfer.actions == ()
    assert transfer.raw_code == state
    assert rule_for(state).actions == ()


REASONS = [
    ("The system failed to “pause” the transfer session.", errors.NotAllowedNow),
    ("The transfer session “abc” does not exist.", errors.TransferNotFound),
    ("Permission denied: the token lacks the “transfer” privilege.", errors.AuthenticationFailed),
    ("Unknown app (“x”) requested for this version (1) of the API.", errors.Unsupported),
    ("The disk is full.", errors.ProviderError),
]


@pytest.mark.parametrize(("reason", "error"), REASONS)
def test_a_failed_call_becomes_the_matching_error_with_the_reason(reason, error) -> None:
    exc = error_for_reason(reason, who=WHO, account="a", function="f", session_id="abc")
    assert type(exc) is error
    assert exc.detail == reason
    assert exc.message.startswith(WHO) and exc.message.endswith(".")


def test_pausing_a_session_that_is_not_running_reads_as_the_brief_says() -> None:
    exc = error_for_reason(
        "The system failed to “pause” the transfer session.",
        who="cpanel account 'whm-east'", account="whm-east", function="f", session_id="s1",
    )  # fmt: skip
    assert exc.message == (
        "cpanel account 'whm-east' says: The system failed to “pause” the transfer session."
    )


BAD_BODIES = [
    (b"<!DOCTYPE html><html><body>Login</body></html>", "text/html"),
    (b"<html>oops</html>", "application/json"),
    (b"\x00\x13garbage {<< not a reply >>", "application/json"),
    (SEED_PAUSE_REPLY[: len(SEED_PAUSE_REPLY) // 2], "application/json"),
    (b'{"data": {"state_name": "RUNNING"}}', "application/json"),
    (b'{"metadata": {"result": "maybe"}}', "application/json"),
    (b"[1, 2]", "application/json"),
    (b"\xff\xfe", "application/json"),
]


@pytest.mark.parametrize(("body", "content_type"), BAD_BODIES)
def test_a_reply_that_is_not_the_envelope_is_a_bad_reply(body, content_type) -> None:
    with pytest.raises(errors.BadReply) as info:
        read_envelope(body, content_type=content_type, who=WHO, account="a", function="f")
    assert info.value.message.startswith(WHO)


def test_the_log_tail_is_readable_and_skips_bookkeeping_and_garbage() -> None:
    text = "not json\n" + DOCS_LOG + "\n{truncated"
    history = parse_log(text)
    assert [entry.raw_code for entry in history] == [
        "start", "start-item", "failed-item", "complete", "complete",
    ]  # fmt: skip
    assert history[2].raw_text == (
        "Transfer of account “root” failed: The account “root” already exists on “control.box.new”."
    )
    assert history[-1].raw_text == "Session complete" and history[-1].phase is Phase.COMPLETED
    assert history[0].at == datetime.fromtimestamp(1598991042, tz=UTC)


def test_the_log_tail_keeps_the_last_ten_oldest_first() -> None:
    lines = [json.dumps({"contents": {"action": "note", "msg": f"step {i}", "time": i}})
             for i in range(25)]  # fmt: skip
    history = parse_log("\n".join(lines))
    assert [entry.raw_text for entry in history] == [f"step {i}" for i in range(15, 25)]


def test_the_subject_names_the_accounts() -> None:
    analysis = {"items": {"accounts": [{"user": "example", "domain": "example.com",
                                        "size": 123456789}, {"user": "shop"}, "blog"],
                          "packages": ["package1"]},
                "remote": {"hostname": "remote.example.com"}}  # fmt: skip
    contents = parse_contents(analysis)
    assert subject_of(contents) == "3 accounts: example, shop, blog"
    assert contents.size == 123456789 and contents.packages == ("package1",)
    many = SessionContents(accounts=tuple(f"u{i}" for i in range(8)))
    assert subject_of(many) == "8 accounts: u0, u1, u2, u3, u4 and 3 more"
    assert subject_of(parse_contents({"items": {"accounts": {"solo": {"size": 5}}}})) == (
        "1 account: solo"
    )
    assert subject_of(parse_contents({"items": "nonsense"})) is None


# -- through the simulator on loopback ------------------------------------------------------
@pytest.fixture
def contract() -> TestCpanelContract:
    return TestCpanelContract()


class Steered(httpx.AsyncBaseTransport):
    """Loopback HTTP, with a hook after each reply."""

    def __init__(self, after: Callable[[str], None]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.after = after

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        function = request.url.path.rsplit("/", 1)[-1]
        response = await self.inner.handle_async_request(request)
        self.after(function)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_detailed_read_shows_accounts_log_and_remembers_the_subject(
    sim, provider, clock
) -> None:
    ref = sim.add_session("RUNNING", accounts=[{"user": "example", "size": 123456789},
                                               "shop", "blog"])  # fmt: skip
    clock.advance(60)
    assert (await provider.get_transfer(ref)).subject == ref  # nothing known yet
    transfer = await provider.get_transfer(ref, detailed=True)
    assert transfer.subject == "3 accounts: example, shop, blog"
    assert transfer.details["remote server"] == "remote.example.com"
    assert "example.com" in transfer.details["domains"]
    assert [e.raw_text for e in transfer.history][:2] == [
        "Session started", "Transfer of account “example” started",
    ]  # fmt: skip
    assert transfer.changed_at is not None
    assert (await provider.get_transfer(ref)).subject == transfer.subject


async def test_a_detailed_read_survives_an_unreadable_log(sim, provider) -> None:
    ref = sim.add_session("RUNNING")
    sim.faults.add("malformed", operation="fetch_transfer_session_log", times=None)
    transfer = await provider.get_transfer(ref, detailed=True)
    assert transfer.phase is Phase.ACTIVE and transfer.history == ()
    assert "could not be read" in transfer.details["history"]
    assert transfer.subject == "1 account: example"


async def test_pause_then_resume_keeps_the_work_done(sim, provider, clock) -> None:
    ref = sim.add_session("RUNNING", accounts=[{"user": "big", "size": 500_000_000}])
    work = sim.sessions[ref].work  # 115 s of work
    clock.advance(50)
    result = await provider.perform(ref, Action.PAUSE)
    assert result.transfer is not None and result.transfer.raw_code == "PAUSING"
    assert {a.action for a in result.transfer.actions} == {Action.CANCEL}
    clock.advance(PAUSE_SECONDS)
    paused = await provider.get_transfer(ref, detailed=True)
    assert paused.phase is Phase.PAUSED
    clock.advance(3600)  # a paused session's clock stops: nothing moves, nothing is logged
    assert (await provider.get_transfer(ref, detailed=True)).history == paused.history
    result = await provider.perform(ref, Action.RESUME)
    assert result.message.startswith("Started transfer session") and "worker pid" in result.message
    clock.advance(work - 50 - 1)
    assert (await provider.get_transfer(ref)).phase is Phase.ACTIVE
    clock.advance(2)
    done = await provider.get_transfer(ref, detailed=True)
    assert done.phase is Phase.COMPLETED
    assert done.history[-1].raw_text == "Session complete"


async def test_cancel_aborts_after_a_few_seconds(sim, provider, clock) -> None:
    ref = sim.add_session("PAUSED")
    result = await provider.perform(ref, Action.CANCEL)
    assert result.transfer is not None and result.transfer.raw_code == "ABORTING"
    assert result.transfer.actions == ()
    clock.advance(ABORT_SECONDS)
    assert (await provider.get_transfer(ref)).phase is Phase.CANCELLED


async def test_pausing_a_session_that_stopped_running_meanwhile_says_why(
    sim, base_url, contract
) -> None:
    ref = sim.add_session(script=[(0, "RUNNING"), (10, "COMPLETED")])

    # the session completes between our read and the pause reaching WHM
    def later(function: str) -> None:
        if function == "get_transfer_session_state":
            sim.clock.advance(30)

    client = CpanelProvider(contract.make_account(base_url), transport=Steered(after=later))
    async with aclosing(client):
        with pytest.raises(errors.NotAllowedNow) as info:
            await client.perform(ref, Action.PAUSE)
    assert info.value.message == (f"{WHO} says: The system failed to “pause” the transfer session.")
    assert sim.faults.calls["pause_transfer_session"] == 1


@pytest.mark.parametrize("action", [Action.PAUSE, Action.CANCEL])
async def test_acting_on_a_session_whose_worker_died_fails_it(sim, provider, clock, action):
    ref = sim.add_session("RUNNING", dies_after=10)
    clock.advance(600)
    assert (await provider.get_transfer(ref)).raw_code == "RUNNING"  # WHM has not noticed
    result = await provider.perform(ref, action)
    assert result.transfer is not None and result.transfer.phase is Phase.FAILED
    assert "worker had died" in result.message and "FAILED" in result.message


async def test_the_sample_mix_moves_through_its_states(sim, provider, clock) -> None:
    refs = sim.populate_sample()
    moving, running, stuck, done, failing = refs
    phases = [(await provider.get_transfer(ref)).phase for ref in refs]
    assert phases == [Phase.PENDING, Phase.ACTIVE, Phase.PENDING, Phase.COMPLETED, Phase.ACTIVE]
    clock.advance(60)
    assert (await provider.get_transfer(moving)).phase is Phase.ACTIVE
    assert (await provider.get_transfer(stuck)).phase is Phase.BLOCKED
    assert (await provider.get_transfer(failing)).phase is Phase.FAILED
    assert (await provider.get_transfer(done)).phase is Phase.COMPLETED
    assert (await provider.get_transfer(running)).phase in (Phase.ACTIVE, Phase.COMPLETED)


def test_session_ids_look_like_whms(sim, clock) -> None:
    ref = sim.add_session(remote_host="example.server.net")
    stamp = clock.now().strftime("%Y%m%d%H%M%S")
    assert re.fullmatch(rf"exampleservercopya{stamp}[A-Za-z]{{4}}", ref)
    assert len({sim.add_session() for _ in range(50)}) == 50


async def test_stored_state_numbers_are_understood(clock, contract) -> None:
    sim = CpanelSimulator(secret=GOOD_SECRET, username=WHM_USER, clock=clock, state_numbers=True)
    ref = sim.add_session("REACHEDMAXMEM")
    async with (
        LoopbackServer(sim) as url,
        aclosing(CpanelProvider(contract.make_account(url))) as client,
    ):
        transfer = await client.get_transfer(ref)
    assert (transfer.raw_code, transfer.phase) == ("10", Phase.BLOCKED)


async def test_an_unknown_state_is_shown_and_refuses_actions_before_sending(sim, provider):
    ref = sim.add_session(script=[(0, "QUIESCING")])
    transfer = await provider.get_transfer(ref)
    assert (transfer.phase, transfer.raw_code, transfer.actions) == (
        Phase.ACTIVE, "QUIESCING", (),
    )  # fmt: skip
    with pytest.raises(errors.NotAllowedNow) as info:
        await provider.perform(ref, Action.PAUSE)
    assert "nothing can be done to it now" in info.value.message
    assert sim.faults.calls["pause_transfer_session"] == 0


async def test_a_state_that_does_not_allow_the_action_is_refused_before_sending(sim, provider):
    ref = sim.add_session("COMPLETED")
    with pytest.raises(errors.NotAllowedNow) as info:
        await provider.perform(ref, Action.RESUME)
    assert "is COMPLETED, so it can't be started" in info.value.message
    ref = sim.add_session("PAUSED")
    with pytest.raises(errors.NotAllowedNow) as info:
        await provider.perform(ref, Action.PAUSE)
    assert info.value.message.endswith("it can be started or aborted.")
    assert sim.faults.calls["start_transfer_session"] == 0
    assert sim.faults.calls["pause_transfer_session"] == 0


async def test_inputs_are_refused_before_anything_is_sent(sim, provider) -> None:
    with pytest.raises(errors.InvalidInput) as info:
        await provider.perform(
            "remoteexamplecopya20140211211719FxjU", Action.PAUSE, {"authinfo": "x"}
        )
    assert info.value.message.endswith(".")
    assert sum(sim.faults.calls.values()) == 0


async def test_a_wrong_whm_user_is_an_authentication_failure(sim, base_url, contract) -> None:
    ref = sim.add_session("RUNNING")
    async with aclosing(CpanelProvider(contract.make_account(base_url, username="root"))) as client:
        with pytest.raises(errors.AuthenticationFailed) as info:
            await client.get_transfer(ref)
    assert "HTTP 403" in info.value.message and GOOD_SECRET not in info.value.message


async def test_the_token_never_comes_back_in_anything_we_say(sim, provider) -> None:
    assert GOOD_SECRET not in repr(provider)
    # someone pastes the token where the session id goes: WHM echoes it back, we don't
    with pytest.raises(errors.TransferNotFound) as info:
        await provider.get_transfer(GOOD_SECRET)
    assert GOOD_SECRET not in info.value.message
    assert GOOD_SECRET not in (info.value.detail or "")
    assert GOOD_SECRET not in str(info.value)


async def test_watching_is_by_id_only(provider) -> None:
    assert provider.capabilities.can_list is False
    with pytest.raises(errors.Unsupported) as info:
        await provider.list_transfers()
    assert "session id" in info.value.message
