"""Hostway REST domain transfers (seeds 002 and 003): status reads and resets."""

from __future__ import annotations

from providers.hostway.client import HostwayProvider
from providers.hostway.codes import STATUS_CODES, StatusCode, phase_of
from providers.hostway.replies import parse_transfer

__all__ = ["STATUS_CODES", "HostwayProvider", "StatusCode", "parse_transfer", "phase_of"]
