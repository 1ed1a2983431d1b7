"""A Gandi v3 operation struct as a Transfer: phases, actions and words, as pure functions."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from providers._common import ascii_digits, one_line, scrub
from providers.base import (
    Action,
    ActionInput,
    ActionSpec,
    HistoryEntry,
    Phase,
    Transfer,
    mask_secret,
)
from providers.errors import BadReply
from providers.gandi.wire import RELAUNCHABLE_TYPES

__all__ = [
    "AUTHINFO_INPUT",
    "ERROR_IDENTIFIERS",
    "ERROR_PHASES",
    "STEP_PHASES",
    "actions_for",
    "errortype_of",
    "phase_of",
    "transfer_from_operation",
]

logger = logging.getLogger(__name__)

STEP_PHASES: Mapping[str, Phase] = {
    "BILL": Phase.PENDING,
    "WAIT": Phase.PENDING,
    "RUN": Phase.ACTIVE,
    "DONE": Phase.COMPLETED,
    "CANCEL": Phase.CANCELLED,
    "SUPPORT": Phase.BLOCKED,  # waiting for Gandi support; nothing we can do from here
}
ERROR_PHASES: Mapping[str, Phase] = {
    "client_recoverable": Phase.BLOCKED,
    "support_recoverable": Phase.BLOCKED,
    "temporary": Phase.ACTIVE,  # Gandi retries by itself
    "fatal": Phase.FAILED,
    "unknown": Phase.BLOCKED,  # a person must look; we offer no blind relaunch
}
# seed 004's "Possible Errors": identifier -> errortype
ERROR_IDENTIFIERS: Mapping[str, str] = {
    "authorization_error": "support_recoverable",
    "duplicate": "fatal",
    "missing_parameter": "client_recoverable",
    "ratelimit": "temporary",
    "timeout": "temporary",
    "unknown": "unknown",
}
RETRYABLE_ERRORS = frozenset({"client_recoverable", "support_recoverable"})
CANCELLABLE_STEPS = frozenset({"BILL", "WAIT", "ERROR"})

AUTHINFO_INPUT = ActionInput(
    name="authinfo",
    label="New authorization code (authinfo)",
    secret=True,
    min_length=6,
    max_length=64,
    hint="The code from the current registrar; leave empty to relaunch with the one Gandi has.",
)
_RETRY = ActionSpec(
    Action.RETRY,
    verb="relaunch",
    inputs=(AUTHINFO_INPUT,),
    description="Relaunch the operation at Gandi, optionally with a new authinfo.",
)
_CANCEL = ActionSpec(
    Action.CANCEL,
    verb="cancel",
    destructive=True,
    description="Cancel the operation at Gandi; its step becomes CANCEL.",
)

_STEP_WORDS = {
    "BILL": "Waiting to be billed",
    "WAIT": "Waiting for the registry, the current registrar or the owner",
    "RUN": "Running",
    "DONE": "Done",
    "CANCEL": "Cancelled",
    "SUPPORT": "Waiting for Gandi support",
    "ERROR": "In error",
}
_ERROR_WAITS = {
    "client_recoverable": "someone to supply the missing information and relaunch it",
    "support_recoverable": "a valid authorization code (authinfo) and a relaunch",
    "temporary": "Gandi to retry it by itself",
    "unknown": "a person to look into the error with Gandi support",
}
_SECRET_PARAM_WORDS = ("auth", "pass", "secret", "token", "key")
_SHOWN_PARAMS = ("duration", "change_owner", "registrar")
_TYPE_KEYS = ("type", "errortype", "class", "category")
_NAME_KEYS = ("name", "identifier", "error", "id", "code")


def errortype_of(value: object) -> str:
    """Gandi's errortype as one of seed 004's types; it may come as a string or a struct."""
    if value is None or value == "":
        return "unknown"
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ERROR_PHASES:
            return word
        return ERROR_IDENTIFIERS.get(word, "unknown")
    if isinstance(value, Mapping):
        for key in (*_TYPE_KEYS, *_NAME_KEYS):
            found = errortype_of(value.get(key)) if isinstance(value.get(key), str) else None
            if found and found != "unknown":
                return found
        for key, inner in value.items():  # {"authorization_error": "support_recoverable"}
            for word in (key, inner):
                found = errortype_of(word) if isinstance(word, str) else "unknown"
                if found != "unknown":
                    return found
    return "unknown"


def phase_of(step: str, errortype: str | None = None) -> Phase:
    """Our phase for a Gandi step (and errortype when the step is ERROR)."""
    if step == "ERROR":
        return ERROR_PHASES.get(errortype or "unknown", Phase.BLOCKED)
    return STEP_PHASES.get(step, Phase.ACTIVE)  # an unknown step: still in Gandi's hands


def actions_for(op_type: str, step: str, errortype: str | None = None) -> tuple[ActionSpec, ...]:
    """What a person can do now: cancel while waiting or in error, relaunch if recoverable."""
    if phase_of(step, errortype).finished:
        return ()
    actions: list[ActionSpec] = []
    if step == "ERROR" and errortype in RETRYABLE_ERRORS and op_type in RELAUNCHABLE_TYPES:
        actions.append(_RETRY)
    if step in CANCELLABLE_STEPS:
        actions.append(_CANCEL)
    return tuple(actions)


def transfer_from_operation(
    op: Mapping[str, object], *, account: str, secrets: list[str] | None = None
) -> Transfer:
    """A Transfer from an operation struct; BadReply if it lacks its id or step."""
    op_id, step = op.get("id"), op.get("step")
    if isinstance(op_id, bool) or not isinstance(op_id, int | str) or not ascii_digits(str(op_id)):
        raise BadReply("Gandi sent an operation without a numeric id.", account=account)
    if not isinstance(step, str) or not step.strip():
        raise BadReply(f"Gandi sent operation {op_id} without its step.", account=account)
    step = step.strip().upper()
    params = op.get("params") if isinstance(op.get("params"), Mapping) else {}
    assert isinstance(params, Mapping)
    hidden = [*_secret_values(params), *(secrets or [])]
    op_type = _text(op.get("type")) or "operation"
    errortype = errortype_of(op.get("errortype")) if step == "ERROR" else None
    phase = phase_of(step, errortype)
    last_error = one_line(scrub(_text(op.get("last_error")), hidden), 500)
    raw_code = f"ERROR/{errortype}" if step == "ERROR" else step
    changed = _date(op, "date_updated") or _date(op, "date_start") or _date(op, "date_created")
    return Transfer(
        account=account,
        provider="gandi",
        ref=str(op_id),
        subject=_subject(op, params, op_id),
        phase=phase,
        raw_code=raw_code,
        raw_text=(last_error if step in ("ERROR", "SUPPORT") else "")
        or _STEP_WORDS.get(step, f"Step {step}"),
        actions=actions_for(op_type, step, errortype),
        changed_at=changed,
        history=_history(op, step, raw_code, phase, last_error),
        waiting_for=_waiting_for(op_type, step, errortype),
        details=_details(op, params, op_type, errortype, hidden, last_error),
    )


def _waiting_for(op_type: str, step: str, errortype: str | None) -> str | None:
    if step == "BILL":
        return "Gandi to bill the operation on the prepaid account"
    if step == "WAIT":
        return "the registry, the current registrar or the domain owner to approve"
    if step == "SUPPORT":
        return "Gandi support"
    if step != "ERROR" or errortype == "fatal":
        return None
    if errortype in RETRYABLE_ERRORS and op_type not in RELAUNCHABLE_TYPES:
        return f"Gandi support (a {op_type} operation can't be relaunched)"
    return _ERROR_WAITS.get(errortype or "unknown")


def _subject(op: Mapping[str, object], params: Mapping[str, object], op_id: object) -> str:
    domain = _text(params.get("domain")) or _text(op.get("domain"))
    if domain:
        return domain
    infos = op.get("infos")
    if isinstance(infos, list):
        for info in infos:
            if isinstance(info, Mapping) and _text(info.get("label")):
                return _text(info.get("label"))
    return f"operation {op_id}"


def _history(
    op: Mapping[str, object], step: str, raw_code: str, phase: Phase, last_error: str
) -> tuple[HistoryEntry, ...]:
    """Gandi keeps no step log: the operation's own dates are its history."""
    entries = []
    created, started = _date(op, "date_created"), _date(op, "date_start")
    if created:
        entries.append(HistoryEntry(created, "created", "Operation created"))
    if started:
        entries.append(HistoryEntry(started, "started", "Processing started"))
    updated = _date(op, "date_updated")
    if updated:
        words = last_error if step in ("ERROR", "SUPPORT") and last_error else ""
        entries.append(HistoryEntry(updated, raw_code, words or _STEP_WORDS.get(step, step), phase))
    return tuple(entries)


def _details(
    op: Mapping[str, object],
    params: Mapping[str, object],
    op_type: str,
    errortype: str | None,
    hidden: list[str],
    last_error: str,
) -> dict[str, str]:
    details = {"operation type": op_type}
    if errortype:
        details["error type"] = errortype
    if last_error:
        details["last error"] = last_error
    eta = op.get("eta")
    if isinstance(eta, int) and not isinstance(eta, bool) and eta > 0:
        details["eta"] = _duration(eta)
    for key in ("source", "session_id"):
        if _text(op.get(key)):
            details[key.replace("_", " ")] = _text(op.get(key))
    for key in _SHOWN_PARAMS:
        if _text(params.get(key)):
            details[key.replace("_", " ")] = _text(params.get(key))
    if any(k.startswith("auth") for k in params):
        details["authinfo"] = mask_secret("set")
    created = _date(op, "date_created")
    if created:
        details["created"] = created.strftime("%Y-%m-%d %H:%M UTC")
    return {k: scrub(v, hidden)[:200] for k, v in details.items()}


def _secret_values(params: Mapping[str, object]) -> list[str]:
    return [
        str(value)
        for key, value in params.items()
        if any(word in key.lower() for word in _SECRET_PARAM_WORDS) and isinstance(value, str)
    ]


def _text(value: object) -> str:
    if value is None or isinstance(value, bool | dict | list | bytes):
        return ""
    return str(value).strip()


def _date(op: Mapping[str, object], key: str) -> datetime | None:
    value = op.get(key)
    return value if isinstance(value, datetime) else None


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"about {seconds} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} min"
    return f"about {round(seconds / 3600)} h"
