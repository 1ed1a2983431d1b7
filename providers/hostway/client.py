"""The Hostway REST client: read a domain transfer's status, reset a blocked one."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import httpx

from providers._common import scrub_error
from providers.base import Action, ActionResult, ActionSpec, ProviderClient, Transfer
from providers.errors import BadReply, InvalidInput, ProviderError, Unsupported
from providers.hostway.parse import ReplyShapeError, parse_transfer
from providers.hostway.statuses import AUTH_INFO_INPUT, CAPABILITIES, auth_info_problem
from providers.hostway.wire import (
    error_words,
    invalid_ref,
    normalize_domain,
    read_error,
    reset_body,
    reset_error,
    transfer_path,
)
from providers.http import ProviderHTTP, unknown_outcome

if TYPE_CHECKING:
    from providers.settings import ProviderAccount

__all__ = ["HostwayProvider"]

logger = logging.getLogger(__name__)

_Error = TypeVar("_Error", bound=ProviderError | None)


class HostwayProvider(ProviderClient):
    """One Hostway customer account, spoken to over its REST API (seeds 002 and 003).

    A transfer's ref is its domain name; the account number comes from the account's
    settings. Hostway can't list transfers, so they are watched one domain at a time.
    """

    capabilities = CAPABILITIES

    def __init__(
        self, account: ProviderAccount, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.account = account
        self._who = f"hostway account '{account.name}'"
        number = (account.account_number or "").strip()
        if not number:
            raise InvalidInput(
                f"The {self._who} has no account_number; Hostway needs the customer account "
                "number in every call, so add it to the account's settings.",
                account=account.name,
            )
        self.account_number = number
        secret = account.secret.get_secret_value()
        headers = {"Accept": "application/json"}
        auth: httpx.Auth | None = None
        if account.auth_scheme == "basic":
            if not account.username:
                raise InvalidInput(
                    f"The {self._who} uses basic auth but has no username; add it to the "
                    "account's settings.",
                    account=account.name,
                )
            auth = httpx.BasicAuth(account.username, secret)
        else:
            headers["Authorization"] = f"Bearer {secret}"
        # Hostway documents its 500s (a registry error, an unknown reset error): we read them
        self._http = ProviderHTTP(
            account, transport=transport, headers=headers, auth=auth, server_errors_are_replies=True
        )

    async def list_transfers(self) -> Sequence[Transfer]:
        raise Unsupported(
            "Hostway can't list transfers; watch each one by its domain with "
            "`/transfer watch <account> <domain>`.",
            account=self.account.name,
        )

    async def get_transfer(self, ref: str, *, detailed: bool = False) -> Transfer:
        """The transfer of one domain in this account (``detailed`` costs nothing extra)."""
        domain = self._domain(ref)
        try:
            return await self._http.call(
                "GET",
                transfer_path(self.account_number, domain),
                idempotent=True,
                operation="get_transfer_status",
                read=partial(self._read_status, domain=domain),
            )
        except ProviderError as exc:
            raise self._scrubbed(exc) from None

    # -- the action: a reset ----------------------------------------------------------
    def unsupported(self, action: Action) -> str:
        return (
            f"{_CANT[action]}; the one action Hostway offers is retry (its reset), "
            "for a blocked transfer."
        )

    def action_ref(self, ref: str) -> str:
        return self._domain(ref)

    def check_inputs(self, action: Action, inputs: Mapping[str, str]) -> None:
        problem = auth_info_problem(inputs.get(AUTH_INFO_INPUT.name) or None)
        if problem:
            raise InvalidInput(problem, account=self.account.name)

    async def act(
        self, ref: str, before: Transfer, spec: ActionSpec, inputs: Mapping[str, str]
    ) -> ActionResult:
        """Reset the blocked transfer of domain ``ref``, once."""
        auth_info = inputs.get(AUTH_INFO_INPUT.name) or None
        await self._reset(ref, auth_info)
        with_what = "with the new authInfo" if auth_info else "with the authInfo it already had"
        return ActionResult(
            action=Action.RETRY,
            message=f"{self._who} accepted the reset of {ref}'s transfer {with_what}.",
        )

    # -- internals ----------------------------------------------------------------------
    async def _reset(self, domain: str, auth_info: str | None) -> None:
        """Send the PUT once; raise unless Hostway accepted the reset."""
        try:
            await self._http.call(
                "PUT",
                transfer_path(self.account_number, domain),
                idempotent=False,
                operation="reset_transfer",
                read=partial(self._read_reset, domain=domain),
                content=reset_body(auth_info),
                headers={"Content-Type": "application/json"},
            )
        except ProviderError as exc:
            raise self._scrubbed(exc, auth_info) from None

    def _read_reset(self, response: httpx.Response, body: bytes, *, domain: str) -> None:
        """Raise unless the reply to a reset says Hostway accepted it."""
        status = response.status_code
        logger.info("hostway %s: reset of %s → HTTP %d", self.account.name, domain, status)
        error = self._reply_error(reset_error, status, body, domain)
        if error is not None:
            raise error
        if body.strip() and not _is_json(body):
            raise unknown_outcome(
                f"{self._who} answered the reset of {domain} with something that is not "
                "its API's reply",
                account=self.account.name,
            )

    def _read_status(self, response: httpx.Response, body: bytes, *, domain: str) -> Transfer:
        """The transfer a GET reply describes, or the error it means (a 500 is retried)."""
        status = response.status_code
        logger.debug("hostway %s: status of %s → HTTP %d", self.account.name, domain, status)
        if status != 200:
            raise self._reply_error(read_error, status, body, domain)
        payload = self._json(response, body, domain)
        try:
            return parse_transfer(
                payload,
                account=self.account.name,
                domain=domain,
                account_number=self.account_number,
            )
        except ReplyShapeError as exc:
            raise BadReply(
                f"{self._who} sent a status for {domain} we could not understand ({exc}); "
                "nothing was changed.",
                account=self.account.name,
            ) from None

    def _reply_error(
        self, meaning: Callable[..., _Error], status: int, body: bytes, domain: str
    ) -> _Error:
        """What a reply's status means (``read_error``, ``reset_error``), said of this
        account and domain, with Hostway's own words as the detail."""
        return meaning(
            status,
            who=self._who,
            account=self.account.name,
            domain=domain,
            account_number=self.account_number,
            detail=error_words(body),
        )

    def _scrubbed(self, exc: ProviderError, *also: str | None) -> ProviderError:
        """The error with our token (and any authInfo we sent) masked: Hostway may echo them."""
        return scrub_error(exc, [self.account.secret.get_secret_value(), *also])

    def _domain(self, ref: str) -> str:
        domain = normalize_domain(ref)
        if domain is None:
            raise invalid_ref(ref, account=self.account.name)
        return domain

    def _json(self, response: httpx.Response, body: bytes, domain: str) -> object:
        content_type = response.headers.get("content-type", "")
        if "json" not in content_type.lower():
            raise BadReply(
                f"{self._who} sent a web page ({content_type.split(';')[0] or 'no type'}) "
                f"instead of the status of {domain}; a proxy or sign-in page may be in the way.",
                account=self.account.name,
            )
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise BadReply(
                f"{self._who} sent a status for {domain} that is not valid JSON; "
                "nothing was changed.",
                account=self.account.name,
            ) from None


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return True


_CANT: Mapping[Action, str] = {
    Action.PAUSE: "Hostway transfers can't be paused",
    Action.RESUME: "Hostway transfers can't be paused, so there is nothing to resume",
    Action.CANCEL: "Hostway transfers can't be cancelled through its API",
    Action.RESEND: "Hostway can't resend the approval e-mail through its API",
    Action.RETRY: "Hostway transfers can't be retried",
}
