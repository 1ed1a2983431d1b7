"""cPanel WHM simulator: Transfer Tool sessions over WHM API 1, moving lazily with the clock."""

from __future__ import annotations

from providers.simulators.cpanel.app import CpanelSimulator
from providers.simulators.cpanel.sessions import SimAccount, SimSession

__all__ = ["CpanelSimulator", "SimAccount", "SimSession"]
