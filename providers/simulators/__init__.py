"""Provider simulators: one ASGI app per provider that speaks its real wire protocol."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.registry import DESCRIPTORS, descriptor_of

__all__ = ["SIMULATORS", "make_simulator"]

# provider type -> "module:Class", as each provider's descriptor names it
SIMULATORS: Mapping[str, str] = {d.type: d.simulator for d in DESCRIPTORS}


def make_simulator(provider_type: str, **kwargs: Any) -> Any:
    """Build the simulator for a provider type (``secret=``, ``username=``, ``clock=``...)."""
    return descriptor_of(provider_type).make_simulator(**kwargs)
