"""The built-in provider simulators on loopback, with accounts that point the bot at them."""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from bot.runtime.logs import installed_masker
from bot.runtime.serve import serve
from providers.descriptor import SampleAccount
from providers.registry import DESCRIPTORS
from providers.settings import ProviderAccount
from providers.simulators.base import LoopbackServer, SimClock

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = ["SIMULATED_ACCOUNTS", "SimulatedProviders", "serve_simulated", "simulated_providers"]

logger = logging.getLogger(__name__)

# provider type -> the account that points the bot at its simulator, as its descriptor says
SIMULATED_ACCOUNTS: Mapping[str, SampleAccount] = {d.type: d.sample_account for d in DESCRIPTORS}


@dataclass
class SimulatedProviders:
    """Running simulators: ``sims`` and ``accounts`` by provider type, one clock for all."""

    clock: SimClock
    sims: dict[str, Any]
    accounts: dict[str, ProviderAccount]
    samples: dict[str, list[str]]  # provider type -> refs of the sample transfers

    def account_name(self, provider: str) -> str:
        return self.accounts[provider].name


@asynccontextmanager
async def simulated_providers(
    *,
    secret: str,
    clock: SimClock | None = None,
    sample: bool = False,
    request_timeout: float = 5.0,
) -> AsyncIterator[SimulatedProviders]:
    """Serve every provider's simulator on 127.0.0.1 (any free ports) until the block ends.

    Args:
        secret: the API key / token every simulator accepts, and the accounts send.
        clock: the simulators' clock (default: real time).
        sample: start each simulator with its sample of transfers.
        request_timeout: the accounts' request timeout in seconds.
    """
    clock = clock or SimClock()
    sims: dict[str, Any] = {}
    for descriptor in DESCRIPTORS:
        options = descriptor.sample_account.simulator_options
        sims[descriptor.type] = descriptor.make_simulator(secret=secret, clock=clock, **options)
    samples = {p: await _sample(sim) for p, sim in sims.items()} if sample else {}
    servers = {p: LoopbackServer(sim) for p, sim in sims.items()}
    try:
        urls = await asyncio.gather(*(server.start() for server in servers.values()))
        accounts = {
            provider: _account(provider, url, secret, request_timeout)
            for provider, url in zip(servers, urls, strict=True)
        }
        yield SimulatedProviders(clock, sims, accounts, samples)
    finally:
        await asyncio.gather(*(server.stop() for server in servers.values()))


def _account(provider: str, url: str, secret: str, timeout: float) -> ProviderAccount:
    sample = SIMULATED_ACCOUNTS[provider]
    return ProviderAccount.model_validate(
        {
            "name": sample.name,
            "type": provider,
            "base_url": url,
            "secret_env": "TRANSFERBOT_SIMULATOR_SECRET",
            "secret": secret,
            "timeout": timeout,
            **sample.settings,
        }
    )


async def _sample(simulator: Any) -> list[str]:
    refs = simulator.populate_sample()
    return list(await refs if inspect.isawaitable(refs) else refs)


async def serve_simulated(
    settings: Settings, *, out: TextIO, stop: asyncio.Event | None = None
) -> None:
    """``transferbot serve --simulate``: the bot, for real Slack, against the four simulators
    (each started with its sample of transfers) instead of the configured accounts."""
    secret = secrets.token_urlsafe(24)
    installed_masker().register(secret)
    async with simulated_providers(secret=secret, sample=True) as providers:
        for provider, account in providers.accounts.items():
            refs = ", ".join(providers.samples.get(provider, []))
            print(
                f"{provider} simulator at {account.base_url} as account {account.name}; "
                f"sample transfers: {refs}",
                file=out,
                flush=True,
            )
        simulated = settings.model_copy(update={"accounts": tuple(providers.accounts.values())})
        await serve(simulated, stop=stop)
