"""A Hostway REST simulator: domain transfers that move through seed 002's status codes."""

from __future__ import annotations

import base64
import binascii
import hmac
import itertools
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Unpack

from providers.simulators.base import Scope, Simulator, SimulatorOptions

__all__ = ["SCRIPTS", "HostwaySimulator", "SimTransfer"]

logger = logging.getLogger(__name__)

# Hostway's own table (seed 002): code -> (description, can be reset). Kept apart from the
# client's copy on purpose: the simulator is a second, independent reading of the seed.
_TABLE: dict[int, tuple[str, bool]] = {
    0: ("Transfer request created - awaiting fax", False),
    1: ("WhoIs information matches", False),
    2: ("Canceled due to WhoIs error", True),
    3: ("Pending due to domain status", False),
    4: ("Canceled due to domain status", True),
    5: ("Transferred and paid successfully", False),
    6: ("Transfer incomplete charge problem", True),
    7: ("Frozen due to charge problem", False),
    8: ("NSI rejected transfer", True),
    9: ("Awaiting auto verification of transfer request", False),
    10: ("Unable to retrieve current domain contacts from UWhois", True),
    11: ("Auto verification of transfer request initiated", False),
    12: ("Awaiting for auto transfer string validation", False),
    13: ("Domain awaiting transfer initiation", False),
    14: ("Domain transfer initiated and awaiting approval", False),
    15: ("Canceled - cannot obtain domain contacts from UWhois", True),
    16: ("Canceled - domain contacts did not response to verification e-mails", True),
    17: ("Canceled - domain contacts did not approve transfer of domain", True),
    18: ("Canceled - domain validation string is invalid", False),
    19: ("Canceled - Whois information provided does not match current registrant", False),
    20: ("Canceled - Domain is currently not registered and cannot be transferred", False),
    21: ("Canceled - Domain already registered in account & cannot be transferred", False),
    22: ("Canceled - Domain is locked at current registrar", True),
    23: ("Canceled - Transfer already initiated for this domain", True),
    24: ("Canceled - Unable to transfer due to unknown error", True),
    25: ("Canceled - Transfer rejected by losing registrar", True),
    26: ("Canceled - Transfer authorization fax not received", True),
    27: ("Canceled by customer", True),
    28: ("Fax received - awaiting registrant verification", False),
    29: ("Awaiting manual fax verification", False),
    30: ("Canceled - Domain name is invalid or is Invalid for Transfers", False),
    31: ("Canceled - Domain is currently undergoing transfer by another Registrar", True),
    32: (
        "Canceled - Invalid EPP/authorization key - Please contact current registrar to "
        "obtain correct key",
        True,
    ),
    33: ("Canceled - Cannot transfer domain from name-only account", False),
    34: ("Unable to complete transfer. Transfers must include a change in registrar.", False),
    35: ("Transfer request not yet submitted", False),
    36: ("Canceled - Account is not authorized to perform domain transfers", False),
    37: ("Canceled - Domain was not retagged or not retagged in time by losing registrar", True),
    45: ("Order cancelled", True),
}

Script = tuple[tuple[float, int], ...]  # (seconds after the script starts, status code)

_MIN, _HOUR, _DAY = 60.0, 3600.0, 86400.0
_START: Script = ((0, 0), (5 * _MIN, 9), (15 * _MIN, 11), (30 * _MIN, 13), (_HOUR, 14))
_BLOCKED_FOR = 60 * _DAY  # "a domain transfer will block for up to 60 days" (seed 003)

SCRIPTS: dict[str, Script] = {
    "moving": (*_START, (5 * _DAY, 5)),
    "locked": (*_START[:4], (_HOUR, 22), (_HOUR + _BLOCKED_FOR, 45)),
    "bad_auth": (*_START[:4], (_HOUR, 32), (_HOUR + _BLOCKED_FOR, 45)),
    "fails": (*_START[:3], (30 * _MIN, 19)),
    "frozen": (*_START[:3], (30 * _MIN, 7)),
    "after_reset": ((0, 13), (5 * _MIN, 14), (2 * _DAY, 5)),
    "after_bad_reset": ((0, 13), (15 * _MIN, 32), (15 * _MIN + _BLOCKED_FOR, 45)),
}

_PATH = re.compile(r"^/accounts/(?P<account>[^/]+)/domains/transfers/(?P<domain>[^/]+)/?$")
_HOSTWAY_TZ = timezone(timedelta(hours=-5))  # the seed's dates carry -05:00
_JSON = {"content-type": "application/json; charset=UTF-8"}
_COMPLETED = 5


@dataclass
class SimTransfer:
    """One transfer order: its script from ``started`` and the history played so far."""

    domain: str
    account_number: str
    script: Script
    started: datetime
    auth_info: str
    correct_auth_info: str | None = None
    email: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    played: int = 0  # how many script steps are in the history

    @property
    def code(self) -> int:
        return int(self.history[-1]["status"])


class HostwaySimulator(Simulator):
    """Hostway's transfer status (GET) and reset (PUT) endpoints over one clock.

    Auth: ``auth_scheme="bearer"`` wants ``Authorization: Bearer <secret>``, ``"basic"``
    wants basic auth with ``username`` (when given) and ``secret``; None accepts either.
    Transfers belong to an account number (``account_number`` by default); asking under
    another one answers 403, as Hostway does.
    """

    name = "hostway"

    def __init__(
        self,
        *,
        account_number: str = "acct12345",
        auth_scheme: str | None = None,
        **common: Unpack[SimulatorOptions],
    ) -> None:
        super().__init__(**common)
        if auth_scheme not in (None, "bearer", "basic"):
            raise ValueError("auth_scheme must be 'bearer', 'basic' or None")
        self.account_number = account_number
        self.auth_scheme = auth_scheme
        self.transfers: dict[str, SimTransfer] = {}

    # -- adding transfers ---------------------------------------------------------------
    def add_transfer(
        self,
        domain: str,
        *,
        script: str | Sequence[tuple[float, int]] = "moving",
        age: float = 0.0,
        account_number: str | None = None,
        auth_info: str = "Start-EPP-01",
        correct_auth_info: str | None = None,
        email: str | None = None,
    ) -> str:
        """Add (or replace) the transfer order of ``domain``; return its ref (the domain).

        Args:
            script: a name from ``SCRIPTS`` or ``(seconds, code)`` steps starting at 0.
            age: seconds since the order was created (steps already due are in its history).
            account_number: the Hostway account it belongs to (default: the simulator's).
            auth_info: the authInfo the order was placed with (GET replies show it).
            correct_auth_info: when set, a reset works only once this authInfo is in use;
                otherwise the transfer blocks again on 32 a while after the reset.
            email: where the FOA e-mail went (``emailAddress``).
        """
        steps = _script(script)
        key = domain.strip().lower()
        transfer = SimTransfer(
            domain=key,
            account_number=account_number or self.account_number,
            script=steps,
            started=self.clock.now() - timedelta(seconds=age),
            auth_info=auth_info,
            correct_auth_info=correct_auth_info,
            email=email if email is not None else f"hostmaster@{key}",
        )
        self.transfers[key] = transfer
        self._catch_up(transfer)
        return key

    def status_of(self, domain: str) -> int:
        """The current status code of a transfer, as a GET would show it now."""
        transfer = self.transfers[domain.strip().lower()]
        self._catch_up(transfer)
        return transfer.code

    def populate_sample(self) -> list[str]:
        """A realistic mix: three moving, two blocked (locked, bad authInfo), one done, one failed.

        ``wrong-epp.example`` completes after a reset with the authInfo ``Right-EPP-42``.
        """
        return [
            self.add_transfer("new-order.example", script="moving"),
            self.add_transfer("verifying.example", script="moving", age=20 * _MIN),
            self.add_transfer("awaiting-approval.example", script="moving", age=3 * _HOUR),
            self.add_transfer("locked-at-registrar.example", script="locked", age=2 * _HOUR),
            self.add_transfer(
                "wrong-epp.example",
                script="bad_auth",
                age=2 * _HOUR,
                correct_auth_info="Right-EPP-42",
            ),
            self.add_transfer("finished.example", script="moving", age=6 * _DAY),
            self.add_transfer("whois-mismatch.example", script="fails", age=_HOUR),
        ]

    def seed(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Add transfers from JSON: ``{"sample": true}``, ``{"transfers": [...]}`` or one.

        Each transfer is ``{"domain": ..., "script": "moving" | [[s, code], ...], "age": s,
        "account_number": ..., "auth_info": ..., "correct_auth_info": ..., "email": ...}``.
        """
        if spec.get("sample"):
            return {"refs": self.populate_sample()}
        items = spec.get("transfers", [spec])
        refs = []
        for item in items:
            options = {
                k: item[k]
                for k in ("account_number", "auth_info", "correct_auth_info", "email")
                if k in item
            }
            refs.append(
                self.add_transfer(
                    str(item["domain"]),
                    script=item.get("script", "moving"),
                    age=float(item.get("age", 0)),
                    **options,
                )
            )
        return {"refs": refs}

    # -- the wire protocol ----------------------------------------------------------------
    def operation_of(self, method: str, path: str, query: str, body: bytes) -> str:
        if _PATH.match(path):
            return {"GET": "get_transfer_status", "PUT": "reset_transfer"}.get(method, "unknown")
        return "unknown"

    async def handle(self, scope: Scope, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if not self._authorized(scope):
            return _answer(401, "Authorization required.", {"www-authenticate": "Bearer"})
        match = _PATH.match(scope.get("path", ""))
        if match is None:
            return _answer(404, "Resource not found.")
        method = scope["method"]
        if method not in ("GET", "PUT"):
            return _answer(405, "Method not allowed.", {"allow": "GET, PUT"})
        new_auth_info: str | None = None
        if method == "PUT":
            try:
                new_auth_info = _reset_auth_info(body)
            except ValueError:  # the doc answers a bad parameter with "404 Bad Request"
                return _answer(
                    404,
                    "One of the required parameters accountNumber, domainName "
                    "or authInfo was missing or invalid.",
                )
        transfer = self.transfers.get(match["domain"].lower())
        if transfer is None:
            return _answer(404, "No transfer order found for this domain and account number.")
        if transfer.account_number != match["account"]:
            return _answer(403, "This customer is not authorized to view the transfer.")
        self._catch_up(transfer)
        if method == "GET":
            reply = {"status": transfer.history[-1], "history": transfer.history}
            return 200, dict(_JSON), json.dumps(reply).encode()
        return self._reset(transfer, new_auth_info)

    def _reset(
        self, transfer: SimTransfer, new_auth_info: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        if transfer.code == _COMPLETED:
            return _answer(404, "No pending transfer order found for this domain.")
        if not _TABLE.get(transfer.code, ("", False))[1]:
            return _answer(
                409, "Domain transfer is pending but is not in a state that can be reset."
            )
        if new_auth_info:
            transfer.auth_info = new_auth_info
        right = transfer.correct_auth_info in (None, transfer.auth_info)
        transfer.script = SCRIPTS["after_reset" if right else "after_bad_reset"]
        transfer.started = self.clock.now()
        transfer.played = 0
        self._catch_up(transfer)
        logger.debug(
            "hostway sim: reset %s (%s authInfo)", transfer.domain, "right" if right else "wrong"
        )
        return 202, {}, b""

    def _catch_up(self, transfer: SimTransfer) -> None:
        """Play every script step that is due by the clock's now into the history."""
        now = self.clock.now()
        while transfer.played < len(transfer.script):
            offset, code = transfer.script[transfer.played]
            when = transfer.started + timedelta(seconds=offset)
            if when > now:
                break
            transfer.history.append(self._entry(transfer, code, when))
            transfer.played += 1

    def _entry(self, transfer: SimTransfer, code: int, when: datetime) -> dict[str, Any]:
        description, can_be_reset = _TABLE[code]
        entry: dict[str, Any] = {
            "status": code,
            "description": description,
            "statusChangeDate": when.astimezone(_HOSTWAY_TZ).isoformat(timespec="seconds"),
            "authInfo": transfer.auth_info,
            "canBeReset": can_be_reset,
        }
        if transfer.email and code in (14, 16, 17, 5):
            entry["emailAddress"] = transfer.email
        return entry

    def _authorized(self, scope: Scope) -> bool:
        header = _header(scope, b"authorization")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and self.auth_scheme in (None, "bearer"):
            return hmac.compare_digest(value.strip().encode(), self.secret.encode())
        if scheme.lower() == "basic" and self.auth_scheme in (None, "basic"):
            try:
                user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            user_ok = self.username is None or hmac.compare_digest(user, self.username)
            return user_ok and hmac.compare_digest(password.encode(), self.secret.encode())
        return False


def _script(script: str | Sequence[tuple[float, int]]) -> Script:
    if isinstance(script, str):
        if script not in SCRIPTS:
            raise ValueError(f"unknown script {script!r}; choose from {sorted(SCRIPTS)}")
        return SCRIPTS[script]
    steps = tuple((float(offset), int(code)) for offset, code in script)
    if not steps or steps[0][0] != 0:
        raise ValueError("a script starts with a step at 0 seconds")
    if any(b[0] < a[0] for a, b in itertools.pairwise(steps)):
        raise ValueError("a script's steps must be in time order")
    unknown = sorted({code for _, code in steps} - set(_TABLE))
    if unknown:
        raise ValueError(f"status codes {unknown} are not in Hostway's table")
    return steps


def _reset_auth_info(body: bytes) -> str | None:
    """The new authInfo of a PUT body (None: keep the old); ValueError when invalid."""
    if not body.strip():
        return None
    payload = json.loads(body)  # the seed's single-quoted example is not JSON: refused
    if not isinstance(payload, dict):
        raise ValueError("the body is not a JSON object")
    value = payload.get("authInfo")
    if value is None:
        return None
    if not isinstance(value, str) or not 6 <= len(value) <= 16:
        raise ValueError("authInfo must be a string of 6 to 16 characters")
    return value


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def _answer(
    status: int, message: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    return status, {**_JSON, **(headers or {})}, json.dumps({"message": message}).encode()
