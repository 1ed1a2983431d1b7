"""OpenSRS XCP: the client for reseller accounts, with its envelope codec and order mapping."""

from __future__ import annotations

from providers.opensrs.client import OpenSRSProvider

__all__ = ["OpenSRSProvider"]
