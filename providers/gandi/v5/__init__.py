"""Gandi's v5 REST API for transfers in (Personal Access Token), beside the v3 XML-RPC client."""

from __future__ import annotations

from providers.gandi.v5.client import GandiV5Provider

__all__ = ["GandiV5Provider"]
