"""The shared provider contract: every provider's test module inherits ProviderContract.

A provider test class sets ``provider_type`` and implements the hooks below; the tests
here then run against its simulator over real HTTP on loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import pytest

from providers.base import Action, Phase, Transfer, TransferProvider
from providers.errors import (
    AuthenticationFailed,
    BadReply,
    NotAllowedNow,
    ProviderError,
    RateLimited,
    TimedOut,
    TransferNotFound,
    Unavailable,
    Unsupported,
)
from providers.registry import build_provider
from providers.settings import ProviderAccount
from providers.simulators.base import LoopbackServer, SimClock, Simulator

GOOD_SECRET = "s3cr3t-contract-key-0123456789"

# fault mode -> the error a read must raise
READ_FAULTS: Mapping[str, type[ProviderError]] = {
    "error": Unavailable,
    "ratelimit": RateLimited,
    "hang": TimedOut,
    "malformed": BadReply,
    "truncated": BadReply,
    "wrong_content_type": BadReply,
}


class ProviderContract:
    """Inherit, set ``provider_type``, implement the hooks."""

    provider_type: str

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

    read_operation: str  # the simulator's operation name for get_transfer's first call
    retry_operation: str  # the simulator's operation name for the retry call

    # -- fixtures ------------------------------------------------------------------------
    @pytest.fixture
    def clock(self) -> SimClock:
        return SimClock(frozen=True)

    @pytest.fixture
    def sim(self, clock: SimClock) -> Simulator:
        return self.make_simulator(clock, GOOD_SECRET)

    @pytest.fixture
    async def base_url(self, sim: Simulator) -> AsyncIterator[str]:
        async with LoopbackServer(sim) as url:
            yield url

    def make_account(self, base_url: str, secret: str = GOOD_SECRET) -> ProviderAccount:
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
        ref = self.seed_blocked(sim)
        transfer = await provider.get_transfer(ref)
        assert transfer.phase is Phase.BLOCKED
        assert transfer.action(Action.RETRY) is not None
        result = await provider.perform(ref, Action.RETRY, self.retry_inputs())
        assert result.action is Action.RETRY
        assert result.message
        clock.advance(60)
        after = await provider.get_transfer(result.new_ref or ref)
        assert after.phase is not Phase.BLOCKED

    async def test_missing_transfer_is_not_found(self, provider) -> None:
        with pytest.raises(TransferNotFound) as info:
            await provider.get_transfer(self.missing_ref())
        assert info.value.message.endswith(".")

    async def test_bad_credentials_are_an_authentication_failure(self, sim, base_url) -> None:
        ref = self.seed_inflight(sim)
        client = build_provider(self.make_account(base_url, secret="wrong-key-000000"))
        try:
            with pytest.raises(AuthenticationFailed) as info:
                await client.get_transfer(ref)
        finally:
            await client.aclose()
        assert "wrong-key-000000" not in str(info.value)

    async def test_action_the_state_does_not_allow_is_refused_before_sending(
        self, sim, provider
    ) -> None:
        ref = self.seed_completed(sim)
        with pytest.raises((NotAllowedNow, Unsupported)) as info:
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
        with pytest.raises(Unavailable):
            await provider.perform(ref, Action.RETRY, self.retry_inputs())
        assert sim.faults.calls[self.retry_operation] == 1

    async def test_listing_in_flight_transfers_where_the_provider_can(self, sim, provider) -> None:
        moving = self.seed_inflight(sim)
        done = self.seed_completed(sim)
        if not provider.capabilities.can_list:
            with pytest.raises(Unsupported):
                await provider.list_transfers()
            return
        refs = {t.ref for t in await provider.list_transfers()}
        assert moving in refs
        assert done not in refs

    async def test_secret_never_appears_in_what_the_client_returns(self, sim, provider) -> None:
        transfer = await provider.get_transfer(self.seed_blocked(sim))
        assert GOOD_SECRET not in repr(transfer)
        assert GOOD_SECRET not in repr(provider.account)
