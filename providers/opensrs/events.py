"""OpenSRS event notifications read from EVENT POLL replies: pure parsing into Changes.

The shapes follow OpenSRS's own guide:

* ``poll_event`` (https://domains.opensrs.guide/docs/poll_event): request ``object=EVENT``,
  ``action=POLL``, attribute ``limit`` (default 1, at most 100); the reply's attributes hold
  ``events``, a list, oldest first, of maps with ``event_id``, ``event`` (e.g.
  ``STATUS_CHANGE``, ``CREATED``), ``object`` (``ORDER``, ``DOMAIN``, ``TRANSFER``...),
  ``event_date`` and ``object_data`` (the object's fields).
* ``ack_event`` (https://domains.opensrs.guide/docs/ack_event): ``object=EVENT``,
  ``action=ACK``, attribute ``event_id``; each event is acknowledged on its own, and an
  acknowledged event is no longer polled.
* the order ``status_change`` event (https://domains.opensrs.guide/docs/status_change-order):
  ``object_data`` carries ``order_id``, ``domain_name``, ``order_reg_type`` (``transfer``
  for a transfer-in) and ``order_status`` (processed, completed, pending, waiting,
  declined, canceled) — coarser than a transfer's own status, so the watcher reads the
  order after an event rather than believing the event's status.
* the e-mail form of the same events (support.opensrs.com, "Event Notifications",
  article 201000063405) shows the same keys as JSON: ``object_data``, ``object``,
  ``event_id``, ``event``. They are turned on per event type in the Reseller Control Panel
  (Account Settings, Event Notifications), for e-mail, API polling or both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from providers._common import one_line
from providers.base import Change

__all__ = ["MAX_POLL", "changes_from_poll"]

MAX_POLL = 100  # poll_event: "Max value: 100"
_EVENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_ORDER_ID = re.compile(r"^\d{1,18}$")
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S")


def changes_from_poll(attributes: Mapping[str, Any]) -> list[Change]:
    """The changes an EVENT POLL reply lists, in its order; entries without a usable
    event id are left out (they could never be acknowledged)."""
    events = attributes.get("events", [])
    if not isinstance(events, list):
        return []
    changes = []
    for entry in events[:MAX_POLL]:
        if isinstance(entry, dict):
            change = _change_of(entry)
            if change is not None:
                changes.append(change)
    return changes


def _change_of(entry: Mapping[str, Any]) -> Change | None:
    event_id = _text(entry.get("event_id"))
    if not _EVENT_ID.match(event_id):
        return None
    data = entry.get("object_data")
    data = data if isinstance(data, dict) else {}
    object_ = _text(entry.get("object")).upper()
    order_id = _text(data.get("order_id"))
    status = next(
        (
            _text(data.get(key)).lower()
            for key in ("transfer_status", "order_status", "status")
            if data.get(key)
        ),
        "",
    )
    reg_type = _text(data.get("order_reg_type")).lower()
    return Change(
        id=event_id,
        kind=f"{object_} {_text(entry.get('event')).upper()}".strip(),
        ref=order_id if _ORDER_ID.match(order_id) else "",
        subject=_text(data.get("domain_name") or data.get("domain")).lower(),
        status=status,
        at=_date(_text(entry.get("event_date"))),
        transfer_in=object_ == "TRANSFER" or reg_type == "transfer",
    )


def _text(value: object) -> str:
    return one_line(value, 200) if isinstance(value, str) else ""


def _date(text: str) -> datetime | None:
    for layout in _DATE_FORMATS:
        try:
            return datetime.strptime(text, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None
