"""Gandi XML-RPC v3 simulator: operations moving BILL → WAIT → RUN → DONE (or ERROR) on a SimClock.

Faults follow Gandi's style, ``Error on object : OBJECT_X (CAUSE_Y) [words]``. Gandi's own
codes: 510150 invalid API key, 530040 no prepaid credit. Codes this simulator chose:
510042 unknown operation (``OBJECT_OPERATION (CAUSE_NOTFOUND) [Operation 123 does not
exist]``), 510044 cancel/relaunch refused in this step or for this type
(``OBJECT_OPERATION (CAUSE_BADREQUEST)``), 505100 a bad argument or option
(``CAUSE_BADPARAMETER``), 505200 an unknown method, 505300 a malformed call.
"""

from __future__ import annotations

import itertools
import logging
import re
import xmlrpc.client
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Unpack

from providers.errors import BadReply
from providers.gandi.xmlrpc import parse_call
from providers.simulators.base import Scope, Simulator, SimulatorOptions
from providers.simulators.gandi_steps import Entry, Reached, first_run, reached, script_of

__all__ = ["ERRORS", "STORIES", "GandiSimulator", "SimOperation"]

logger = logging.getLogger(__name__)

# seed 004's error table: identifier -> (errortype, last_error)
ERRORS: dict[str, tuple[str, str]] = {
    "authorization_error": (
        "support_recoverable",
        "The registry refused the transfer: the authinfo code is not valid.",
    ),
    "missing_parameter": ("client_recoverable", "A required parameter is missing"),
    "ratelimit": ("temporary", "The registry rate limited the request; Gandi will retry."),
    "timeout": ("temporary", "The registry did not answer in time; Gandi will retry."),
    "duplicate": ("fatal", "The domain is already in a Gandi account (duplicate)."),
    "unknown": ("unknown", "An unexpected error happened."),
}


def _story(*entries: tuple[Any, ...]) -> list[Entry]:
    return script_of(entries)  # an Entry's error is seed 004's identifier (a key of ERRORS)


STORIES: dict[str, list[Entry]] = {
    "completes": _story((0, "BILL"), (5, "WAIT"), (3600, "RUN"), (3900, "DONE")),
    "quick": _story((0, "BILL"), (2, "RUN"), (60, "DONE")),
    "stays_waiting": _story((0, "BILL"), (5, "WAIT")),
    "authorization_error": _story(
        (0, "BILL"), (5, "WAIT"), (600, "RUN"), (660, "ERROR", "authorization_error")
    ),
    "missing_parameter": _story((0, "BILL"), (5, "RUN"), (30, "ERROR", "missing_parameter")),
    "ratelimit": _story(
        (0, "BILL"), (5, "RUN"), (30, "ERROR", "ratelimit"), (330, "RUN"), (600, "DONE")
    ),
    "timeout": _story(
        (0, "BILL"), (5, "RUN"), (30, "ERROR", "timeout"), (930, "RUN"), (1200, "DONE")
    ),
    "duplicate": _story((0, "BILL"), (5, "RUN"), (20, "ERROR", "duplicate")),
    "unknown": _story((0, "BILL"), (5, "RUN"), (20, "ERROR", "unknown")),
    "support": _story((0, "BILL"), (5, "RUN"), (60, "SUPPORT")),
}
# fmt: off
RELAUNCHABLE = {"domain_create", "domain_transfer_in", "domain_ns_set",
                "domain_transfer_reseller", "domain_change_owner"}
_DATE_FIELDS = ("date_created", "date_start", "date_updated")
_INT_OPTIONS = {"contact_id", "disk_id", "iface_id", "mbox_id", "paas_id", "site_id", "vm_id",
                "page"}
_ID_OPTIONS = {"id", "cert_id"}  # int or array of int
_DATE_OPTIONS = {p + f for f in _DATE_FIELDS for p in ("", "<", ">")}
_STRING_OPTIONS = {"cert.hostname", "disk.name", "domain", "paas.name", "site.name", "sort_by",
                   "step", "type", "vm.hostname"}
# fmt: on
_SORT_KEYS = (_INT_OPTIONS | _ID_OPTIONS | _STRING_OPTIONS | set(_DATE_FIELDS)) - {
    "page",
    "sort_by",
}  # fmt: skip
_PATHS = ("/", "/xmlrpc", "/xmlrpc/")
_EXTENSION = re.compile(r"^x-[a-z0-9_.\-\u2013]+$")


class _Fault(Exception):
    def __init__(self, code: int, obj: str, cause: str, words: str) -> None:
        super().__init__(f"Error on object : {obj} ({cause}) [{words}]")
        self.code = code


def _bad_param(words: str, obj: str = "OBJECT_STRUCT") -> _Fault:
    return _Fault(505100, obj, "CAUSE_BADPARAMETER", words)


def _refused(words: str) -> _Fault:
    return _Fault(510044, "OBJECT_OPERATION", "CAUSE_BADREQUEST", words)


@dataclass
class SimOperation:
    """One operation: a script of steps from ``anchor``, replaced by cancel and relaunch."""

    id: int
    type: str
    domain: str
    params: dict[str, Any]
    created: datetime
    anchor: datetime
    script: list[Entry]
    right_authinfo: str | None
    missing: str | None
    session_id: int
    source: str
    started: datetime | None = None
    last_error: str | None = None

    def current(self, now: datetime) -> Reached:
        """(when it got there, step, error identifier) at ``now``; records start and errors."""
        steps = reached(self.script, self.anchor, now)
        self.started = self.started or first_run(steps)
        self.last_error = next((error for _, _, error in reversed(steps) if error), self.last_error)
        return steps[-1]

    def eta(self, now: datetime) -> int:
        last_at, last_step, _ = self.script[-1]
        left = last_at - (now - self.anchor).total_seconds()
        return max(0, round(left)) if last_step == "DONE" else 0


class GandiSimulator(Simulator):
    """Speaks operation.info/list/count/cancel/relaunch over XML-RPC at ``/`` or ``/xmlrpc/``.

    Extra keyword arguments: ``errortype_as`` ("string", the default, or "struct":
    ``{"type": ..., "name": ...}``), ``prepaid_credit`` (False makes relaunch fault
    530040), ``contact`` (the ``source`` handle of operations).
    """

    name = "gandi"
    content_type = "text/xml"

    def __init__(
        self,
        *,
        errortype_as: str = "string",
        prepaid_credit: bool = True,
        contact: str = "TB1234-GANDI",
        **common: Unpack[SimulatorOptions],
    ) -> None:
        super().__init__(**common)
        self.errortype_as = errortype_as
        self.prepaid_credit = prepaid_credit
        self.contact = contact
        self.operations: dict[int, SimOperation] = {}
        self._ids = itertools.count(40_100_000)
        self._sessions = itertools.count(7_000_000)

    # -- adding operations ------------------------------------------------------------------
    def add_operation(
        self,
        domain: str,
        *,
        story: str = "completes",
        script: Sequence[Sequence[Any]] | None = None,
        op_type: str = "domain_transfer_in",
        authinfo: str | None = "Auth-Code-1234",
        right_authinfo: str | None = None,
        missing: str | None = None,
        age: float = 0.0,
    ) -> str:
        """Add an operation and return its id (as a string, our ref).

        Args:
            story: a name from STORIES, unless ``script`` gives ``(seconds, step[, error])``s.
            authinfo: the code in the operation's params; ``right_authinfo`` is the one the
                registry accepts on relaunch (default: the same).
            missing: an ``x-…`` field a relaunch must bring (missing_parameter errors).
            age: seconds since creation, so the operation starts part-way through its story.
        """
        entries = script_of(script) if script else list(STORIES[story])
        created = self.clock.now() - timedelta(seconds=age)
        params: dict[str, Any] = {"domain": domain, "duration": 1}
        if authinfo:
            params["authinfo"] = authinfo
        op = SimOperation(
            id=next(self._ids),
            type=op_type,
            domain=domain,
            params=params,
            created=created,
            anchor=created,
            script=entries,
            right_authinfo=right_authinfo or authinfo,
            missing=missing,
            session_id=next(self._sessions),
            source=self.contact,
        )
        self.operations[op.id] = op
        return str(op.id)

    def seed(self, spec: dict[str, Any]) -> dict[str, Any]:
        """``{"operations": [{"domain": ..., "story": ..., ...}]}`` or one such dict."""
        items = spec.get("operations", [spec])
        refs = [
            self.add_operation(**{("op_type" if k == "type" else k): v for k, v in item.items()})
            for item in items
        ]
        return {"refs": refs}

    def populate_sample(self) -> list[str]:
        """A realistic mix: moving, blocked (authinfo refused), completed and failed transfers."""
        return [
            self.add_operation("example-shop.com", story="completes", age=30),
            self.add_operation("bakery-example.net", story="quick", age=10),
            self.add_operation("rate-example.org", story="ratelimit", age=60),
            self.add_operation(
                "locked-example.com",
                story="authorization_error",
                age=700,
                authinfo="Old-Code-1111",
                right_authinfo="New-Code-2222",
            ),
            self.add_operation("done-example.io", story="quick", age=600),
            self.add_operation("twice-example.com", story="duplicate", age=300),
        ]

    # -- the wire -------------------------------------------------------------------------------
    def operation_of(self, method: str, path: str, query: str, body: bytes) -> str:
        return parse_call(body)[0]

    async def handle(self, scope: Scope, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if scope.get("path") not in _PATHS:
            return 404, {"content-type": "text/plain"}, b"Not Found"
        if scope.get("method") != "POST":
            return 405, {"content-type": "text/plain", "allow": "POST"}, b"Method Not Allowed"
        try:
            value = self._dispatch(*self._call_in(body))
            payload = xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True)
        except _Fault as fault:
            payload = xmlrpc.client.dumps(xmlrpc.client.Fault(fault.code, str(fault)))
        return 200, {"content-type": "text/xml"}, payload.encode()

    @staticmethod
    def _call_in(body: bytes) -> tuple[str, list[Any]]:
        try:
            return parse_call(body)
        except BadReply:
            raise _Fault(505300, "OBJECT_XMLRPC", "CAUSE_BADREQUEST", "Malformed call") from None

    def _dispatch(self, method: str, params: list[Any]) -> Any:
        methods = {
            "operation.info": self._info,
            "operation.list": self._list,
            "operation.count": self._count,
            "operation.cancel": self._cancel,
            "operation.relaunch": self._relaunch,
        }
        if method not in methods:
            raise _Fault(505200, "OBJECT_METHOD", "CAUSE_UNKNOWN", f"Unknown method '{method}'")
        if not params or not isinstance(params[0], str):
            raise _bad_param("apikey is missing", "OBJECT_STRING")
        if params[0] != self.secret:
            raise _Fault(510150, "OBJECT_ACCOUNT", "CAUSE_NORIGHT", "Invalid API key")
        return methods[method](params[1:])

    def _operation(self, args: list[Any], extra: int = 0) -> SimOperation:
        if not 1 <= len(args) <= 1 + extra:
            raise _bad_param("Wrong number of arguments", "OBJECT_METHOD")
        op_id = args[0]
        if isinstance(op_id, bool) or not isinstance(op_id, int):
            raise _bad_param("operation must be an integer", "OBJECT_INTEGER")
        op = self.operations.get(op_id)
        if op is None:
            raise _Fault(
                510042, "OBJECT_OPERATION", "CAUSE_NOTFOUND", f"Operation {op_id} does not exist"
            )
        return op

    def _info(self, args: list[Any]) -> dict[str, Any]:
        return self._view(self._operation(args))

    def _cancel(self, args: list[Any]) -> int:
        op = self._operation(args)
        now = self.clock.now()
        _, step, _ = op.current(now)
        if step not in ("BILL", "WAIT", "ERROR"):
            raise _refused(f"Operation {op.id} can not be cancelled in step {step}")
        op.anchor, op.script = now, [(0.0, "CANCEL", None)]
        return 1

    def _relaunch(self, args: list[Any]) -> int:
        op = self._operation(args, extra=1)
        params = args[1] if len(args) > 1 else {}
        now = self.clock.now()
        _, step, error = op.current(now)
        if op.type not in RELAUNCHABLE:
            raise _refused(f"Operation {op.id} of type {op.type} can not be relaunched")
        if step != "ERROR":
            raise _refused(f"Operation {op.id} can not be relaunched in step {step}")
        if not isinstance(params, dict) or any(
            k != "authinfo" and not _EXTENSION.match(k) for k in params
        ):
            raise _bad_param("params holds an unknown parameter")
        if not self.prepaid_credit:
            raise _Fault(530040, "OBJECT_ACCOUNT", "CAUSE_NOTENOUGH", "Not enough prepaid credit")
        op.params.update(params)
        op.anchor, op.script = now, self._after_relaunch(op, error)
        return 1

    @staticmethod
    def _after_relaunch(op: SimOperation, error: str | None) -> list[Entry]:
        if error == "duplicate":
            return _story((0, "RUN"), (10, "ERROR", "duplicate"))
        if op.missing and op.missing not in op.params:
            return _story((0, "RUN"), (10, "ERROR", "missing_parameter"))
        if op.right_authinfo and op.params.get("authinfo") != op.right_authinfo:
            return _story((0, "RUN"), (20, "ERROR", "authorization_error"))
        return _story((0, "RUN"), (300, "DONE"))

    def _list(self, args: list[Any]) -> list[dict[str, Any]]:
        options = self._options(args)
        views = self._matching(options)
        key = str(options.get("sort_by", "id"))
        views.sort(key=lambda v: (_sort_value(v, key) is None, _sort_value(v, key) or 0))
        size, page = options.get("items_per_page", 100), options.get("page", 0)
        return views[page * size : (page + 1) * size]

    def _count(self, args: list[Any]) -> int:
        return len(self._matching(self._options(args)))

    def _matching(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        views = [self._view(op) for op in self.operations.values()]
        return [v for v in views if all(_matches(v, k, w) for k, w in options.items())]

    @staticmethod
    def _options(args: list[Any]) -> dict[str, Any]:
        if len(args) > 1 or (args and args[0] is not None and not isinstance(args[0], dict)):
            raise _bad_param("opts must be a struct")
        options: dict[str, Any] = dict(args[0] or {}) if args else {}
        for name, value in options.items():
            _check_option(name, value)
        return options

    def _view(self, op: SimOperation) -> dict[str, Any]:
        now = self.clock.now()
        updated, step, error = op.current(now)
        errortype: Any = None
        if step == "ERROR" and error:
            kind = ERRORS[error][0]
            errortype = {"type": kind, "name": error} if self.errortype_as == "struct" else kind
        last = ERRORS[op.last_error][1] if op.last_error else ""
        if op.last_error == "missing_parameter" and op.missing:
            last = f"{last}: {op.missing}"
        return {
            "id": op.id,
            "type": op.type,
            "step": step,
            "params": dict(op.params),
            "errortype": errortype,
            "last_error": last,
            "eta": op.eta(now),
            "date_created": op.created,
            "date_start": op.started,
            "date_updated": updated,
            "infos": [
                {
                    "id": "",
                    "label": op.domain,
                    "product_action": op.type.split("_", 1)[-1],
                    "product_name": op.domain.rsplit(".", 1)[-1],
                    "product_type": "domain",
                    "quantity": "",
                }
            ],
            "session_id": op.session_id,
            "source": op.source,
        }


def _check_option(name: str, value: Any) -> None:
    if name in _ID_OPTIONS:
        values = value if isinstance(value, list) else [value]
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    elif name in _INT_OPTIONS or name == "items_per_page":
        least = 1 if name == "items_per_page" else 0
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= least
    elif name in _DATE_OPTIONS:
        ok = _as_date(value) is not None
    elif name in _STRING_OPTIONS:
        ok = isinstance(value, str) and (name != "sort_by" or value in _SORT_KEYS)
    else:
        raise _bad_param(f"Unknown option '{name}'")
    if not ok:
        raise _bad_param(f"Bad value for option '{name}'")


def _as_date(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if not isinstance(value, str):
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y%m%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(value.strip(), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _sort_value(view: dict[str, Any], key: str) -> Any:
    return view["params"].get("domain") if key == "domain" else view.get(key)


def _matches(view: dict[str, Any], name: str, wanted: Any) -> bool:
    if name in ("items_per_page", "page", "sort_by"):
        return True
    if name[0] in "<>":
        have, limit = view.get(name[1:]), _as_date(wanted)
        if have is None or limit is None:
            return False
        return bool(have < limit if name[0] == "<" else have > limit)
    if name in _DATE_FIELDS:
        have = view.get(name)
        return have is not None and have.replace(microsecond=0) == _as_date(wanted)
    if name == "domain":
        return str(view["params"].get("domain", "")).lower() == str(wanted).lower()
    if name in _ID_OPTIONS:
        return view.get(name) in (wanted if isinstance(wanted, list) else [wanted])
    return bool(view.get(name) == wanted)
