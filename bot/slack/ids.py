"""Every Slack action id, callback id and block id in one place, with their button values."""

from __future__ import annotations

import enum
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Self

from providers.base import Action, Phase
from providers.settings import PROVIDER_TYPES

__all__ = [
    "CHOICE_VERBS",
    "INPUT_ACTION_ID",
    "ActionKind",
    "BlockId",
    "ButtonTarget",
    "CallbackId",
    "ListPage",
    "ModalContext",
    "OwnerButton",
    "RequestButton",
    "TransferAct",
    "TransferChoice",
    "TransferRef",
    "input_block_id",
    "input_name",
    "is_token",
    "parse_button",
]

logger = logging.getLogger(__name__)

# Short ids ("t-4k7q"), request ids ("42"), input names ("authinfo"): no ':' or '|'.
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MAX_PAGE = 100_000
# What an ambiguity answer may carry on with: a command about one transfer, or an action.
CHOICE_VERBS = frozenset({"status", "history", "unwatch", *(action.value for action in Action)})


def is_token(text: object) -> bool:
    """True for a short id, request id or input name we would put in an id or a value."""
    return isinstance(text, str) and bool(_TOKEN.match(text))


class ActionKind(enum.StrEnum):
    """The kind of an interactive element; its action_id is ``"<kind>:<suffix>"``."""

    ACT = "transfer.act"  # transfer.act:<short_id>:<action>
    REFRESH = "transfer.refresh"  # transfer.refresh:<short_id>
    SHOW = "transfer.show"  # transfer.show:<short_id>   (a list row's "Open")
    CHOOSE = "transfer.choose"  # transfer.choose:<short_id>  (an ambiguous ref's answer)
    APPROVE = "request.approve"  # request.approve:<request_id>
    REJECT = "request.reject"  # request.reject:<request_id>
    WITHDRAW = "request.withdraw"  # request.withdraw:<request_id>
    PAGE = "list.page"  # list.page:<n>
    TAKE = "transfer.take"  # transfer.take:<short_id>   ("I'll take it")
    RELEASE = "transfer.release"  # transfer.release:<short_id>
    SNOOZE = "transfer.snooze"  # transfer.snooze:<short_id>  ("Snooze until tomorrow")

    @property
    def pattern(self) -> re.Pattern[str]:
        """A regex matching every action_id of this kind, for Bolt's ``app.action(...)``."""
        return re.compile(rf"^{re.escape(self.value)}:[A-Za-z0-9_.:-]+$")

    def action_id(self, *parts: str) -> str:
        for part in parts:
            if not is_token(part):
                raise ValueError(f"{part!r} can't be part of an action id")
        return ":".join((self.value, *parts))


class CallbackId(enum.StrEnum):
    """Callback ids of views (modals)."""

    ACTION_INPUTS = "transfer.action_inputs"


class BlockId(enum.StrEnum):
    """Fixed block ids; input blocks use :func:`input_block_id`."""

    TRANSFER_ACTIONS = "transfer.actions"
    REQUEST_ACTIONS = "request.actions"
    LIST_PAGES = "list.pages"
    STATUS = "transfer.status"
    REQUEST_STATE = "request.state"


INPUT_ACTION_ID = "value"  # the action_id of the one element inside each input block
_INPUT_PREFIX = "input:"


def input_block_id(name: str) -> str:
    """The block id of the modal input for an ActionInput named ``name``."""
    if not is_token(name):
        raise ValueError(f"{name!r} can't be an input name")
    return _INPUT_PREFIX + name


def input_name(block_id: str) -> str | None:
    """The ActionInput name behind an input block id, or None if it is not one of ours."""
    if not block_id.startswith(_INPUT_PREFIX):
        return None
    name = block_id[len(_INPUT_PREFIX) :]
    return name if is_token(name) else None


# -- what a button carries ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TransferAct:
    """Act on a transfer: the button of one ActionSpec."""

    short_id: str
    action: Action

    kind = ActionKind.ACT

    @property
    def action_id(self) -> str:
        return self.kind.action_id(self.short_id, self.action.value)

    @property
    def value(self) -> str:
        return f"{self.short_id}|{self.action.value}"

    @classmethod
    def parse(cls, value: str) -> TransferAct | None:
        parts = value.split("|")
        if len(parts) != 2 or not is_token(parts[0]):
            return None
        try:
            return cls(parts[0], Action(parts[1]))
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class TransferRef:
    """A button about one transfer (Refresh, Open)."""

    short_id: str
    kind: ActionKind = ActionKind.REFRESH

    @property
    def action_id(self) -> str:
        return self.kind.action_id(self.short_id)

    @property
    def value(self) -> str:
        return self.short_id

    @classmethod
    def parse(cls, value: str, kind: ActionKind = ActionKind.REFRESH) -> Self | None:
        return cls(value, kind) if is_token(value) else None


@dataclass(frozen=True, slots=True)
class OwnerButton(TransferRef):
    """Take a stuck transfer on ("I'll take it"), let it go ("Release"), or silence its
    reminders for a day ("Snooze until tomorrow")."""

    kind: ActionKind = ActionKind.TAKE


@dataclass(frozen=True, slots=True)
class TransferChoice:
    """The answer to "which one did you mean?": a transfer, and the verb to carry on with."""

    short_id: str
    verb: str  # one of CHOICE_VERBS: "status", "unwatch", or an Action's value

    kind = ActionKind.CHOOSE

    @property
    def action_id(self) -> str:
        return self.kind.action_id(self.short_id)

    @property
    def value(self) -> str:
        return f"{self.short_id}|{self.verb}"

    @classmethod
    def parse(cls, value: str) -> TransferChoice | None:
        parts = value.split("|")
        if len(parts) != 2 or not is_token(parts[0]) or parts[1] not in CHOICE_VERBS:
            return None
        return cls(parts[0], parts[1])


@dataclass(frozen=True, slots=True)
class RequestButton:
    """Approve, Reject or Withdraw one action request."""

    request_id: str
    kind: ActionKind

    @property
    def action_id(self) -> str:
        return self.kind.action_id(self.request_id)

    @property
    def value(self) -> str:
        return self.request_id

    @classmethod
    def parse(cls, value: str, kind: ActionKind) -> RequestButton | None:
        return cls(value, kind) if is_token(value) else None


@dataclass(frozen=True, slots=True)
class ListPage:
    """Prev / Next in a paged list, with the list's filters."""

    page: int
    provider: str | None = None
    phase: Phase | None = None

    kind = ActionKind.PAGE

    @property
    def action_id(self) -> str:
        return self.kind.action_id(str(self.page))

    @property
    def value(self) -> str:
        return f"{self.page}|{self.provider or ''}|{self.phase.value if self.phase else ''}"

    @classmethod
    def parse(cls, value: str) -> ListPage | None:
        parts = value.split("|")
        if len(parts) != 3 or not parts[0].isascii() or not parts[0].isdigit():
            return None
        page = int(parts[0])
        if not 1 <= page <= _MAX_PAGE:
            return None
        provider = parts[1] or None
        if provider is not None and provider not in PROVIDER_TYPES:
            return None
        try:
            phase = Phase(parts[2]) if parts[2] else None
        except ValueError:
            return None
        return cls(page, provider, phase)


ButtonTarget = TransferAct | TransferRef | TransferChoice | RequestButton | ListPage | OwnerButton


def parse_button(action_id: str, value: str | None) -> ButtonTarget | None:
    """What a clicked button means, or None when its id and value are garbled or disagree.

    The value is what we act on; the action_id must name the same thing, so a forged
    payload that mixes one button's id with another's value is refused.
    """
    if not isinstance(action_id, str) or not isinstance(value, str) or len(value) > 2000:
        return None
    kind_word, _, _suffix = action_id.partition(":")
    try:
        kind = ActionKind(kind_word)
    except ValueError:
        return None
    target: ButtonTarget | None
    if kind is ActionKind.ACT:
        target = TransferAct.parse(value)
    elif kind in (ActionKind.REFRESH, ActionKind.SHOW):
        target = TransferRef.parse(value, kind)
    elif kind is ActionKind.CHOOSE:
        target = TransferChoice.parse(value)
    elif kind is ActionKind.PAGE:
        target = ListPage.parse(value)
    elif kind in (ActionKind.TAKE, ActionKind.RELEASE, ActionKind.SNOOZE):
        target = OwnerButton.parse(value, kind)
    else:
        target = RequestButton.parse(value, kind)
    if target is None or target.action_id != action_id:
        logger.info("refused a button whose id and value do not agree (kind %s)", kind.value)
        return None
    return target


# -- what a modal carries -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ModalContext:
    """Where an action-inputs modal came from: its ``private_metadata``, as compact JSON."""

    short_id: str
    action: Action
    channel_id: str | None = None
    thread_ts: str | None = None
    user_id: str | None = None

    def encode(self) -> str:
        data: dict[str, Any] = {"s": self.short_id, "a": self.action.value}
        if self.channel_id:
            data["c"] = self.channel_id
        if self.thread_ts:
            data["t"] = self.thread_ts
        if self.user_id:
            data["u"] = self.user_id
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None) -> ModalContext | None:
        """The context a modal was opened with, or None when the metadata is garbled."""
        if not isinstance(text, str) or len(text) > 3000:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict) or not is_token(data.get("s")):
            return None
        try:
            action = Action(str(data.get("a")))
        except ValueError:
            return None
        extras = [data.get(key) for key in ("c", "t", "u")]
        if any(x is not None and not is_token(x) for x in extras):
            return None
        return cls(data["s"], action, *extras)
