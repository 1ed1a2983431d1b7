"""Which alerts an observation calls for, and the unique keys that make each one happen once."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from providers.base import Phase

__all__ = [
    "ACCOUNT_KINDS",
    "DEADLINE",
    "DIGEST",
    "ESCALATION",
    "FEED_DOWN",
    "FEED_UP",
    "FOLLOWUP_KINDS",
    "HEADER",
    "RECOVERED",
    "REMINDER",
    "STALLED",
    "TRANSFER_KINDS",
    "UNREACHABLE",
    "deadline_key",
    "digest_key",
    "escalation_key",
    "feed_down_key",
    "feed_up_key",
    "header_key",
    "outage_key",
    "recovery_key",
    "reminder_key",
    "stall_alert_key",
    "stall_due_in",
    "status_alert_key",
    "status_alert_kind",
]

logger = logging.getLogger(__name__)

STALLED = "stalled"
UNREACHABLE = "unreachable"
RECOVERED = "recovered"
HEADER = "header"  # not a post: keep a transfer's thread header current (chat.update)
DIGEST = "digest"
# follow-ups in a stuck transfer's thread (bot.watcher.reminders): never rolled into a summary
REMINDER = "reminder"
ESCALATION = "escalation"
DEADLINE = "deadline"
FOLLOWUP_KINDS = frozenset({REMINDER, ESCALATION, DEADLINE})
FEED_DOWN = "feed_down"  # an account's change feed stopped answering: polling took over
FEED_UP = "feed_up"  # it answers again
# kinds about one transfer (bot.slack.alerts.AlertKind values), and about an account
TRANSFER_KINDS = frozenset({"blocked", "completed", "failed", "cancelled", STALLED})
ACCOUNT_KINDS = frozenset({UNREACHABLE, RECOVERED, FEED_DOWN, FEED_UP})

_STATUS_KINDS = {
    Phase.BLOCKED: "blocked",
    Phase.COMPLETED: "completed",
    Phase.FAILED: "failed",
    Phase.CANCELLED: "cancelled",
}


def status_alert_kind(previous: Phase | str, current: Phase | str) -> str | None:
    """The alert a phase change calls for: becoming blocked, or finishing; else None.

    A change within one phase (a blocked transfer's reason changing) is no new alert;
    the thread header shows it.
    """
    previous, current = Phase(previous), Phase(current)
    if previous is current or previous.finished:
        return None
    return _STATUS_KINDS.get(current)


def status_alert_key(transfer_id: int, kind: str, event_id: int | None) -> str:
    """One key per status change: the event that recorded it is unique."""
    return f"transfer:{transfer_id}:{kind}:event:{event_id if event_id is not None else 'none'}"


def stall_alert_key(transfer_id: int, raw_code: str, since: datetime) -> str:
    """One key per stay in a status (a status left and entered again may stall again)."""
    return f"transfer:{transfer_id}:{STALLED}:{raw_code[:64]}:{_stamp(since)}"


def reminder_key(transfer_id: int, since: datetime, slot: int) -> str:
    """One key per reminder slot of one stay (a follow-up's clock start)."""
    return f"transfer:{transfer_id}:{REMINDER}:{_stamp(since)}:{slot}"


def escalation_key(transfer_id: int, since: datetime, level: int) -> str:
    return f"transfer:{transfer_id}:{ESCALATION}:{_stamp(since)}:{level}"


def deadline_key(transfer_id: int, deadline_at: datetime) -> str:
    return f"transfer:{transfer_id}:{DEADLINE}:{_stamp(deadline_at)}"


def header_key(transfer_id: int, event_id: int | None) -> str:
    return f"transfer:{transfer_id}:{HEADER}:event:{event_id if event_id is not None else 'none'}"


def outage_key(account: str, since: datetime) -> str:
    return f"account:{account}:{UNREACHABLE}:since:{_stamp(since)}"


def recovery_key(account: str, since: datetime) -> str:
    return f"account:{account}:{RECOVERED}:since:{_stamp(since)}"


def digest_key(day: date) -> str:
    """One digest per day: the local day in the digest's zone (UTC without one)."""
    return f"digest:{day.isoformat()}"


def feed_down_key(account: str, since: datetime) -> str:
    return f"account:{account}:{FEED_DOWN}:since:{_stamp(since)}"


def feed_up_key(account: str, since: datetime) -> str:
    return f"account:{account}:{FEED_UP}:since:{_stamp(since)}"


def stall_due_in(
    *, since: datetime, now: datetime, threshold: timedelta, alerted: bool
) -> float | None:
    """Seconds until a transfer in one status since ``since`` counts as stalled.

    Zero or less: it is stalled now. None: already alerted for this status.
    """
    if alerted:
        return None
    return (since + threshold - now).total_seconds()


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S")
