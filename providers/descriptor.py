"""What one provider type is, in one place: its names, client, settings, simulator and statuses.

Each provider package exports one :class:`ProviderDescriptor` as ``DESCRIPTOR``; the list
of them in ``providers.registry`` is the one place that says which providers exist, and
everything else that knows a provider fact (the configuration's type check, the CLI's
simulators and ports, the simulated accounts, the providers' names in Slack, the watcher's
moving and waiting statuses) reads it from there.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from providers.base import Capabilities, TransferProvider

if TYPE_CHECKING:
    import httpx

    from providers.settings import ProviderAccount

__all__ = [
    "ClientClass",
    "Deadline",
    "NeededSetting",
    "ProviderDescriptor",
    "SampleAccount",
    "Speed",
]

# the settings a simulator is told it accepts when the sample account carries them
_SIMULATOR_SETTINGS = ("account_number", "username")


class ClientClass(Protocol):
    """A provider's client class: built from one account, with an optional transport."""

    def __call__(
        self, account: ProviderAccount, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> TransferProvider: ...


class Speed(enum.StrEnum):
    """How fast a transfer in an unfinished status is expected to move."""

    MOVING = "moving"  # changes within minutes: polled quickly
    WAITING = "waiting"  # waits hours or days for someone outside the bot: polled slowly


@dataclass(frozen=True, slots=True)
class NeededSetting:
    """An account setting a provider type can't do without (checked by the configuration).

    ``when`` names other settings and the values that make this one needed, e.g. a
    Hostway username only with ``auth_scheme = "basic"``.
    """

    name: str  # a ProviderAccount field
    problem: str  # the sentence when it is missing: "a cPanel account needs its WHM user"
    when: Mapping[str, str] = field(default_factory=dict)

    def missing_from(self, settings: Mapping[str, object]) -> bool:
        if any(settings.get(key) != value for key, value in self.when.items()):
            return False
        return not settings.get(self.name)


@dataclass(frozen=True, slots=True)
class Deadline:
    """A clock the provider's rules put on a status: how long it may last, what happens
    then ("voided", "auto-approved", "failed"), and where the provider says so."""

    after: timedelta
    outcome: str
    source: str
    warn: bool = True  # worth a reminder before it (an automatic approval is not)


@dataclass(frozen=True, slots=True)
class SampleAccount:
    """The account that points the bot at this provider's simulator (``serve --simulate``)."""

    name: str  # our name for it, e.g. "whm-sim"
    settings: Mapping[str, str] = field(default_factory=dict)  # ProviderAccount fields

    @property
    def simulator_options(self) -> dict[str, str]:
        """What the simulator is told it accepts: the account number and user, if any."""
        return {k: v for k, v in self.settings.items() if k in _SIMULATOR_SETTINGS}


@dataclass(frozen=True, slots=True)
class ProviderDescriptor:
    """One provider type: everything outside its package needs to know about it.

    ``simulator`` is a dotted path (``"module:Class"``), imported only when a simulator is
    made: clients never import simulators, and naming the class here keeps the package's
    ``__init__`` (which every client import runs) from loading simulator code.
    """

    type: str  # the configuration's word: "cpanel"
    label: str  # how people name it: "cPanel"
    client: ClientClass
    capabilities: Capabilities
    needs: tuple[NeededSetting, ...]
    simulator: str
    simulator_port: int  # the real service's own port where it is unprivileged
    sample_account: SampleAccount
    statuses: Mapping[str, Speed]  # raw status code -> how fast it moves; finished ones absent
    # settings as written -> as this provider takes them (Gandi: ``api`` picks gandi/gandi_v5)
    adjust_settings: Callable[[dict[str, object]], dict[str, object]] | None = None
    # what check-config says of settings that can't work together: [(setting, sentence)]
    settings_problems: Callable[[Mapping[str, object]], list[tuple[str, str]]] | None = None
    # raw status code -> the clock on it; a status the provider's docs give none has none
    deadlines: Mapping[str, Deadline] = field(default_factory=dict)

    def codes(self, speed: Speed) -> frozenset[str]:
        """The raw status codes that move at ``speed``."""
        return frozenset(code for code, pace in self.statuses.items() if pace is speed)

    def missing_settings(self, settings: Mapping[str, object]) -> list[tuple[str, str]]:
        """(setting, sentence) for each needed setting ``settings`` lacks, in order, then
        each combination of settings the provider says can't work."""
        missing = [(need.name, need.problem) for need in self.needs if need.missing_from(settings)]
        return missing + (self.settings_problems(settings) if self.settings_problems else [])

    def make_simulator(self, **options: Any) -> Any:
        """This provider's simulator (``secret=``, ``username=``, ``clock=``...)."""
        module_name, _, class_name = self.simulator.partition(":")
        return getattr(importlib.import_module(module_name), class_name)(**options)
