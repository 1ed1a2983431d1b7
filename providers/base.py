"""One model for four providers: the Transfer snapshot, phases, actions and the interface."""

from __future__ import annotations

import abc
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from providers.errors import InvalidInput, NotAllowedNow, Unsupported

if TYPE_CHECKING:
    from providers.http import ProviderHTTP
    from providers.settings import ProviderAccount

__all__ = [
    "FINISHED_PHASES",
    "Action",
    "ActionInput",
    "ActionResult",
    "ActionSpec",
    "Capabilities",
    "Change",
    "ChangeFeed",
    "HistoryEntry",
    "Phase",
    "ProviderClient",
    "Transfer",
    "TransferProvider",
    "mask_secret",
    "not_allowed_now",
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
    "foa": Action.RESEND,  # Gandi v5: resend the FOA (approval) e-mail
    "resend_foa": Action.RESEND,
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
    change_feed: bool = False  # the client is also a ChangeFeed (an account may turn it on)
    ref_label: str = "reference"  # how the provider names a transfer, for help texts
    subject_label: str = "domain"
    # the provider's word for an action done, where it isn't ours: {Action.CANCEL: "aborted"}
    done_words: Mapping[Action, str] = field(default_factory=dict)

    def supports(self, action: Action) -> bool:
        return action in self.actions

    def can(self, actions: Iterable[Action]) -> str:
        """What follows "it can" or "it can't": ``be started or aborted``,
        ``be cancelled or have its approval e-mail resent``."""
        wanted = list(actions)
        done = [self.done_words.get(a, _DONE_WORDS[a]) for a in wanted if a is not Action.RESEND]
        parts = ["be " + " or ".join(done)] if done else []
        if Action.RESEND in wanted:
            parts.append("have its approval e-mail resent")
        return " or ".join(parts)


_DONE_WORDS: Mapping[Action, str] = {
    Action.PAUSE: "paused",
    Action.RESUME: "resumed",
    Action.CANCEL: "cancelled",
    Action.RETRY: "retried",
}


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


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of a provider's change feed: something about one transfer changed.

    The watcher trusts a change only to say *which* transfer to read now; what the
    transfer's state is comes from that read, never from the change itself.
    """

    id: str  # the provider's id for this change, unique per account (what is acknowledged)
    kind: str  # the provider's words: "ORDER STATUS_CHANGE", "TRANSFER STATUS_CHANGE"
    ref: str  # the transfer it is about, as get_transfer takes it ("" if it names none)
    subject: str = ""  # what is moving, e.g. the domain
    status: str = ""  # the status the change reports, in the provider's words
    at: datetime | None = None  # when it happened, by the provider's clock
    transfer_in: bool = False  # the change is about an incoming transfer


@runtime_checkable
class ChangeFeed(Protocol):
    """A provider account's queue of changes: poll, act on them, then acknowledge each.

    A change polled but not acknowledged comes again (at least once delivery), so the
    caller acknowledges only after what the change caused is durably recorded.
    """

    async def poll_changes(self, limit: int) -> Sequence[Change]:
        """Up to ``limit`` unacknowledged changes, oldest first; raises a ProviderError
        (Unsupported when the feed is switched off at the provider)."""
        ...

    async def ack_change(self, change_id: str) -> None:
        """Remove one change from the queue; raises a ProviderError."""
        ...


def not_allowed_now(
    transfer: Transfer, action: Action, *, who: str, capabilities: Capabilities
) -> str:
    """The one sentence for an action the transfer's state does not offer now, with what it
    does offer: ``The transfer s1 at cpanel account 'east' is PAUSED, so it can't be
    paused; it can be started or aborted.``"""
    raw = transfer.raw_code.strip()
    phase = transfer.phase.value
    state = raw if raw.lower() == phase or not raw else f"{phase} ({raw})"
    name = transfer.ref
    if transfer.subject and transfer.subject != transfer.ref:
        name = f"{transfer.ref} ({transfer.subject})"
    offered = [spec.action for spec in transfer.actions]
    if offered:
        then = f"it can {capabilities.can(offered)}"
    elif transfer.phase.finished:
        then = "nothing more can be done to it"
    elif transfer.waiting_for:
        then = f"it is waiting for {transfer.waiting_for}"
    else:
        then = "nothing can be done to it now"
    return (
        f"The transfer {name} at {who} is {state}, so it can't {capabilities.can([action])}; "
        f"{then}."
    )


class ProviderClient(abc.ABC):
    """What every provider client's ``perform`` shares: its opening checks, in one order.

    A client implements the hooks (its words for an action it lacks, its ref's form, the
    form of its inputs, the read an action starts from) and :meth:`act`, the one call that
    is its own. ``perform`` refuses, before any action is sent: an action the provider
    lacks (Unsupported), a malformed ref or input (InvalidInput, before anything is sent),
    one the transfer's state does not offer now (NotAllowedNow, in one shared sentence),
    and inputs the offered action refuses (InvalidInput).
    """

    account: ProviderAccount
    capabilities: Capabilities
    _http: ProviderHTTP  # the account's HTTP plumbing, made by the client

    def __repr__(self) -> str:
        return f"{type(self).__name__}(account={self.account.name!r})"  # never a secret

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def who(self) -> str:
        """The account as sentences name it: ``cpanel account 'main'``."""
        return f"{self.account.type} account '{self.account.name}'"

    async def perform(
        self, ref: str, action: Action, inputs: Mapping[str, str] | None = None
    ) -> ActionResult:
        """Run an action once; never retried."""
        values = dict(inputs or {})
        name = self.account.name
        if not self.capabilities.supports(action):
            raise Unsupported(self.unsupported(action), account=name)
        key = self.action_ref(ref)
        self.check_inputs(action, values)
        before = await self.read_for_action(key)
        spec = before.action(action)
        if spec is None:
            sentence = not_allowed_now(before, action, who=self.who, capabilities=self.capabilities)
            raise NotAllowedNow(sentence, account=name)
        problems = spec.validate(values)
        if problems:
            raise InvalidInput(" ".join(problems.values()), account=name)
        return await self.act(key, before, spec, values)

    # -- hooks ------------------------------------------------------------------------------
    @abc.abstractmethod
    def unsupported(self, action: Action) -> str:
        """Why this provider can't do ``action`` at all, and what it can do."""

    @abc.abstractmethod
    def action_ref(self, ref: str) -> str:
        """The ref in the form the provider takes; InvalidInput (sending nothing) if it isn't."""

    def check_inputs(self, action: Action, inputs: Mapping[str, str]) -> None:
        """Refuse, sending nothing, inputs of a form the provider never takes."""
        return None  # by default the offered action's spec alone checks them

    async def read_for_action(self, ref: str) -> Transfer:
        """The transfer's state an action is checked against."""
        return await self.get_transfer(ref)

    @abc.abstractmethod
    async def get_transfer(self, ref: str, *, detailed: bool = False) -> Transfer: ...

    @abc.abstractmethod
    async def act(
        self, ref: str, before: Transfer, spec: ActionSpec, inputs: Mapping[str, str]
    ) -> ActionResult:
        """Send the action once (the state offers it and the inputs are valid)."""


def mask_secret(value: str | None) -> str:
    """Show that a secret exists without showing it: ``••••••`` (never its length)."""
    return "••••••" if value else ""
