"""Actions on transfers, asked for from Slack: ask, decide, run, and tell.

One workflow in one package, with this module as its public face:

- ``approvals`` — asking for an action (run at once, or posted for a second person's
  approval) and deciding on it (approve, reject, withdraw, expire);
- ``running`` — running an approved action once at its provider, and recovering after a
  crash (an interrupted run is ``unknown``, never repeated);
- ``posting`` — the request's Slack message, kept current, and the outcome lines in its
  thread and the transfer's alert thread.

The Slack listeners (``bot.slack.listeners``), the watcher's housekeeping and start-up
(``bot.runtime.serve``) use the names below.
"""

from __future__ import annotations

from bot.actions.approvals import (
    approve_request,
    expire_due_requests,
    reject_request,
    request_action,
    withdraw_request,
)
from bot.actions.posting import already_decided, outcome_line, refresh_request_message
from bot.actions.running import Outcome, recover_requests, run_bound, run_request

__all__ = [
    "Outcome",
    "already_decided",
    "approve_request",
    "expire_due_requests",
    "outcome_line",
    "recover_requests",
    "refresh_request_message",
    "reject_request",
    "request_action",
    "run_bound",
    "run_request",
    "withdraw_request",
]
