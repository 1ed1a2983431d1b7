"""Gandi: domain operations over the XML-RPC v3 API (seed 004); a v5 REST client may join later."""

from __future__ import annotations

from providers.descriptor import ProviderDescriptor, SampleAccount
from providers.gandi.client import GandiProvider
from providers.gandi.statuses import CAPABILITIES, DEADLINES, SPEEDS

__all__ = ["DESCRIPTOR", "GandiProvider"]

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
    deadlines=DEADLINES,
)
