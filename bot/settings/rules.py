"""Configuration of where alerts go and how stuck transfers are followed up: the
``[[routes]]`` rules and the ``[followups]`` section with its named policies."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator

from bot.settings.values import ChannelId, Duration, Section, StallKey, matching, off_or_duration
from providers.base import Phase
from providers.descriptor import Deadline
from providers.registry import PROVIDER_TYPES, descriptor_of
from providers.settings import Integer

logger = logging.getLogger(__name__)


def _words(value: object) -> object:
    """One word or a list of them -> a tuple (a route's ``account = "x"`` or ``["x", "y"]``)."""
    return (value,) if isinstance(value, str) else value


def _phase(word: str) -> str:
    if word not in Phase._value2member_map_:
        choices = ", ".join(p.value for p in Phase)
        raise ValueError(f"{word!r} is not a phase, so it can never match; use one of {choices}")
    return word


def _pattern(value: str) -> str:
    try:
        re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(
            f"{value!r} is not a pattern that compiles ({exc}), so it can never match"
        ) from None
    return value


def _provider_type(word: str) -> str:
    if word not in PROVIDER_TYPES:
        raise ValueError(f"{word!r} is not a provider type ({', '.join(PROVIDER_TYPES)})")
    return word


PolicyName = Annotated[
    str, matching(r"^[a-z0-9][a-z0-9_-]{0,39}$", "a policy name (a-z 0-9 _ -, up to 40)")
]
Words = BeforeValidator(_words)


class RouteRule(Section):
    """One [[routes]] table: a transfer's alerts go to ``channel`` when every key it gives
    matches (a list matches any of its words); the first rule that matches wins."""

    channel: ChannelId
    account: Annotated[tuple[str, ...], Words] = ()
    provider: Annotated[tuple[Annotated[str, AfterValidator(_provider_type)], ...], Words] = ()
    phase: Annotated[tuple[Annotated[str, AfterValidator(_phase)], ...], Words] = ()
    subject: Annotated[str, AfterValidator(_pattern)] | None = None
    policy: PolicyName | None = None  # its transfers' followups.policies entry

    @property
    def catch_all(self) -> bool:
        return not (self.account or self.provider or self.phase or self.subject is not None)

    def matches(self, *, account: str, provider: str, phase: str, subject: str) -> bool:
        """True when every key given matches this transfer (the subject pattern is searched
        in the subject, case ignored: domains are)."""
        return (
            (not self.account or account in self.account)
            and (not self.provider or provider in self.provider)
            and (not self.phase or phase in self.phase)
            and (
                self.subject is None or re.search(self.subject, subject, re.IGNORECASE) is not None
            )
        )

    def covers(self, later: RouteRule) -> bool:
        """True when this rule matches everything ``later`` could (so ``later`` never wins)."""
        pairs = (
            (self.account, later.account),
            (self.provider, later.provider),
            (self.phase, later.phase),
        )
        wider = all(not mine or (theirs and set(theirs) <= set(mine)) for mine, theirs in pairs)
        return wider and (self.subject is None or self.subject == later.subject)


def _mention_target(value: str) -> str:
    if not re.match(r"^(S|U|W)[A-Z0-9]{2,}$", value):
        raise ValueError(f"{value!r} is not a Slack user-group id (S…) or user id (U… or W…)")
    return value


MentionTarget = Annotated[str, AfterValidator(_mention_target)]


class EscalationLevel(Section):
    """One escalation level: nobody has taken the transfer ``after`` this long; ``mention``
    (user groups ``S…``, people ``U…``) are named in the thread, broadcast to the channel."""

    after: Duration
    mention: tuple[MentionTarget, ...] = ()


def _default_levels() -> tuple[EscalationLevel, ...]:
    return (EscalationLevel(after=timedelta(days=1)), EscalationLevel(after=timedelta(days=3)))


class FollowupPolicy(Section):
    """[followups.policies.NAME]: how a stuck transfer is followed up, PagerDuty-style.

    A reminder in its thread ``remind_after`` the transfer got stuck, then every
    ``remind_every`` (at most ``max_reminders``, 0 for no limit), mentioning its owner if
    it has one; while nobody owns it, each escalation level once, at its ``after``.
    """

    remind_after: Duration = timedelta(hours=4)
    remind_every: Duration = timedelta(days=1)
    max_reminders: Integer = Field(default=0, ge=0, le=1000)
    broadcast: bool = False  # reminders also shown in the channel (thread replies notify nobody)
    escalations: tuple[EscalationLevel, ...] = Field(default_factory=_default_levels)

    @field_validator("escalations")
    @classmethod
    def _in_order(cls, value: tuple[EscalationLevel, ...]) -> tuple[EscalationLevel, ...]:
        afters = [level.after for level in value]
        if afters != sorted(afters) or len(set(afters)) != len(afters):
            raise ValueError("give the levels in order, each 'after' longer than the one before")
        if len(value) > 5:
            raise ValueError("at most 5 escalation levels")
        return value


class FollowupSettings(Section):
    """[followups]: reminders, escalation and deadline warnings for transfers nobody moved.

    ``policies`` are named so that a channel route can pick one; ``policy`` is the one used
    otherwise. ``deadlines`` overrides a provider's own clock per ``provider:status``
    (a duration, or "off"); see docs/configuration.md for the figures and their sources.
    """

    enabled: bool = True
    stalled: bool = True  # stalled transfers are followed up as blocked ones are
    policies: dict[str, FollowupPolicy] = Field(
        default_factory=lambda: {"default": FollowupPolicy()}
    )
    policy: str = "default"  # after policies, so that it can be checked against them
    snooze_for: Duration = timedelta(days=1)  # "Snooze until tomorrow"
    deadline_warning: Duration = timedelta(days=3)  # remind this long before a deadline
    deadlines: dict[StallKey, Annotated[timedelta | None, BeforeValidator(off_or_duration)]] = (
        Field(default_factory=dict)
    )
    batch_size: Integer = Field(default=500, ge=1, le=10_000)

    @field_validator("policies")
    @classmethod
    def _has_default(cls, value: dict[str, FollowupPolicy]) -> dict[str, FollowupPolicy]:
        for name in value:
            if not re.match(r"^[A-Za-z0-9_-]{1,40}$", name):
                raise ValueError(f"{name!r} is not a policy name (letters, digits, - and _)")
        return {"default": FollowupPolicy(), **value}

    @field_validator("deadlines")
    @classmethod
    def _per_status(cls, value: dict[str, timedelta | None]) -> dict[str, timedelta | None]:
        if "default" in value:
            raise ValueError("name a 'provider:status'; there is no default deadline")
        return value

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, value: str, info: ValidationInfo) -> str:
        policies = info.data.get("policies") or {"default": None}
        if value not in policies:
            raise ValueError(f"no policy {value!r} in followups.policies ({', '.join(policies)})")
        return value

    def policy_for(self, name: str | None = None) -> FollowupPolicy:
        """The named policy (a route's), else the configured one."""
        return self.policies.get(name or self.policy) or self.policies[self.policy]

    def deadline_for(self, provider: str, raw_code: str) -> Deadline | None:
        """The clock a provider's rules put on this status (or the override), if any."""
        wanted = f"{provider}:{raw_code.strip()}".lower()
        for key, after in self.deadlines.items():
            if key.lower() == wanted:
                if after is None:
                    return None
                known = descriptor_of(provider).deadlines.get(raw_code.strip())
                outcome = known.outcome if known is not None else "due"
                source = known.source if known is not None else "configuration"
                return Deadline(after, outcome, source)
        return descriptor_of(provider).deadlines.get(raw_code.strip())
