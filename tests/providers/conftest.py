"""What the provider test modules share: a frozen simulator clock, and the module's own
``sim`` served on loopback (each module defines ``sim``; a module may override ``clock``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from providers.simulators.base import LoopbackServer, SimClock


@pytest.fixture
def clock() -> SimClock:
    return SimClock(frozen=True)


@pytest.fixture
async def base_url(sim: Any) -> AsyncIterator[str]:
    """The module's simulator (its ``sim`` fixture) on a free loopback port."""
    async with LoopbackServer(sim) as url:
        yield url
