"""Where a transfer's alerts go: the one routing function every poster asks.

The ``[[routes]]`` rules (``bot.settings.RouteRule``) are tried in order and the first whose
keys all match the transfer wins; none matching, or no transfer at all (an account outage,
the digest), means the default channel, ``slack.alert_channel``. A transfer whose thread
has started keeps it: its alerts go on in the channel the thread is in, whatever a rule
would say now (a phase rule must not split a transfer's story over two channels).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.settings import Settings
from storage.models import TrackedTransfer

__all__ = ["Route", "route_alerts", "route_policy"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Route:
    """A channel for alerts (None: no channel configured), the rule that chose it (its
    index in ``settings.routes``; None: the default) and that rule's policy name."""

    channel: str | None
    rule: int | None = None
    policy: str | None = None


def route_alerts(
    settings: Settings, row: TrackedTransfer | None = None, *, phase: str | None = None
) -> Route:
    """Where the alerts about ``row`` go (None: an alert about no transfer).

    Args:
        phase: the transfer's phase as the alert saw it (default: the row's phase now).
    """
    default = Route(settings.slack.alert_channel)
    if row is None:
        return default
    index = _first_match(
        settings,
        account=row.account,
        provider=row.provider,
        phase=phase or row.phase,
        subject=row.subject or row.ref,
    )
    route = default
    if index is not None:
        rule = settings.routes[index]
        route = Route(rule.channel, index, rule.policy)
    if row.alert_ts and row.alert_channel:  # the thread stays where it started
        return Route(row.alert_channel, route.rule, route.policy)
    return route


def route_policy(
    settings: Settings, *, account: str, provider: str, phase: str, subject: str
) -> str | None:
    """The follow-up policy named by the first rule matching this transfer (None: the
    configured default), wherever its thread is."""
    index = _first_match(settings, account=account, provider=provider, phase=phase, subject=subject)
    return settings.routes[index].policy if index is not None else None


def _first_match(
    settings: Settings, *, account: str, provider: str, phase: str, subject: str
) -> int | None:
    facts = {"account": account, "provider": provider, "phase": phase, "subject": subject}
    return next((i for i, rule in enumerate(settings.routes) if rule.matches(**facts)), None)
