"""OpenSRS transfer orders on plain data: reply rows, phases, actions, Transfer cards."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from providers._common import ascii_digits
from providers.base import ActionSpec, HistoryEntry, Phase, Transfer
from providers.errors import BadReply
from providers.opensrs.statuses import FINAL_STATUSES, RETRY, STATUSES

__all__ = [
    "LiveStatus",
    "Order",
    "actions_for",
    "cancelled_on_request",
    "continues",
    "live_from_check",
    "mark_superseded",
    "order_from_row",
    "orders_from_listing",
    "parse_time",
    "phase_of",
    "transfer_from",
]

logger = logging.getLogger(__name__)

# words of a `reason` meaning someone asked for the cancellation, so it is not stuck
_ON_REQUEST = ("by request", "on request", "by reseller", "reseller request", "by the reseller")


@dataclass(frozen=True, slots=True)
class Order:
    """One transfer order as GET_TRANSFERS_IN describes it, refreshed by CHECK_TRANSFER."""

    order_id: str
    domain: str
    status: str
    reason: str = ""
    ordered_at: datetime | None = None
    changed_at: datetime | None = None
    losing_registrar: str = ""
    gaining_registrar: str = ""
    superseded_by: str | None = None
    finished_at: datetime | None = None  # when it completed or was cancelled, if OpenSRS says


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """CHECK_TRANSFER's word on the domain's current order."""

    status: str
    reason: str
    changed_at: datetime | None
    transferrable: bool


def parse_time(epoch: Any, text: Any = None) -> datetime | None:
    """A UTC datetime from an epoch field, else from ``YYYY-MM-DD HH:MM:SS``; None if neither."""
    if isinstance(epoch, str) and ascii_digits(epoch.strip()):
        try:
            return datetime.fromtimestamp(int(epoch), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None  # a time no calendar holds: as good as none
    if isinstance(text, str) and text.strip():
        try:
            return datetime.strptime(text.strip()[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            return None
    return None


def _text(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key, "")
    return value.strip() if isinstance(value, str) else ""


def order_from_row(row: Any) -> Order:
    """An Order from one ``transfers`` entry of GET_TRANSFERS_IN; BadReply if it is not one."""
    if not isinstance(row, Mapping):
        raise BadReply("OpenSRS listed a transfer that is not a map of values.")
    order_id, domain = _text(row, "order_id"), _text(row, "domain").lower()
    if not ascii_digits(order_id) or not domain:
        raise BadReply("OpenSRS listed a transfer without an order id or a domain.")
    ordered = parse_time(row.get("order_date_epoch"), row.get("order_date"))
    finished = parse_time(row.get("completed_date_epoch"), row.get("completed_date"))
    return Order(
        order_id=order_id,
        domain=domain,
        status=_text(row, "status").lower(),
        reason=_text(row, "reason") or _text(row, "status_reason"),
        ordered_at=ordered,
        changed_at=finished or ordered,
        losing_registrar=_text(row, "losing_registrar"),
        gaining_registrar=_text(row, "gaining_registrar"),
        finished_at=finished,
    )


def orders_from_listing(attributes: Mapping[str, Any]) -> tuple[list[Order], int]:
    """The orders of one GET_TRANSFERS_IN page and the reply's ``total``."""
    rows = attributes.get("transfers", [])
    if rows == "":
        rows = []
    if not isinstance(rows, list):
        raise BadReply("OpenSRS sent a transfer list that is not a list.")
    total = attributes.get("total", str(len(rows)))
    if not isinstance(total, str) or not ascii_digits(total.strip()):
        raise BadReply("OpenSRS sent a transfer list without a total.")
    return [order_from_row(row) for row in rows], int(total)


def mark_superseded(orders: Iterable[Order]) -> list[Order]:
    """Mark each cancelled order superseded by the next newer order of the same domain."""
    by_domain: dict[str, list[Order]] = {}
    for order in orders:
        by_domain.setdefault(order.domain, []).append(order)
    result = []
    for group in by_domain.values():
        group.sort(key=lambda order: int(order.order_id))
        for older, newer in zip(group, [*group[1:], None], strict=True):
            if newer is not None and older.status == "cancelled" and not older.superseded_by:
                older = replace(older, superseded_by=newer.order_id)
            result.append(older)
    return result


def live_from_check(attributes: Mapping[str, Any]) -> LiveStatus:
    """CHECK_TRANSFER's attributes (sent with ``check_status=1``) as a LiveStatus."""
    return LiveStatus(
        status=_text(attributes, "status").lower(),
        reason=_text(attributes, "reason"),
        changed_at=parse_time(attributes.get("unixtime"), attributes.get("timestamp")),
        transferrable=_text(attributes, "transferrable") == "1",
    )


def continues(order: Order, live: LiveStatus) -> bool:
    """Whether CHECK_TRANSFER's status can be this order's: orders only move forward.

    A finished order must match in status and time; an unfinished one may have moved on.
    Anything else means the domain has a newer order (or none in progress).
    """
    now, before = STATUSES.get(live.status), STATUSES.get(order.status)
    if now is None:
        return False
    if before is None:
        return True
    if order.status in FINAL_STATUSES:
        same_time = order.finished_at is None or live.changed_at in (None, order.finished_at)
        return live.status == order.status and same_time
    return now.rank >= before.rank


def with_live(order: Order, live: LiveStatus) -> Order:
    """The order updated with CHECK_TRANSFER's status, reason and time."""
    changed = live.changed_at or order.changed_at
    return replace(
        order,
        status=live.status,
        reason=live.reason,
        changed_at=changed,
        finished_at=changed if live.status in FINAL_STATUSES else None,
    )


def cancelled_on_request(reason: str) -> bool:
    """Whether a cancellation's reason says a person asked for it (so it is not stuck)."""
    reason = reason.lower()
    return any(words in reason for words in _ON_REQUEST)


def phase_of(order: Order) -> Phase:
    """The phase: cancelled is blocked (resubmittable) unless asked for or already resubmitted."""
    info = STATUSES.get(order.status)
    if info is None:
        return Phase.ACTIVE
    if order.status == "cancelled" and (order.superseded_by or cancelled_on_request(order.reason)):
        return Phase.CANCELLED
    return info.phase


def actions_for(order: Order) -> tuple[ActionSpec, ...]:
    """What can be done to the order in its current state."""
    if order.status == "cancelled":
        return (RETRY,) if phase_of(order) is Phase.BLOCKED else ()
    info = STATUSES.get(order.status)
    return info.actions if info else ()


def _raw_text(order: Order) -> str:
    info = STATUSES.get(order.status)
    text = order.reason or (info.text if info else f"OpenSRS status “{order.status or '?'}”")
    if order.superseded_by:
        text = f"{text} (resubmitted as order {order.superseded_by})"
    return text


def _waiting_for(order: Order) -> str | None:
    if phase_of(order) is Phase.BLOCKED:
        return "someone to fix the cause and resubmit the order"
    info = STATUSES.get(order.status)
    return info.waiting_for if info else None


def _history(order: Order) -> tuple[HistoryEntry, ...]:
    entries = []
    if order.ordered_at is not None:
        entries.append(HistoryEntry(order.ordered_at, "ordered", f"Order {order.order_id} placed"))
    if order.changed_at is not None and order.changed_at != order.ordered_at:
        entries.append(
            HistoryEntry(order.changed_at, order.status, _raw_text(order), phase_of(order))
        )
    return tuple(entries)


def _details(order: Order) -> dict[str, str]:
    details = {
        "order id": order.order_id,
        "domain": order.domain,
        "losing registrar": order.losing_registrar,
        "gaining registrar": order.gaining_registrar,
        "ordered": order.ordered_at.isoformat() if order.ordered_at else "",
        "reason": order.reason,
        "superseded by": order.superseded_by or "",
    }
    return {key: value for key, value in details.items() if value}


def transfer_from(order: Order, *, account: str) -> Transfer:
    """The Transfer card for an order of one provider account."""
    if order.status not in STATUSES:
        logger.warning("opensrs order %s has an unknown status %r", order.order_id, order.status)
    return Transfer(
        account=account,
        provider="opensrs",
        ref=order.order_id,
        subject=order.domain,
        phase=phase_of(order),
        raw_code=order.status or "unknown",
        raw_text=_raw_text(order),
        actions=actions_for(order),
        changed_at=order.changed_at,
        history=_history(order),
        waiting_for=_waiting_for(order),
        details=_details(order),
    )
