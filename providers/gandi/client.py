"""GandiProvider: Gandi operations (XML-RPC v3) behind the TransferProvider interface."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import httpx

from providers.base import Action, ActionResult, Transfer
from providers.errors import BadReply, InvalidInput, NotAllowedNow, ProviderError, Unsupported
from providers.gandi.parse import transfer_from_operation
from providers.gandi.statuses import AUTHINFO_INPUT, CAPABILITIES
from providers.gandi.wire import GandiV3, list_options, operation_id, relaunch_params
from providers.gandi.xmlrpc import XmlRpcEndpoint
from providers.http import ProviderHTTP

if TYPE_CHECKING:
    from providers.settings import ProviderAccount

__all__ = ["IN_FLIGHT_STEPS", "GandiProvider"]

logger = logging.getLogger(__name__)

IN_FLIGHT_STEPS = ("BILL", "WAIT", "RUN", "ERROR", "SUPPORT")
TRANSFER_TYPE = "domain_transfer_in"
PAGE_SIZE = 100
MAX_PAGES = 50  # per step: 5,000 in-flight transfers; a server that never ends a list stops here

_CANT = {
    Action.PAUSE: "Gandi operations can't be paused",
    Action.RESUME: "Gandi operations can't be paused or resumed",
    Action.RESEND: "Gandi's operation API can't resend an approval e-mail",
}
_DONE_WORDS = {Action.CANCEL: "cancelled", Action.RETRY: "relaunched"}


class GandiProvider:
    """One Gandi account, spoken to over XML-RPC v3 (``account.base_url`` is the endpoint).

    A v5 REST variant can sit beside :class:`GandiV3`: this class only needs operation
    structs and the five operation calls.
    """

    capabilities = CAPABILITIES

    def __init__(
        self, account: ProviderAccount, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.account = account
        self._http = ProviderHTTP(
            account,
            transport=transport,
            headers={"User-Agent": "transferbot"},
            server_errors_are_replies=True,
        )
        self._api = GandiV3(XmlRpcEndpoint(self._http, account.base_url), apikey=account.secret)
        self._who = self._api.who

    def __repr__(self) -> str:
        return f"GandiProvider({self.account.name!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get_transfer(self, ref: str, *, detailed: bool = False) -> Transfer:
        """The operation's state; one call gives everything, so ``detailed`` costs nothing."""
        op = await self._api.operation_info(operation_id(ref, who=self._who))
        return self._transfer(op)

    async def list_transfers(self) -> Sequence[Transfer]:
        """In-flight domain_transfer_in operations, one paged listing per unfinished step."""
        found: dict[str, Transfer] = {}
        for step in IN_FLIGHT_STEPS:
            for op in await self._list_step(step):
                try:
                    transfer = self._transfer(op)
                except BadReply as exc:
                    logger.warning(
                        "skipping an unreadable operation from %s: %s",
                        self.account.name,
                        exc.message,
                    )
                    continue
                if not transfer.phase.finished:
                    found[transfer.ref] = transfer
        return list(found.values())

    async def perform(
        self, ref: str, action: Action, inputs: Mapping[str, str] | None = None
    ) -> ActionResult:
        """Cancel or relaunch once; never retried. Checks action, ref and inputs before sending."""
        if not self.capabilities.supports(action):
            raise Unsupported(
                f"{_CANT.get(action, 'Gandi operations do not offer that')}; they can be "
                "cancelled while waiting and relaunched after a recoverable error.",
                account=self.account.name,
            )
        op_id = operation_id(ref, who=self._who)
        values = dict(inputs or {})
        params = self._relaunch_params(values) if action is Action.RETRY else {}
        before = await self.get_transfer(ref)
        if before.action(action) is None:
            raise NotAllowedNow(self._not_now(before, action), account=self.account.name)
        if action is Action.CANCEL:
            await self._api.operation_cancel(op_id)
            message = f"Gandi cancelled operation {op_id} ({before.subject})."
        else:
            await self._api.operation_relaunch(op_id, params)
            new_code = " with the new authinfo" if "authinfo" in params else ""
            message = (
                f"Gandi relaunched operation {op_id} ({before.subject}){new_code}; "
                "it will be processed again."
            )
        logger.info("%s: %s done on operation %s", self.account.name, action.value, op_id)
        return ActionResult(
            action=action,
            message=message,
            transfer=await self._read_after(op_id, list(params.values())),
        )

    # -- parts ------------------------------------------------------------------------------
    def _transfer(self, op: Mapping[str, object], secrets: list[str] | None = None) -> Transfer:
        return transfer_from_operation(op, account=self.account.name, secrets=secrets)

    async def _list_step(self, step: str) -> list[dict[str, object]]:
        ops: list[dict[str, object]] = []
        for page in range(MAX_PAGES):
            options = list_options(
                type=TRANSFER_TYPE, step=step, sort_by="id", page=page, items_per_page=PAGE_SIZE
            )
            batch = await self._api.operation_list(options)
            ops.extend(batch)
            if len(batch) < PAGE_SIZE:
                return ops
        logger.warning(
            "%s lists more than %d %s transfers; showing the first ones",
            self.account.name,
            MAX_PAGES * PAGE_SIZE,
            step,
        )
        return ops

    def _relaunch_params(self, values: dict[str, str]) -> dict[str, str]:
        problem = AUTHINFO_INPUT.validate(values.get("authinfo"))
        if problem:
            raise InvalidInput(problem, account=self.account.name)
        return relaunch_params(values, who=self._who)

    def _not_now(self, transfer: Transfer, action: Action) -> str:
        done = _DONE_WORDS.get(action, action.value)
        head = (
            f"{self._who}: operation {transfer.ref} ({transfer.subject}) is "
            f"{transfer.phase.value} ({transfer.raw_code}), so it can't be {done}"
        )
        if transfer.actions:
            choices = " or ".join(_DONE_WORDS.get(a.action, a.verb) for a in transfer.actions)
            return f"{head}; it can be {choices} now."
        if transfer.waiting_for:
            return f"{head}; it is waiting for {transfer.waiting_for}."
        return f"{head}; nothing can be done to it now."

    async def _read_after(self, op_id: int, secrets: list[str]) -> Transfer | None:
        """The state right after an action; an error here does not undo the action."""
        try:
            op = await self._api.operation_info(op_id)
            return self._transfer(op, secrets)
        except ProviderError as exc:
            logger.info(
                "%s: could not read operation %s after the action: %s",
                self.account.name,
                op_id,
                exc.kind,
            )
            return None
