"""A Gandi v3 operation struct as a Transfer: subject, words, history and details, pure."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from providers._common import ascii_digits, one_line, scalar_text, scrub
from providers.base import HistoryEntry, Phase, Transfer, mask_secret
from providers.errors import BadReply
from providers.gandi.statuses import STEP_WORDS, actions_for, errortype_of, phase_of, waiting_for

__all__ = ["transfer_from_operation"]

logger = logging.getLogger(__name__)

_SECRET_PARAM_WORDS = ("auth", "pass", "secret", "token", "key")
_SHOWN_PARAMS = ("duration", "change_owner", "registrar")


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
    op_type = scalar_text(op.get("type")) or "operation"
    errortype = errortype_of(op.get("errortype")) if step == "ERROR" else None
    phase = phase_of(step, errortype)
    last_error = one_line(scrub(scalar_text(op.get("last_error")), hidden), 500)
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
        or STEP_WORDS.get(step, f"Step {step}"),
        actions=actions_for(op_type, step, errortype),
        changed_at=changed,
        history=_history(op, step, raw_code, phase, last_error),
        waiting_for=waiting_for(op_type, step, errortype),
        details=_details(op, params, op_type, errortype, hidden, last_error),
    )


def _subject(op: Mapping[str, object], params: Mapping[str, object], op_id: object) -> str:
    domain = scalar_text(params.get("domain")) or scalar_text(op.get("domain"))
    if domain:
        return domain
    infos = op.get("infos")
    if isinstance(infos, list):
        for info in infos:
            if isinstance(info, Mapping) and scalar_text(info.get("label")):
                return scalar_text(info.get("label"))
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
        entries.append(HistoryEntry(updated, raw_code, words or STEP_WORDS.get(step, step), phase))
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
        if scalar_text(op.get(key)):
            details[key.replace("_", " ")] = scalar_text(op.get(key))
    for key in _SHOWN_PARAMS:
        if scalar_text(params.get(key)):
            details[key.replace("_", " ")] = scalar_text(params.get(key))
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


def _date(op: Mapping[str, object], key: str) -> datetime | None:
    value = op.get(key)
    return value if isinstance(value, datetime) else None


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"about {seconds} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} min"
    return f"about {round(seconds / 3600)} h"
