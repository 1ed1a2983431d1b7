"""cPanel WHM Transfer Tool: the client for transfer sessions, and its pure wire functions."""

from __future__ import annotations

from providers.cpanel.client import CpanelProvider
from providers.cpanel.parse import SessionContents, build_transfer, parse_contents, parse_log
from providers.cpanel.statuses import CAPABILITIES, STATE_NUMBERS, STATES, rule_for

__all__ = [
    "CAPABILITIES",
    "STATES",
    "STATE_NUMBERS",
    "CpanelProvider",
    "SessionContents",
    "build_transfer",
    "parse_contents",
    "parse_log",
    "rule_for",
]
