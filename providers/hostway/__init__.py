"""Hostway REST domain transfers (seeds 002 and 003): status reads and resets."""

from __future__ import annotations

from providers.descriptor import NeededSetting, ProviderDescriptor, SampleAccount
from providers.hostway.client import HostwayProvider
from providers.hostway.parse import parse_transfer
from providers.hostway.statuses import (
    CAPABILITIES,
    DEADLINES,
    SPEEDS,
    STATUS_CODES,
    StatusCode,
    phase_of,
)

__all__ = [
    "DESCRIPTOR",
    "STATUS_CODES",
    "HostwayProvider",
    "StatusCode",
    "parse_transfer",
    "phase_of",
]

DESCRIPTOR = ProviderDescriptor(
    type="hostway",
    label="Hostway",
    client=HostwayProvider,
    capabilities=CAPABILITIES,
    needs=(
        NeededSetting("account_number", "a Hostway account needs its account number"),
        NeededSetting(
            "username",
            "a Hostway account with auth_scheme 'basic' needs its basic-auth user",
            when={"auth_scheme": "basic"},
        ),
    ),
    simulator="providers.simulators.hostway:HostwaySimulator",
    simulator_port=8081,
    sample_account=SampleAccount(
        "hostway-sim", {"account_number": "acct12345", "auth_scheme": "bearer"}
    ),
    statuses=SPEEDS,
    deadlines=DEADLINES,
)
