"""Gandi v5 REST simulator: transfers in moving BILL → WAIT → RUN → DONE (or ERROR) on a SimClock.

The wire follows https://api.gandi.net/docs/domains/ (transfer follow-up, relaunch, update
authinfo, resend FOA, check availability) and /docs/authentication/ (``Authorization:
Bearer <PAT>``). What the docs leave open, chosen here and said so:

- steps are those of Gandi's operations (v3's); ``step_nb`` counts the steps reached;
  ``inner_step`` is ``checking_foa_response`` while an FOA is unanswered (the docs' example);
- an FOA answer is ``null`` until answered, then ``"T"`` (the change-owner example's word);
- the relaunch answers 202 with a ``Location`` (the follow-up to read); the others 200;
- token replies: an unknown or expired token is a 401, a token of another organization or
  without the "Manage domain names" permission a 403, each a JSON error
  ``{"code", "message", "object", "cause"}`` whose message says which;
- ``Dry-Run: 1`` on a PUT or POST checks everything and changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Unpack
from urllib.parse import unquote

from providers.simulators.base import Scope, Simulator, SimulatorOptions
from providers.simulators.gandi_steps import Entry, Reached, first_run, reached, script_of

__all__ = ["ERROR_LABELS", "STORIES", "GandiV5Simulator", "SimFoa", "SimTransferIn"]

logger = logging.getLogger(__name__)

PREFIX = "/v5/domain/transferin/"

ERROR_LABELS: dict[str, str] = {
    "support_recoverable": "The registry refused the authorization code (authinfo).",
    "client_recoverable": "The transfer lacks its authorization code (authinfo).",
    "temporary": "The registry did not answer in time; Gandi will retry.",
    "fatal": "The domain is already in a Gandi account (duplicate).",
    "unknown": "An unexpected error happened; Gandi support has been told.",
}
STEP_NUMBERS = {"BILL": 1, "WAIT": 2, "RUN": 3, "DONE": 4, "ERROR": 3, "SUPPORT": 3, "CANCEL": 4}
RECOVERABLE = frozenset({"support_recoverable", "client_recoverable"})
FINISHED = frozenset({"DONE", "CANCEL"})

# story -> (script until the FOA is answered, script from the answer, FOA answered after s)
Story = tuple[list[Entry], list[Entry], float | None]
_RUN_DONE: list[Entry] = [(0, "RUN", None), (300, "DONE", None)]
STORIES: dict[str, Story] = {
    "completes": ([(0, "BILL", None), (5, "WAIT", None)], [*_RUN_DONE], 1800),
    "foa_pending": ([(0, "BILL", None), (5, "WAIT", None)], [*_RUN_DONE], None),
    "stays_waiting": ([(0, "BILL", None), (5, "WAIT", None)], [], None),
    "quick": ([(0, "BILL", None), (1, "RUN", None), (60, "DONE", None)], [], 0),
    "authorization_error": (
        [(0, "BILL", None), (5, "RUN", None), (90, "ERROR", "support_recoverable")], [], 0,
    ),
    "missing_authinfo": ([(0, "BILL", None), (5, "ERROR", "client_recoverable")], [], 0),
    "ratelimit": (
        [(0, "BILL", None), (5, "RUN", None), (30, "ERROR", "temporary"), (330, "RUN", None),
         (630, "DONE", None)], [], 0,
    ),
    "duplicate": ([(0, "BILL", None), (5, "RUN", None), (20, "ERROR", "fatal")], [], 0),
    "support": ([(0, "BILL", None), (5, "SUPPORT", None)], [], 0),
    "unknown_error": ([(0, "BILL", None), (5, "ERROR", "unknown")], [], 0),
    "cancelled": ([(0, "BILL", None), (5, "WAIT", None), (60, "CANCEL", None)], [], None),
}  # fmt: skip
TOKEN_PROBLEMS = {
    "expired": (401, "The access token is expired."),
    "other_org": (403, "This transfer belongs to another organization than the token's."),
    "no_permission": (403, "The token lacks the permission to manage domain names."),
}


@dataclass
class SimFoa:
    email: str
    answer_at: datetime | None = None  # when it is answered (None: not yet)
    sent: int = 1

    def answered(self, now: datetime) -> bool:
        return self.answer_at is not None and self.answer_at <= now


@dataclass
class SimTransferIn:
    """One transfer in: a script from ``anchor``, then (once every FOA is answered) another."""

    domain: str
    created: datetime
    anchor: datetime
    script: list[Entry]
    after_foa: list[Entry]
    foas: list[SimFoa]
    authinfo: str | None
    right_authinfo: str | None
    answer_after_resend: float | None
    duration: int = 1
    started: datetime | None = None
    history: list[str] = field(default_factory=list)

    def current(self, now: datetime) -> Reached:
        """(when it got there, step, errortype) at ``now``."""
        at, step, error = self._at(now)
        if (
            self.after_foa
            and step == "WAIT"
            and self.foas
            and all(f.answered(now) for f in self.foas)
        ):
            answered = max(f.answer_at for f in self.foas if f.answer_at is not None)
            self.anchor, self.script, self.after_foa = max(answered, at), self.after_foa, []
            at, step, error = self._at(now)
        return at, step, error

    def _at(self, now: datetime) -> Reached:
        steps = reached(self.script, self.anchor, now)
        self.started = self.started or first_run(steps)
        return steps[-1]

    def restart(self, now: datetime, script: list[Entry]) -> None:
        self.anchor, self.script, self.after_foa = now, script, []


class _Reply(Exception):
    def __init__(self, status: int, message: str, *, errors: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


class GandiV5Simulator(Simulator):
    """Speaks the v5 transfer-in routes under ``/v5/domain/transferin/``.

    Extra keyword arguments: ``tokens`` ({token: "expired" | "other_org" | "no_permission"},
    tokens that reach Gandi but are refused in each way), ``owner_email`` (where FOAs go).
    """

    name = "gandi_v5"
    content_type = "application/json"

    def __init__(
        self,
        *,
        tokens: dict[str, str] | None = None,
        owner_email: str = "owner@example.org",
        **common: Unpack[SimulatorOptions],
    ) -> None:
        super().__init__(**common)
        self.tokens = dict(tokens or {})
        self.owner_email = owner_email
        self.transfers: dict[str, SimTransferIn] = {}

    # -- adding transfers ---------------------------------------------------------------------
    def add_transfer(
        self,
        domain: str,
        *,
        story: str = "completes",
        script: Sequence[Sequence[Any]] | None = None,
        authinfo: str | None = "Auth-Code-1234",
        right_authinfo: str | None = None,
        foa_emails: Sequence[str] | None = None,
        answer_after_resend: float | None = 120.0,
        age: float = 0.0,
    ) -> str:
        """Add a transfer in and return its ref (the domain).

        Args:
            story: a name from STORIES, unless ``script`` gives ``(seconds, step[, errortype])``s.
            authinfo: the code it was started with; ``right_authinfo`` is the one the registry
                accepts (default: the same).
            foa_emails: where the FOA e-mails went (default: ``owner_email``).
            answer_after_resend: seconds after a resend when the owner answers (None: never).
            age: seconds since creation, so it starts part-way through its story.
        """
        answered_after: float | None
        if script:
            before, after, answered_after = script_of(script), [], 0.0
        else:
            planned = STORIES[story]
            before, after, answered_after = list(planned[0]), list(planned[1]), planned[2]
        domain = domain.strip().lower()
        if not domain or "/" in domain:
            raise ValueError("a transfer needs a domain")
        created = self.clock.now() - timedelta(seconds=age)
        answer_at = None if answered_after is None else created + timedelta(seconds=answered_after)
        emails = list(foa_emails or [self.owner_email])
        self.transfers[domain] = SimTransferIn(
            domain=domain,
            created=created,
            anchor=created,
            script=list(before),
            after_foa=list(after),
            foas=[SimFoa(email, answer_at) for email in emails],
            authinfo=authinfo,
            right_authinfo=right_authinfo or authinfo,
            answer_after_resend=answer_after_resend,
        )
        return domain

    def seed(self, spec: dict[str, Any]) -> dict[str, Any]:
        """``{"transfers": [{"domain": ..., "story": ..., ...}]}`` or one such dict."""
        items = spec.get("transfers", [spec])
        return {"refs": [self.add_transfer(**item) for item in items]}

    def populate_sample(self) -> list[str]:
        """A realistic mix: waiting for the FOA, moving, blocked on the authinfo, done, failed."""
        return [
            self.add_transfer("waiting-foa-example.com", story="foa_pending", age=3600),
            self.add_transfer("moving-example.net", story="completes", age=60),
            self.add_transfer(
                "refused-code-example.org",
                story="authorization_error",
                age=200,
                authinfo="Old-Code-1111",
                right_authinfo="New-Code-2222",
            ),
            self.add_transfer("done-example.io", story="quick", age=600),
            self.add_transfer("twice-example.com", story="duplicate", age=300),
        ]

    # -- the wire -------------------------------------------------------------------------------
    def operation_of(self, method: str, path: str, query: str, body: bytes) -> str:
        domain, what = _route(path)
        if domain is None:
            return "unknown"
        names = {
            ("GET", ""): "transferin.info",
            ("PUT", ""): "transferin.relaunch",
            ("PUT", "authinfo"): "transferin.authinfo",
            ("POST", "foa"): "transferin.foa",
            ("POST", "available"): "transferin.available",
        }
        return names.get((method, what), "unknown")

    async def handle(self, scope: Scope, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        method, path = scope.get("method", "GET"), scope.get("path", "")
        try:
            self._authenticate(headers.get("authorization", ""))
            operation = self.operation_of(method, path, "", body)
            if operation == "unknown":
                raise _Reply(404, "The resource could not be found.")
            domain, _ = _route(path)
            assert domain is not None
            if method in ("PUT", "POST") and "json" not in headers.get("content-type", ""):
                raise _Reply(415, "Content-Type must be application/json.")
            dry_run = headers.get("dry-run", "").strip() == "1"
            status, payload, extra = self._dispatch(operation, domain, _body(body), dry_run)
        except _Reply as reply:
            return _error(reply)
        return status, {"content-type": "application/json", **extra}, json.dumps(payload).encode()

    def _authenticate(self, header: str) -> None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Reply(401, "A Personal Access Token is required (Authorization: Bearer).")
        token = token.strip()
        if token == self.secret:
            return
        problem = TOKEN_PROBLEMS.get(self.tokens.get(token, ""))
        if problem is None:
            raise _Reply(401, "The access token is invalid.")
        raise _Reply(*problem)

    def _dispatch(
        self, operation: str, domain: str, body: dict[str, Any], dry_run: bool
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if operation == "transferin.available":
            return 200, self._available(domain), {}
        transfer = self.transfers.get(domain)
        if transfer is None:
            raise _Reply(404, f"There is no transfer of {domain}.")
        now = self.clock.now()
        if operation == "transferin.info":
            return 200, self._view(transfer, now), {}
        if operation == "transferin.authinfo":
            return self._authinfo(transfer, body, now, dry_run)
        if operation == "transferin.foa":
            return self._foa(transfer, body, now, dry_run)
        return self._relaunch(transfer, now, dry_run)

    def _authinfo(
        self, transfer: SimTransferIn, body: dict[str, Any], now: datetime, dry_run: bool
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        code = _required(body, "authinfo")
        _, step, _ = transfer.current(now)
        if step in FINISHED:
            raise _Reply(409, f"The transfer of {transfer.domain} is no longer pending.")
        if not dry_run:
            transfer.authinfo = code
            transfer.history.append("authinfo")
        return 200, {"message": "The authinfo code was updated."}, {}

    def _foa(
        self, transfer: SimTransferIn, body: dict[str, Any], now: datetime, dry_run: bool
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        email = _required(body, "email")
        foa = next((f for f in transfer.foas if f.email.lower() == email.strip().lower()), None)
        if foa is None:
            raise _invalid_body("email", "No FOA e-mail went to this address.")
        _, step, _ = transfer.current(now)
        if step not in ("WAIT", "ERROR") or foa.answered(now):
            raise _Reply(409, f"The FOA e-mail of {transfer.domain} can not be sent again now.")
        if not dry_run:
            foa.sent += 1
            transfer.history.append(f"foa:{foa.email}")
            if transfer.answer_after_resend is not None:
                foa.answer_at = now + timedelta(seconds=transfer.answer_after_resend)
        return 200, {"message": "The FOA e-mail was sent again."}, {}

    def _relaunch(
        self, transfer: SimTransferIn, now: datetime, dry_run: bool
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        _, step, error = transfer.current(now)
        if step != "ERROR" or error not in RECOVERABLE:
            raise _Reply(
                409, f"The transfer of {transfer.domain} can not be relaunched in step {step}."
            )
        location = {"location": f"{PREFIX}{transfer.domain}"}
        if dry_run:
            return 200, {"status": "success"}, {}
        transfer.history.append("relaunch")
        if not transfer.authinfo:
            script: list[Entry] = [(0, "RUN", None), (20, "ERROR", "client_recoverable")]
        elif transfer.right_authinfo and transfer.authinfo != transfer.right_authinfo:
            script = [(0, "RUN", None), (20, "ERROR", "support_recoverable")]
        else:
            script = [(0, "RUN", None), (300, "DONE", None)]
        transfer.restart(now, script)
        return 202, {"message": "The transfer is being relaunched."}, location

    def _available(self, domain: str) -> dict[str, Any]:
        transfer = self.transfers.get(domain)
        busy = transfer is not None and transfer.current(self.clock.now())[1] not in FINISHED
        reply: dict[str, Any] = {
            "available": not busy,
            "fqdn": domain,
            "fqdn_alabel": domain,
            "fqdn_ulabel": domain,
            "corporate": False,
            "internal": False,
            "durations": list(range(1, 11)),
            "minimum_duration": 1,
            "maximum_duration": 10,
        }
        if busy:
            reply["msg"] = "A transfer of this domain is already in progress."
        return reply

    def _view(self, transfer: SimTransferIn, now: datetime) -> dict[str, Any]:
        updated, step, error = transfer.current(now)
        view: dict[str, Any] = {
            "created_at": _iso(transfer.created),
            "updated_at": _iso(updated),
            "owner_contact": "Alice Doe",
            "params": {
                "domain": transfer.domain,
                "duration": transfer.duration,
                "tld": transfer.domain.rsplit(".", 1)[-1],
                "version": 1,
            },
            "step": step,
            "step_nb": STEP_NUMBERS.get(step, 0),
            "foa": [
                {"email": f.email, "answer": "T" if f.answered(now) else None}
                for f in transfer.foas
            ],
            "transfer_procedure": "standard",
        }
        if transfer.started:
            view["start_at"] = _iso(transfer.started)
        if step == "WAIT" and any(not f.answered(now) for f in transfer.foas):
            view["inner_step"] = "checking_foa_response"
        if step == "ERROR" and error:
            view["errortype"] = error
            view["errortype_label"] = ERROR_LABELS.get(error, ERROR_LABELS["unknown"])
        return view


def _route(path: str) -> tuple[str | None, str]:
    """(domain, what after it) of a transfer-in path; (None, "") for any other."""
    if not path.startswith(PREFIX):
        return None, ""
    parts = path[len(PREFIX) :].split("/")
    if not parts[0] or len(parts) > 2:
        return None, ""
    return unquote(parts[0]).lower(), parts[1] if len(parts) == 2 else ""


def _body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _Reply(400, "The body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise _Reply(400, "The body must be a JSON object.")
    return value


def _required(body: dict[str, Any], name: str) -> str:
    """The body's non-empty string ``name``, or the 400 Gandi answers without it."""
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _invalid_body(name, "Missing data for required field.")
    return value


def _invalid_body(name: str, description: str) -> _Reply:
    """A refused body: ``{"status": "error", "errors": [{"location", "name", "description"}]}``."""
    field = {"location": "body", "name": name, "description": description}
    return _Reply(400, "Invalid body.", errors=[field])


def _error(reply: _Reply) -> tuple[int, dict[str, str], bytes]:
    if reply.errors is not None:
        payload: dict[str, Any] = {"status": "error", "errors": reply.errors}
    else:
        causes = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                  409: "Conflict", 415: "Unsupported Media Type"}  # fmt: skip
        cause = causes.get(reply.status, "Error")
        payload = {
            "code": reply.status,
            "message": reply.message,
            "object": f"HTTP{cause.replace(' ', '')}",
            "cause": cause,
        }
    return reply.status, {"content-type": "application/json"}, json.dumps(payload).encode()


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
