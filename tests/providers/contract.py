"""The shared provider contract: every provider's test module inherits ProviderContract.

A provider test class sets ``provider_type`` and implements the hooks below; the tests
here then run against its simulator over real HTTP on loopback. What every provider must
do alike lives here, parametrized by the class's own tables (its action cases, what each
fault on an action becomes, what a wrong base URL says, how it is seeded); each
provider's own test module keeps only what is its own.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from providers import errors
from providers.base import Action, Phase, Transfer, TransferProvider
from providers.registry import build_provider, capabilities_of
from providers.settings import ProviderAccount
from providers.simulators.base import LoopbackServer, SimClock, Simulator
from tests.providers.plumbing import read_body, replay

GOOD_SECRET = "s3cr3t-contract-key-0123456789"
WRONG_SECRET = "wrong-key-000000"
OVERSIZED = 3 * 1024 * 1024  # past every client's reply cap

# fault mode -> the error a read must raise
READ_FAULTS: Mapping[str, type[errors.ProviderError]] = {
    "error": errors.Unavailable,
    "ratelimit": errors.RateLimited,
    "hang": errors.TimedOut,
    "malformed": errors.BadReply,
    "truncated": errors.BadReply,
    "wrong_content_type": errors.BadReply,
}
# fault on an action (mode, or mode-status) -> (error, or None when it still works; whether the
# action may have been done): how a fault on an action usually reads. A provider's table
# starts from this one and says where its own documents differ.
ACTION_FAULTS: Mapping[str, tuple[type[errors.ProviderError] | None, bool]] = {
    "error": (errors.Unavailable, True),  # a 500: the server may have acted before failing
    "error-502": (errors.Unavailable, True),  # a gateway may have passed the call on
    "error-503": (errors.Unavailable, False),
    "ratelimit": (errors.RateLimited, False),
    "hang": (errors.TimedOut, True),
    "malformed": (errors.BadReply, True),  # done, and then the answer was garbled
    "truncated": (errors.BadReply, True),
    "wrong_content_type": (errors.BadReply, True),
}

# how Tamper spoils the reply to an action that was done -> the error a client must raise, and
# what its sentence says
SPOILED_REPLIES: Mapping[str, tuple[type[errors.ProviderError], str]] = {
    "drop": (errors.Unavailable, "dropped the connection"),
    "oversize": (errors.BadReply, "oversized"),
}


@dataclass(frozen=True)
class ActionCase:
    """One action a provider offers: the seed whose transfer offers it, and its call."""

    action: Action
    seed: str  # the hook that makes the transfer: "seed_inflight", "seed_blocked", ...
    operation: str  # the simulator's name for the action's call
    inputs: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.action.value


@dataclass(frozen=True)
class WrongBaseURL:
    """What a read says when the base URL leads to a web server's 404 page."""

    error: type[errors.ProviderError]
    words: tuple[str, ...]
    transient: bool | None = None  # None: either


def fault_of(name: str) -> tuple[str, int]:
    """``"error-502"`` -> ("error", 502); ``"hang"`` -> ("hang", 500)."""
    mode, _, status = name.partition("-")
    return mode, int(status or 500)


class Tamper:
    """ASGI in front of a simulator: the call still reaches it (the action is done), but the
    reply of the operations named in ``drop`` is cut off after its headers and that of those
    in ``oversize`` is replaced by one past every client's cap."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.drop: set[str] = set()
        self.oversize: set[str] = set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not (self.drop or self.oversize):
            await self.sim(scope, receive, send)
            return
        body = await read_body(receive)
        query = scope.get("query_string", b"").decode("latin-1")
        try:
            operation = self.sim.operation_of(scope["method"], scope["path"], query, body)
        except Exception:
            operation = "unknown"

        async def tampered(message: dict[str, Any]) -> None:
            if message["type"] != "http.response.start":
                return  # the body is dropped, or replaced below
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"content-length"]
            size = str(OVERSIZED if operation in self.oversize else 4000).encode()
            await send({**message, "headers": [*headers, (b"content-length", size)]})
            if operation in self.oversize:
                await send({"type": "http.response.body", "body": b" " * OVERSIZED})

        if operation in self.drop or operation in self.oversize:
            await self.sim(scope, replay(body), tampered)
        else:
            await self.sim(scope, replay(body), send)


async def not_found_page(scope: Any, receive: Any, send: Any) -> None:
    """What a web server answers when the base URL is wrong: a 404 page."""
    if scope["type"] != "http":
        return
    await read_body(receive)
    page = b"<html><body><h1>404 Not Found</h1></body></html>"
    headers = [(b"content-type", b"text/html"), (b"content-length", str(len(page)).encode())]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": page})


class ProviderContract:
    """Inherit, set ``provider_type``, implement the hooks and fill the tables."""

    provider_type: str
    recovery_action = Action.RETRY  # what recovers the blocked transfer (cPanel: resume)
    action_cases: tuple[ActionCase, ...] = ()
    action_faults: Mapping[str, tuple[type[errors.ProviderError] | None, bool]] = ACTION_FAULTS
    wrong_base_url: WrongBaseURL
    # every action the provider lacks -> words its Unsupported sentence says
    unsupported_words: Mapping[Action, str] = {}
    bad_refs: tuple[str, ...] = ()  # refs of a form the provider never takes
    bad_ref_words = ""  # what its sentence for one says

    # -- hooks ---------------------------------------------------------------------------
    def make_simulator(self, clock: SimClock, secret: str) -> Simulator:
        raise NotImplementedError

    def account_fields(self) -> dict[str, object]:
        """Extra ProviderAccount fields (username, account_number, ...)."""
        return {}

    def seed_inflight(self, sim: Simulator) -> str:
        """Add a transfer that is moving (pending or active); return its ref."""
        raise NotImplementedError

    def seed_blocked(self, sim: Simulator) -> str:
        """Add a transfer stuck in a recoverable state (offers retry); return its ref."""
        raise NotImplementedError

    def seed_completed(self, sim: Simulator) -> str:
        raise NotImplementedError

    def missing_ref(self) -> str:
        raise NotImplementedError

    def retry_inputs(self) -> dict[str, str]:
        """Inputs that make a retry of the blocked transfer succeed."""
        return {}

    def planted_secrets(self) -> tuple[str, ...]:
        """Secrets the seeded transfers hold (a stored authInfo) that must never show."""
        return ()

    def seeding(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """A spec for the simulator's ``/_sim/transfers``, and one it refuses."""
        raise NotImplementedError

    def check_seeded(self, transfers: list[Transfer], reply: dict[str, Any]) -> None:
        """Assert what the seeded transfers read as."""

    def check_action_error(self, error: errors.ProviderError, case: ActionCase, fault: str) -> None:
        """Assert what this provider's error for a fault on an action says beyond the rest."""

    def check_applied(self, sim: Simulator, ref: str, case: ActionCase) -> None:
        """Assert, where the simulator shows it, that an action whose reply was lost was done."""

    def shown_by(self, provider: TransferProvider) -> list[str]:
        """What a client shows of itself (its repr, its parts' reprs)."""
        return [repr(provider)]

    read_operation: str  # the simulator's operation name for get_transfer's first call
    retry_operation: str  # the simulator's operation name for the retry call

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "case" in metafunc.fixturenames:
            metafunc.parametrize("case", self.action_cases, ids=str)
        if "fault" in metafunc.fixturenames:
            metafunc.parametrize("fault", sorted(self.action_faults))
        if "lacked" in metafunc.fixturenames:
            metafunc.parametrize("lacked", list(self.unsupported_words), ids=str)
        if "bad_ref" in metafunc.fixturenames:
            metafunc.parametrize("bad_ref", self.bad_refs, ids=lambda ref: repr(ref[:20]))

    # -- fixtures ------------------------------------------------------------------------
    @pytest.fixture
    def clock(self) -> SimClock:
        return SimClock(frozen=True)

    @pytest.fixture
    def sim(self, clock: SimClock) -> Simulator:
        return self.make_simulator(clock, GOOD_SECRET)

    @pytest.fixture
    def tamper(self, sim: Simulator) -> Tamper:
        return Tamper(sim)

    @pytest.fixture
    async def base_url(self, tamper: Tamper) -> AsyncIterator[str]:
        async with LoopbackServer(tamper) as url:
            yield url

    def make_account(
        self, base_url: str, secret: str = GOOD_SECRET, **fields: object
    ) -> ProviderAccount:
        """The test account for the simulator at ``base_url``; ``fields`` override."""
        return ProviderAccount.model_validate(
            {
                "name": f"{self.provider_type}-test",
                "type": self.provider_type,
                "base_url": base_url,
                "secret_env": "UNUSED_IN_TESTS",
                "secret": secret,
                "timeout": 0.5,
                "read_retries": 1,
                "concurrency": 4,
                "rate_limit": 1000,
                **self.account_fields(),
                **fields,
            }
        )

    @pytest.fixture
    async def provider(self, base_url: str) -> AsyncIterator[TransferProvider]:
        client = build_provider(self.make_account(base_url))
        yield client
        await client.aclose()

    # -- the contract ----------------------------------------------------------------------
    async def test_inflight_transfer_is_described(self, sim, provider) -> None:
        ref = self.seed_inflight(sim)
        transfer = await provider.get_transfer(ref)
        assert isinstance(transfer, Transfer)
        assert transfer.account == provider.account.name
        assert transfer.provider == self.provider_type
        assert transfer.ref == ref
        assert transfer.subject
        assert transfer.phase in (Phase.PENDING, Phase.ACTIVE)
        assert transfer.raw_code != "" and transfer.raw_text != ""
        assert {a.action for a in transfer.actions} <= provider.capabilities.actions

    async def test_completed_transfer_offers_nothing(self, sim, provider) -> None:
        transfer = await provider.get_transfer(self.seed_completed(sim))
        assert transfer.phase is Phase.COMPLETED
        assert transfer.actions == ()

    async def test_blocked_transfer_offers_retry_and_retry_unblocks_it(
        self, sim, provider, clock
    ) -> None:
        """The stuck transfer offers its recovery action (retry, or cPanel's resume: it has
        no retry), and taking it moves the transfer on."""
        recovery = self.recovery_action
        ref = self.seed_blocked(sim)
        transfer = await provider.get_transfer(ref)
        assert transfer.phase is Phase.BLOCKED
        assert transfer.action(recovery) is not None
        if recovery is not Action.RETRY:
            assert transfer.action(Action.RETRY) is None
        result = await provider.perform(ref, recovery, self.retry_inputs())
        assert result.action is recovery
        assert result.message
        clock.advance(60)
        after = await provider.get_transfer(result.new_ref or ref)
        assert after.phase is not Phase.BLOCKED

    async def test_missing_transfer_is_not_found(self, provider) -> None:
        with pytest.raises(errors.TransferNotFound) as info:
            await provider.get_transfer(self.missing_ref())
        assert info.value.message.endswith(".")

    async def test_bad_credentials_are_an_authentication_failure(self, sim, base_url) -> None:
        ref = self.seed_inflight(sim)
        wrong = build_provider(self.make_account(base_url, secret=WRONG_SECRET))
        async with aclosing(wrong):
            with pytest.raises(errors.AuthenticationFailed) as info:
                await wrong.get_transfer(ref)
        assert WRONG_SECRET not in str(info.value)

    async def test_action_the_state_does_not_allow_is_refused_before_sending(
        self, sim, provider
    ) -> None:
        ref = self.seed_completed(sim)
        with pytest.raises((errors.NotAllowedNow, errors.Unsupported)) as info:
            await provider.perform(ref, Action.RETRY, self.retry_inputs())
        assert info.value.message
        assert sim.faults.calls[self.retry_operation] == 0

    @pytest.mark.parametrize("mode", sorted(READ_FAULTS))
    async def test_read_faults_map_to_the_error_tree_and_leave_nothing_broken(
        self, sim, provider, mode
    ) -> None:
        ref = self.seed_inflight(sim)
        sim.faults.add(mode, operation=self.read_operation, times=None, seconds=2.0)
        with pytest.raises(READ_FAULTS[mode]) as info:
            await provider.get_transfer(ref)
        message = info.value.message
        assert message and "Traceback" not in message and GOOD_SECRET not in message
        sim.faults.clear()
        transfer = await provider.get_transfer(ref)
        assert transfer.ref == ref

    async def test_a_read_is_retried_after_a_transient_failure(self, sim, provider) -> None:
        ref = self.seed_inflight(sim)
        sim.faults.add("error", operation=self.read_operation, times=1)
        transfer = await provider.get_transfer(ref)
        assert transfer.ref == ref
        assert sim.faults.calls[self.read_operation] >= 2

    async def test_an_action_is_never_retried(self, sim, provider) -> None:
        ref = self.seed_blocked(sim)
        sim.faults.add("error", operation=self.retry_operation, times=1, status=502)
        with pytest.raises(errors.Unavailable):
            await provider.perform(ref, self.recovery_action, self.retry_inputs())
        assert sim.faults.calls[self.retry_operation] == 1

    async def test_listing_in_flight_transfers_where_the_provider_can(self, sim, provider) -> None:
        moving = self.seed_inflight(sim)
        done = self.seed_completed(sim)
        if not provider.capabilities.can_list:
            with pytest.raises(errors.Unsupported):
                await provider.list_transfers()
            return
        refs = {t.ref for t in await provider.list_transfers()}
        assert moving in refs
        assert done not in refs

    async def test_secret_never_appears_in_what_the_client_returns(self, sim, provider) -> None:
        transfer = await provider.get_transfer(self.seed_blocked(sim))
        assert GOOD_SECRET not in repr(transfer)
        assert GOOD_SECRET not in repr(provider.account)

    # -- refused before anything is sent ----------------------------------------------------
    def test_every_action_it_lacks_has_its_sentence(self) -> None:
        lacked = {a for a in Action if not capabilities_of(self.provider_type).supports(a)}
        assert set(self.unsupported_words) == lacked

    async def test_an_action_it_lacks_is_unsupported_before_sending(
        self, sim, provider, lacked
    ) -> None:
        ref = self.seed_inflight(sim)
        with pytest.raises(errors.Unsupported) as info:
            await provider.perform(ref, lacked)
        message = info.value.message
        assert self.unsupported_words[lacked] in message and message.endswith(".")
        assert sum(sim.faults.calls.values()) == 0

    async def test_a_ref_of_the_wrong_form_is_refused_before_sending(
        self, sim, provider, bad_ref
    ) -> None:
        with pytest.raises(errors.InvalidInput) as info:
            await provider.get_transfer(bad_ref)
        case = self.action_cases[0]
        with pytest.raises(errors.InvalidInput):
            await provider.perform(bad_ref, case.action, case.inputs)
        message = info.value.message
        assert self.bad_ref_words in message
        assert message.endswith(".") and len(message) < 200
        assert sum(sim.faults.calls.values()) == 0

    # -- actions: faults, lost replies, refusals ---------------------------------------------
    async def test_action_faults_map_to_the_error_tree_and_are_sent_once(
        self, sim, provider, case, fault
    ) -> None:
        ref = getattr(self, case.seed)(sim)
        mode, status = fault_of(fault)
        seconds = 1.0 if mode == "hang" else 0.05
        sim.faults.add(mode, operation=case.operation, times=None, status=status, seconds=seconds)
        error, maybe_applied = self.action_faults[fault]
        if error is None:  # e.g. a reply with no body to cut: the action still worked
            assert (await provider.perform(ref, case.action, case.inputs)).action is case.action
        else:
            with pytest.raises(error) as info:
                await provider.perform(ref, case.action, case.inputs)
            assert info.value.maybe_applied is maybe_applied
            message = info.value.message
            self._readable(info.value, provider, case)
            if maybe_applied:  # one piece of advice, said once
                assert message.endswith("so check the transfer before trying again."), message
                assert message.count("before trying again") == 1, message
            self.check_action_error(info.value, case, fault)
        assert sim.faults.calls[case.operation] == 1

    @pytest.mark.parametrize("spoil", sorted(SPOILED_REPLIES))
    async def test_an_action_whose_reply_is_lost_or_oversized_may_have_been_applied(
        self, sim, tamper, provider, case, spoil
    ) -> None:
        ref = getattr(self, case.seed)(sim)
        getattr(tamper, spoil).add(case.operation)
        error, words = SPOILED_REPLIES[spoil]
        with pytest.raises(error) as info:
            await provider.perform(ref, case.action, case.inputs)
        assert info.value.maybe_applied is True
        assert words in info.value.message
        assert info.value.message.endswith("so check the transfer before trying again.")
        self._readable(info.value, provider, case)
        assert sim.faults.calls[case.operation] == 1
        self.check_applied(sim, ref, case)

    @staticmethod
    def _readable(
        error: errors.ProviderError, provider: TransferProvider, case: ActionCase
    ) -> None:
        """One sentence naming the account, with no traceback and no secret in it."""
        message = error.message
        assert message.endswith(".") and provider.account.name in message
        assert "Traceback" not in message
        for secret in (GOOD_SECRET, *case.inputs.values()):
            assert secret not in message

    # -- secrets, addresses, seeding ---------------------------------------------------------
    async def test_secrets_never_reach_transfers_errors_or_logs(
        self, sim, provider, base_url, caplog
    ) -> None:
        caplog.set_level(logging.DEBUG)
        ref = self.seed_blocked(sim)
        transfer = await provider.get_transfer(ref, detailed=True)
        listed = await provider.list_transfers() if provider.capabilities.can_list else []
        inputs = self.retry_inputs()
        sim.faults.add("error", operation=self.retry_operation, status=500)
        with pytest.raises(errors.ProviderError) as failed:
            await provider.perform(ref, self.recovery_action, inputs)
        result = await provider.perform(ref, self.recovery_action, inputs)
        wrong = build_provider(self.make_account(base_url, secret=WRONG_SECRET))
        async with aclosing(wrong):
            with pytest.raises(errors.AuthenticationFailed) as refused:
                await wrong.get_transfer(ref)
        shown = [repr(transfer), str(transfer.details), repr(listed), repr(result)]
        shown += self.shown_by(provider)
        for error in (failed.value, refused.value):
            shown += [error.message, str(error.detail), repr(error)]
        shown.append(caplog.text)
        for secret in (GOOD_SECRET, WRONG_SECRET, *self.planted_secrets(), *inputs.values()):
            assert not any(secret in text for text in shown), secret

    async def test_a_wrong_base_url_says_so(self, sim) -> None:
        ref = self.seed_inflight(sim)
        expected = self.wrong_base_url
        async with (
            LoopbackServer(not_found_page) as url,
            aclosing(build_provider(self.make_account(url))) as client,
        ):
            with pytest.raises(expected.error) as info:
                await client.get_transfer(ref)
        message = info.value.message
        assert all(words in message for words in expected.words), message
        assert message.endswith(".") and client.account.name in message
        if expected.transient is not None:
            assert info.value.transient is expected.transient

    async def test_transfers_can_be_seeded_over_the_control_endpoint(
        self, base_url, provider
    ) -> None:
        spec, refused = self.seeding()
        async with httpx.AsyncClient(base_url=base_url) as http:
            reply = await http.post("/_sim/transfers", json=spec)
            bad = await http.post("/_sim/transfers", json=refused)
        assert reply.status_code == 200 and bad.status_code == 400
        answer = reply.json()
        refs = answer.get("refs") or [answer["ref"]]
        self.check_seeded([await provider.get_transfer(ref) for ref in refs], answer)
