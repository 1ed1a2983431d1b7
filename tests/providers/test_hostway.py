"""Hostway REST: the shared contract, the seeds' payloads, phase mapping, faults and secrets."""

from __future__ import annotations

import json
from contextlib import aclosing
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from providers import errors
from providers.base import Action, Phase, Transfer
from providers.hostway import STATUS_CODES, HostwayProvider, parse_transfer
from providers.hostway.parse import ReplyShapeError
from providers.hostway.wire import normalize_domain, reset_body, reset_error
from providers.simulators.base import LoopbackServer, SimClock
from providers.simulators.hostway import HostwaySimulator
from tests.providers.contract import (
    ACTION_FAULTS,
    GOOD_SECRET,
    ActionCase,
    ProviderContract,
    WrongBaseURL,
)

ACCOUNT_NUMBER = "acct12345"
RIGHT_EPP = "Right-EPP-42"
STORED_EPP = "Stored$EPP-77"  # what GET replies echo back: must never leak

# seed 002's example reply, verbatim (code 7 with the description of code 11)
SEED_002_REPLY = """{
   "status": {
      "status": 7,
      "emailAddress": "joshbond@usa.net",
      "description": "Auto verification of transfer request initiated",
      "statusChangeDate": "2014-03-25T11:15:11-05:00",
      "authInfo": "auth123$000",
      "canBeReset": false
   },
   "history": [{
      "status": 7,
      "emailAddress": "joshbond@usa.net",
      "description": "Auto verification of transfer request initiated",
      "statusChangeDate": "2014-03-25T11:15:11-05:00",
      "authInfo": "auth123$000",
      "canBeReset": false
   }]
}"""
SEED_003_BODY = "{\n   'authInfo': 'mySecret'\n}"  # single quotes: not JSON

# the brief's suggested mapping, written out independently of providers/hostway/statuses.py
EXPECTED_PHASES: dict[Phase, set[int]] = {
    Phase.COMPLETED: {5},
    Phase.PENDING: {0, 3, 9, 12, 13, 28, 29, 35},
    Phase.ACTIVE: {1, 11, 14},
    Phase.BLOCKED: {2, 4, 6, 7, 8, 10, 15, 16, 17, 22, 23, 24, 25, 26, 31, 32, 37},
    Phase.FAILED: {18, 19, 20, 21, 30, 33, 34, 36},
    Phase.CANCELLED: {27, 45},
}
RESETTABLE = {2, 4, 6, 8, 10, 15, 16, 17, 22, 23, 24, 25, 26, 27, 31, 32, 37, 45}  # seed "Y"


def status_reply(code: int, can_be_reset: bool, description: str = "words") -> dict[str, object]:
    entry = {
        "status": code,
        "description": description,
        "canBeReset": can_be_reset,
        "statusChangeDate": "2024-05-01T10:00:00-05:00",
        "authInfo": STORED_EPP,
    }
    return {"status": entry, "history": [entry]}


def parse(payload: object):
    return parse_transfer(payload, account="hw", domain="test.com", account_number="acct12345")


# -- the shared contract ----------------------------------------------------------------------
class TestHostwayContract(ProviderContract):
    provider_type = "hostway"
    read_operation = "get_transfer_status"
    retry_operation = "reset_transfer"
    action_cases = (
        ActionCase(Action.RETRY, "seed_blocked", "reset_transfer", {"authInfo": RIGHT_EPP}),
    )
    action_faults = {
        **ACTION_FAULTS,
        "error": (errors.Unavailable, False),  # Hostway documents its 500: an unknown reset error
        "error-504": (errors.Unavailable, True),
        "truncated": (None, False),  # a reset's reply has no body to cut: it still worked
        "latency": (None, False),
    }
    # Hostway's 404 means "no such transfer order" (seed 002): that is what it says
    wrong_base_url = WrongBaseURL(errors.TransferNotFound, ("check the domain and the account",))
    unsupported_words = {
        Action.PAUSE: "can't be paused",
        Action.RESUME: "retry",
        Action.CANCEL: "can't be cancelled",
        Action.RESEND: "e-mail",
    }
    bad_refs = ("../../admin",)
    bad_ref_words = "not a domain name"

    def make_simulator(self, clock: SimClock, secret: str) -> HostwaySimulator:
        return HostwaySimulator(secret=secret, clock=clock, account_number=ACCOUNT_NUMBER)

    def account_fields(self) -> dict[str, object]:
        return {"account_number": ACCOUNT_NUMBER, "auth_scheme": "bearer"}

    def seed_inflight(self, sim: HostwaySimulator) -> str:
        return sim.add_transfer("moving.example", script="moving", age=3600)

    def seed_blocked(self, sim: HostwaySimulator) -> str:
        return sim.add_transfer(
            "blocked.example",
            script="bad_auth",
            age=7200,
            auth_info=STORED_EPP,
            correct_auth_info=RIGHT_EPP,
        )

    def seed_completed(self, sim: HostwaySimulator) -> str:
        return sim.add_transfer("done.example", script="moving", age=6 * 86400)

    def missing_ref(self) -> str:
        return "never-ordered.example"

    def retry_inputs(self) -> dict[str, str]:
        return {"authInfo": RIGHT_EPP}

    def planted_secrets(self) -> tuple[str, ...]:
        return (STORED_EPP,)

    def seeding(self) -> tuple[dict[str, Any], dict[str, Any]]:
        spec = {"transfers": [{"domain": "seeded.example", "script": [[0, 13], [60, 14]],
                               "age": 120}]}  # fmt: skip
        return spec, {"domain": "x.example", "script": [[0, 99]]}

    def check_seeded(self, transfers: list[Transfer], reply: dict[str, Any]) -> None:
        assert reply == {"refs": ["seeded.example"]}
        (transfer,) = transfers
        assert (transfer.raw_code, transfer.phase) == ("14", Phase.ACTIVE)

    def check_action_error(self, error: errors.ProviderError, case: ActionCase, fault: str) -> None:
        assert "hostway account 'hostway-test'" in error.message

    def check_applied(self, sim: HostwaySimulator, ref: str, case: ActionCase) -> None:
        assert sim.status_of(ref) == 13  # why it matters: Hostway did reset it


# -- seed payloads and pure functions ---------------------------------------------------------
def test_seed_002_example_shows_the_providers_words_and_maps_the_code() -> None:
    transfer = parse(json.loads(SEED_002_REPLY))
    assert (transfer.raw_code, transfer.raw_text) == (
        "7",
        "Auto verification of transfer request initiated",
    )
    assert transfer.phase is Phase.BLOCKED  # 7: frozen due to a charge problem
    assert transfer.actions == ()  # canBeReset false: billing must clear it
    assert "billing" in (transfer.waiting_for or "")
    assert transfer.changed_at == datetime(2014, 3, 25, 16, 15, 11, tzinfo=UTC)
    assert [(h.raw_code, h.phase) for h in transfer.history] == [("7", Phase.BLOCKED)]
    assert transfer.details["status 7 in Hostway's table"] == "Frozen due to charge problem"
    assert transfer.details["approval e-mail sent to"] == "joshbond@usa.net"
    assert transfer.details["authInfo"] == "set"
    assert "auth123$000" not in repr(transfer)


def test_seed_003_body_is_sent_as_real_json() -> None:
    assert json.loads(reset_body("mySecret")) == {"authInfo": "mySecret"}
    assert json.loads(reset_body(None)) == {}  # no authInfo: Hostway reuses the old one
    with pytest.raises(ValueError):
        json.loads(SEED_003_BODY)


def test_the_table_has_the_39_codes_of_seed_002_with_its_reset_column() -> None:
    assert sorted(STATUS_CODES) == [*range(38), 45]
    assert {c for c, row in STATUS_CODES.items() if row.can_be_reset} == RESETTABLE
    from providers.simulators.hostway import _TABLE  # the simulator's own reading of the seed

    assert {c: (r.description, r.can_be_reset) for c, r in STATUS_CODES.items()} == _TABLE


@pytest.mark.parametrize(
    ("code", "phase"), sorted((c, p) for p, codes in EXPECTED_PHASES.items() for c in codes)
)
def test_every_code_maps_to_its_phase(code: int, phase: Phase) -> None:
    transfer = parse(status_reply(code, code in RESETTABLE))
    assert transfer.phase is phase
    assert transfer.raw_code == str(code)
    assert transfer.raw_text == "words"  # the reply's description, not our table's


@pytest.mark.parametrize(
    ("code", "can_be_reset"),
    [(22, True), (22, False), (32, True), (27, True), (45, False), (14, False)],
)
def test_retry_is_offered_exactly_when_the_reply_says_can_be_reset(code, can_be_reset) -> None:
    transfer = parse(status_reply(code, can_be_reset))
    assert (transfer.action(Action.RETRY) is not None) is can_be_reset
    if can_be_reset:
        spec = transfer.action(Action.RETRY)
        assert spec.verb == "reset" and not spec.destructive
        (auth_input,) = spec.inputs
        assert (auth_input.name, auth_input.secret, auth_input.required) == (
            "authInfo",
            True,
            False,
        )
        assert (auth_input.min_length, auth_input.max_length) == (6, 16)


def test_waiting_for_says_in_plain_words_what_the_transfer_waits_for() -> None:
    assert parse(status_reply(14, False)).waiting_for == (
        "the current registrar or registrant to approve the transfer"
    )
    assert parse(status_reply(32, True)).waiting_for == (
        "a correct authInfo (EPP code) from the current registrar"
    )
    assert parse(status_reply(5, False)).waiting_for is None


@pytest.mark.parametrize(("can_be_reset", "phase"), [(True, Phase.BLOCKED), (False, Phase.ACTIVE)])
def test_an_unknown_code_is_shown_raw_in_a_safe_phase(can_be_reset, phase) -> None:
    transfer = parse(status_reply(99, can_be_reset, description="Something new"))
    assert (transfer.phase, transfer.raw_code, transfer.raw_text) == (phase, "99", "Something new")
    assert not transfer.phase.finished
    assert "not in its published table" in transfer.details["note"]


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "x",
        {"status": 3},
        {"status": {"status": "seven"}},
        {"status": {"description": "no code"}},
    ],
)
def test_a_reply_of_the_wrong_shape_is_refused_with_a_reason(payload) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        parse(payload)


def test_a_code_in_another_script_is_a_shape_error_not_a_crash() -> None:
    with pytest.raises(ReplyShapeError):  # a circled one: str.isdigit() says yes, int() no
        parse({"status": {"status": "\u2460"}})


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (202, None),
        (204, None),
        (400, errors.TransferNotFound),
        (404, errors.TransferNotFound),
        (403, errors.WrongAccount),
        (409, errors.NotAllowedNow),
        (500, errors.Unavailable),
        (418, errors.BadReply),
    ],
)
def test_reset_replies_map_to_outcomes(status, error) -> None:
    result = reset_error(
        status,
        who="hostway account 'hw'",
        account="hw",
        domain="test.com",
        account_number="acct12345",
    )
    if error is None:
        assert result is None
        return
    assert type(result) is error
    assert result.message.startswith("hostway account 'hw'") and result.message.endswith(".")
    assert "test.com" in result.message


@pytest.mark.parametrize(
    ("ref", "domain"),
    [
        (" Example.COM. ", "example.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("not a domain", None),
        ("localhost", None),
        ("../../admin", None),
        ("-bad.com", None),
    ],
)
def test_refs_are_domain_names(ref, domain) -> None:
    assert normalize_domain(ref) == domain


# -- over HTTP to the simulator -------------------------------------------------------------------
@pytest.fixture
def clock() -> SimClock:
    return SimClock(frozen=True, start=datetime(2024, 5, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def contract() -> TestHostwayContract:
    return TestHostwayContract()


async def test_a_transfer_moves_through_its_codes_as_time_passes(sim, clock, provider) -> None:
    ref = sim.add_transfer("moving.example", script="moving")
    seen = []
    for step in (0, 300, 600, 900, 1800, 5 * 86400):
        clock.advance(step)
        transfer = await provider.get_transfer(ref)
        seen.append((transfer.raw_code, transfer.phase))
    assert seen == [
        ("0", Phase.PENDING),
        ("9", Phase.PENDING),
        ("11", Phase.ACTIVE),
        ("13", Phase.PENDING),
        ("14", Phase.ACTIVE),
        ("5", Phase.COMPLETED),
    ]
    assert [h.raw_code for h in transfer.history] == ["0", "9", "11", "13", "14", "5"]
    assert transfer.history[1].at == datetime(2024, 5, 1, 12, 5, tzinfo=UTC)
    assert transfer.changed_at == datetime(2024, 5, 6, 12, 0, tzinfo=UTC)  # 5 days after start


async def test_reset_with_the_right_auth_info_completes_the_transfer(sim, clock, provider) -> None:
    ref = sim.add_transfer("epp.example", script="bad_auth", age=7200, correct_auth_info=RIGHT_EPP)
    blocked = await provider.get_transfer(ref)
    assert (blocked.phase, blocked.raw_code) == (Phase.BLOCKED, "32")
    result = await provider.perform(ref, Action.RETRY, {"authInfo": RIGHT_EPP})
    assert "accepted the reset" in result.message and RIGHT_EPP not in result.message
    clock.advance(3 * 86400)
    after = await provider.get_transfer(ref)
    assert after.phase is Phase.COMPLETED
    assert [h.raw_code for h in after.history][-3:] == ["13", "14", "5"]


@pytest.mark.parametrize("inputs", [{}, {"authInfo": "Wrong-EPP-1"}])
async def test_reset_without_the_right_auth_info_blocks_again(sim, clock, provider, inputs) -> None:
    ref = sim.add_transfer("epp.example", script="bad_auth", age=7200, correct_auth_info=RIGHT_EPP)
    await provider.perform(ref, Action.RETRY, inputs)
    clock.advance(60)
    assert (await provider.get_transfer(ref)).phase is Phase.PENDING
    clock.advance(3600)
    again = await provider.get_transfer(ref)
    assert (again.phase, again.raw_code) == (Phase.BLOCKED, "32")
    assert again.action(Action.RETRY) is not None


async def test_a_locked_domain_resets_with_its_old_auth_info(sim, clock, provider) -> None:
    ref = sim.add_transfer("locked.example", script="locked", age=7200)
    assert (await provider.get_transfer(ref)).raw_code == "22"
    result = await provider.perform(ref, Action.RETRY)
    assert "with the authInfo it already had" in result.message
    clock.advance(3 * 86400)
    assert (await provider.get_transfer(ref)).phase is Phase.COMPLETED


async def test_frozen_or_failed_transfers_are_refused_before_a_reset_is_sent(sim, provider) -> None:
    frozen = sim.add_transfer("frozen.example", script="frozen", age=7200)
    failed = sim.add_transfer("failed.example", script="fails", age=7200)
    with pytest.raises(errors.NotAllowedNow) as info:
        await provider.perform(frozen, Action.RETRY)
    assert "billing" in info.value.message and "frozen.example" in info.value.message
    with pytest.raises(errors.NotAllowedNow) as info:
        await provider.perform(failed, Action.RETRY)
    assert "failed" in info.value.message and "nothing more can be done" in info.value.message
    assert sim.faults.calls["reset_transfer"] == 0


async def test_a_transfer_of_another_account_is_wrong_account(sim, provider) -> None:
    ref = sim.add_transfer("theirs.example", account_number="acct99999", age=3600)
    with pytest.raises(errors.WrongAccount) as info:
        await provider.get_transfer(ref)
    assert "acct12345" in info.value.message


@pytest.mark.parametrize(
    ("action", "inputs", "error", "words"),
    [
        (Action.RETRY, {"authInfo": "short"}, errors.InvalidInput, "at least 6"),
        (Action.RETRY, {"authInfo": "x" * 17}, errors.InvalidInput, "at most 16"),
        (Action.RETRY, {"authInfo": "has space1"}, errors.InvalidInput, "spaces"),
    ],
)
async def test_bad_input_sends_nothing(sim, provider, action, inputs, error, words) -> None:
    ref = sim.add_transfer("blocked.example", script="locked", age=7200)
    with pytest.raises(error) as info:
        await provider.perform(ref, action, inputs)
    assert words in info.value.message
    assert sum(sim.faults.calls.values()) == 0


def test_the_account_number_is_required(contract) -> None:
    with pytest.raises(errors.InvalidInput, match="account_number"):
        HostwayProvider(contract.make_account("http://127.0.0.1:9", account_number=None))
    with pytest.raises(errors.InvalidInput, match="username"):
        HostwayProvider(contract.make_account("http://127.0.0.1:9", auth_scheme="basic"))


@pytest.mark.parametrize(
    ("scheme", "username", "ok"),
    [("basic", "reseller", True), ("basic", "someone", False), ("bearer", None, False)],
)
async def test_basic_auth_is_checked(clock, contract, scheme, username, ok) -> None:
    sim = HostwaySimulator(
        secret=GOOD_SECRET,
        username="reseller",
        clock=clock,
        account_number=ACCOUNT_NUMBER,
        auth_scheme="basic",
    )
    ref = sim.add_transfer("basic.example", age=3600)
    async with LoopbackServer(sim) as url:
        client = HostwayProvider(contract.make_account(url, auth_scheme=scheme, username=username))
        async with aclosing(client):
            if ok:
                assert (await client.get_transfer(ref)).ref == ref
            else:
                with pytest.raises(errors.AuthenticationFailed):
                    await client.get_transfer(ref)


async def test_a_registry_error_is_a_plain_sentence(sim, provider) -> None:
    ref = sim.add_transfer("moving.example", age=3600)
    sim.faults.add("error", operation="get_transfer_status", times=None, status=500)
    with pytest.raises(errors.Unavailable, match="registry answered with an error"):
        await provider.get_transfer(ref)
    assert sim.faults.calls["get_transfer_status"] == 2  # read_retries=1


async def test_the_stored_authinfo_shows_only_as_set(sim, provider, contract) -> None:
    ref = contract.seed_blocked(sim)
    transfer = await provider.get_transfer(ref)
    assert transfer.details["authInfo"] == "set"
    assert STORED_EPP not in repr(transfer) and STORED_EPP not in str(transfer.details)


def _echoing(sim: HostwaySimulator, method: str, status: int):
    """The simulator, except that ``method`` is refused in words echoing what we sent."""

    async def app(scope, receive, send):
        if scope["type"] != "http" or scope["method"] != method:
            await sim(scope, receive, send)
            return
        sent = (await receive()).get("body", b"").decode()
        token = dict(scope["headers"])[b"authorization"].decode()
        words = json.dumps({"message": f"Refused for {token} with {sent}"}).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": words})

    return app


@pytest.mark.parametrize(("method", "status", "error"), [
    ("GET", 403, errors.WrongAccount), ("PUT", 409, errors.NotAllowedNow),
    ("PUT", 500, errors.Unavailable),
])  # fmt: skip
async def test_what_hostway_echoes_back_never_shows_our_token_or_authinfo(
    sim, contract, method, status, error
) -> None:
    ref = sim.add_transfer("blocked.example", script="locked", age=7200)
    async with (
        LoopbackServer(_echoing(sim, method, status)) as url,
        aclosing(HostwayProvider(contract.make_account(url))) as client,
    ):
        with pytest.raises(error) as info:
            await client.perform(ref, Action.RETRY, {"authInfo": RIGHT_EPP})
    shown = f"{info.value.message} {info.value.detail} {info.value!r}"
    assert info.value.detail and info.value.detail.startswith("Refused for")  # words are kept
    assert GOOD_SECRET not in shown and RIGHT_EPP not in shown


async def test_the_simulator_speaks_hostways_put(sim, base_url) -> None:
    blocked = sim.add_transfer("blocked.example", script="locked", age=7200)
    moving = sim.add_transfer("moving.example", age=3600)
    headers = {"Authorization": f"Bearer {GOOD_SECRET}", "Content-Type": "application/json"}
    path = f"/accounts/{ACCOUNT_NUMBER}/domains/transfers/"
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as http:
        assert (await http.put(path + blocked, content=SEED_003_BODY)).status_code == 404
        too_long = json.dumps({"authInfo": "x" * 17})
        assert (await http.put(path + blocked, content=too_long)).status_code == 404
        assert (await http.put(path + moving, content="{}")).status_code == 409
        other = f"/accounts/acct99999/domains/transfers/{blocked}"
        assert (await http.put(other, content="{}")).status_code == 403
        assert (await http.put(path + "none.example", content="{}")).status_code == 404
        assert (
            await http.put(path + blocked, content="{}", headers={"Authorization": "Bearer nope"})
        ).status_code == 401
        reset = await http.put(path + blocked, content=json.dumps({"authInfo": "mySecret"}))
        assert (reset.status_code, reset.content) == (202, b"")
        status = (await http.get(path + blocked)).json()["status"]
    assert (status["status"], status["authInfo"]) == (13, "mySecret")
    assert datetime.fromisoformat(status["statusChangeDate"]).utcoffset() == timedelta(hours=-5)


async def test_the_sample_is_a_realistic_mix(sim, provider) -> None:
    phases = [(await provider.get_transfer(ref)).phase for ref in sim.populate_sample()]
    assert phases.count(Phase.BLOCKED) == 2
    assert phases.count(Phase.COMPLETED) == 1 and phases.count(Phase.FAILED) == 1
    assert sum(p in (Phase.PENDING, Phase.ACTIVE) for p in phases) == 3


def test_dates_keep_their_offset() -> None:
    transfer = parse(status_reply(14, False))
    assert transfer.changed_at == datetime(2024, 5, 1, 10, 0, tzinfo=timezone(timedelta(hours=-5)))
