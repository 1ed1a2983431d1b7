"""cPanel WHM Transfer Tool: the client for transfer sessions, and its pure wire functions."""

from __future__ import annotations

from providers.cpanel.client import CpanelProvider
from providers.cpanel.parse import SessionContents, build_transfer, parse_contents, parse_log
from providers.cpanel.statuses import CAPABILITIES, SPEEDS, STATE_NUMBERS, STATES, rule_for
from providers.descriptor import NeededSetting, ProviderDescriptor, SampleAccount

__all__ = [
    "CAPABILITIES",
    "DESCRIPTOR",
    "STATES",
    "STATE_NUMBERS",
    "CpanelProvider",
    "SessionContents",
    "build_transfer",
    "parse_contents",
    "parse_log",
    "rule_for",
]

DESCRIPTOR = ProviderDescriptor(
    type="cpanel",
    label="cPanel",
    client=CpanelProvider,
    capabilities=CAPABILITIES,
    needs=(NeededSetting("username", "a cPanel account needs its WHM user"),),
    simulator="providers.simulators.cpanel:CpanelSimulator",
    simulator_port=2087,  # WHM's own
    sample_account=SampleAccount("whm-sim", {"username": "root"}),
    statuses=SPEEDS,
)
