"""GandiV5Provider: transfers in at Gandi over its v5 REST API, with a Personal Access Token."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING

import httpx

from providers._common import scrub_error
from providers.base import Action, ActionResult, ActionSpec, ProviderClient, Transfer
from providers.errors import (
    AuthenticationFailed,
    BadReply,
    InvalidInput,
    ProviderError,
    Unsupported,
)
from providers.gandi.v5.parse import foas_of, transfer_from_transferin
from providers.gandi.v5.statuses import AUTHINFO_INPUT, CAPABILITIES
from providers.gandi.v5.wire import (
    OPERATIONS,
    action_error,
    authinfo_body,
    confirmation,
    foa_body,
    invalid_ref,
    normalize_domain,
    read_error,
    reply_json,
    token_expired,
    transfer_path,
)
from providers.http import ProviderHTTP, unknown_outcome

if TYPE_CHECKING:
    from providers.settings import ProviderAccount

__all__ = ["GandiV5Provider"]

logger = logging.getLogger(__name__)

_JSON = {"Content-Type": "application/json"}
_CANT = {
    Action.PAUSE: "Gandi transfers can't be paused",
    Action.RESUME: "Gandi transfers can't be paused, so there is nothing to resume",
    Action.CANCEL: (
        "Gandi's v5 API has no way to cancel a transfer in (cancel it in Gandi's web admin, "
        "or let it lapse)"
    ),
}


class GandiV5Provider(ProviderClient):
    """One Gandi organization, spoken to over the v5 REST API (``account.base_url``, e.g.
    https://api.gandi.net or the sandbox https://api.sandbox.gandi.net).

    A transfer's ref is its domain. v5 has no endpoint listing transfers in, so each is
    watched by its domain.
    """

    capabilities = CAPABILITIES

    def __init__(
        self, account: ProviderAccount, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.account = account
        token = account.secret.get_secret_value()
        self._http = ProviderHTTP(
            account,
            transport=transport,
            headers={"Accept": "application/json", "Authorization": f"Bearer {token}"},
        )

    async def list_transfers(self) -> Sequence[Transfer]:
        raise Unsupported(
            "Gandi's v5 API has no endpoint that lists transfers in, so there is nothing to "
            "sync; watch each one by its domain with `/transfer watch "
            f"{self.account.name} <domain>`.",
            account=self.account.name,
        )

    async def get_transfer(self, ref: str, *, detailed: bool = False) -> Transfer:
        """The follow-up of one domain's transfer (one call; ``detailed`` costs nothing)."""
        domain = self._domain(ref)
        return await self._read(domain, [])

    # -- the actions ----------------------------------------------------------------------
    def unsupported(self, action: Action) -> str:
        return (
            f"{_CANT.get(action, 'Gandi v5 does not offer that')}; a Gandi v5 transfer can be "
            "relaunched after a recoverable error, or have its approval e-mail resent."
        )

    def action_ref(self, ref: str) -> str:
        return self._domain(ref)

    def check_inputs(self, action: Action, inputs: Mapping[str, str]) -> None:
        if action is Action.RETRY:
            problem = AUTHINFO_INPUT.validate(inputs.get(AUTHINFO_INPUT.name) or None)
            if problem:
                raise self._invalid(problem)

    async def act(
        self, ref: str, before: Transfer, spec: ActionSpec, inputs: Mapping[str, str]
    ) -> ActionResult:
        if spec.action is Action.RESEND:
            return await self._resend(ref, before)
        return await self._relaunch(ref, before, inputs.get(AUTHINFO_INPUT.name) or None)

    async def _relaunch(self, domain: str, before: Transfer, authinfo: str | None) -> ActionResult:
        """Give the new authinfo first (if any); only once Gandi took it, relaunch. Each sent
        once: a failed authinfo leaves the transfer as it was, not relaunched blind."""
        secrets = [authinfo] if authinfo else []
        if authinfo:
            try:
                await self._send(
                    "PUT", domain, "authinfo", authinfo_body(authinfo), "give it the new authinfo"
                )
            except ProviderError as exc:
                exc.message = f"The transfer of {domain} was not relaunched: {exc.message}"
                exc.args = (exc.message,)
                raise self._scrubbed(exc, secrets) from None
        try:
            await self._send("PUT", domain, "", b"", "relaunch the transfer")
        except ProviderError as exc:
            if authinfo:
                exc.message = f"Gandi took the new authinfo for {domain}, but {exc.message}"
                exc.args = (exc.message,)
            raise self._scrubbed(exc, secrets) from None
        logger.info("%s: relaunched the transfer of %s", self.account.name, domain)
        with_what = " with the new authinfo" if authinfo else ""
        return ActionResult(
            action=Action.RETRY,
            message=(
                f"Gandi relaunched the transfer of {domain}{with_what}; it will be processed again."
            ),
            transfer=await self._read_after(domain, secrets),
        )

    async def _resend(self, domain: str, before: Transfer) -> ActionResult:
        """Resend the FOA e-mail to each address that has not answered, once each."""
        fresh = await self._follow_up(domain)
        pending = [foa.email for foa in foas_of(fresh.get("foa")) if not foa.answered]
        sent: list[str] = []
        for email in pending:
            try:
                await self._send("POST", domain, "foa", foa_body(email), "resend the FOA e-mail")
            except ProviderError as exc:
                if sent:
                    exc.message = (
                        f"Gandi resent the FOA e-mail to {', '.join(sent)}, but {exc.message}"
                    )
                    exc.args = (exc.message,)
                raise self._scrubbed(exc, []) from None
            sent.append(email)
        logger.info("%s: resent %d FOA e-mail(s) for %s", self.account.name, len(sent), domain)
        return ActionResult(
            action=Action.RESEND,
            message=(
                f"Gandi sent the approval (FOA) e-mail for {domain} again to {', '.join(sent)}."
                if sent
                else f"Every approval (FOA) e-mail for {domain} was answered; nothing was sent."
            ),
            transfer=await self._read_after(domain, []),
        )

    # -- parts ----------------------------------------------------------------------------
    async def _read(self, domain: str, secrets: list[str]) -> Transfer:
        payload = await self._follow_up(domain, secrets)
        return transfer_from_transferin(  # the token too: Gandi may echo it
            payload, account=self.account.name, domain=domain, secrets=self._secrets(secrets)
        )

    async def _follow_up(self, domain: str, secrets: list[str] | None = None) -> dict[str, object]:
        try:
            return await self._http.call(
                "GET",
                transfer_path(domain),
                idempotent=True,
                operation=OPERATIONS["info"],
                read=partial(self._read_follow_up, domain=domain, secrets=secrets or []),
            )
        except ProviderError as exc:
            raise self._scrubbed(exc, secrets or []) from None

    def _read_follow_up(
        self, response: httpx.Response, body: bytes, *, domain: str, secrets: list[str]
    ) -> dict[str, object]:
        if response.status_code != 200:
            raise read_error(
                response,
                body,
                who=self.who,
                account=self.account.name,
                domain=domain,
                secrets=self._secrets(secrets),
            )
        value = reply_json(
            response,
            body,
            what=f"The follow-up of {domain} from {self.who}",
            account=self.account.name,
        )
        if not isinstance(value, dict):
            raise BadReply(
                f"{self.who} sent a follow-up of {domain} that is not an object; "
                "nothing was changed.",
                account=self.account.name,
            )
        return value

    async def _send(self, method: str, domain: str, what: str, body: bytes, doing: str) -> None:
        """One action call, never retried; raises unless Gandi accepted it."""
        operation = OPERATIONS[what or "relaunch"]
        await self._http.call(
            method,
            transfer_path(domain, what),
            idempotent=False,
            operation=operation,
            read=partial(self._read_action, domain=domain, doing=doing, operation=operation),
            content=body,
            headers=_JSON,
        )

    def _read_action(
        self, response: httpx.Response, body: bytes, *, domain: str, doing: str, operation: str
    ) -> None:
        logger.info(
            "%s: %s of %s → HTTP %d", self.account.name, operation, domain, response.status_code
        )
        error = action_error(
            response,
            body,
            who=self.who,
            account=self.account.name,
            domain=domain,
            doing=doing,
            secrets=self._secrets([]),
        )
        if error is not None:
            raise error
        try:
            answer = confirmation(response, body)
        except BadReply:
            answer = None
        if body.strip() and answer is None:
            raise unknown_outcome(
                f"{self.who} answered {operation} for {domain} with something that is not its "
                "API's reply",
                account=self.account.name,
            )
        location = response.headers.get("location")
        if location:  # 202 + Location: the follow-up to read, which _read_after does
            logger.debug(
                "%s: %s of %s continues at %s", self.account.name, operation, domain, location[:200]
            )

    async def _read_after(self, domain: str, secrets: list[str]) -> Transfer | None:
        """The state right after an action; an error here does not undo the action."""
        try:
            return await self._read(domain, secrets)
        except ProviderError as exc:
            logger.info(
                "%s: could not read %s after the action: %s", self.account.name, domain, exc.kind
            )
            return None

    def _domain(self, ref: str) -> str:
        domain = normalize_domain(ref)
        if domain is None:
            raise invalid_ref(ref, who=self.who, account=self.account.name)
        return domain

    def _secrets(self, also: list[str]) -> list[str]:
        return [self.account.secret.get_secret_value(), *also]

    def _scrubbed(self, exc: ProviderError, also: list[str]) -> ProviderError:
        """The error with the token and any authinfo masked, and a 401 said in v5's words."""
        if isinstance(exc, AuthenticationFailed) and "(HTTP 401)" in exc.message:
            exc = token_expired(
                self.who, account=self.account.name, secret_env=self.account.secret_env
            )
        return scrub_error(exc, self._secrets(also))

    def _invalid(self, problem: str) -> ProviderError:
        return InvalidInput(problem, account=self.account.name)
