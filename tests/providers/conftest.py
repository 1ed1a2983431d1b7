"""What the provider test modules share: a frozen simulator clock, and the simulator and client
their contract makes, served on loopback.

A module whose tests outside its contract class use ``sim`` or ``provider`` defines a
``contract`` fixture (an instance of its contract class); a module may override ``clock``,
``sim`` or ``provider``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from providers.base import TransferProvider
from providers.registry import build_provider
from providers.simulators.base import LoopbackServer, SimClock, Simulator
from tests.providers.contract import GOOD_SECRET, ProviderContract


@pytest.fixture
def clock() -> SimClock:
    return SimClock(frozen=True)


@pytest.fixture
def sim(contract: ProviderContract, clock: SimClock) -> Simulator:
    """The module's simulator, as its contract makes it, holding the good secret."""
    return contract.make_simulator(clock, GOOD_SECRET)


@pytest.fixture
async def base_url(sim: Any) -> AsyncIterator[str]:
    """The module's simulator (its ``sim`` fixture) on a free loopback port."""
    async with LoopbackServer(sim) as url:
        yield url


@pytest.fixture
async def provider(contract: ProviderContract, base_url: str) -> AsyncIterator[TransferProvider]:
    """A client of the simulator on loopback, with the contract's test account."""
    client = build_provider(contract.make_account(base_url))
    yield client
    await client.aclose()
