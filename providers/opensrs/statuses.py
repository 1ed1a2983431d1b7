"""OpenSRS transfer order statuses: what each means as a phase, and the actions it offers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from providers.base import Action, ActionSpec, Capabilities, Phase
from providers.descriptor import Deadline, Speed

__all__ = [
    "CANCEL",
    "CAPABILITIES",
    "DEADLINES",
    "FINAL_STATUSES",
    "RESEND",
    "RETRY",
    "SPEEDS",
    "STATUSES",
    "StatusInfo",
]

CAPABILITIES = Capabilities(
    actions=frozenset({Action.CANCEL, Action.RETRY, Action.RESEND}),
    can_list=True,
    change_feed=True,  # event notifications: EVENT POLL / EVENT ACK
    ref_label="order id",
    subject_label="domain",
    done_words={Action.RETRY: "resubmitted"},
)

RESEND = ActionSpec(
    Action.RESEND,
    "send_password",
    description="Send the registrant the transfer approval e-mail again.",
)
CANCEL = ActionSpec(
    Action.CANCEL,
    "cancel_transfer",
    destructive=True,
    description="Cancel the transfer order at OpenSRS.",
)
RETRY = ActionSpec(
    Action.RETRY,
    "process_transfer",
    description="Resubmit the cancelled order as a new order with the same data.",
)


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """What one OpenSRS status means for us."""

    phase: Phase
    text: str  # plain words, shown when OpenSRS gives no reason
    waiting_for: str | None
    actions: tuple[ActionSpec, ...]
    rank: int  # how far along an order is; an order never goes back
    speed: Speed | None = None  # how fast it moves (the watcher's pace); None once finished


STATUSES: Mapping[str, StatusInfo] = {
    "pending_owner": StatusInfo(
        Phase.PENDING,
        "Waiting for the registrant to approve the transfer e-mail",
        "the registrant to approve the transfer e-mail",
        (RESEND, CANCEL),
        0,
        Speed.WAITING,
    ),
    "pending_admin": StatusInfo(
        Phase.PENDING,
        "Waiting for OpenSRS to review the order",
        "OpenSRS to review the order",
        (CANCEL,),
        1,
        Speed.MOVING,
    ),
    "pending_registry": StatusInfo(
        Phase.ACTIVE,
        "Sent to the registry; waiting for the losing registrar to release the domain",
        "the registry and the losing registrar to release the domain",
        (CANCEL,),
        2,
        Speed.MOVING,
    ),
    "completed": StatusInfo(Phase.COMPLETED, "Transfer completed", None, (), 3),
    "cancelled": StatusInfo(Phase.BLOCKED, "Transfer cancelled", None, (), 3),
}
FINAL_STATUSES = frozenset({"completed", "cancelled"})
SPEEDS: Mapping[str, Speed] = {
    status: info.speed for status, info in STATUSES.items() if info.speed is not None
}
# pending_registry: the losing registrar's window under ICANN's Transfer Policy — it must
# answer the registry within five days, else the registry approves the transfer by default
# (http://www.icann.org/en/resources/registrars/transfers/policy, section I.A.3;
# https://wiki.hexonet.net/index.php?title=Glossary:Transfer_Pending_Period: AUTO-ACK).
# pending_owner: OpenSRS cancels an order whose registrant does not approve "in time", but
# its public docs give no figure (support.opensrs.com "A Complete Guide to Domain
# Transfers"), so that status shows no deadline rather than a guess.
DEADLINES: Mapping[str, Deadline] = {
    "pending_registry": Deadline(
        timedelta(days=5),
        "approved by the registry by default",
        "ICANN Transfer Policy I.A.3: the losing registrar has 5 days to ACK or NACK",
        warn=False,
    ),
}
