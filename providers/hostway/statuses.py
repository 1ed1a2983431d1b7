"""Hostway's transfer status codes (seed 002) and what each means in our model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from providers.base import Action, ActionInput, ActionSpec, Capabilities, Phase
from providers.descriptor import Deadline, Speed

__all__ = [
    "AUTH_INFO_INPUT",
    "BLOCKED_FOR",
    "CAPABILITIES",
    "DEADLINES",
    "SPEEDS",
    "STATUS_CODES",
    "StatusCode",
    "auth_info_problem",
    "phase_of",
    "reset_spec",
    "status_code",
]


@dataclass(frozen=True, slots=True)
class StatusCode:
    """One row of seed 002's table, with our phase and what the transfer waits for."""

    code: int
    description: str  # Hostway's own words, as the table gives them
    can_be_reset: bool  # the table's "Can be Reset" column (the reply's canBeReset rules)
    phase: Phase
    waiting_for: str | None = None
    speed: Speed | None = None  # how fast it moves where the phase doesn't say (the watcher's pace)


_RESET = "then a reset"
_P, _A, _B = Phase.PENDING, Phase.ACTIVE, Phase.BLOCKED
_F, _C, _D = Phase.FAILED, Phase.CANCELLED, Phase.COMPLETED
_MOVE, _WAIT = Speed.MOVING, Speed.WAITING

_ROWS: tuple[StatusCode, ...] = (
    StatusCode(
        0,
        "Transfer request created - awaiting fax",
        False,
        _P,
        "the signed transfer authorization fax",
        _MOVE,
    ),
    StatusCode(1, "WhoIs information matches", False, _A, speed=_MOVE),
    StatusCode(
        2,
        "Canceled due to WhoIs error",
        True,
        _B,
        f"the domain's WHOIS information to be corrected, {_RESET}",
    ),
    StatusCode(
        3,
        "Pending due to domain status",
        False,
        _P,
        "the domain's status at the registry to allow a transfer",
        _WAIT,
    ),
    StatusCode(
        4,
        "Canceled due to domain status",
        True,
        _B,
        f"the domain's status at the registry to allow a transfer (e.g. unlocked), {_RESET}",
    ),
    StatusCode(5, "Transferred and paid successfully", False, _D),
    StatusCode(
        6,
        "Transfer incomplete charge problem",
        True,
        _B,
        f"the charge problem to be fixed with Hostway billing, {_RESET}",
    ),
    StatusCode(
        7,
        "Frozen due to charge problem",
        False,
        _B,
        "Hostway billing to clear the charge problem (a reset can't fix this)",
    ),
    StatusCode(
        8, "NSI rejected transfer", True, _B, f"the registry's rejection to be resolved, {_RESET}"
    ),
    StatusCode(
        9,
        "Awaiting auto verification of transfer request",
        False,
        _P,
        "Hostway's automatic verification of the transfer request",
        _MOVE,
    ),
    StatusCode(
        10,
        "Unable to retrieve current domain contacts from UWhois",
        True,
        _B,
        f"the domain's contacts to be visible in WHOIS, {_RESET}",
    ),
    StatusCode(
        11,
        "Auto verification of transfer request initiated",
        False,
        _A,
        "Hostway's automatic verification of the transfer request",
        _MOVE,
    ),
    StatusCode(
        12,
        "Awaiting for auto transfer string validation",
        False,
        _P,
        "validation of the transfer string",
        _MOVE,
    ),
    StatusCode(
        13,
        "Domain awaiting transfer initiation",
        False,
        _P,
        "Hostway to start the transfer at the registry",
        _MOVE,
    ),
    StatusCode(
        14,
        "Domain transfer initiated and awaiting approval",
        False,
        _A,
        "the current registrar or registrant to approve the transfer",
        _WAIT,
    ),
    StatusCode(
        15,
        "Canceled - cannot obtain domain contacts from UWhois",
        True,
        _B,
        f"the domain's contacts to be visible in WHOIS, {_RESET}",
    ),
    StatusCode(
        16,
        "Canceled - domain contacts did not response to verification e-mails",
        True,
        _B,
        f"the domain's contacts to answer the verification e-mail, {_RESET}",
    ),
    StatusCode(
        17,
        "Canceled - domain contacts did not approve transfer of domain",
        True,
        _B,
        f"the domain's contacts to approve the transfer, {_RESET}",
    ),
    StatusCode(18, "Canceled - domain validation string is invalid", False, _F),
    StatusCode(
        19, "Canceled - Whois information provided does not match current registrant", False, _F
    ),
    StatusCode(
        20, "Canceled - Domain is currently not registered and cannot be transferred", False, _F
    ),
    StatusCode(
        21, "Canceled - Domain already registered in account & cannot be transferred", False, _F
    ),
    StatusCode(
        22,
        "Canceled - Domain is locked at current registrar",
        True,
        _B,
        f"the domain to be unlocked at the current registrar, {_RESET}",
    ),
    StatusCode(
        23,
        "Canceled - Transfer already initiated for this domain",
        True,
        _B,
        f"the other transfer of this domain to end, {_RESET}",
    ),
    StatusCode(
        24,
        "Canceled - Unable to transfer due to unknown error",
        True,
        _B,
        "a reset (Hostway gives no cause)",
    ),
    StatusCode(
        25,
        "Canceled - Transfer rejected by losing registrar",
        True,
        _B,
        f"the current registrar to stop rejecting the transfer, {_RESET}",
    ),
    StatusCode(
        26,
        "Canceled - Transfer authorization fax not received",
        True,
        _B,
        f"the signed transfer authorization fax, {_RESET}",
    ),
    StatusCode(27, "Canceled by customer", True, _C),
    StatusCode(
        28,
        "Fax received - awaiting registrant verification",
        False,
        _P,
        "the registrant to verify the transfer",
        _WAIT,
    ),
    StatusCode(
        29,
        "Awaiting manual fax verification",
        False,
        _P,
        "Hostway staff to verify the fax",
        _WAIT,
    ),
    StatusCode(30, "Canceled - Domain name is invalid or is Invalid for Transfers", False, _F),
    StatusCode(
        31,
        "Canceled - Domain is currently undergoing transfer by another Registrar",
        True,
        _B,
        f"the other registrar's transfer of the domain to end, {_RESET}",
    ),
    StatusCode(
        32,
        "Canceled - Invalid EPP/authorization key - Please contact current "
        "registrar to obtain correct key",
        True,
        _B,
        "a correct authInfo (EPP code) from the current registrar",
    ),
    StatusCode(33, "Canceled - Cannot transfer domain from name-only account", False, _F),
    StatusCode(
        34, "Unable to complete transfer. Transfers must include a change in registrar.", False, _F
    ),
    StatusCode(
        35,
        "Transfer request not yet submitted",
        False,
        _P,
        "the transfer request to be submitted",
        _WAIT,
    ),
    StatusCode(36, "Canceled - Account is not authorized to perform domain transfers", False, _F),
    StatusCode(
        37,
        "Canceled - Domain was not retagged or not retagged in time by losing registrar",
        True,
        _B,
        f"the losing registrar to retag the domain, {_RESET}",
    ),
    StatusCode(45, "Order cancelled", True, _C),
)

STATUS_CODES: Mapping[int, StatusCode] = {row.code: row for row in _ROWS}
SPEEDS: Mapping[str, Speed] = {str(row.code): row.speed for row in _ROWS if row.speed is not None}
# Seed 003 (Accounts-accountNumber-domains-transfer-domainName:PUT, Hostway API
# documentation): "If a problem occurs, a domain transfer will block for up to 60 days."
# Every blocked status carries that clock; Hostway names no other.
BLOCKED_FOR = Deadline(
    timedelta(days=60),
    "voided",
    "Hostway API documentation, domains/transfer PUT (seed 003): blocks for up to 60 days",
)
DEADLINES: Mapping[str, Deadline] = {
    str(row.code): BLOCKED_FOR for row in _ROWS if row.phase is Phase.BLOCKED
}


def status_code(code: int) -> StatusCode | None:
    """The table row for a code, or None for a code seed 002 does not list."""
    return STATUS_CODES.get(code)


def phase_of(code: int, *, can_be_reset: bool) -> Phase:
    """Our phase for a Hostway status code.

    A code the table does not know is shown raw in a phase that keeps it watched and
    never announces an end: blocked when Hostway says it can be reset, else active.
    """
    row = STATUS_CODES.get(code)
    if row is not None:
        return row.phase
    return Phase.BLOCKED if can_be_reset else Phase.ACTIVE


CAPABILITIES = Capabilities(
    actions=frozenset({Action.RETRY}),
    can_list=False,  # Hostway's API reads one domain's transfer: they are watched by domain
    ref_label="domain name",
    subject_label="domain",
    done_words={Action.RETRY: "reset"},
)

AUTH_INFO_INPUT = ActionInput(
    name="authInfo",
    label="New authInfo (EPP code)",
    secret=True,
    min_length=6,
    max_length=16,
    hint="Leave empty to retry with the authInfo Hostway already has.",
)


def reset_spec() -> ActionSpec:
    """The ``retry`` action as Hostway names it: a reset, optionally with a new authInfo."""
    return ActionSpec(
        action=Action.RETRY,
        verb="reset",
        inputs=(AUTH_INFO_INPUT,),
        description="Reset the blocked transfer, optionally with a new authInfo (EPP code).",
    )


def auth_info_problem(value: str | None) -> str | None:
    """A sentence saying what is wrong with a new authInfo, or None (empty means keep the old)."""
    problem = AUTH_INFO_INPUT.validate(value)
    if problem or not value:
        return problem
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return f"{AUTH_INFO_INPUT.label} must not contain spaces or control characters."
    return None
