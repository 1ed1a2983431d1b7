"""One model for four providers: the Transfer snapshot, phases, actions and the interface."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from providers.settings import ProviderAccount

__all__ = [
    "FINISHED_PHASES",
    "Action",
    "ActionInput",
    "ActionResult",
    "ActionSpec",
    "Capabilities",
    "HistoryEntry",
    "Phase",
    "Transfer",
    "TransferProvider",
    "mask_secret",
    "parse_action",
]


class Phase(enum.StrEnum):
    """Where a transfer stands, the same words for every provider."""

    PENDING = "pending"
    ACTIVE = "active"
    PAUSED = "paused"
    BLOCKED = "blocked"  # stuck, but a person can recover it
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED_PHASES


FINISHED_PHASES = frozenset({Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED})


class Action(enum.StrEnum):
    """What a person can do to a transfer."""

    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    RETRY = "retry"
    RESEND = "resend"  # resend the approval e-mail (OpenSRS send_password)

    @property
    def changes_transfer(self) -> bool:
        return self is not Action.RESEND


ACTION_ALIASES: Mapping[str, Action] = {
    "abort": Action.CANCEL,
    "reset": Action.RETRY,
    "resubmit": Action.RETRY,
    "relaunch": Action.RETRY,
    "start": Action.RESUME,
    "restart": Action.RESUME,
    "process_transfer": Action.RETRY,
    "cancel_transfer": Action.CANCEL,
    "send_password": Action.RESEND,
    "resend_email": Action.RESEND,
}


def parse_action(word: str) -> Action | None:
    """Return the action a word names (its own name or a provider verb), or None."""
    key = word.strip().lower().replace("-", "_")
    try:
        return Action(key)
    except ValueError:
        return ACTION_ALIASES.get(key)


@dataclass(frozen=True, slots=True)
class ActionInput:
    """A value an action needs from a person, e.g. a new authInfo."""

    name: str
    label: str
    required: bool = False
    secret: bool = False
    min_length: int | None = None
    max_length: int | None = None
    hint: str = ""

    def validate(self, value: str | None) -> str | None:
        """Return a sentence saying what is wrong with ``value``, or None if it is fine."""
        if value is None or value == "":
            return f"{self.label} is required." if self.required else None
        if self.min_length is not None and len(value) < self.min_length:
            return f"{self.label} must be at least {self.min_length} characters."
        if self.max_length is not None and len(value) > self.max_length:
            return f"{self.label} must be at most {self.max_length} characters."
        return None


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """An action available now, with the provider's own verb and the inputs it takes."""

    action: Action
    verb: str  # the provider's word: "abort", "reset", "process_transfer", ...
    inputs: tuple[ActionInput, ...] = ()
    destructive: bool = False
    description: str = ""

    def validate(self, values: Mapping[str, str | None]) -> dict[str, str]:
        """Return {input name: problem} for every invalid value."""
        problems = {}
        for spec in self.inputs:
            problem = spec.validate(values.get(spec.name))
            if problem:
                problems[spec.name] = problem
        return problems


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One step in the provider's own history of the transfer."""

    at: datetime | None
    raw_code: str
    raw_text: str
    phase: Phase | None = None


@dataclass(frozen=True, slots=True)
class Transfer:
    """A snapshot of one transfer as one provider account sees it now.

    Never holds a secret: provider details are masked before they get here.
    """

    account: str  # our name for the provider account
    provider: str  # provider type: cpanel, hostway, opensrs, gandi
    ref: str  # the provider's name for it: session id, order id, domain, operation id
    subject: str  # what is moving: a domain, or a cPanel session's accounts
    phase: Phase
    raw_code: str  # the provider's own status code or state name
    raw_text: str  # the provider's own words for it
    actions: tuple[ActionSpec, ...] = ()
    changed_at: datetime | None = None
    history: tuple[HistoryEntry, ...] = ()
    waiting_for: str | None = None  # plain words: "the registrant to approve the e-mail"
    details: Mapping[str, str] = field(default_factory=dict)

    def action(self, action: Action) -> ActionSpec | None:
        for spec in self.actions:
            if spec.action is action:
                return spec
        return None

    @property
    def action_names(self) -> tuple[str, ...]:
        return tuple(spec.action.value for spec in self.actions)


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What came of an action: a sentence for people, and what the bot must follow."""

    action: Action
    message: str
    new_ref: str | None = None  # OpenSRS resubmission: the new order to follow instead
    transfer: Transfer | None = None  # the state right after, when the provider says


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider type can do at all; callers check before acting."""

    actions: frozenset[Action]
    can_list: bool = False
    ref_label: str = "reference"  # how the provider names a transfer, for help texts
    subject_label: str = "domain"

    def supports(self, action: Action) -> bool:
        return action in self.actions


@runtime_checkable
class TransferProvider(Protocol):
    """One provider account, spoken to over its wire protocol."""

    account: ProviderAccount
    capabilities: Capabilities

    async def get_transfer(self, ref: str, *, detailed: bool = False) -> Transfer:
        """Fetch one transfer's current state; raises a ProviderError.

        ``detailed=True`` asks for what a card shows beyond the status (a cPanel session's
        log tail and accounts), which may cost extra calls; the watcher polls without it.
        """
        ...

    async def list_transfers(self) -> Sequence[Transfer]:
        """The account's in-flight transfers; raises Unsupported where it can't list."""
        ...

    async def perform(
        self, ref: str, action: Action, inputs: Mapping[str, str] | None = None
    ) -> ActionResult:
        """Run an action once; never retried automatically."""
        ...

    async def aclose(self) -> None: ...


def mask_secret(value: str | None) -> str:
    """Show that a secret exists without showing it: ``••••••`` (never its length)."""
    return "••••••" if value else ""
