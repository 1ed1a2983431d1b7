"""The cPanel WHM simulator's wire: WHM API 1 Transfer Tool functions, auth and envelopes."""

from __future__ import annotations

import hmac
import json
import logging
import random
import re
import string
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Unpack
from urllib.parse import parse_qsl

from providers.simulators.base import Scope, Simulator, SimulatorOptions
from providers.simulators.cpanel.sessions import (
    START_DELAY,
    Outcome,
    SimAccount,
    SimSession,
    script_to,
)

__all__ = ["CpanelSimulator"]

logger = logging.getLogger(__name__)

_NUMBERS = {
    "PENDING": 0,
    "REACHEDMAXMEM": 10,
    "RUNNING": 20,
    "PAUSING": 50,
    "ABORTING": 60,
    "PAUSED": 70,
    "COMPLETED": 100,
    "ABORTED": 150,
    "FAILED": 200,
}
_FUNCTION = re.compile(r"^(?:/cpsess\d+)?/json-api/([A-Za-z0-9_]+)$")
_SEED_KEYS = frozenset(
    {"state", "accounts", "script", "remote_host", "dies_after", "failure", "session_id", "ago"}
)
_FORBIDDEN = b"<html><head><title>403 Forbidden</title></head><body>Access denied</body></html>"

Function = Callable[[SimSession, datetime, Mapping[str, str]], Outcome]


class CpanelSimulator(Simulator):
    """WHM API 1 Transfer Tool functions on ``/json-api/<function>`` (GET, or POST a form).

    Auth is ``Authorization: whm <username>:<secret>``; anything else gets HTTP 403 with an
    HTML page. Failures are ``metadata.result: 0`` with a ``reason``; an unknown session id
    says ``The transfer session “<id>” does not exist.`` Sessions follow cPanel's transition
    rules and quirks (see ``sessions``). ``state_numbers=True`` answers states with the
    numbers cPanel stores instead of their names.
    """

    name = "cpanel"

    def __init__(
        self,
        *,
        hostname: str = "whm.example.net",
        state_numbers: bool = False,
        seed: int = 3,
        **common: Unpack[SimulatorOptions],
    ) -> None:
        super().__init__(**common)
        self.username = self.username or "root"
        self.hostname = hostname
        self.state_numbers = state_numbers
        self.sessions: dict[str, SimSession] = {}
        self._rng = random.Random(seed)
        self._functions: dict[str, Function] = {
            "get_transfer_session_state": self._state,
            "fetch_transfer_session_log": self._log_file,
            "retrieve_transfer_session_remote_analysis": self._analysis,
            "pause_transfer_session": lambda session, now, _: session.pause(now),
            "start_transfer_session": lambda session, now, _: session.start(now, self._pid()),
            "abort_transfer_session": lambda session, now, _: session.abort(now),
        }

    # -- adding sessions ------------------------------------------------------------------
    def add_session(
        self,
        state: str = "PENDING",
        *,
        accounts: Sequence[str | Mapping[str, Any]] | None = None,
        script: Sequence[tuple[float, str]] | None = None,
        remote_host: str = "remote.example.com",
        dies_after: float | None = None,
        failure: str | None = None,
        session_id: str | None = None,
        ago: float | None = None,
    ) -> str:
        """Add a transfer session and return its id.

        Args:
            state: the state it is in now; the history that leads there is in its log (a
                COMPLETED session has run all its accounts). A PENDING session starts by
                itself after a few seconds; running ones complete when their work is done.
            accounts: user names (domain ``<user>.com``, a random size) or mappings with
                ``user`` and optionally ``domain``, ``size`` (bytes), ``owner``, ``package``.
            script: instead of ``state``, the exact (seconds after creation, state) steps.
            remote_host: the server the accounts come from; it also prefixes the id.
            dies_after: seconds of work after which the worker dies without a word: the
                state stays RUNNING until a pause or abort marks it FAILED.
            failure: the words logged when the session fails.
            session_id: a fixed id instead of a generated one.
            ago: how many seconds before now the session began (its script too).
        """
        now = self.clock.now()
        session = SimSession(
            id=session_id or self._new_id(remote_host, now),
            accounts=[self._account(spec) for spec in (accounts or ["example"])],
            remote_host=remote_host,
            pid=self._pid(),
            dies_after=dies_after,
            failure=failure,
        )
        steps, lead = (list(script), 0.0) if script is not None else script_to(state, session.work)
        session.follow(steps, now - timedelta(seconds=lead if ago is None else ago))
        session.settle(now)
        self.sessions[session.id] = session
        return session.id

    def seed(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Add sessions from JSON: one ``add_session`` spec, or ``{"sessions": [spec, ...]}``."""
        specs = spec.get("sessions", [spec]) if isinstance(spec, dict) else None
        if not isinstance(specs, list):
            raise ValueError("expected a session spec or {'sessions': [...]}")
        refs = []
        for item in specs:
            if not isinstance(item, dict):
                raise ValueError("each session spec must be a JSON object")
            unknown = set(item) - _SEED_KEYS
            if unknown:
                raise ValueError(f"unknown session fields: {', '.join(sorted(unknown))}")
            kwargs = dict(item)
            if "script" in kwargs:
                kwargs["script"] = [(float(at), str(state)) for at, state in kwargs["script"]]
            refs.append(self.add_session(**kwargs))
        return {"refs": refs}

    def populate_sample(self) -> list[str]:
        """A realistic mix: two moving, one that gets stuck, one completed, one that fails."""
        return [
            self.add_session("PENDING", accounts=["example", "shop", "blog"]),
            self.add_session("RUNNING", accounts=["agency", "agencyblog"], ago=30),
            self.add_session(
                script=[(0, "PENDING"), (START_DELAY, "RUNNING"), (45, "REACHEDMAXMEM")],
                accounts=["bigstore", "forum"],
            ),
            self.add_session("COMPLETED", accounts=["oldsite"], remote_host="legacy.example.org"),
            self.add_session(
                script=[(0, "RUNNING"), (50, "FAILED")],
                accounts=["flaky"],
                failure="The restore of “flaky” failed: the disk quota is full.",
            ),
        ]

    def _account(self, spec: str | Mapping[str, Any]) -> SimAccount:
        if isinstance(spec, str):
            spec = {"user": spec}
        user = str(spec["user"])
        return SimAccount(
            user=user,
            domain=str(spec.get("domain") or f"{user}.com"),
            size=int(spec.get("size") or self._rng.randint(50, 400) * 1_000_000),
            owner=str(spec.get("owner", "root")),
            package=str(spec.get("package", "default")),
        )

    def _new_id(self, remote_host: str, now: datetime) -> str:
        """Like ``exampleservercopya20140206192428NtyW``: host, a word, a time, four letters."""
        labels = remote_host.lower().split(".")
        prefix = re.sub(r"[^a-z0-9]", "", "".join(labels[:-1] or labels))[:20] or "remote"
        while True:
            tail = "".join(self._rng.choice(string.ascii_letters) for _ in range(4))
            session_id = f"{prefix}copya{now:%Y%m%d%H%M%S}{tail}"
            if session_id not in self.sessions:
                return session_id

    def _pid(self) -> int:
        return self._rng.randint(2000, 60000)

    # -- WHM API 1 functions that read ----------------------------------------------------
    def _state(self, session: SimSession, now: datetime, params: Mapping[str, str]) -> Outcome:
        name: str | int = session.state
        if self.state_numbers and session.state in _NUMBERS:
            name = _NUMBERS[session.state]
        return True, "OK", {"state_name": name}

    def _log_file(self, session: SimSession, now: datetime, params: Mapping[str, str]) -> Outcome:
        logfile = params.get("logfile", "")
        if logfile != "master.log":
            return False, f"The log file “{logfile}” is not available for this session.", None
        return True, "OK", {"log": session.log_text()}

    def _analysis(self, session: SimSession, now: datetime, params: Mapping[str, str]) -> Outcome:
        accounts = [
            {"user": a.user, "domain": a.domain, "owner": a.owner, "size": a.size,
             "package": a.package}
            for a in session.accounts
        ]  # fmt: skip
        return (
            True,
            "OK",
            {
                "transfer_session_id": session.id,
                "config": {"shared_mysql_server": 0},
                "items": {
                    "accounts": accounts,
                    "packages": sorted({a.package for a in session.accounts}),
                },
                "local": {
                    "host": self.hostname,
                    "version": "11.118.0.8",
                    "major_version": "11.118",
                },
                "remote": {
                    "host": "192.0.2.10",
                    "hostname": session.remote_host,
                    "version": "11.110.0.17",
                    "server_type": "WHM1110",
                    "has_xfertool": 1,
                },
                "options": {"unrestricted": 0, "skip_reseller_privs": 0},
            },
        )

    # -- the wire -------------------------------------------------------------------------
    def operation_of(self, method: str, path: str, query: str, body: bytes) -> str:
        match = _FUNCTION.match(path)
        return match.group(1) if match else "unknown"

    async def handle(self, scope: Scope, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if not self._authorized(scope):
            return 403, {"content-type": "text/html; charset=utf-8"}, _FORBIDDEN
        match = _FUNCTION.match(scope.get("path", ""))
        if match is None:
            return 404, {"content-type": "text/html"}, b"<html><body>Not Found</body></html>"
        function = match.group(1)
        params = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if scope["method"] == "POST":
            params.update(parse_qsl(body.decode("utf-8", "replace")))
        return self._reply(function, self._answer(function, params))

    def _answer(self, function: str, params: Mapping[str, str]) -> Outcome:
        if params.get("api.version") != "1":
            return False, "This server answers WHM API 1 only (add api.version=1).", None
        answer = self._functions.get(function)
        if answer is None:
            reason = f"Unknown app (“{function}”) requested for this version (1) of the API."
            return False, reason, None
        session_id = params.get("transfer_session_id", "")
        session = self.sessions.get(session_id)
        if session is None:
            if not session_id:
                return False, "The “transfer_session_id” parameter is required.", None
            return False, f"The transfer session “{session_id}” does not exist.", None
        now = self.clock.now()
        session.settle(now)
        return answer(session, now, params)

    def _authorized(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers") or [])
        scheme, _, credentials = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        user, _, token = credentials.partition(":")
        return (
            scheme.lower() == "whm"
            and user == self.username
            and bool(token)
            and hmac.compare_digest(token.encode(), self.secret.encode())
        )

    @staticmethod
    def _reply(function: str, outcome: Outcome) -> tuple[int, dict[str, str], bytes]:
        ok, reason, data = outcome
        metadata = {"version": 1, "result": int(ok), "reason": reason, "command": function}
        reply: dict[str, Any] = {"metadata": metadata}
        if data is not None:
            reply["data"] = data
        body = json.dumps(reply, ensure_ascii=False).encode()
        return 200, {"content-type": "application/json; charset=utf-8"}, body
