"""Gandi operation steps and error types: what each means as a phase, and the actions offered."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from providers.base import Action, ActionInput, ActionSpec, Capabilities, Phase
from providers.descriptor import Deadline, Speed

__all__ = [
    "AUTHINFO_INPUT",
    "CANCELLABLE_STEPS",
    "CAPABILITIES",
    "DEADLINES",
    "ERROR_IDENTIFIERS",
    "ERROR_PHASES",
    "RELAUNCH",
    "RELAUNCHABLE_TYPES",
    "RETRYABLE_ERRORS",
    "SPEEDS",
    "STEP_PHASES",
    "STEP_WORDS",
    "actions_for",
    "errortype_of",
    "phase_of",
    "step_waits_for",
    "waiting_for",
]

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
# raw code (a step, or ERROR/<errortype>) -> how fast it moves, where the phase doesn't say
SPEEDS: Mapping[str, Speed] = {
    "BILL": Speed.MOVING,
    "WAIT": Speed.WAITING,  # the registry, the current registrar or the owner
    "RUN": Speed.MOVING,
    "SUPPORT": Speed.WAITING,
    "ERROR/temporary": Speed.MOVING,  # Gandi retries by itself
}
# WAIT: Gandi e-mails the owner the Form of Authorization, whose answer is due "within 5
# days"; no answer and the transfer fails (https://www.gandi.net/faq/view_question/en/
# /how_to_transfer_my_domain_name_to_gandi; http://wiki.gandi.net/en/domains/transfer/accept:
# "before the 5-day deadline"). The losing registrar's own window under ICANN's policy is
# 5 days too, so a WAIT longer than 5 days is past one of them either way.
DEADLINES: Mapping[str, Deadline] = {
    "WAIT": Deadline(
        timedelta(days=5),
        "past the 5-day approval window",
        "Gandi FAQ, how to transfer my domain name to Gandi: the FOA is answered within 5 days",
    ),
}
RETRYABLE_ERRORS = frozenset({"client_recoverable", "support_recoverable"})
CANCELLABLE_STEPS = frozenset({"BILL", "WAIT", "ERROR"})

CAPABILITIES = Capabilities(
    actions=frozenset({Action.CANCEL, Action.RETRY}),
    can_list=True,
    ref_label="operation id",
    subject_label="domain",
    done_words={Action.RETRY: "relaunched"},
)

AUTHINFO_INPUT = ActionInput(
    name="authinfo",
    label="New authorization code (authinfo)",
    secret=True,
    min_length=6,
    max_length=64,
    hint="The code from the current registrar; leave empty to relaunch with the one Gandi has.",
)
RELAUNCH = ActionSpec(
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

STEP_WORDS = {
    "BILL": "Waiting to be billed",
    "WAIT": "Waiting for the registry, the current registrar or the owner",
    "RUN": "Running",
    "DONE": "Done",
    "CANCEL": "Cancelled",
    "SUPPORT": "Waiting for Gandi support",
    "ERROR": "In error",
}
ERROR_WAITS = {
    "client_recoverable": "someone to supply the missing information and relaunch it",
    "support_recoverable": "a valid authorization code (authinfo) and a relaunch",
    "temporary": "Gandi to retry it by itself",
    "unknown": "a person to look into the error with Gandi support",
}
RELAUNCHABLE_TYPES = frozenset(
    {
        "domain_create",
        "domain_transfer_in",
        "domain_ns_set",
        "domain_transfer_reseller",
        "domain_change_owner",
    }
)

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
        actions.append(RELAUNCH)
    if step in CANCELLABLE_STEPS:
        actions.append(_CANCEL)
    return tuple(actions)


def waiting_for(op_type: str, step: str, errortype: str | None) -> str | None:
    if step == "ERROR" and errortype in RETRYABLE_ERRORS and op_type not in RELAUNCHABLE_TYPES:
        return f"Gandi support (a {op_type} operation can't be relaunched)"
    return step_waits_for(step, errortype, billed="operation")


def step_waits_for(step: str, errortype: str | None, *, billed: str) -> str | None:
    """What a step of Gandi's operation engine waits for, in v3 and v5 alike (``billed``:
    what Gandi bills, the operation or the transfer); None when it waits for nothing."""
    if step == "BILL":
        return f"Gandi to bill the {billed} on the prepaid account"
    if step == "WAIT":
        return "the registry, the current registrar or the domain owner to approve"
    if step == "SUPPORT":
        return "Gandi support"
    if step != "ERROR" or errortype == "fatal":
        return None
    return ERROR_WAITS.get(errortype or "unknown")
