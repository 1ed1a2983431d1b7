"""Which providers exist (one list of descriptors), and provider clients built from accounts.

Adding a provider is one line here (its package's ``DESCRIPTOR`` in ``DESCRIPTORS``) and
its package: ``client.py`` (the TransferProvider), ``statuses.py`` (its status table and
capabilities), ``parse.py`` (its replies as Transfers), ``wire.py`` (its wire protocol),
``__init__.py`` (the descriptor), and a simulator in ``providers/simulators/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

import httpx

from providers import cpanel, gandi, hostway, opensrs
from providers.base import Capabilities, TransferProvider
from providers.descriptor import ProviderDescriptor
from providers.errors import Unsupported

if TYPE_CHECKING:
    from providers.settings import ProviderAccount

__all__ = [
    "DESCRIPTORS",
    "PROVIDER_LABELS",
    "PROVIDER_TYPES",
    "ProviderRegistry",
    "build_provider",
    "capabilities_of",
    "descriptor_of",
]

DESCRIPTORS: tuple[ProviderDescriptor, ...] = (
    cpanel.DESCRIPTOR,
    hostway.DESCRIPTOR,
    opensrs.DESCRIPTOR,
    gandi.DESCRIPTOR,
    gandi.DESCRIPTOR_V5,
)

_BY_TYPE: Mapping[str, ProviderDescriptor] = {d.type: d for d in DESCRIPTORS}
PROVIDER_TYPES: tuple[str, ...] = tuple(_BY_TYPE)
PROVIDER_LABELS: Mapping[str, str] = {d.type: d.label for d in DESCRIPTORS}  # "cPanel"

TransportFactory = Callable[["ProviderAccount"], httpx.AsyncBaseTransport | None]


def descriptor_of(provider_type: str) -> ProviderDescriptor:
    """The descriptor of a provider type; Unsupported for a type no descriptor names."""
    try:
        return _BY_TYPE[provider_type]
    except (KeyError, TypeError):
        raise Unsupported(f"There is no provider type '{provider_type}'.") from None


def capabilities_of(provider_type: str) -> Capabilities:
    return descriptor_of(provider_type).capabilities


def build_provider(
    account: ProviderAccount, *, transport: httpx.AsyncBaseTransport | None = None
) -> TransferProvider:
    """A client for one account; ``transport`` lets tests point it at a simulator."""
    return descriptor_of(account.type).client(account, transport=transport)


class ProviderRegistry:
    """The provider clients of one deployment, by account name."""

    def __init__(
        self,
        accounts: Iterable[ProviderAccount],
        *,
        transport_factory: TransportFactory | None = None,
    ) -> None:
        self._accounts = {account.name: account for account in accounts}
        self._transport_factory = transport_factory
        self._clients: dict[str, TransferProvider] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._accounts

    def __iter__(self) -> Iterator[ProviderAccount]:
        return iter(self._accounts.values())

    def __len__(self) -> int:
        return len(self._accounts)

    @property
    def names(self) -> list[str]:
        return sorted(self._accounts)

    def account(self, name: str) -> ProviderAccount:
        try:
            return self._accounts[name]
        except KeyError:
            known = ", ".join(self.names) or "none configured"
            raise Unsupported(
                f"There is no provider account '{name}'; the accounts are: {known}."
            ) from None

    def get(self, name: str) -> TransferProvider:
        """The client for an account, built on first use."""
        client = self._clients.get(name)
        if client is None:
            account = self.account(name)
            transport = self._transport_factory(account) if self._transport_factory else None
            client = build_provider(account, transport=transport)
            self._clients[name] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
