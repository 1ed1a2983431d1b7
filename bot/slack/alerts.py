"""What the watcher posts: alerts, the thread header kept current, outages and summaries."""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from slack_sdk.models.blocks import Block

from bot.slack.blocks import (
    MAX_BLOCKS,
    MAX_SECTION_TEXT,
    Deadline,
    Message,
    Owner,
    Row,
    clip,
    context,
    deadline_line,
    finish,
    in_words,
    plain_date,
    plain_line,
    provider_name,
    section,
    slack_date,
    snooze_button,
    status_line,
    transfer_buttons,
    transfer_line,
)
from bot.slack.mrkdwn import Mrkdwn, group_mention, md
from bot.slack.mrkdwn import mention as user_mention
from providers.base import Phase, Transfer

__all__ = [
    "AlertKind",
    "Deadline",
    "SummaryItem",
    "alert_message",
    "deadline_line",
    "feed_down_message",
    "feed_up_message",
    "followup_message",
    "outage_message",
    "owned_line",
    "recovered_message",
    "summary_message",
    "thread_header",
]

logger = logging.getLogger(__name__)

MAX_SUMMARY_LINES = 200


class AlertKind(enum.StrEnum):
    """What happened to a transfer that the channel must hear about."""

    BLOCKED = "blocked"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STALLED = "stalled"


_HEADLINES = {
    AlertKind.BLOCKED: ":warning: *{subject}* is stuck and needs someone",
    AlertKind.COMPLETED: ":white_check_mark: *{subject}* has completed",
    AlertKind.FAILED: ":x: *{subject}* has failed",
    AlertKind.CANCELLED: ":no_entry_sign: *{subject}* was cancelled",
    AlertKind.STALLED: ":snail: *{subject}* has not moved",
}
_PLAIN = {
    AlertKind.BLOCKED: "is stuck",
    AlertKind.COMPLETED: "completed",
    AlertKind.FAILED: "failed",
    AlertKind.CANCELLED: "was cancelled",
    AlertKind.STALLED: "has not moved",
}


def alert_message(
    kind: AlertKind | str,
    transfer: Transfer,
    *,
    short_id: str,
    stalled_since: datetime | None = None,
    superseded_by: str | None = None,
    mention: Mrkdwn | None = None,
    owner: Owner | None = None,
) -> Message:
    """An alert about one transfer; blocked and stalled ones carry the buttons to act.

    Args:
        kind: what happened (an AlertKind or its value).
        transfer: the snapshot that triggered it.
        short_id: the bot's short id for it.
        stalled_since: for a stalled alert, when the transfer last changed.
        superseded_by: the new transfer that replaced this one, if any.
        mention: a Slack mention to put first (``<!subteam^S123>``, ``<@U1>``), if configured.
        owner: who has taken the transfer on, if anyone (blocked and stalled alerts).
    """
    kind = AlertKind(kind)
    headline = md(_HEADLINES[kind], subject=clip(transfer.subject, 200))
    if kind is AlertKind.STALLED and stalled_since is not None:
        headline += md(" since {}", slack_date(stalled_since))
    lead = md("{} ", mention) if mention else ""
    blocks: list[Block] = [
        section(md("{}{}.", lead, headline)),
        section(status_line(transfer)),
        context(_where(transfer, short_id)),
    ]
    if transfer.waiting_for and not transfer.phase.finished:
        blocks.append(context(md(":eyes: Waiting for {}.", clip(transfer.waiting_for, 500))))
    if superseded_by:
        blocks.append(context(md("Superseded by `{}`.", clip(superseded_by, 200))))
    if kind in (AlertKind.BLOCKED, AlertKind.STALLED):
        if owner is not None:
            blocks.append(context(owned_line(owner)))
        buttons = transfer_buttons(transfer, short_id, ownable=True, owner=owner)
        if buttons is not None:
            blocks.append(buttons)
    text = (
        f"{clip(transfer.subject, 200)} {_PLAIN[kind]} ({provider_name(transfer.provider)} "
        f"{transfer.raw_code} {clip(' '.join(transfer.raw_text.split()), 200)})"
    )
    return finish(text, blocks)


def _where(transfer: Transfer, short_id: str) -> Mrkdwn:
    return md(
        "{} `{}` · ref `{}` · `{}`",
        provider_name(transfer.provider),
        transfer.account,
        clip(transfer.ref, 200),
        short_id,
    )


def owned_line(owner: Owner) -> Mrkdwn:
    return md(
        ":raising_hand: Owned by {} since {}.", user_mention(owner.user_id), slack_date(owner.since)
    )


def thread_header(
    transfer: Transfer,
    *,
    short_id: str,
    stalled_since: datetime | None = None,
    last_error: str | None = None,
    superseded_by: str | None = None,
    polled_at: datetime | None = None,
    owner: Owner | None = None,
    deadline: Deadline | None = None,
    now: datetime | None = None,
) -> Message:
    """The first message of a transfer's thread, updated as the transfer moves; a stuck
    one (blocked or stalled) shows who owns it and "I'll take it" or "Release"; one on a
    provider's clock shows its deadline (as of ``now``)."""
    stuck = not transfer.phase.finished and (
        transfer.phase is Phase.BLOCKED or stalled_since is not None
    )
    blocks: list[Block] = [
        section(md("*{}* · {}", clip(transfer.subject, 200), status_line(transfer))),
        context(_where(transfer, short_id)),
    ]
    notes: list[Mrkdwn] = []
    if owner is not None:
        notes.append(owned_line(owner))
    if transfer.waiting_for and not transfer.phase.finished:
        notes.append(md(":eyes: Waiting for {}.", clip(transfer.waiting_for, 300)))
    if stalled_since is not None and not transfer.phase.finished:
        notes.append(md(":snail: No change since {}.", slack_date(stalled_since)))
    if deadline is not None and not transfer.phase.finished:
        notes.append(deadline_line(deadline, now or deadline.at))
    if last_error:
        notes.append(md(":exclamation: Last check failed: {}", clip(last_error, 500)))
    if superseded_by:
        notes.append(md("Superseded by `{}`.", clip(superseded_by, 200)))
    times = []
    if transfer.changed_at is not None:
        times.append(md("changed {}", slack_date(transfer.changed_at)))
    if polled_at is not None:
        times.append(md("checked {}", slack_date(polled_at)))
    if times:
        notes.append(Mrkdwn(" · ").join(times))
    if notes:
        blocks.append(context(*notes))
    if superseded_by is None:
        buttons = transfer_buttons(transfer, short_id, ownable=stuck, owner=owner)
        if buttons is not None:
            blocks.append(buttons)
    return finish(plain_line(Row(short_id, transfer)), blocks)


def _mentions(targets: Sequence[str]) -> Mrkdwn:
    marks = [group_mention(t) if t.startswith("S") else user_mention(t) for t in targets]
    return Mrkdwn(" ").join(marks)


def followup_message(
    kind: str,
    transfer: Transfer,
    *,
    short_id: str,
    since: datetime,
    now: datetime,
    slot: int = 0,
    level: int = 0,
    mention: Sequence[str] = (),
    owner: Owner | None = None,
    deadline: Deadline | None = None,
) -> Message:
    """A reminder (``kind`` "reminder"), an escalation ("escalation", level 1, 2, ...) or a
    deadline warning ("deadline") in a stuck transfer's thread.

    A reminder mentions the owner (the owner is reminded, others are not); an escalation
    names the level's user groups and people; a deadline warning says what happens when.
    Reminders and escalations carry "I'll take it" / "Release" and "Snooze until tomorrow".
    """
    subject = clip(transfer.subject, 200)
    stuck_for = in_words((now - since).total_seconds()).removeprefix("in ")
    if kind == "escalation":
        lead = md(
            ":rotating_light: *Escalation {}:* *{}* has been stuck for {} and nobody has "
            "taken it on.",
            level,
            subject,
            stuck_for,
        )
        if mention:
            lead = md("{} {}", _mentions(mention), lead)
        plain = f"Escalation {level}: {subject} is stuck and nobody has taken it on"
    elif kind == "deadline":
        assert deadline is not None
        lead = md(":hourglass_flowing_sand: *{}*: {}", subject, deadline_line(deadline, now))
        if owner is not None:
            lead = md("{} {}", user_mention(owner.user_id), lead)
        plain = f"{subject}: {deadline.outcome} {in_words((deadline.at - now).total_seconds())}"
    else:
        number = f" {slot + 1}" if slot else ""
        lead = md(":alarm_clock: *Reminder{}:* *{}* is still stuck, for {} now.",
                  number, subject, stuck_for)  # fmt: skip
        if owner is not None:
            lead = md("{} {} It is yours.", user_mention(owner.user_id), lead)
        else:
            lead = md("{} Nobody has taken it on.", lead)
        plain = f"Reminder: {subject} is still stuck"
    blocks: list[Block] = [
        section(lead),
        context(status_line(transfer), _where(transfer, short_id)),
    ]
    if deadline is not None and kind != "deadline":
        blocks.append(context(deadline_line(deadline, now)))
    if kind in ("reminder", "escalation"):
        buttons = transfer_buttons(
            transfer, short_id, ownable=True, owner=owner, extra=[snooze_button(short_id)]
        )
        if buttons is not None:
            blocks.append(buttons)
    return finish(plain, blocks)


class _Outages(NamedTuple):
    """How the messages about one kind of outage read: a provider account's, or its change
    feed's."""

    subject: str  # plain text, ``{}`` the account
    down: str  # mrkdwn template: the account, how it stopped, since when, the last error
    up: str  # mrkdwn template: the account, down from, down to, about how many minutes


_ACCOUNT = _Outages(
    "Provider account {}",
    ":rotating_light: Provider account `{}` {} since {}: {} Its transfers are not being "
    "checked until it answers again; other accounts carry on.",
    ":large_green_circle: Provider account `{}` answers again (unreachable from {} to {}, "
    "about {} min); its transfers are being checked again.",
)
_FEED = _Outages(
    "Change feed of {}",
    ":warning: The change feed of provider account `{}` {} since {}: {} Its transfers are "
    "polled on their own schedule again until the feed tells of changes again.",
    ":large_green_circle: The change feed of provider account `{}` answers again (down "
    "from {} to {}, about {} min); its changes are heard within a minute again.",
)


def outage_message(account: str, since: datetime, last_error: str) -> Message:
    """A provider account stopped answering: its transfers are not being checked."""
    return _down(_ACCOUNT, account, since, last_error, "has not answered", "unreachable")


def recovered_message(account: str, since: datetime, until: datetime) -> Message:
    """A provider account answers again."""
    return _up(_ACCOUNT, account, since, until)


def feed_down_message(
    account: str, since: datetime, last_error: str, *, silent: bool = False
) -> Message:
    """An account's change feed stopped answering (or answers but missed a change): its
    transfers are polled on their own schedule again."""
    if silent:
        return _down(_FEED, account, since, last_error, "has been silent", "silent")
    return _down(_FEED, account, since, last_error, "has not answered", "not answering")


def feed_up_message(account: str, since: datetime, until: datetime) -> Message:
    """An account's change feed answers again."""
    return _up(_FEED, account, since, until)


def _down(
    words: _Outages, account: str, since: datetime, last_error: str, how: str, state: str
) -> Message:
    text = md(words.down, account, how, slack_date(since), clip(last_error, 1000))
    plain = f"{words.subject.format(account)} {state} since {plain_date(since)}"
    return finish(plain, [section(text)])


def _up(words: _Outages, account: str, since: datetime, until: datetime) -> Message:
    minutes = max(0, round((until - since).total_seconds() / 60))
    text = md(words.up, account, slack_date(since), slack_date(until), minutes)
    plain = f"{words.subject.format(account)} answers again after about {minutes} min"
    return finish(plain, [section(text)])


SummaryItem = tuple[AlertKind | str, str, Transfer]  # (kind, short_id, transfer)


def summary_message(items: Sequence[SummaryItem]) -> Message:
    """Many alerts at once (after an outage or a first sync), one line each."""
    counts: dict[AlertKind, int] = {}
    lines: list[Mrkdwn] = []
    for kind, short_id, transfer in items:
        kind = AlertKind(kind)
        counts[kind] = counts.get(kind, 0) + 1
        if len(lines) < MAX_SUMMARY_LINES:
            lines.append(md("{} {}", _kind_emoji(kind), transfer_line(Row(short_id, transfer))))
    tally = ", ".join(f"{n} {kind.value}" for kind, n in counts.items())
    noun = "transfer update" if len(items) == 1 else "transfer updates"
    title = f"*{len(items)} {noun}*: {tally}"
    blocks: list[Block] = [section(title)]
    blocks.extend(section(chunk) for chunk in _chunks(lines, MAX_SECTION_TEXT))
    if len(items) > MAX_SUMMARY_LINES:
        more = len(items) - MAX_SUMMARY_LINES
        blocks.append(context(f"… and {more} more: use `/transfer list`."))
    if len(blocks) > MAX_BLOCKS:
        shown = MAX_BLOCKS - 1
        blocks = [*blocks[:shown], context("… and more: use `/transfer list`.")]
    return finish(f"{len(items)} {noun}: {tally}", blocks)


def _kind_emoji(kind: AlertKind) -> str:
    return _HEADLINES[kind].split(" ", 1)[0]


def _chunks(lines: Sequence[Mrkdwn], limit: int) -> list[Mrkdwn]:
    """Join lines into texts of at most ``limit`` characters, one line never split across two."""
    chunks: list[Mrkdwn] = []
    current = Mrkdwn("")
    for line in lines:
        line = Mrkdwn(clip(line, limit))
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = current + Mrkdwn("\n") + line if current else line
    if current:
        chunks.append(current)
    return chunks
