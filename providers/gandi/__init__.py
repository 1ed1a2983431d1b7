"""Gandi: domain operations over the XML-RPC v3 API (seed 004); a v5 REST client may join later."""

from __future__ import annotations

from providers.gandi.client import GandiProvider

__all__ = ["GandiProvider"]
