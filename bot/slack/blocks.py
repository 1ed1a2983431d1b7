"""Block Kit pieces every message shares: limits, clipping, escaping, dates, status lines, buttons.

The builders themselves live beside this module: ``cards`` (status card, list, help,
choice), ``requests`` (approval requests and the action-inputs modal), ``alerts`` (watcher
alerts, thread headers, outages, summaries) and ``home`` (the App Home tab). All are pure:
plain data in, ``(fallback text, blocks)`` out.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    BlockElement,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.slack.ids import ActionKind, BlockId, OwnerButton, TransferAct, TransferRef
from bot.slack.mrkdwn import Mrkdwn, as_mrkdwn, escape, md, mention
from providers.base import ActionSpec, Phase, Transfer
from providers.registry import PROVIDER_LABELS

__all__ = [
    "MAX_BLOCKS",
    "MAX_BUTTON_TEXT",
    "MAX_FALLBACK_TEXT",
    "MAX_SECTION_TEXT",
    "MAX_VIEW_BLOCKS",
    "PHASE_EMOJI",
    "Deadline",
    "Message",
    "Mrkdwn",
    "Owner",
    "Row",
    "action_button",
    "action_label",
    "as_mrkdwn",
    "clip",
    "context",
    "deadline_line",
    "escape",
    "finish",
    "in_words",
    "md",
    "mention",
    "mrkdwn_text",
    "owner_button",
    "provider_name",
    "section",
    "slack_date",
    "snooze_button",
    "status_line",
    "transfer_buttons",
    "transfer_line",
]

logger = logging.getLogger(__name__)

MAX_BLOCKS = 50  # per message
MAX_VIEW_BLOCKS = 100  # per modal or Home tab
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK_TEXT = 600  # Slack allows 40,000; a notification line should be short
MAX_RAW_TEXT = 300  # the provider's own words, on a status line

Message = tuple[str, list[dict[str, Any]]]

PROVIDER_NAMES = PROVIDER_LABELS  # provider type -> "cPanel", from the descriptors

PHASE_EMOJI = {
    Phase.PENDING: ":hourglass_flowing_sand:",
    Phase.ACTIVE: ":arrows_counterclockwise:",
    Phase.PAUSED: ":double_vertical_bar:",
    Phase.BLOCKED: ":warning:",
    Phase.COMPLETED: ":white_check_mark:",
    Phase.FAILED: ":x:",
    Phase.CANCELLED: ":no_entry_sign:",
}


class Row(NamedTuple):
    """One transfer in a list, the Home tab or a summary."""

    short_id: str
    transfer: Transfer
    stalled: bool = False


_OPEN_TOKEN = re.compile(r"<[^>]*$|&[a-z]*$")  # a cut inside ``<@U1>`` or ``&amp;``


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, with an ellipsis when cut.

    Markup (:class:`Mrkdwn`) stays markup: it is never cut inside a ``<…>`` or an entity.
    """
    if len(text) <= limit:
        return text
    head = text[: max(0, limit - 1)]
    if isinstance(text, Mrkdwn):
        return Mrkdwn(_OPEN_TOKEN.sub("", head) + "…")
    return head + "…"


def slack_date(at: datetime, fmt: str = "{date_short_pretty} {time}") -> Mrkdwn:
    """A time every reader sees in their own time zone; UTC in the fallback."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    fallback = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if not re.fullmatch(r"[{}a-z_ ,:]*", fmt):
        fmt = "{date_short_pretty} {time}"
    return Mrkdwn(f"<!date^{int(at.timestamp())}^{fmt}|{fallback}>")


def plain_date(at: datetime) -> str:
    """The same time for plain fallback text."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


class Deadline(NamedTuple):
    """A provider's clock on a transfer: when, and what happens then ("voided")."""

    at: datetime
    outcome: str


def in_words(delta_seconds: float) -> str:
    """'in 12 days', 'in 5 hours', 'in 3 minutes'."""
    days = delta_seconds / 86400
    if days >= 2:
        return f"in {round(days)} days"
    hours = delta_seconds / 3600
    if hours >= 2:
        return f"in {round(hours)} hours"
    minutes = max(1, round(delta_seconds / 60))
    return f"in {minutes} minute{'s' if minutes != 1 else ''}"


def deadline_line(deadline: Deadline, now: datetime) -> Mrkdwn:
    """ ":hourglass: Voided in 12 days (<date>)": how long is left, as of ``now``, and
    the date in each reader's own time zone."""
    left = (deadline.at - now).total_seconds()
    if left <= 0:
        return md(":hourglass: Provider deadline passed {}: {}.", slack_date(deadline.at),
                  clip(deadline.outcome, 100))  # fmt: skip
    return md(
        ":hourglass: {} {} ({}).",
        clip(deadline.outcome, 100).capitalize(),
        in_words(left),
        slack_date(deadline.at),
    )


def provider_name(provider: str) -> str:
    return PROVIDER_NAMES.get(provider, provider)


def status_line(transfer: Transfer, *, limit: int = MAX_RAW_TEXT) -> Mrkdwn:
    """``:warning: *blocked* · Hostway 32 “Canceled - Invalid EPP…”`` (mrkdwn)."""
    raw = f"{provider_name(transfer.provider)} {transfer.raw_code}".strip()
    words = clip(" ".join(transfer.raw_text.split()), limit)
    quoted = md(" “{}”", words) if words else ""
    return md(
        "{} *{}* · {}{}", Mrkdwn(PHASE_EMOJI[transfer.phase]), transfer.phase.value, raw, quoted
    )


def transfer_line(row: Row) -> Mrkdwn:
    """One line about one transfer, for lists, the Home tab and summaries (mrkdwn)."""
    short_id, transfer, stalled = row
    parts = [
        md("`{}` *{}*", short_id, clip(transfer.subject, 80)),
        md("{} `{}`", provider_name(transfer.provider), transfer.account),
        status_line(transfer, limit=80),
    ]
    if stalled:
        parts.append(Mrkdwn(":snail: stalled"))
    if transfer.changed_at is not None:
        parts.append(md("changed {}", slack_date(transfer.changed_at)))
    return Mrkdwn(" · ").join(parts)


def plain_line(row: Row) -> str:
    """One line about one transfer for notification fallbacks (escaped: Slack formats it too)."""
    short_id, transfer, _ = row
    line = clip(
        f"{transfer.subject} ({provider_name(transfer.provider)} {transfer.account}, {short_id}): "
        f"{transfer.phase.value} · {transfer.raw_code} {' '.join(transfer.raw_text.split())}",
        200,
    )
    return escape(line)


def mrkdwn_text(text: str, limit: int = MAX_FIELD_TEXT) -> MarkdownTextObject:
    """A mrkdwn text object: ``text`` escaped unless it is :class:`Mrkdwn`, held to ``limit``."""
    return MarkdownTextObject(text=clip(as_mrkdwn(text), limit))


def section(
    text: str, *, block_id: str | None = None, accessory: BlockElement | None = None
) -> SectionBlock:
    """A mrkdwn section with its text held to Slack's limit (plain ``str`` is escaped)."""
    return SectionBlock(
        text=mrkdwn_text(text, MAX_SECTION_TEXT), block_id=block_id, accessory=accessory
    )


def context(*texts: str) -> ContextBlock:
    """A context line of up to ten mrkdwn pieces (plain ``str`` is escaped)."""
    elements = [mrkdwn_text(text) for text in texts if text][:MAX_CONTEXT_ELEMENTS]
    return ContextBlock(elements=elements)


def action_label(spec: ActionSpec) -> str:
    """Our word, and the provider's verb when it differs: ``Retry (reset)``."""
    ours = spec.action.value
    label = ours.capitalize()
    if spec.verb and spec.verb.lower().replace("_", " ") != ours:
        label = f"{label} ({spec.verb})"
    return clip(label, MAX_BUTTON_TEXT)


def action_button(
    short_id: str, spec: ActionSpec, transfer: Transfer, *, primary: bool = False
) -> ButtonElement:
    """The button for one available action; destructive ones are red and ask first."""
    target = TransferAct(short_id, spec.action)
    confirm = None
    style = "primary" if primary else None
    if spec.destructive:
        style = "danger"
        what = f"{spec.action.value} {transfer.subject}"
        confirm = ConfirmObject(
            title=clip(f"{spec.action.value.capitalize()} this transfer?", 100),
            text=PlainTextObject(
                text=clip(
                    f"This asks to {what} at {provider_name(transfer.provider)} "
                    f"({transfer.account}, {spec.verb}). It may not be undone.",
                    300,
                ),
                emoji=False,
            ),
            confirm=clip(f"Yes, {spec.action.value}", 30),
            deny="No, keep it",
            style="danger",
        )
    return ButtonElement(
        text=PlainTextObject(text=action_label(spec), emoji=False),
        action_id=target.action_id,
        value=target.value,
        style=style,
        confirm=confirm,
    )


class Owner(NamedTuple):
    """Who took a stuck transfer on, and when."""

    user_id: str
    since: datetime


def owner_button(short_id: str, owner: Owner | None) -> ButtonElement:
    """ "I'll take it" for a stuck transfer nobody owns; "Release" once someone does."""
    if owner is None:
        target = OwnerButton(short_id, ActionKind.TAKE)
        return ButtonElement(text="I'll take it", action_id=target.action_id, value=target.value)
    target = OwnerButton(short_id, ActionKind.RELEASE)
    return ButtonElement(text="Release", action_id=target.action_id, value=target.value)


def snooze_button(short_id: str) -> ButtonElement:
    """ "Snooze until tomorrow" on a reminder: no reminders or escalation for a day."""
    target = OwnerButton(short_id, ActionKind.SNOOZE)
    return ButtonElement(
        text="Snooze until tomorrow", action_id=target.action_id, value=target.value
    )


def refresh_button(short_id: str) -> ButtonElement:
    target = TransferRef(short_id)
    return ButtonElement(text="Refresh", action_id=target.action_id, value=target.value)


def transfer_buttons(
    transfer: Transfer,
    short_id: str,
    *,
    refresh: bool = True,
    block_id: str | None = None,
    ownable: bool = False,
    owner: Owner | None = None,
    extra: Sequence[ButtonElement] = (),
) -> ActionsBlock | None:
    """One button per action available now (the recovery one primary when blocked), then
    "I'll take it" or "Release" when ``ownable`` (a stuck transfer), then Refresh."""
    primary_action = _recovery(transfer)
    elements: list[ButtonElement] = [
        action_button(short_id, spec, transfer, primary=spec is primary_action)
        for spec in _unique_actions(transfer.actions)
    ]
    if ownable:
        elements.append(owner_button(short_id, owner))
    elements.extend(extra)
    if refresh:
        elements.append(refresh_button(short_id))
    if not elements:
        return None
    return ActionsBlock(elements=elements[:25], block_id=block_id or _actions_block_id(short_id))


def _actions_block_id(short_id: str) -> str:
    return f"{BlockId.TRANSFER_ACTIONS.value}:{short_id}"


def _unique_actions(specs: Iterable[ActionSpec]) -> list[ActionSpec]:
    seen, unique = set(), []
    for spec in specs:
        if spec.action not in seen:
            seen.add(spec.action)
            unique.append(spec)
    return unique


def _recovery(transfer: Transfer) -> ActionSpec | None:
    if transfer.phase is Phase.BLOCKED:
        return next((s for s in transfer.actions if not s.destructive), None)
    return None


def finish(
    text: str, blocks: Sequence[Block | dict[str, Any]], *, limit: int = MAX_BLOCKS
) -> Message:
    # the fallback text is mrkdwn too (notifications, clients without blocks): escaped here
    """The fallback text and block dicts, held to Slack's limits.

    Blocks past ``limit`` are dropped and the last kept one says how many were left out,
    so a caller that built too much still sends a valid message.
    """
    dicts = [b if isinstance(b, dict) else b.to_dict() for b in blocks]
    if len(dicts) > limit:
        left_out = len(dicts) - (limit - 1)
        logger.debug("cut a message from %d to %d blocks", len(dicts), limit)
        dicts = [*dicts[: limit - 1], context(f"… and {left_out} more blocks not shown.").to_dict()]
    return clip(Mrkdwn(" ".join(as_mrkdwn(text).split())), MAX_FALLBACK_TEXT), dicts
