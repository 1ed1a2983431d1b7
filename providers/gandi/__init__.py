"""Gandi: domain operations over the XML-RPC v3 API (seed 004), and transfers in over the v5
REST API (``providers.gandi.v5``). One ``[[accounts]]`` type, ``gandi``; its ``api`` setting
(providers/gandi/accounts.py) makes an account the provider type ``gandi`` (v3) or
``gandi_v5``, each with its descriptor here."""

from __future__ import annotations

from providers.descriptor import ProviderDescriptor, SampleAccount
from providers.gandi.accounts import account_problems, resolve_api
from providers.gandi.client import GandiProvider
from providers.gandi.statuses import CAPABILITIES, DEADLINES, SPEEDS
from providers.gandi.v5 import GandiV5Provider
from providers.gandi.v5.statuses import CAPABILITIES as V5_CAPABILITIES
from providers.gandi.v5.statuses import SPEEDS as V5_SPEEDS

__all__ = ["DESCRIPTOR", "DESCRIPTOR_V5", "GandiProvider", "GandiV5Provider"]

DESCRIPTOR = ProviderDescriptor(
    type="gandi",
    label="Gandi",
    client=GandiProvider,
    capabilities=CAPABILITIES,
    needs=(),  # the API key is all it takes
    simulator="providers.simulators.gandi:GandiSimulator",
    simulator_port=8082,
    sample_account=SampleAccount("gandi-sim"),
    statuses=SPEEDS,
    adjust_settings=resolve_api,
    settings_problems=account_problems,
    deadlines=DEADLINES,
)

DESCRIPTOR_V5 = ProviderDescriptor(
    type="gandi_v5",
    label="Gandi (v5)",
    client=GandiV5Provider,
    capabilities=V5_CAPABILITIES,
    needs=(),  # the Personal Access Token is all it takes
    simulator="providers.simulators.gandi_v5:GandiV5Simulator",
    simulator_port=8083,
    sample_account=SampleAccount("gandi5-sim"),
    statuses=V5_SPEEDS,
    adjust_settings=resolve_api,
    settings_problems=account_problems,
    deadlines=DEADLINES,  # the same WAIT step, the same 5-day approval window
)
