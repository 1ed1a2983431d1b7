"""The provider descriptors: one list names every provider, and what used to be written out
in nine modules is read from it (the old tables are written out here, to compare)."""

from __future__ import annotations

import pytest

from providers.base import TransferProvider
from providers.descriptor import Speed
from providers.registry import (
    DESCRIPTORS,
    PROVIDER_LABELS,
    PROVIDER_TYPES,
    build_provider,
    capabilities_of,
    descriptor_of,
)
from providers.settings import ProviderAccount
from providers.simulators import make_simulator
from providers.simulators.base import SimClock, Simulator

# what bot/watcher/intervals.py listed before the descriptors
OLD_MOVING = {
    "cpanel": {"PENDING", "TRANSFER_PENDING", "RUNNING", "TRANSFER_INPROGRESS",
               "RESTORE_PENDING", "RESTORE_INPROGRESS", "PAUSING", "ABORTING"},
    "gandi": {"BILL", "RUN", "ERROR/temporary"},
    "opensrs": {"pending_registry", "pending_admin"},
    "hostway": {"0", "1", "9", "11", "12", "13"},
    "gandi_v5": {"BILL", "RUN", "ERROR/temporary"},  # joined later (issue 15), Gandi's words
}  # fmt: skip
OLD_WAITING = {
    "cpanel": {"PAUSED", "REACHEDMAXMEM"},
    "gandi": {"WAIT", "SUPPORT"},
    "opensrs": {"pending_owner"},
    "hostway": {"3", "14", "28", "29", "35"},
    "gandi_v5": {"WAIT", "SUPPORT"},
}
# bot/cli.py, bot/slack/blocks.py and bot/runtime/simulated.py before
OLD_PORTS = {"cpanel": 2087, "hostway": 8081, "opensrs": 55443, "gandi": 8082, "gandi_v5": 8083}
OLD_NAMES = {"cpanel": "cPanel", "hostway": "Hostway", "opensrs": "OpenSRS", "gandi": "Gandi",
             "gandi_v5": "Gandi (v5)"}  # fmt: skip
OLD_SAMPLES = {
    "hostway": ("hostway-sim", {"account_number": "acct12345", "auth_scheme": "bearer"}),
    "opensrs": ("opensrs-sim", {"username": "sim_reseller"}),
    "cpanel": ("whm-sim", {"username": "root"}),
    "gandi": ("gandi-sim", {}),
    "gandi_v5": ("gandi5-sim", {}),
}


def test_one_list_names_every_provider_in_the_configurations_order() -> None:
    assert PROVIDER_TYPES == ("cpanel", "hostway", "opensrs", "gandi", "gandi_v5")
    assert [d.type for d in DESCRIPTORS] == list(PROVIDER_TYPES)
    assert dict(PROVIDER_LABELS) == OLD_NAMES


def test_the_watchers_status_speeds_are_the_ones_it_had() -> None:
    for descriptor in DESCRIPTORS:
        assert descriptor.codes(Speed.MOVING) == OLD_MOVING[descriptor.type]
        assert descriptor.codes(Speed.WAITING) == OLD_WAITING[descriptor.type]


def test_ports_and_sample_accounts_are_the_ones_the_cli_and_serve_simulate_had() -> None:
    for descriptor in DESCRIPTORS:
        assert descriptor.simulator_port == OLD_PORTS[descriptor.type]
        name, settings = OLD_SAMPLES[descriptor.type]
        assert (descriptor.sample_account.name, dict(descriptor.sample_account.settings)) == (
            name,
            settings,
        )
    hostway = descriptor_of("hostway").sample_account
    assert hostway.simulator_options == {"account_number": "acct12345"}  # not auth_scheme


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=lambda d: d.type)
def test_each_descriptor_builds_its_client_and_its_simulator(descriptor) -> None:
    account = ProviderAccount.model_validate(
        {
            "name": f"{descriptor.type}-x",
            "type": descriptor.type,
            "base_url": "https://provider.invalid",
            "secret_env": "UNUSED",
            "username": "someone",
            "account_number": "acct1",
        }
    )
    client = build_provider(account)
    assert isinstance(client, descriptor.client) and isinstance(client, TransferProvider)
    assert client.capabilities is descriptor.capabilities is capabilities_of(descriptor.type)
    sim = make_simulator(descriptor.type, secret="x" * 20, clock=SimClock(frozen=True))
    assert isinstance(sim, Simulator)
    assert type(sim).__name__ == descriptor.simulator.rpartition(":")[2]


@pytest.mark.parametrize(
    ("kind", "settings", "missing"),
    [
        ("cpanel", {}, ["username"]),
        ("cpanel", {"username": "root"}, []),
        ("opensrs", {}, ["username"]),
        ("hostway", {}, ["account_number"]),
        ("hostway", {"auth_scheme": "basic"}, ["account_number", "username"]),
        ("hostway", {"auth_scheme": "basic", "account_number": 0}, ["account_number", "username"]),
        ("hostway", {"auth_scheme": "bearer", "account_number": "1"}, []),
        ("gandi", {}, []),
        ("gandi", {"api": "v5", "base_url": "https://rpc.gandi.net/xmlrpc/"}, ["base_url"]),
        ("gandi", {"api": "v3", "secret": "pat_abc-123"}, ["secret_env"]),
        ("gandi", {"api": "v5", "secret": "A" * 24}, ["secret_env"]),
        ("gandi", {"base_url": "https://api.gandi.net", "secret": "pat_abc-123"}, []),
        ("gandi", {"base_url": "https://rpc.gandi.net/xmlrpc/", "secret": "A" * 24}, []),
    ],
)
def test_each_descriptor_says_which_settings_its_accounts_need(kind, settings, missing) -> None:
    assert [name for name, _ in descriptor_of(kind).missing_settings(settings)] == missing


def test_an_unknown_type_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown provider type 'cpnael'; choose from cpanel"):
        ProviderAccount.model_validate(
            {"name": "x", "type": "cpnael", "base_url": "https://a.example", "secret_env": "X"}
        )
    with pytest.raises(Exception, match="There is no provider type 'cpnael'"):
        descriptor_of("cpnael")
