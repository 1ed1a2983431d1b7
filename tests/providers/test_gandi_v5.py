"""Gandi v5 REST: the contract and fault matrix, the phase table, FOA, relaunch, tokens, secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx
import pytest

from providers import errors
from providers.base import Action, Phase
from providers.gandi.v5 import GandiV5Provider
from providers.gandi.v5.parse import transfer_from_transferin
from providers.gandi.v5.statuses import ERRORTYPES, STEPS
from providers.registry import build_provider
from providers.settings import ProviderAccount
from providers.simulators.gandi_v5 import GandiV5Simulator
from tests.providers.contract import GOOD_SECRET, ActionCase, WrongBaseURL
from tests.providers.gandi_contract import NEW_CODE, GandiContract

PAT = "pat_5e1f-good-token-0123456789"


class TestGandiV5Contract(GandiContract):
    provider_type = "gandi_v5"
    read_operation = "transferin.info"
    retry_operation = "transferin.relaunch"
    action_cases = (
        ActionCase(Action.RETRY, "seed_blocked", "transferin.relaunch", {"authinfo": NEW_CODE}),
        ActionCase(Action.RESEND, "seed_foa_pending", "transferin.foa"),
    )
    unsupported_words = {
        Action.PAUSE: "relaunched after a recoverable error",
        Action.RESUME: "relaunched after a recoverable error",
        Action.CANCEL: "no way to cancel a transfer in",
    }
    bad_refs = ("", "not a domain", "-bad-.com", "localhost", "a" * 300, "x/../y.com")
    bad_ref_words = "is not a domain name"
    wrong_base_url = WrongBaseURL(
        errors.ProviderError, ("with a web page", "check the account's base_url"), transient=False
    )

    blocked_age = 200

    def make_simulator(self, clock, secret):
        return GandiV5Simulator(secret=secret, clock=clock)

    def add(self, sim, domain, **story):
        return sim.add_transfer(domain, **story)

    def seed_foa_pending(self, sim):
        return sim.add_transfer("foa-example.com", story="foa_pending", age=60)

    def missing_ref(self):
        return "missing-example.com"

    def seeding(self):
        spec = {
            "transfers": [
                {"domain": "seeded.example", "story": "support", "age": 600},
                {"domain": "own.example", "script": [[0, "BILL"], [1, "RUN"]], "age": 5},
            ]
        }
        return spec, {"colour": "red"}

    def check_seeded(self, transfers, reply):
        first, second = transfers
        assert (first.subject, first.phase, first.raw_code) == (
            "seeded.example",
            Phase.BLOCKED,
            "SUPPORT",
        )
        assert (second.raw_code, second.phase) == ("RUN", Phase.ACTIVE)

    def check_applied(self, sim, ref, case):
        if case.action is Action.RESEND:
            assert sim.transfers[ref].foas[0].sent == 2
        else:
            assert "relaunch" in sim.transfers[ref].history


# -- the phase table: every step x errortype ---------------------------------------------
# written out, not computed: what each (step, errortype) must read as, and whether it offers
# a relaunch (the v3 semantics of seed 004 carried over)
PHASES: dict[str, Phase] = {
    "BILL": Phase.PENDING,
    "WAIT": Phase.PENDING,
    "RUN": Phase.ACTIVE,
    "DONE": Phase.COMPLETED,
    "CANCEL": Phase.CANCELLED,
    "SUPPORT": Phase.BLOCKED,
}
ERROR_ROWS: dict[str, tuple[Phase, bool]] = {
    "client_recoverable": (Phase.BLOCKED, True),
    "support_recoverable": (Phase.BLOCKED, True),
    "temporary": (Phase.ACTIVE, False),
    "fatal": (Phase.FAILED, False),
    "unknown": (Phase.BLOCKED, False),
}


def _payload(step: str, errortype: str | None = None, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "created_at": "2026-01-20T00:00:00Z",
        "updated_at": "2026-01-21T10:00:00Z",
        "params": {"domain": "example.com", "duration": 1, "tld": "com", "version": 1},
        "step": step,
        "step_nb": 2,
        "foa": [{"email": "owner@example.org", "answer": "T"}],
        **extra,
    }
    if errortype:
        payload["errortype"] = errortype
        payload["errortype_label"] = f"label of {errortype}"
    return payload


def test_the_tables_cover_every_step_and_errortype_named() -> None:
    assert set(STEPS) == {*PHASES, "ERROR"}
    assert set(ERRORTYPES) == set(ERROR_ROWS)


@pytest.mark.parametrize("step", sorted(PHASES))
@pytest.mark.parametrize("errortype", [None, *sorted(ERROR_ROWS)])
def test_a_step_outside_error_reads_the_same_whatever_the_errortype(step, errortype) -> None:
    transfer = transfer_from_transferin(
        _payload(step, errortype), account="g5", domain="example.com"
    )
    assert transfer.phase is PHASES[step]
    assert transfer.raw_code == step
    assert transfer.action(Action.RETRY) is None
    if PHASES[step].finished:
        assert transfer.actions == ()


@pytest.mark.parametrize("errortype", sorted(ERROR_ROWS))
def test_an_error_reads_as_its_errortype_says(errortype) -> None:
    transfer = transfer_from_transferin(
        _payload("ERROR", errortype), account="g5", domain="example.com"
    )
    phase, relaunch = ERROR_ROWS[errortype]
    assert transfer.phase is phase
    assert transfer.raw_code == f"ERROR/{errortype}"
    assert transfer.raw_text == f"label of {errortype}"  # Gandi's own words
    assert (transfer.action(Action.RETRY) is not None) is relaunch
    assert transfer.details["error type"] == errortype


def test_an_error_without_an_errortype_is_blocked_and_not_relaunched_blind() -> None:
    transfer = transfer_from_transferin(_payload("ERROR"), account="g5", domain="example.com")
    assert transfer.phase is Phase.BLOCKED and transfer.actions == ()


def test_the_foa_state_is_on_the_card_and_resend_is_offered_while_unanswered() -> None:
    foas = [
        {"email": "owner@example.org", "answer": None},
        {"email": "admin@example.org", "answer": "T"},
    ]
    transfer = transfer_from_transferin(
        _payload("WAIT", foa=foas, inner_step="checking_foa_response"),
        account="g5",
        domain="example.com",
    )
    assert transfer.details["approval e-mail (FOA) 1"] == (
        "sent to owner@example.org: not answered yet"
    )
    assert transfer.details["approval e-mail (FOA) 2"] == "sent to admin@example.org: approved"
    assert transfer.action(Action.RESEND) is not None
    assert "owner@example.org" in (transfer.waiting_for or "")
    answered = transfer_from_transferin(_payload("WAIT"), account="g5", domain="example.com")
    assert answered.action(Action.RESEND) is None


def test_a_follow_up_without_its_step_is_a_bad_reply() -> None:
    with pytest.raises(errors.BadReply):
        transfer_from_transferin({"params": {}}, account="g5", domain="example.com")
    with pytest.raises(errors.BadReply):
        transfer_from_transferin(["WAIT"], account="g5", domain="example.com")


# -- through the simulator -----------------------------------------------------------------
@pytest.fixture
def contract() -> TestGandiV5Contract:
    return TestGandiV5Contract()


@pytest.fixture
def sim(clock) -> GandiV5Simulator:
    return GandiV5Simulator(
        secret=PAT,
        clock=clock,
        tokens={
            "pat_expired-0000": "expired",
            "pat_other-org-0000": "other_org",
            "pat_no-perm-0000": "no_permission",
        },
    )


def account(secret: str = PAT, **extra: Any) -> ProviderAccount:
    return ProviderAccount.model_validate(
        {
            "name": "gandi5",
            "type": "gandi",
            "api": "v5",
            "base_url": "https://api.sandbox.gandi.net",
            "secret_env": "GANDI_PAT",
            "secret": secret,
            "read_retries": 0,
            "rate_limit": 1000,
            **extra,
        }
    )


@pytest.fixture
async def client(sim) -> AsyncIterator[GandiV5Provider]:
    provider = build_provider(account(), transport=httpx.ASGITransport(sim))
    assert isinstance(provider, GandiV5Provider)
    yield provider
    await provider.aclose()


@pytest.mark.parametrize(
    ("story", "phase", "raw_code"),
    [
        ("completes", Phase.PENDING, "WAIT"),
        ("quick", Phase.COMPLETED, "DONE"),
        ("authorization_error", Phase.BLOCKED, "ERROR/support_recoverable"),
        ("missing_authinfo", Phase.BLOCKED, "ERROR/client_recoverable"),
        ("ratelimit", Phase.ACTIVE, "ERROR/temporary"),
        ("duplicate", Phase.FAILED, "ERROR/fatal"),
        ("support", Phase.BLOCKED, "SUPPORT"),
        ("unknown_error", Phase.BLOCKED, "ERROR/unknown"),
        ("cancelled", Phase.CANCELLED, "CANCEL"),
    ],
)
async def test_each_story_reads_over_the_wire_as_its_phase(
    sim, client, story, phase, raw_code
) -> None:
    age = {"ratelimit": 100, "cancelled": 120}.get(story, 95 if story != "completes" else 10)
    ref = sim.add_transfer("story-example.com", story=story, age=age)
    transfer = await client.get_transfer(ref)
    assert (transfer.phase, transfer.raw_code) == (phase, raw_code)
    assert transfer.provider == "gandi_v5" and transfer.ref == "story-example.com"


async def test_resend_sends_the_foa_again_and_the_transfer_then_completes(sim, client, clock):
    ref = sim.add_transfer("foa-example.com", story="foa_pending", age=3600)
    before = await client.get_transfer(ref)
    assert before.action(Action.RESEND) is not None
    result = await client.perform(ref, Action.RESEND)
    assert result.action is Action.RESEND
    assert "owner@example.org" in result.message
    assert sim.transfers[ref].foas[0].sent == 2
    clock.advance(150)  # the owner answers two minutes after the resend
    moving = await client.get_transfer(ref)
    assert moving.phase is Phase.ACTIVE
    assert moving.details["approval e-mail (FOA)"] == "sent to owner@example.org: approved"
    assert moving.action(Action.RESEND) is None
    clock.advance(400)
    assert (await client.get_transfer(ref)).phase is Phase.COMPLETED


async def test_relaunch_gives_the_new_authinfo_first_then_relaunches(sim, client, clock, contract):
    ref = contract.seed_blocked(sim)
    result = await client.perform(ref, Action.RETRY, {"authinfo": NEW_CODE})
    assert sim.transfers[ref].history == ["authinfo", "relaunch"]
    assert sim.transfers[ref].authinfo == NEW_CODE
    assert result.transfer is not None and result.transfer.phase is Phase.ACTIVE
    clock.advance(400)
    assert (await client.get_transfer(ref)).phase is Phase.COMPLETED


async def test_a_relaunch_without_a_new_code_fails_again_on_the_old_one(
    sim, client, clock, contract
):
    ref = contract.seed_blocked(sim)
    await client.perform(ref, Action.RETRY, {})
    assert sim.transfers[ref].history == ["relaunch"]
    clock.advance(30)
    assert (await client.get_transfer(ref)).phase is Phase.BLOCKED


async def test_when_the_new_authinfo_is_refused_nothing_is_relaunched(sim, client) -> None:
    ref = sim.add_transfer("code-example.com", story="authorization_error", age=200)
    sim.faults.add("error", operation="transferin.authinfo", status=500)
    with pytest.raises(errors.Unavailable) as info:
        await client.perform(ref, Action.RETRY, {"authinfo": NEW_CODE})
    assert info.value.message.startswith("The transfer of code-example.com was not relaunched")
    assert NEW_CODE not in info.value.message
    assert sim.faults.calls["transferin.relaunch"] == 0
    assert sim.transfers[ref].history == []


async def test_a_refused_relaunch_after_the_new_code_says_the_code_was_taken(sim, client):
    ref = sim.add_transfer("code-example.com", story="authorization_error", age=200)
    sim.faults.add("error", operation="transferin.relaunch", status=503)
    with pytest.raises(errors.Unavailable) as info:
        await client.perform(ref, Action.RETRY, {"authinfo": NEW_CODE})
    assert info.value.message.startswith("Gandi took the new authinfo for code-example.com")
    assert sim.transfers[ref].history == ["authinfo"]


async def test_cancel_is_refused_in_a_plain_sentence_and_nothing_is_sent(sim, client) -> None:
    ref = sim.add_transfer("foa-example.com", story="foa_pending")
    with pytest.raises(errors.Unsupported) as info:
        await client.perform(ref, Action.CANCEL)
    assert "no way to cancel a transfer in" in info.value.message
    assert sum(sim.faults.calls.values()) == 0


async def test_sync_is_refused_plainly_there_is_no_list_endpoint(client) -> None:
    with pytest.raises(errors.Unsupported) as info:
        await client.list_transfers()
    assert "no endpoint that lists transfers in" in info.value.message


@pytest.mark.parametrize(
    ("token", "error", "words"),
    [
        ("pat_expired-0000", errors.AuthenticationFailed, "most likely expired"),
        ("pat_unknown-0000", errors.AuthenticationFailed, "most likely expired"),
        ("pat_other-org-0000", errors.WrongAccount, "another organization"),
        (
            "pat_no-perm-0000",
            errors.AuthenticationFailed,
            "lacks the “Manage domain names” permission",
        ),
    ],
)
async def test_a_refused_token_says_which_problem_it_likely_is_and_what_to_do(
    sim, token, error, words, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    ref = sim.add_transfer("foa-example.com", story="foa_pending")
    provider = build_provider(account(token), transport=httpx.ASGITransport(sim))
    async with aclosing(provider):
        with pytest.raises(error) as info:
            await provider.get_transfer(ref)
    message = info.value.message
    assert words in message and "Personal Access Tokens" in message and message.endswith(".")
    assert type(info.value) is error
    for text in (message, str(info.value.detail), repr(info.value), caplog.text):
        assert token not in text


async def test_the_token_goes_as_a_bearer_header_and_nowhere_else(sim) -> None:
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return await httpx.ASGITransport(sim).handle_async_request(request)

    ref = sim.add_transfer("code-example.com", story="authorization_error", age=200)
    provider = build_provider(account(), transport=httpx.MockTransport(record))
    async with aclosing(provider):
        await provider.perform(ref, Action.RETRY, {"authinfo": NEW_CODE})
    assert [r.method for r in seen] == ["GET", "PUT", "PUT", "GET"]
    for request in seen:
        assert request.headers["authorization"] == f"Bearer {PAT}"
        assert PAT not in str(request.url) and PAT.encode() not in request.content
    authinfo_put = seen[1]
    assert authinfo_put.url.path == "/v5/domain/transferin/code-example.com/authinfo"
    assert authinfo_put.headers["content-type"] == "application/json"
    assert json.loads(authinfo_put.content) == {"authinfo": NEW_CODE}


async def test_the_relaunch_answers_202_with_the_follow_up_location(sim) -> None:
    ref = sim.add_transfer("code-example.com", story="missing_authinfo", age=60, authinfo=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(sim), base_url="http://g") as h:
        headers = {"Authorization": f"Bearer {PAT}", "Content-Type": "application/json"}
        dry = await h.put(f"/v5/domain/transferin/{ref}", headers={**headers, "Dry-Run": "1"})
        assert dry.status_code == 200 and sim.transfers[ref].history == []
        reply = await h.put(f"/v5/domain/transferin/{ref}", headers=headers)
        assert reply.status_code == 202
        assert reply.headers["location"] == f"/v5/domain/transferin/{ref}"
        assert reply.json()["message"]
        again = await h.put(f"/v5/domain/transferin/{ref}", headers=headers)
        assert again.status_code == 409 and again.json()["cause"] == "Conflict"
        refused = await h.post(f"/v5/domain/transferin/{ref}/foa", json={}, headers=headers)
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["name"] == "email"
        available = await h.post(f"/v5/domain/transferin/{ref}/available", headers=headers)
        assert available.json()["available"] is False


# -- the account's API: configuration ---------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"base_url": "https://rpc.gandi.net/xmlrpc/"}, "gandi"),  # a v3 configuration as was
        ({"base_url": "http://127.0.0.1:8082"}, "gandi"),  # a v3 simulator or proxy as was
        ({"base_url": "https://api.gandi.net"}, "gandi_v5"),
        ({"base_url": "https://api.sandbox.gandi.net"}, "gandi_v5"),
        ({"base_url": "http://127.0.0.1:8083", "secret": "pat_abc-123"}, "gandi_v5"),
        ({"base_url": "http://127.0.0.1:8083", "api": "v5"}, "gandi_v5"),
        ({"base_url": "https://api.gandi.net", "api": "v3"}, "gandi"),
    ],
)
def test_the_api_is_said_or_inferred_and_v3_configurations_stay_v3(fields, kind) -> None:
    data = {"name": "g", "type": "gandi", "secret_env": "G", "secret": "k" * 24, **fields}
    assert ProviderAccount.model_validate(data).type == kind


def test_api_is_refused_on_other_providers() -> None:
    with pytest.raises(ValueError, match="api is a Gandi setting"):
        ProviderAccount.model_validate(
            {
                "name": "w", "type": "cpanel", "base_url": "https://w.example:2087",
                "secret_env": "W", "username": "root", "api": "v5",
            }
        )  # fmt: skip


def test_a_v5_account_never_shows_its_token(sim) -> None:
    provider = build_provider(account(), transport=httpx.ASGITransport(sim))
    assert PAT not in repr(provider) and PAT not in repr(provider.account)
    assert GOOD_SECRET not in repr(provider)
