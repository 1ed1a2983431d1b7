"""Hostway REST domain transfers (seeds 002 and 003): status reads and resets."""

from __future__ import annotations

from providers.hostway.client import HostwayProvider
from providers.hostway.parse import parse_transfer
from providers.hostway.statuses import STATUS_CODES, StatusCode, phase_of

__all__ = ["STATUS_CODES", "HostwayProvider", "StatusCode", "parse_transfer", "phase_of"]
