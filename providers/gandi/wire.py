"""Gandi's v3 operation API (seed 004) over XML-RPC, and its faults in our error tree."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import SecretStr

from providers._common import ascii_digits, one_line, scrub
from providers.errors import (
    AuthenticationFailed,
    BadReply,
    InvalidInput,
    NotAllowedNow,
    ProviderError,
    TransferNotFound,
)
from providers.gandi.xmlrpc import XmlRpcEndpoint, XmlRpcFault
from providers.http import unknown_outcome

__all__ = [
    "FAULT_BAD_PARAMETER",
    "FAULT_BAD_STEP",
    "FAULT_INVALID_API_KEY",
    "FAULT_NOT_FOUND",
    "FAULT_NO_CREDIT",
    "LIST_OPTION_NAMES",
    "MAX_OPERATION_ID",
    "GandiV3",
    "error_for_fault",
    "list_options",
    "operation_id",
    "relaunch_params",
]

logger = logging.getLogger(__name__)

# Gandi's own codes (PROVIDERS.md) ...
FAULT_INVALID_API_KEY = 510150
FAULT_NO_CREDIT = 530040
# ... and ours, in Gandi's style, used by the simulator; the client also reads the cause.
FAULT_NOT_FOUND = 510042  # Error on object : OBJECT_OPERATION (CAUSE_NOTFOUND) [...]
FAULT_BAD_STEP = 510044  # Error on object : OBJECT_OPERATION (CAUSE_BADREQUEST) [...]
FAULT_BAD_PARAMETER = 505100  # Error on object : OBJECT_<TYPE> (CAUSE_BADPARAMETER) [...]

# OperationListOptions of seed 004
LIST_OPTION_NAMES = frozenset(
    {
        "<date_created", "<date_start", "<date_updated",
        ">date_created", ">date_start", ">date_updated",
        "cert.hostname", "cert_id", "contact_id", "date_created", "date_start",
        "date_updated", "disk.name", "disk_id", "domain", "id", "iface_id",
        "items_per_page", "mbox_id", "paas.name", "paas_id", "page", "site.name",
        "site_id", "sort_by", "step", "type", "vm.hostname", "vm_id",
    }
)  # fmt: skip

MAX_OPERATION_ID = 2**31 - 1  # an XML-RPC <int> is 32 bits
_EXTENSION_FIELD = re.compile(r"^x-[a-z0-9_.\-\u2013]{1,80}$")
_FAULT_PARTS = re.compile(r"(OBJECT_[A-Z0-9_]+)?\s*\((CAUSE_[A-Z0-9_]+)\)")
_BRACKET = re.compile(r"\[(.*)\]\s*$", re.DOTALL)
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


# -- pure request builders -------------------------------------------------------------
def operation_id(ref: str, *, who: str) -> int:
    """The operation id a ref names; InvalidInput (before anything is sent) if it names none."""
    text = ref.strip()
    if ascii_digits(text) and 0 < int(text) <= MAX_OPERATION_ID:
        return int(text)
    shown = text[:40]
    raise InvalidInput(
        f"'{shown}' is not an operation id at {who}; Gandi operation ids are numbers "
        "such as 40123456."
    )


def list_options(
    *,
    type: str | None = None,
    step: str | None = None,
    domain: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    updated_after: datetime | None = None,
    updated_before: datetime | None = None,
    sort_by: str | None = None,
    page: int = 0,
    items_per_page: int = 100,
) -> dict[str, object]:
    """OperationListOptions of seed 004 for operation.list / operation.count.

    Dates go as strings ("YYYY-MM-DD HH:MM:SS", UTC) under Gandi's ``>`` / ``<`` keys.
    """
    options: dict[str, object] = {"items_per_page": items_per_page, "page": page}
    for key, value in (("type", type), ("step", step), ("domain", domain), ("sort_by", sort_by)):
        if value is not None:
            options[key] = value
    for key, when in (
        (">date_created", created_after),
        ("<date_created", created_before),
        (">date_updated", updated_after),
        ("<date_updated", updated_before),
    ):
        if when is not None:
            options[key] = when.astimezone(UTC).strftime(_DATE_FORMAT)
    return options


def relaunch_params(inputs: Mapping[str, str | None], *, who: str) -> dict[str, str]:
    """RelaunchOperationParameters of seed 004 from a person's inputs; InvalidInput if odd."""
    params: dict[str, str] = {}
    for name, value in inputs.items():
        if value is None or value == "":
            continue
        if name != "authinfo" and not _EXTENSION_FIELD.match(name):
            raise InvalidInput(
                f"{who} takes only 'authinfo' and x-… extension fields when relaunching, "
                f"not '{name[:40]}'."
            )
        if len(value) > 255 or any(ord(c) < 32 for c in value):
            raise InvalidInput(f"The value for '{name}' is too long or holds control characters.")
        params[name] = value
    return params


# -- faults ----------------------------------------------------------------------------
def error_for_fault(
    fault: XmlRpcFault,
    *,
    who: str,
    account: str,
    doing: str,
    ref: str | None,
    secrets: list[str],
) -> ProviderError:
    """The error a person reads for a Gandi fault; its words stay in ``detail``, scrubbed."""
    text = one_line(scrub(fault.string, secrets), 500)
    parts = _FAULT_PARTS.search(text)
    obj, cause = (parts.group(1) or "", parts.group(2)) if parts else ("", "")
    bracket = _BRACKET.search(text)
    words = (bracket.group(1) if bracket else text).strip().rstrip(".") or f"fault {fault.code}"
    code = fault.code
    detail = f"Gandi fault {code}: {text}"
    if code == FAULT_INVALID_API_KEY or (obj == "OBJECT_ACCOUNT" and cause == "CAUSE_NORIGHT"):
        return AuthenticationFailed(
            f"{who} refused our API key (fault {code}); check the account's API key.",
            account=account,
            detail=detail,
        )
    if code == FAULT_NO_CREDIT:
        return NotAllowedNow(
            f"{who} has no prepaid credit left to {doing}; add credit to the Gandi "
            "prepaid account, then try again.",
            account=account,
            detail=detail,
        )
    if code == FAULT_NOT_FOUND or (obj == "OBJECT_OPERATION" and cause == "CAUSE_NOTFOUND"):
        return TransferNotFound(
            f"{who} has no operation {ref}; check the operation id and the account.",
            account=account,
            detail=detail,
        )
    if code == FAULT_BAD_STEP or (obj == "OBJECT_OPERATION" and cause == "CAUSE_BADREQUEST"):
        return NotAllowedNow(
            f"{who} says: {words}.",
            account=account,
            detail=detail,
        )
    if code == FAULT_BAD_PARAMETER or cause == "CAUSE_BADPARAMETER":
        return InvalidInput(
            f"{who} refused a value while trying to {doing}: {words}.",
            account=account,
            detail=detail,
        )
    return ProviderError(
        f"{who} could not {doing} (Gandi fault {code}: {words}).",
        account=account,
        detail=detail,
    )


# -- the methods -----------------------------------------------------------------------
class GandiV3:
    """operation.info / list / count / cancel / relaunch; the API key goes first in each."""

    def __init__(self, endpoint: XmlRpcEndpoint, *, apikey: SecretStr) -> None:
        self.endpoint = endpoint
        self._apikey = apikey
        self.who = endpoint.who
        self.account = endpoint.http.account.name

    def __repr__(self) -> str:
        return f"GandiV3({self.endpoint.url!r})"

    async def operation_info(self, op_id: int) -> dict[str, object]:
        value = await self._call(
            "operation.info",
            op_id,
            idempotent=True,
            doing=f"read operation {op_id}",
            ref=str(op_id),
        )
        if not isinstance(value, dict):
            raise self._odd("operation.info", "an operation")
        return value

    async def operation_list(self, options: Mapping[str, object]) -> list[dict[str, object]]:
        value = await self._call(
            "operation.list", dict(options), idempotent=True, doing="list operations", ref=None
        )
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self._odd("operation.list", "a list of operations")
        return value

    async def operation_count(self, options: Mapping[str, object]) -> int:
        value = await self._call(
            "operation.count", dict(options), idempotent=True, doing="count operations", ref=None
        )
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._odd("operation.count", "a number")
        return value

    async def operation_cancel(self, op_id: int) -> None:
        await self._change("operation.cancel", op_id, verb="cancel")

    async def operation_relaunch(self, op_id: int, params: Mapping[str, str]) -> None:
        await self._change("operation.relaunch", op_id, params, verb="relaunch")

    async def _change(
        self, method: str, op_id: int, params: Mapping[str, str] | None = None, *, verb: str
    ) -> None:
        """Call a method that changes operation ``op_id`` once (never retried, its params
        kept out of errors); raise unless Gandi answers that it did."""
        doing = f"{verb} operation {op_id}"
        args: tuple[object, ...] = (op_id, dict(params)) if params else (op_id,)
        secrets = list(params.values()) if params else []
        value = await self._call(
            method, *args, idempotent=False, doing=doing, ref=str(op_id), secrets=secrets
        )
        if value is True or (isinstance(value, int) and value == 1):
            return
        if value is False or value == 0:
            raise ProviderError(
                f"{self.who} did not {doing} (it answered 0); look at the operation at Gandi.",
                account=self.account,
            )
        raise self._odd(method, "a yes or no", maybe_applied=True)

    async def _call(
        self,
        method: str,
        *args: object,
        idempotent: bool,
        doing: str,
        ref: str | None,
        secrets: list[str] | None = None,
    ) -> object:
        apikey = self._apikey.get_secret_value()
        try:
            return await self.endpoint.call(method, [apikey, *args], idempotent=idempotent)
        except XmlRpcFault as fault:
            logger.info("%s on %s: Gandi fault %d", method, self.account, fault.code)
            raise error_for_fault(
                fault,
                who=self.who,
                account=self.account,
                doing=doing,
                ref=ref,
                secrets=[apikey, *(secrets or [])],
            ) from None

    def _odd(self, method: str, expected: str, *, maybe_applied: bool = False) -> BadReply:
        what = f"The reply of {self.who} to {method} is not {expected}"
        if maybe_applied:
            return unknown_outcome(what, account=self.account)
        return BadReply(f"{what}; nothing was changed on our side.", account=self.account)
