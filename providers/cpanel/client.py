"""The cPanel WHM client: Transfer Tool sessions over WHM API 1, watched by session id."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx

from providers._common import ascii_digits, scrub_error
from providers.base import (
    Action,
    ActionResult,
    ActionSpec,
    HistoryEntry,
    Phase,
    ProviderClient,
    Transfer,
)
from providers.cpanel.parse import (
    SessionContents,
    build_transfer,
    parse_contents,
    parse_log,
    subject_of,
)
from providers.cpanel.statuses import ACTION_FUNCTIONS, CAPABILITIES
from providers.cpanel.wire import (
    SESSION_ID,
    build_request,
    error_for_reason,
    is_web_page,
    read_envelope,
    read_state,
)
from providers.errors import (
    AuthenticationFailed,
    BadReply,
    InvalidInput,
    ProviderError,
    Unsupported,
)
from providers.http import ProviderHTTP, unknown_outcome

if TYPE_CHECKING:
    from providers.settings import ProviderAccount

__all__ = ["CpanelProvider"]

logger = logging.getLogger(__name__)

_UNSUPPORTED = {
    Action.RETRY: "cPanel transfer sessions can't be retried; a stuck session can be "
    "resumed instead, which starts it again.",
    Action.RESEND: "cPanel transfer sessions have no approval e-mail to resend.",
}
_MAX_SUBJECTS = 10_000  # subjects remembered from detailed reads


class CpanelProvider(ProviderClient):
    """One WHM server's Transfer Tool sessions.

    Authenticates with a WHM API token (``Authorization: whm <user>:<token>``; the user
    defaults to ``root``). WHM cannot list sessions, so each one is watched by its id.
    """

    capabilities = CAPABILITIES

    def __init__(
        self, account: ProviderAccount, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.account = account
        user = account.username or "root"
        token = account.secret.get_secret_value()
        self._http = ProviderHTTP(
            account,
            transport=transport,
            headers={"Authorization": f"whm {user}:{token}", "Accept": "application/json"},
        )
        self._who = self._http.who
        self._subjects: dict[str, str] = {}

    # -- reads -----------------------------------------------------------------------------
    async def get_transfer(self, ref: str, *, detailed: bool = False) -> Transfer:
        session_id = self._session_id(ref)
        if not detailed:
            raw_state = await self._read_state(session_id)
            return self._snapshot(session_id, raw_state)
        state, log, analysis = await asyncio.gather(
            self._read_state(session_id),
            self._best_effort("fetch_transfer_session_log", session_id, logfile="master.log"),
            self._best_effort("retrieve_transfer_session_remote_analysis", session_id),
            return_exceptions=True,
        )
        if isinstance(state, BaseException):
            raise state
        notes: dict[str, str] = {}
        history: tuple[HistoryEntry, ...] = ()
        if isinstance(log, ProviderError):
            notes["history"] = f"The session log could not be read: {log.message}"
        elif isinstance(log, dict):
            history = parse_log(str(log.get("log") or ""))
        contents: SessionContents | None = None
        if isinstance(analysis, ProviderError):
            notes["accounts"] = f"What the session moves could not be read: {analysis.message}"
        elif isinstance(analysis, dict):
            contents = parse_contents(analysis)
            self._remember_subject(session_id, contents)
        return self._snapshot(session_id, state, history=history, contents=contents, notes=notes)

    async def list_transfers(self) -> Sequence[Transfer]:
        raise Unsupported(
            "cPanel WHM can't list transfer sessions; watch each one by its session id.",
            account=self.account.name,
        )

    # -- actions ---------------------------------------------------------------------------
    def unsupported(self, action: Action) -> str:
        return _UNSUPPORTED.get(action, f"cPanel transfer sessions can't be {action.value}d.")

    def action_ref(self, ref: str) -> str:
        return self._session_id(ref)

    def check_inputs(self, action: Action, inputs: Mapping[str, str]) -> None:
        given = sorted(name for name, value in inputs.items() if value)
        if given:
            raise InvalidInput(
                f"cPanel transfer session actions take no inputs (got: {', '.join(given)}).",
                account=self.account.name,
            )

    async def act(
        self, ref: str, before: Transfer, spec: ActionSpec, inputs: Mapping[str, str]
    ) -> ActionResult:
        data = await self._call(ACTION_FUNCTIONS[spec.action], ref, idempotent=False)
        after = await self._peek(ref)
        return ActionResult(
            spec.action, self._outcome(ref, spec.action, data, after), transfer=after
        )

    def _outcome(
        self, session_id: str, action: Action, data: Mapping[str, Any], after: Transfer | None
    ) -> str:
        where = f"transfer session {session_id} on {self._who}"
        if action is not Action.RESUME and after is not None and after.phase is Phase.FAILED:
            return (
                f"WHM accepted the {action.value}, but the session's worker had died, "
                f"so {where} is now marked FAILED."
            )
        if action is Action.PAUSE:
            return f"Pausing {where}; it stops once the items in progress finish."
        if action is Action.CANCEL:
            return f"Aborting {where}; it stops once the items in progress finish."
        pid = data.get("pid")
        worker = (
            f" (worker pid {pid})" if isinstance(pid, int | str) and ascii_digits(str(pid)) else ""
        )
        return f"Started {where}{worker}."

    async def _peek(self, session_id: str) -> Transfer | None:
        """The state right after an action, if WHM tells us; the action stands either way."""
        try:
            return await self.get_transfer(session_id)
        except ProviderError as exc:
            logger.info("could not read %s after an action: %s", session_id, exc.kind)
            return None

    # -- calls -----------------------------------------------------------------------------
    def _session_id(self, ref: str) -> str:
        session_id = ref.strip() if isinstance(ref, str) else ""
        if not SESSION_ID.match(session_id):
            raise InvalidInput(
                "That is not a cPanel transfer session id; they look like "
                "exampleservercopya20140206192428NtyW.",
                account=self.account.name,
            )
        return session_id

    def _snapshot(self, session_id: str, raw_state: str, **known: Any) -> Transfer:
        return build_transfer(
            account=self.account.name,
            ref=session_id,
            raw_state=raw_state,
            subject=self._subjects.get(session_id),
            **known,
        )

    def _remember_subject(self, session_id: str, contents: SessionContents) -> None:
        subject = subject_of(contents)
        if subject is None:
            return
        if len(self._subjects) >= _MAX_SUBJECTS:
            self._subjects.pop(next(iter(self._subjects)))
        self._subjects[session_id] = subject

    async def _read_state(self, session_id: str) -> str:
        data = await self._call("get_transfer_session_state", session_id, idempotent=True)
        return read_state(data, who=self._who, account=self.account.name)

    async def _best_effort(self, function: str, session_id: str, **params: str) -> object:
        """A read that adds to the card; its failure is returned, not raised."""
        try:
            return await self._call(function, session_id, idempotent=True, **params)
        except ProviderError as exc:
            logger.info("%s for %s failed: %s", function, session_id, exc.kind)
            return exc

    async def _call(
        self, function: str, session_id: str, *, idempotent: bool, **params: str
    ) -> dict[str, Any]:
        url, query = build_request(function, session_id, **params)
        read = partial(
            self._read_reply, function=function, session_id=session_id, idempotent=idempotent
        )
        try:
            return await self._http.call(
                "GET", url, params=query, idempotent=idempotent, operation=function, read=read
            )
        except ProviderError as exc:
            # WHM may echo what we sent, our token included
            raise scrub_error(exc, [self.account.secret.get_secret_value()]) from None

    def _read_reply(
        self,
        response: httpx.Response,
        body: bytes,
        *,
        function: str,
        session_id: str,
        idempotent: bool,
    ) -> dict[str, Any]:
        """The data of a WHM reply, or the error it means (retried by ProviderHTTP for reads)."""
        name = self.account.name
        status = response.status_code
        if status == 403:
            raise AuthenticationFailed(
                f"{self._who} refused our credentials (HTTP 403); "
                "check the WHM user name and API token.",
                account=name,
            )
        if status != 200:
            raise BadReply(
                f"{self._who} answered {function} with HTTP {status}; "
                "check the account's base URL.",
                account=name,
            )
        try:
            ok, reason, data = read_envelope(
                body,
                content_type=response.headers.get("content-type", ""),
                who=self._who,
                account=name,
                function=function,
            )
        except BadReply:
            if idempotent or is_web_page(body, response.headers.get("content-type", "")):
                raise  # a login or proxy page means WHM never saw the call
            raise unknown_outcome(
                f"{self._who} sent a reply to {function} we could not understand", account=name
            ) from None
        if not ok:
            raise error_for_reason(
                reason, who=self._who, account=name, function=function, session_id=session_id
            )
        return data
