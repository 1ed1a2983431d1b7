"""The OpenSRS XCP client: transfer orders read, listed and acted on over signed XML."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx

from providers.base import (
    Action,
    ActionResult,
    ActionSpec,
    Change,
    Phase,
    ProviderClient,
    Transfer,
)
from providers.errors import (
    AuthenticationFailed,
    BadReply,
    InvalidInput,
    ProviderError,
    RateLimited,
    TransferNotFound,
    Unavailable,
    Unsupported,
)
from providers.http import ProviderHTTP, unknown_outcome
from providers.opensrs.events import MAX_POLL, changes_from_poll
from providers.opensrs.parse import (
    LiveStatus,
    Order,
    continues,
    live_from_check,
    mark_superseded,
    orders_from_listing,
    transfer_from,
    with_live,
)
from providers.opensrs.statuses import CAPABILITIES
from providers.opensrs.wire import Reply, build_request, error_from_reply, parse_reply, sign
from providers.xmlsafe import MAX_XML_BYTES

__all__ = ["OpenSRSProvider"]

logger = logging.getLogger(__name__)

PAGE_LIMIT = 40  # GET_TRANSFERS_IN allows at most 40 a page
MAX_PAGES = 250  # 10,000 orders: enough for any reseller's recent history
BLOCKED_LISTED_FOR = timedelta(days=60)  # older cancelled orders are history, not in flight
_ORDER_ID = re.compile(r"^\d{1,18}$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$"
)

if TYPE_CHECKING:
    from providers.settings import ProviderAccount


class OpenSRSProvider(ProviderClient):
    """One OpenSRS reseller account. A transfer's ref is its order id.

    Reads: the first look at an order is GET_TRANSFERS_IN filtered by ``order_id`` (its
    domain, dates and registrars, kept in memory); every poll after that is one
    CHECK_TRANSFER for the domain (which also nudges a pending_registry transfer) as long
    as its answer can be this order's. When it can't (a status going backwards, or a
    finished order's time changing) the domain has a newer order, and GET_TRANSFERS_IN
    by domain tells this order's own status and what superseded it.
    """

    capabilities = CAPABILITIES

    def __init__(
        self, account: ProviderAccount, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.account = account
        self._http = ProviderHTTP(account, transport=transport, max_body=MAX_XML_BYTES)
        self._orders: dict[str, Order] = {}
        self._who = self._http.who

    # -- the interface --------------------------------------------------------------------

    async def get_transfer(self, ref: str, *, detailed: bool = False) -> Transfer:
        order = await self._current(await self._resolve(ref))
        return transfer_from(order, account=self.account.name)

    async def list_transfers(self) -> Sequence[Transfer]:
        orders = mark_superseded(await self._pages({}))
        self._orders.update((order.order_id, order) for order in orders)
        since = datetime.now(UTC) - BLOCKED_LISTED_FOR
        transfers = []
        for order in orders:
            transfer = transfer_from(order, account=self.account.name)
            if transfer.phase.finished:
                continue
            if transfer.phase is Phase.BLOCKED and (order.changed_at or since) < since:
                continue
            transfers.append(transfer)
        return transfers

    # -- the change feed: event notifications (providers.opensrs.events cites the docs) ---

    async def poll_changes(self, limit: int = MAX_POLL) -> list[Change]:
        """EVENT POLL: up to ``limit`` (at most 100) unacknowledged events, oldest first."""
        wanted = max(1, min(MAX_POLL, limit))
        try:
            reply = await self._call("POLL", "EVENT", {"limit": str(wanted)}, read=True)
        except ProviderError as exc:
            if "not enabled" in (exc.detail or "").lower():
                raise Unsupported(
                    f"{self._who} has event notifications by API turned off; turn them on "
                    "in the OpenSRS Reseller Control Panel (Account Settings, Event "
                    "Notifications) or set events = false for the account.",
                    account=self.account.name,
                    detail=exc.detail,
                ) from None
            raise
        return changes_from_poll(reply.attributes)

    async def ack_change(self, change_id: str) -> None:
        """EVENT ACK of one event; acknowledging one already gone is not an error."""
        try:
            await self._call("ACK", "EVENT", {"event_id": change_id}, read=True)
        except TransferNotFound:
            logger.info(
                "opensrs %s: event %s was already acknowledged", self.account.name, change_id
            )

    # -- the actions: the shared checks' hooks, then one call each ------------------------

    def unsupported(self, action: Action) -> str:
        return (
            f"OpenSRS transfers can't be {action.value}d; they can be cancelled, "
            "resubmitted (retry) or have their approval e-mail resent."
        )

    def action_ref(self, ref: str) -> str:
        ref = ref.strip()
        if not _ORDER_ID.match(ref) and not _DOMAIN.match(ref.lower().rstrip(".")):
            raise self._not_a_ref(ref)
        return ref

    async def act(
        self, ref: str, before: Transfer, spec: ActionSpec, inputs: Mapping[str, str]
    ) -> ActionResult:
        order = self._orders[before.ref]  # the read before the action put it there
        if spec.action is Action.RETRY:
            return await self._resubmit(order)
        if spec.action is Action.CANCEL:
            return await self._cancel(order)
        return await self._resend(order)

    # -- actions --------------------------------------------------------------------------

    async def _resubmit(self, order: Order) -> ActionResult:
        attributes = {"reseller": self._reseller(), "order_id": order.order_id}
        reply = await self._call("PROCESS_TRANSFER", "TRANSFER", attributes, read=False)
        new_id = reply.attributes.get("order_id")
        if not isinstance(new_id, str) or not _ORDER_ID.match(new_id.strip()):
            raise BadReply(
                f"{self._who} accepted the resubmission of order {order.order_id} but sent "
                "no new order id; check the domain at OpenSRS before trying again.",
                account=self.account.name,
                maybe_applied=True,
            )
        new_id = new_id.strip()
        self._orders[order.order_id] = replace(order, superseded_by=new_id)
        logger.info("opensrs order %s resubmitted as %s", order.order_id, new_id)
        return ActionResult(
            Action.RETRY,
            f"Order {order.order_id} ({order.domain}) was resubmitted as order {new_id}; "
            "the transfer now follows the new order.",
            new_ref=new_id,
        )

    async def _cancel(self, order: Order) -> ActionResult:
        attributes = {
            "reseller": self._reseller(),
            "order_id": order.order_id,
            "domain": order.domain,
        }
        await self._call("CANCEL_TRANSFER", "TRANSFER", attributes, read=False)
        return ActionResult(
            Action.CANCEL, f"Order {order.order_id} ({order.domain}) was cancelled at OpenSRS."
        )

    async def _resend(self, order: Order) -> ActionResult:
        await self._call("SEND_PASSWORD", "TRANSFER", {"domain_name": order.domain}, read=False)
        return ActionResult(
            Action.RESEND,
            f"The transfer approval e-mail for {order.domain} (order {order.order_id}) "
            "was sent to the registrant again.",
        )

    # -- reads ----------------------------------------------------------------------------

    async def _resolve(self, ref: str) -> str:
        """The order id a ref names: itself, or a domain's newest order."""
        ref = ref.strip()
        if _ORDER_ID.match(ref):
            return ref
        domain = ref.lower().rstrip(".")
        if not _DOMAIN.match(domain):
            raise self._not_a_ref(ref)
        orders = await self._domain_orders(domain)
        if not orders:
            raise TransferNotFound(
                f"{self._who} has no transfer order for {domain}; check the domain "
                "and the account.",
                account=self.account.name,
            )
        return max(orders, key=lambda order: int(order.order_id)).order_id

    def _not_a_ref(self, ref: str) -> InvalidInput:
        shown = ref if len(ref) <= 60 else ref[:57] + "…"
        return InvalidInput(
            f"“{shown}” is neither an OpenSRS order id (digits) nor a domain name.",
            account=self.account.name,
        )

    async def _current(self, order_id: str) -> Order:
        """The order's state now, spending as few calls as the cache allows."""
        order = self._orders.get(order_id) or await self._order_by_id(order_id)
        if order.status == "completed" or order.superseded_by:
            self._orders[order_id] = order
            return order
        live = await self._check(order.domain)
        if continues(order, live):
            order = with_live(order, live)
        else:
            logger.info("opensrs order %s is no longer %s's current order", order_id, order.domain)
            mine = [o for o in await self._domain_orders(order.domain) if o.order_id == order_id]
            order = mine[0] if mine else order
        self._orders[order_id] = order
        return order

    async def _order_by_id(self, order_id: str) -> Order:
        reply = await self._call("GET_TRANSFERS_IN", "DOMAIN", {"order_id": order_id}, read=True)
        orders, _ = orders_from_listing(reply.attributes)
        for order in orders:
            if order.order_id == order_id:
                return order
        raise TransferNotFound(
            f"{self._who} has no transfer order {order_id}; check the order id and the account.",
            account=self.account.name,
        )

    async def _domain_orders(self, domain: str) -> list[Order]:
        orders = mark_superseded(await self._pages({"domain": domain}))
        self._orders.update((order.order_id, order) for order in orders)
        return orders

    async def _check(self, domain: str) -> LiveStatus:
        attributes = {"domain": domain, "check_status": "1"}
        reply = await self._call("CHECK_TRANSFER", "DOMAIN", attributes, read=True)
        return live_from_check(reply.attributes)

    async def _pages(self, filters: Mapping[str, str]) -> list[Order]:
        """Every order GET_TRANSFERS_IN lists for the filters, page by page."""
        collected: list[Order] = []
        for page in range(1, MAX_PAGES + 1):
            attributes = {**filters, "page": str(page), "limit": str(PAGE_LIMIT)}
            reply = await self._call("GET_TRANSFERS_IN", "DOMAIN", attributes, read=True)
            orders, total = orders_from_listing(reply.attributes)
            collected.extend(orders)
            if not orders or len(collected) >= total:
                return collected
        logger.warning("opensrs %s lists more than %d pages", self.account.name, MAX_PAGES)
        return collected

    # -- the wire -------------------------------------------------------------------------

    def _reseller(self) -> str:
        if not self.account.username:
            raise AuthenticationFailed(
                f"{self._who} has no reseller username configured; set its username "
                "to the OpenSRS reseller name.",
                account=self.account.name,
            )
        return self.account.username

    async def _call(
        self, action: str, object_: str, attributes: Mapping[str, Any], *, read: bool
    ) -> Reply:
        """Send one XCP command; ProviderHTTP retries reads on transient answers, never actions."""
        key = self.account.secret.get_secret_value()
        username = self._reseller()
        if not key:
            raise AuthenticationFailed(
                f"{self._who} has no API key configured; set the key in its secret.",
                account=self.account.name,
            )
        body = build_request(action, object_, attributes)
        headers = {
            "Content-Type": "text/xml",
            "X-Username": username,
            "X-Signature": sign(body, key),
        }
        return await self._http.call(
            "POST",
            "/",
            idempotent=read,
            operation=action,
            read=partial(self._interpret, action, read=read),
            content=body,
            headers=headers,
        )

    def _interpret(self, action: str, response: httpx.Response, raw: bytes, *, read: bool) -> Reply:
        """The reply of a successful command, or the error an unsuccessful one means."""
        name = self.account.name
        status = response.status_code
        if status != 200:
            raise Unavailable(
                f"{self._who} answered {action} with HTTP {status}; try again in a few minutes.",
                account=name,
            )
        content_type = response.headers.get("content-type", "").lower()
        if content_type and "xml" not in content_type:
            raise BadReply(
                f"{self._who} answered {action} with a {content_type.split(';')[0]} page "
                "instead of an XCP reply; check the account's base URL.",
                account=name,
            )
        try:
            reply = parse_reply(raw, what=f"The reply of {self._who} to {action}")
        except BadReply as exc:
            if not read:
                raise unknown_outcome(
                    f"{self._who} sent an unreadable reply to {action}", account=name
                ) from exc
            raise BadReply(exc.message, account=name) from None
        if not reply.is_success:
            error = error_from_reply(reply, account=name, operation=action)
            if isinstance(error, RateLimited) and reply.response_code in (300, 310):
                self._http.limiter.pause_for(error.retry_after or 60.0)
            raise error
        return reply
