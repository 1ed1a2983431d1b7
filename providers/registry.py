"""Build provider clients from account settings, by provider type."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping

import httpx

from providers.base import Capabilities, TransferProvider
from providers.errors import Unsupported
from providers.settings import ProviderAccount

__all__ = ["PROVIDER_MODULES", "ProviderRegistry", "build_provider", "capabilities_of"]

# type -> "module:Class"; imported lazily so one broken provider never stops the others
PROVIDER_MODULES: Mapping[str, str] = {
    "cpanel": "providers.cpanel:CpanelProvider",
    "hostway": "providers.hostway:HostwayProvider",
    "opensrs": "providers.opensrs:OpenSRSProvider",
    "gandi": "providers.gandi:GandiProvider",
}

TransportFactory = Callable[[ProviderAccount], httpx.AsyncBaseTransport | None]


def _provider_class(provider_type: str) -> type:
    try:
        module_name, _, class_name = PROVIDER_MODULES[provider_type].partition(":")
    except KeyError:
        raise Unsupported(f"There is no provider type '{provider_type}'.") from None
    return getattr(importlib.import_module(module_name), class_name)  # type: ignore[no-any-return]


def capabilities_of(provider_type: str) -> Capabilities:
    return _provider_class(provider_type).capabilities  # type: ignore[attr-defined, no-any-return]


def build_provider(
    account: ProviderAccount, *, transport: httpx.AsyncBaseTransport | None = None
) -> TransferProvider:
    """A client for one account; ``transport`` lets tests point it at a simulator."""
    cls = _provider_class(account.type)
    return cls(account, transport=transport)  # type: ignore[no-any-return]


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
