"""An OpenSRS XCP simulator: signed XML over POST, transfer orders that move with the clock."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Unpack

from providers.errors import BadReply
from providers.opensrs.wire import build_reply, parse_request, sign
from providers.simulators.base import Scope, Simulator, SimulatorOptions

__all__ = ["EVENT_FAULTS", "SCRIPTS", "OpenSRSSimulator", "SimEvent", "SimOrder"]

logger = logging.getLogger(__name__)

Step = tuple[float, str, str]  # (seconds after the previous step or last action, status, reason)
Answer = tuple[int, str, dict[str, Any]]  # (response code, response text, attributes)

HOUR, DAY = 3600.0, 86400.0
SCRIPTS: dict[str, tuple[Step, ...]] = {
    # a registrant who approves, a short review, five days at the registry
    "completes": (
        (0, "pending_owner", ""),
        (2 * HOUR, "pending_admin", ""),
        (15 * 60, "pending_registry", ""),
        (5 * DAY, "completed", ""),
    ),
    "quick": (
        (0, "pending_owner", ""),
        (60, "pending_admin", ""),
        (60, "pending_registry", ""),
        (120, "completed", ""),
    ),
    "owner_declines": (
        (0, "pending_owner", ""),
        (5 * DAY, "cancelled", "Registrant did not approve"),
    ),
    "bad_auth": (
        (0, "pending_owner", ""),
        (HOUR, "pending_admin", ""),
        (10 * 60, "pending_registry", ""),
        (HOUR, "cancelled", "Invalid auth code"),
    ),
    "waits_for_owner": ((0, "pending_owner", ""),),
}
CANCELLED_BY_RESELLER = "Cancelled by reseller request"
GAINING_REGISTRAR = "Tucows Domains Inc."
MAX_LIMIT = 40
MAX_EVENTS = 100  # poll_event: "Max value: 100"; default 1
EVENTS_OFF = "Event notifications are not enabled for this reseller"
# the feed's own faults, switched on in ``event_faults`` (each until cleared):
EVENT_FAULTS = (
    "duplicate",  # every event in a POLL reply is listed twice
    "out_of_order",  # a POLL reply lists its events newest first
    "unknown_order",  # the next POLL also lists an event about an order that never existed
    "empty",  # POLL answers an empty list whatever is queued
)
# an order's status in an ORDER STATUS_CHANGE event (status_change-order's order_status)
ORDER_STATUS = {
    "pending_owner": "processed",
    "pending_admin": "processed",
    "pending_registry": "processed",
    "completed": "completed",
    "cancelled": "declined",
}


@dataclass
class SimOrder:
    """One transfer order: the states it has reached and the steps still to come."""

    order_id: str
    domain: str
    created: datetime
    losing_registrar: str
    steps: list[Step]
    since: datetime  # when the last step happened or the last action was taken
    history: list[tuple[datetime, str, str]] = field(default_factory=list)
    resubmit_script: str | Sequence[Step] = "completes"
    superseded_by: str | None = None
    resends: int = 0
    noticed: int = 0  # how many history entries have had their events queued

    def settle(self, now: datetime) -> None:
        """Take every step that is due by ``now``."""
        while self.steps and self.since + timedelta(seconds=self.steps[0][0]) <= now:
            offset, status, reason = self.steps.pop(0)
            self.since += timedelta(seconds=offset)
            self.history.append((self.since, status, reason))

    @property
    def status(self) -> str:
        return self.history[-1][1]

    @property
    def reason(self) -> str:
        return self.history[-1][2]

    @property
    def changed(self) -> datetime:
        return self.history[-1][0]

    def row(self) -> dict[str, Any]:
        """This order as a GET_TRANSFERS_IN ``transfers`` entry."""
        done = self.status in ("completed", "cancelled")
        return {
            "order_id": self.order_id,
            "domain": self.domain,
            "status": self.status,
            "reason": self.reason,
            "order_date": _date(self.created),
            "order_date_epoch": str(int(self.created.timestamp())),
            "completed_date": _date(self.changed) if done else "",
            "completed_date_epoch": str(int(self.changed.timestamp())) if done else "",
            "losing_registrar": self.losing_registrar,
            "gaining_registrar": GAINING_REGISTRAR,
        }


@dataclass
class SimEvent:
    """One queued event notification, as poll_event lists it."""

    event_id: str
    at: datetime
    object: str  # TRANSFER or ORDER
    data: dict[str, str]
    event: str = "STATUS_CHANGE"

    def entry(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event": self.event,
            "object": self.object,
            "event_date": _date(self.at),
            "object_data": dict(self.data),
        }


def _date(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S")


class OpenSRSSimulator(Simulator):
    """OpenSRS's XCP API for one reseller: ``POST /`` with X-Username and X-Signature.

    Answers GET_TRANSFERS_IN, CHECK_TRANSFER, PROCESS_TRANSFER, CANCEL_TRANSFER,
    SEND_PASSWORD and, once ``events_enabled``, EVENT POLL / EVENT ACK (action and object in
    either case; the event shapes are cited in ``providers.opensrs.events``). Orders
    follow a script of ``(seconds after the previous step or the last action, status,
    reason)`` evaluated lazily from ``clock.now()``. The 100-commands-per-connection cap
    (code 350) is not simulated.
    """

    name = "opensrs"
    content_type = "text/xml"

    def __init__(
        self,
        *,
        first_order_id: int = 3_172_001,
        **common: Unpack[SimulatorOptions],
    ) -> None:
        super().__init__(**common)
        self.username = self.username or "test_rsp"
        self.orders: dict[str, SimOrder] = {}
        self._next_id = first_order_id
        # event notifications (poll_event / ack_event): off until a test or the demo turns
        # them on, as they are at OpenSRS until the reseller does
        self.events_enabled = False
        self.event_faults: set[str] = set()
        self.events: list[SimEvent] = []  # queued, oldest first; acknowledged ones leave
        self.acked: list[str] = []
        self._event_seq = 0

    def __repr__(self) -> str:
        return f"OpenSRSSimulator(username={self.username!r}, orders={len(self.orders)})"

    # -- adding orders (tests, demo, benchmarks) ------------------------------------------

    def add_order(
        self,
        domain: str,
        *,
        script: str | Sequence[Step] = "completes",
        age: float = 0.0,
        order_id: str | None = None,
        losing_registrar: str = "Example Registrar, Inc.",
        resubmit_script: str | Sequence[Step] = "completes",
    ) -> str:
        """Add a transfer-in order and return its order id.

        Args:
            domain: the domain being transferred in.
            script: a name from SCRIPTS or steps ``(seconds, status, reason)``; the first
                step (offset 0) is the state the order starts in.
            age: seconds since the order was placed (its steps so far are taken).
            order_id: a fixed order id (digits); default the next new number.
            losing_registrar: shown in the order's listing.
            resubmit_script: the script of the new order PROCESS_TRANSFER creates from it.
        """
        raw = SCRIPTS[script] if isinstance(script, str) else script
        steps = [(float(offset), str(status), str(reason)) for offset, status, reason in raw]
        if not steps or steps[0][0] != 0:
            raise ValueError("a script starts with a step at offset 0")
        if order_id is None:
            order_id, self._next_id = str(self._next_id), self._next_id + 1
        if not order_id.isdigit() or order_id in self.orders:
            raise ValueError(f"order id {order_id!r} is not new digits")
        created = self.clock.now() - timedelta(seconds=age)
        order = SimOrder(
            order_id=order_id,
            domain=domain.lower(),
            created=created,
            losing_registrar=losing_registrar,
            steps=steps,
            since=created,
            resubmit_script=resubmit_script,
        )
        order.settle(self.clock.now())
        self.orders[order_id] = order
        return order_id

    def resubmit(self, order_id: str) -> str:
        """What PROCESS_TRANSFER does: a new order from a cancelled one, which is superseded."""
        old = self.orders[order_id]
        new_id = self.add_order(
            old.domain, script=old.resubmit_script, losing_registrar=old.losing_registrar
        )
        old.superseded_by = new_id
        return new_id

    def seed(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Add orders from JSON: one ``{"domain": ..., "script": ..., "age": ...}`` or
        ``{"transfers": [...]}``; returns ``{"ref": id}`` or ``{"refs": [...]}``."""
        allowed = {"domain", "script", "age", "order_id", "losing_registrar", "resubmit_script"}
        if "transfers" in spec:
            return {"refs": [self.seed(item)["ref"] for item in spec["transfers"]]}
        unknown = set(spec) - allowed
        if unknown or "domain" not in spec:
            raise ValueError(f"an order needs 'domain' and may have {sorted(allowed)}")
        return {"ref": self.add_order(**spec)}

    def populate_sample(self) -> list[str]:
        """A realistic mix: three moving, one blocked, one completed, one about to fail."""
        return [
            self.add_order("northwind-traders.com", age=20 * 60),
            self.add_order("contoso-shop.net", age=3 * HOUR),
            self.add_order("fabrikam.org", age=DAY),
            self.add_order("tailspin-toys.com", script="owner_declines", age=6 * DAY),
            self.add_order("adventure-works.io", age=7 * DAY),
            self.add_order("wingtip.biz", script="bad_auth", age=HOUR + 15 * 60),
        ]

    # -- event notifications ------------------------------------------------------------

    def _queue_events(self) -> None:
        """Queue an event for every step an order took since the last look (at its time):
        a TRANSFER STATUS_CHANGE for each transfer status, and an ORDER STATUS_CHANGE when
        the order's own status word changes."""
        fresh: list[SimEvent] = []
        for order in self.orders.values():
            while order.noticed < len(order.history):
                index = order.noticed
                at, status, _reason = order.history[index]
                order.noticed += 1
                if not self.events_enabled:
                    continue  # OpenSRS keeps no events for a reseller who has them off
                data = {"order_id": order.order_id, "domain_name": order.domain}
                fresh.append(self._event(at, "TRANSFER", {**data, "transfer_status": status}))
                before = ORDER_STATUS.get(order.history[index - 1][1]) if index else None
                if ORDER_STATUS.get(status) != before:
                    order_data = {
                        **data,
                        "order_reg_type": "transfer",
                        "order_status": ORDER_STATUS.get(status, "processed"),
                    }
                    fresh.append(self._event(at, "ORDER", order_data))
        self.events.extend(sorted(fresh, key=lambda event: event.at))

    def _event(self, at: datetime, object_: str, data: dict[str, str]) -> SimEvent:
        self._event_seq += 1
        seed = f"{self.username}:{self._event_seq}".encode()
        event_id = hashlib.md5(seed, usedforsecurity=False).hexdigest()  # shaped like theirs
        return SimEvent(event_id=event_id, at=at, object=object_, data=data)

    def _poll_event(self, attrs: dict[str, Any], now: datetime) -> Answer:
        if not self.events_enabled:
            return 400, EVENTS_OFF, {}
        limit = str(attrs.get("limit") or "1")
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_EVENTS:
            return 465, f"Invalid data: limit must be between 1 and {MAX_EVENTS}", {}
        listed = [event.entry() for event in self.events[: int(limit)]]
        if "unknown_order" in self.event_faults:
            self.event_faults.discard("unknown_order")
            ghost = self._event(now, "ORDER", {
                "order_id": "999999999", "domain_name": "never-ordered.example",
                "order_reg_type": "transfer", "order_status": "processed",
            })  # fmt: skip
            self.events.insert(0, ghost)
            listed.insert(0, ghost.entry())
        if "out_of_order" in self.event_faults:
            listed.reverse()
        if "duplicate" in self.event_faults:
            listed = [entry for entry in listed for _ in (0, 1)]
        if "empty" in self.event_faults:
            listed = []
        return 200, "Command successful", {"total": str(len(listed)), "events": listed}

    def _ack_event(self, attrs: dict[str, Any], now: datetime) -> Answer:
        if not self.events_enabled:
            return 400, EVENTS_OFF, {}
        event_id = str(attrs.get("event_id") or "")
        if not event_id:
            return 460, "Missing field: event_id", {}
        mine = [event for event in self.events if event.event_id == event_id]
        if not mine:
            return 480, "Event not found", {}
        self.events.remove(mine[0])
        self.acked.append(event_id)
        return 200, "Command successful", {"transaction_id": event_id}

    # -- the wire -------------------------------------------------------------------------

    def operation_of(self, method: str, path: str, query: str, body: bytes) -> str:
        return parse_request(body).action

    async def handle(self, scope: Scope, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            request = parse_request(body)
        except BadReply as exc:
            return self._answer("", 400, f"Invalid request: {exc.message}")
        expected = sign(body, self.secret)
        if headers.get("x-username") != self.username or not hmac.compare_digest(
            headers.get("x-signature", "").lower(), expected
        ):
            return self._answer(request.object, 410, "Authentication Error.")
        handler = {
            ("GET_TRANSFERS_IN", "DOMAIN"): self._get_transfers_in,
            ("CHECK_TRANSFER", "DOMAIN"): self._check_transfer,
            ("PROCESS_TRANSFER", "TRANSFER"): self._process_transfer,
            ("CANCEL_TRANSFER", "TRANSFER"): self._cancel_transfer,
            ("SEND_PASSWORD", "TRANSFER"): self._send_password,
            ("POLL", "EVENT"): self._poll_event,
            ("ACK", "EVENT"): self._ack_event,
        }.get((request.action, request.object))
        if handler is None or request.protocol.upper() != "XCP":
            return self._answer(request.object, 400, f"Invalid Command: {request.action}")
        now = self.clock.now()
        for order in self.orders.values():
            order.settle(now)
        self._queue_events()
        code, text, attributes = handler(request.attributes, now)
        self._queue_events()  # what an action did is an event too
        return self._answer(request.object, code, text, attributes)

    def _answer(
        self, object_: str, code: int, text: str, attributes: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        body = build_reply(object_, code, text, attributes if code == 200 else None)
        return 200, {"content-type": self.content_type}, body

    # -- commands: (attributes, now) -> (response code, response text, attributes) ---------

    def _newest(self, domain: str) -> SimOrder | None:
        mine = [order for order in self.orders.values() if order.domain == domain.lower()]
        return max(mine, key=lambda order: int(order.order_id)) if mine else None

    def _get_transfers_in(self, attrs: dict[str, Any], now: datetime) -> Answer:
        page, limit = str(attrs.get("page") or "1"), str(attrs.get("limit") or MAX_LIMIT)
        if not page.isdigit() or not limit.isdigit() or int(page) < 1:
            return 465, "Invalid data: page and limit must be positive numbers", {}
        if not 1 <= int(limit) <= MAX_LIMIT:
            return 465, f"Invalid data: limit must be between 1 and {MAX_LIMIT}", {}
        matches = [
            order
            for order in sorted(self.orders.values(), key=lambda order: int(order.order_id))
            if attrs.get("domain") in (None, "", order.domain)
            and attrs.get("order_id") in (None, "", order.order_id)
        ]
        start = (int(page) - 1) * int(limit)
        rows = [order.row() for order in matches[start : start + int(limit)]]
        text = "Query successful" if matches else "No transfers found"
        return (
            200,
            text,
            {
                "page": page,
                "page_size": limit,
                "total": str(len(matches)),
                "transfers": rows,
            },
        )

    def _check_transfer(self, attrs: dict[str, Any], now: datetime) -> Answer:
        domain = attrs.get("domain")
        if not domain:
            return 460, "Missing field: domain", {}
        order = self._newest(str(domain))
        if order is None:
            return 200, "Query successful", {"transferrable": "1", "reason": "", "type": ""}
        result = {
            "transferrable": "1" if order.status == "cancelled" else "0",
            "reason": order.reason,
            "type": "reg2reg",
        }
        if str(attrs.get("check_status", "")) == "1":
            result.update(
                status=order.status,
                timestamp=_date(order.changed),
                unixtime=str(int(order.changed.timestamp())),
            )
        return 200, "Query successful", result

    def _own_order(self, attrs: dict[str, Any]) -> SimOrder | Answer:
        """The order an action names (by order_id, else by domain), or the refusal."""
        if not attrs.get("reseller"):
            return 460, "Missing field: reseller", {}
        if attrs["reseller"] != self.username:
            return 435, "Permission denied: the order belongs to another reseller", {}
        order_id, domain = attrs.get("order_id"), attrs.get("domain")
        if not order_id and not domain:
            return 460, "Missing field: order_id or domain", {}
        order = self.orders.get(str(order_id)) if order_id else self._newest(str(domain))
        if order is None or (domain and order.domain != str(domain).lower()):
            return 480, "Order not found", {}
        return order

    def _process_transfer(self, attrs: dict[str, Any], now: datetime) -> Answer:
        if not attrs.get("order_id"):
            return 460, "Missing field: order_id", {}
        order = self._own_order({**attrs, "domain": None})
        if not isinstance(order, SimOrder):
            return order
        if order.superseded_by:
            return 485, f"Order already resubmitted as order {order.superseded_by}", {}
        if order.status != "cancelled":
            return 435, f"Order is {order.status}; only cancelled orders can be resubmitted", {}
        newest = self._newest(order.domain)
        if newest is not None and newest.status not in ("completed", "cancelled"):
            return 437, "Another request is pending on this domain", {}
        new_id = self.resubmit(order.order_id)
        text = "Transfer request has been successfully sent. Admin contact email: admin@"
        return 200, text + order.domain, {"order_id": new_id}

    def _cancel_transfer(self, attrs: dict[str, Any], now: datetime) -> Answer:
        order = self._own_order(attrs)
        if not isinstance(order, SimOrder):
            return order
        if order.status in ("completed", "cancelled"):
            return 435, f"Order is {order.status} and cannot be cancelled", {}
        order.steps.clear()
        order.since = now
        order.history.append((now, "cancelled", CANCELLED_BY_RESELLER))
        return 200, "Transfer cancelled", {}

    def _send_password(self, attrs: dict[str, Any], now: datetime) -> Answer:
        domain = attrs.get("domain_name")
        if not domain:
            return 460, "Missing field: domain_name", {}
        order = self._newest(str(domain))
        if order is None:
            return 480, "No transfer found for this domain", {}
        if order.status != "pending_owner":
            return 435, "The transfer is not waiting for the owner's approval", {}
        order.resends += 1
        order.since = now  # the registrant answers the new e-mail in their own time
        return 200, "Message(s) successfully sent", {}
