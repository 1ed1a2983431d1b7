"""Provider simulators: one ASGI app per provider that speaks its real wire protocol."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["SIMULATORS", "make_simulator"]

SIMULATORS = {
    "cpanel": "providers.simulators.cpanel:CpanelSimulator",
    "hostway": "providers.simulators.hostway:HostwaySimulator",
    "opensrs": "providers.simulators.opensrs:OpenSRSSimulator",
    "gandi": "providers.simulators.gandi:GandiSimulator",
}


def make_simulator(provider_type: str, **kwargs: Any) -> Any:
    """Build the simulator for a provider type (``secret=``, ``username=``, ``clock=``...)."""
    module_name, _, class_name = SIMULATORS[provider_type].partition(":")
    return getattr(importlib.import_module(module_name), class_name)(**kwargs)
