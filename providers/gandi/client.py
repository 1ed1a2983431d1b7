"""GandiProvider: Gandi operations (XML-RPC v3) behind the TransferProvider interface."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import httpx

from providers.base import Action, ActionResult, ActionSpec, ProviderClient, Transfer
from providers.errors import BadReply, InvalidInput, ProviderError
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


class GandiProvider(ProviderClient):
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

    # -- the actions: the shared checks' hooks, then one call each --------------------------
    def unsupported(self, action: Action) -> str:
        return (
            f"{_CANT.get(action, 'Gandi operations do not offer that')}; they can be "
            "cancelled while waiting and relaunched after a recoverable error."
        )

    def action_ref(self, ref: str) -> str:
        return str(operation_id(ref, who=self._who))

    def check_inputs(self, action: Action, inputs: Mapping[str, str]) -> None:
        if action is Action.RETRY:
            self._relaunch_params(dict(inputs))

    async def act(
        self, ref: str, before: Transfer, spec: ActionSpec, inputs: Mapping[str, str]
    ) -> ActionResult:
        """Cancel or relaunch once; never retried."""
        op_id = int(ref)
        action = spec.action
        if action is Action.CANCEL:
            params: dict[str, str] = {}
            await self._api.operation_cancel(op_id)
            message = f"Gandi cancelled operation {op_id} ({before.subject})."
        else:
            params = self._relaunch_params(dict(inputs))
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
