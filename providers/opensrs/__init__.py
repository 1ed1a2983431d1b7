"""OpenSRS XCP: the client for reseller accounts, with its envelope codec and order mapping."""

from __future__ import annotations

from providers.descriptor import NeededSetting, ProviderDescriptor, SampleAccount
from providers.opensrs.client import OpenSRSProvider
from providers.opensrs.statuses import CAPABILITIES, DEADLINES, SPEEDS

__all__ = ["DESCRIPTOR", "OpenSRSProvider"]

DESCRIPTOR = ProviderDescriptor(
    type="opensrs",
    label="OpenSRS",
    client=OpenSRSProvider,
    capabilities=CAPABILITIES,
    needs=(NeededSetting("username", "an OpenSRS account needs its reseller username"),),
    simulator="providers.simulators.opensrs:OpenSRSSimulator",
    simulator_port=55443,  # XCP's own
    sample_account=SampleAccount("opensrs-sim", {"username": "sim_reseller"}),
    statuses=SPEEDS,
    deadlines=DEADLINES,
)
