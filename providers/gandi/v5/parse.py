"""A Gandi v5 transfer follow-up (``GET /v5/domain/transferin/{domain}``) as a Transfer, pure.

Fields (https://api.gandi.net/docs/domains/, "Domain transfer followup"): ``created_at``,
``updated_at``, ``owner_contact``, ``params`` (``domain``, ``duration``, ``reseller``,
``tld``, ``version``), ``step``, ``step_nb``; optional ``errortype``,
``errortype_label``, ``foa[]`` (``email``, ``answer``), ``inner_step``, ``regac_at``,
``start_at``, ``transfer_link``, ``transfer_procedure``. ``transfer_link`` is never shown:
it may be a link that approves the transfer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from providers._common import one_line, scalar_text, scrub
from providers.base import HistoryEntry, Phase, Transfer
from providers.errors import BadReply
from providers.gandi.statuses import STEP_WORDS, errortype_of
from providers.gandi.v5.statuses import Foa, actions_for, phase_of, waiting_for

__all__ = ["PROVIDER", "foas_of", "transfer_from_transferin"]

PROVIDER = "gandi_v5"
MAX_FOAS = 10


def transfer_from_transferin(
    payload: object, *, account: str, domain: str, secrets: list[str] | None = None
) -> Transfer:
    """A Transfer from the follow-up; BadReply (nothing changed) if it lacks its step."""
    if not isinstance(payload, Mapping):
        raise BadReply(
            f"Gandi sent a follow-up of {domain} that is not an object.", account=account
        )
    step = payload.get("step")
    if not isinstance(step, str) or not step.strip():
        raise BadReply(f"Gandi sent the follow-up of {domain} without its step.", account=account)
    step = one_line(step, 40).upper()
    hidden = list(secrets or [])
    errortype = errortype_of(payload.get("errortype")) if step == "ERROR" else None
    phase = phase_of(step, errortype)
    label = one_line(scrub(scalar_text(payload.get("errortype_label")), hidden), 300)
    raw_code = f"ERROR/{errortype}" if step == "ERROR" else step
    foas = foas_of(payload.get("foa"))
    params = payload.get("params") if isinstance(payload.get("params"), Mapping) else {}
    assert isinstance(params, Mapping)
    subject = scalar_text(params.get("domain")).lower() or domain
    words = label if step in ("ERROR", "SUPPORT") and label else ""
    changed = _date(payload, "updated_at") or _date(payload, "start_at")
    return Transfer(
        account=account,
        provider=PROVIDER,
        ref=domain,
        subject=scrub(subject, hidden)[:253],
        phase=phase,
        raw_code=raw_code,
        raw_text=words or STEP_WORDS.get(step, f"Step {step}"),
        actions=actions_for(step, errortype, foas),
        changed_at=changed or _date(payload, "created_at"),
        history=_history(payload, raw_code, phase, words or STEP_WORDS.get(step, step)),
        waiting_for=_scrubbed(waiting_for(step, errortype, foas), hidden),
        details=_details(payload, params, errortype, label, foas, hidden),
    )


def foas_of(value: object) -> list[Foa]:
    """The FOA e-mails of a follow-up; odd items are skipped."""
    if not isinstance(value, list):
        return []
    found = []
    for item in value[:MAX_FOAS]:
        if isinstance(item, Mapping) and scalar_text(item.get("email")):
            answer = item.get("answer")
            raw = "" if answer is None else _answer_text(answer)
            found.append(Foa(one_line(scalar_text(item.get("email")), 120), raw))
    return found


def _answer_text(answer: object) -> str:
    if isinstance(answer, bool):
        return "true" if answer else "false"
    return one_line(scalar_text(answer), 40)


def _history(
    payload: Mapping[str, object], raw_code: str, phase: Phase, words: str
) -> tuple[HistoryEntry, ...]:
    """v5 keeps no step log: the follow-up's own dates are its history."""
    entries = []
    for key, code, text in (
        ("created_at", "created", "Transfer created"),
        ("start_at", "started", "Processing started"),
        ("regac_at", "regac", "Registry acknowledged the transfer request"),
    ):
        when = _date(payload, key)
        if when:
            entries.append(HistoryEntry(when, code, text))
    updated = _date(payload, "updated_at")
    if updated:
        entries.append(HistoryEntry(updated, raw_code, words, phase))
    return tuple(entries)


def _details(
    payload: Mapping[str, object],
    params: Mapping[str, object],
    errortype: str | None,
    label: str,
    foas: list[Foa],
    hidden: list[str],
) -> dict[str, str]:
    details: dict[str, str] = {}
    for number, foa in enumerate(foas, 1):
        key = "approval e-mail (FOA)" if len(foas) == 1 else f"approval e-mail (FOA) {number}"
        details[key] = f"sent to {foa.email}: {foa.words()}"
    details["API"] = "Gandi v5"
    step_nb = payload.get("step_nb")
    if isinstance(step_nb, int) and not isinstance(step_nb, bool):
        details["step number"] = str(step_nb)
    if scalar_text(payload.get("inner_step")):
        details["inner step"] = one_line(scalar_text(payload.get("inner_step")), 80)
    if errortype:
        details["error type"] = errortype
    if label:
        details["error"] = label
    if scalar_text(payload.get("transfer_procedure")):
        details["procedure"] = one_line(scalar_text(payload.get("transfer_procedure")), 80)
    duration = params.get("duration")
    if isinstance(duration, int) and not isinstance(duration, bool) and duration > 0:
        details["duration"] = f"{duration} year{'s' if duration != 1 else ''}"
    created = _date(payload, "created_at")
    if created:
        details["created"] = created.strftime("%Y-%m-%d %H:%M UTC")
    return {k: scrub(v, hidden)[:200] for k, v in details.items()}


def _scrubbed(text: str | None, hidden: list[str]) -> str | None:
    return scrub(text, hidden) if text else text


def _date(payload: Mapping[str, object], key: str) -> datetime | None:
    """An ISO 8601 date (``2021-01-20T00:00:00Z``) as an aware UTC datetime; None if odd."""
    value = payload.get(key)
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset: past the calendar's ends
        return None
