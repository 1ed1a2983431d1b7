"""Answers to ``/transfer`` commands: the status card, the list, help, and "which one?"."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    DividerBlock,
    HeaderBlock,
    PlainTextObject,
    SectionBlock,
)

from bot.slack.blocks import (
    MAX_BLOCKS,
    MAX_BUTTON_TEXT,
    MAX_FIELD_TEXT,
    MAX_HEADER_TEXT,
    Deadline,
    Message,
    Owner,
    Row,
    clip,
    context,
    deadline_line,
    finish,
    mrkdwn_text,
    plain_line,
    provider_name,
    section,
    slack_date,
    status_line,
    transfer_buttons,
    transfer_line,
)
from bot.slack.ids import ActionKind, BlockId, ListPage, TransferChoice, TransferRef
from bot.slack.mrkdwn import Mrkdwn, join_lines, md, mention
from providers.base import HistoryEntry, Phase, Transfer

__all__ = [
    "HISTORY_ENTRIES",
    "TrailEntry",
    "audit_trail",
    "choice_message",
    "help_message",
    "owned_list",
    "transfer_card",
    "transfer_list",
]

logger = logging.getLogger(__name__)

HISTORY_SHOWN = 5
MAX_DETAILS = 10
MAX_LIST_ROWS = 40
MAX_CHOICES = 20
HISTORY_ENTRIES = 30  # the newest this many audit entries, shown oldest first


def transfer_card(
    transfer: Transfer,
    *,
    short_id: str,
    stalled_since: datetime | None = None,
    last_error: str | None = None,
    polled_at: datetime | None = None,
    superseded_by: str | None = None,
    buttons: bool = True,
    deadline: Deadline | None = None,
    now: datetime | None = None,
) -> Message:
    """The status card: who, what, where it stands in our words and the provider's, and what to do.

    Args:
        transfer: the snapshot to show (never holds a secret).
        short_id: the bot's short id for it, used in the buttons.
        stalled_since: set when the watcher saw no change for too long.
        last_error: the last poll's error sentence, when the last poll failed.
        polled_at: when the provider was last asked.
        superseded_by: the transfer that replaced this one (an OpenSRS resubmission).
        buttons: False for a read-only card (no actions row).
        deadline: the provider's clock on its status ("voided in 12 days"), as of ``now``.
    """
    blocks: list[Block] = [
        HeaderBlock(
            text=PlainTextObject(
                text=clip(transfer.subject or transfer.ref or "transfer", MAX_HEADER_TEXT),
                emoji=False,
            )
        ),
        context(_where(transfer, short_id)),
        section(status_line(transfer), block_id=BlockId.STATUS.value),
    ]
    blocks.extend(_notes(transfer, stalled_since, last_error, superseded_by))
    if deadline is not None and not transfer.phase.finished:
        blocks.append(section(deadline_line(deadline, now or deadline.at)))
    details = _details(transfer.details)
    if details is not None:
        blocks.append(details)
    history = _history(transfer.history)
    if history:
        blocks.append(section(md("*Recent history*\n{}", history)))
    times = []
    if transfer.changed_at is not None:
        times.append(md("Changed {}", slack_date(transfer.changed_at)))
    if polled_at is not None:
        times.append(md("checked {}", slack_date(polled_at)))
    if times:
        blocks.append(context(Mrkdwn(" · ").join(times)))
    if buttons and superseded_by is None:
        actions = transfer_buttons(transfer, short_id)
        if actions is not None:
            blocks.append(actions)
    text = plain_line(Row(short_id, transfer))
    return finish(text, blocks)


def _where(transfer: Transfer, short_id: str) -> Mrkdwn:
    return md(
        "*{}* account `{}` · ref `{}` · short id `{}`",
        provider_name(transfer.provider),
        transfer.account,
        clip(transfer.ref, 200),
        short_id,
    )


def _notes(
    transfer: Transfer,
    stalled_since: datetime | None,
    last_error: str | None,
    superseded_by: str | None,
) -> list[Block]:
    notes: list[Block] = []
    if transfer.waiting_for and not transfer.phase.finished:
        notes.append(section(md(":eyes: Waiting for {}.", clip(transfer.waiting_for, 500))))
    if stalled_since is not None and not transfer.phase.finished:
        notes.append(section(md(":snail: No change since {}.", slack_date(stalled_since))))
    if last_error:
        notes.append(section(md(":exclamation: Last check failed: {}", clip(last_error, 1000))))
    if superseded_by:
        notes.append(
            section(
                md(
                    ":twisted_rightwards_arrows: Superseded by `{}`; the bot follows that one now.",
                    clip(superseded_by, 200),
                )
            )
        )
    return notes


def _details(details: Mapping[str, str]) -> Block | None:
    if not details:
        return None
    fields = [
        mrkdwn_text(md("*{}*\n{}", clip(str(key), 100), clip(str(value), MAX_FIELD_TEXT)))
        for key, value in list(details.items())[:MAX_DETAILS]
    ]
    return SectionBlock(fields=fields)


def _history(history: Sequence[HistoryEntry]) -> Mrkdwn:
    newest = sorted(
        enumerate(history),
        key=lambda item: (_sort_time(item[1].at), item[0]),
        reverse=True,
    )[:HISTORY_SHOWN]
    lines = []
    for _, entry in newest:
        when = slack_date(entry.at) if entry.at is not None else "—"
        words = clip(" ".join(entry.raw_text.split()), 200)
        lines.append(md("• {} · {} {}", when, clip(entry.raw_code, 40), words).rstrip())
    more = len(history) - len(newest)
    if more > 0:
        lines.append(md("_… and {} earlier_", more))
    return join_lines(lines)


def _sort_time(at: datetime | None) -> float:
    if at is None:
        return float("-inf")
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def transfer_list(
    rows: Sequence[Row | tuple[str, Transfer, bool]],
    *,
    page: int,
    pages: int,
    provider: str | None = None,
    phase: Phase | None = None,
) -> Message:
    """One compact line per tracked transfer, with an Open button each and Prev / Next."""
    items = [Row(*row) for row in rows]
    filters = " · ".join(x for x in (provider_name(provider) if provider else "", phase) if x)
    title = "Tracked transfers" + (f" · {filters}" if filters else "")
    if pages > 1:
        title += f" — page {page} of {pages}"
    blocks: list[Block] = [section(md("*{}*", title))]
    if not items:
        blocks.append(
            section(
                "No tracked transfers match. Start with "
                "`/transfer watch <account> <ref>` or import with `/transfer sync`."
            )
        )
    shown = items[:MAX_LIST_ROWS]
    for row in shown:
        target = TransferRef(row.short_id, ActionKind.SHOW)
        blocks.append(
            section(
                transfer_line(row),
                accessory=ButtonElement(
                    text="Open", action_id=target.action_id, value=target.value
                ),
            )
        )
    if len(items) > len(shown):
        blocks.append(context(f"… and {len(items) - len(shown)} more on this page not shown."))
    nav = _pages(page, pages, provider, phase)
    if nav is not None:
        blocks.append(nav)
    text = f"{title}: {len(items)} transfer{'s' if len(items) != 1 else ''}"
    return finish(text, blocks)


def _pages(page: int, pages: int, provider: str | None, phase: Phase | None) -> Block | None:
    buttons = []
    if page > 1:
        prev = ListPage(page - 1, provider, phase)
        buttons.append(ButtonElement(text="◀ Prev", action_id=prev.action_id, value=prev.value))
    if page < pages:
        nxt = ListPage(page + 1, provider, phase)
        buttons.append(ButtonElement(text="Next ▶", action_id=nxt.action_id, value=nxt.value))
    if not buttons:
        return None
    return ActionsBlock(elements=buttons, block_id=BlockId.LIST_PAGES.value)


# word: (what it does, example arguments)
HELP_TOPICS: dict[str, tuple[str, str]] = {
    "status": ("show a transfer's card with the buttons for what can be done now", "example.com"),
    "list": ("list tracked transfers, newest change first", "hostway blocked page 2"),
    "watch": ("start tracking a transfer", "hostway-main example.com"),
    "unwatch": ("stop tracking a transfer", "t-4k7q"),
    "history": ("who did what to a transfer, and when", "t-4k7q"),
    "mine": ("list the stuck transfers you have taken on (\u201cI'll take it\u201d)", ""),
    "sync": ("import in-flight transfers from providers that can list them", "opensrs-main"),
    "pause": ("pause a transfer (cPanel)", "t-4k7q"),
    "resume": ("resume a paused transfer (cPanel `start`)", "t-4k7q"),
    "cancel": ("cancel a transfer (cPanel `abort`, OpenSRS, Gandi)", "example.com"),
    "retry": (
        "retry a stuck transfer (Hostway `reset`, OpenSRS `resubmit`, Gandi `relaunch`)",
        "example.com",
    ),
    "resend": (
        "resend the approval e-mail (OpenSRS `send_password`, Gandi v5 `foa`)",
        "example.com",
    ),
}


def help_message(
    allowed: Collection[str], *, command: str = "/transfer", approver: bool = False
) -> Message:
    """What the asking user may do, with an example each; nothing they may not. An approver
    is also told where their part of the job is: the buttons on each request."""
    allowed_words = {str(word) for word in allowed}
    lines = [
        md("• `{0} {1}` — {2}, e.g. `{0} {1} {3}`", command, word, what, example)
        if example
        else md("• `{0} {1}` — {2}", command, word, what)
        for word, (what, example) in HELP_TOPICS.items()
        if word in allowed_words
    ]
    if not lines:
        text = f"You can't use `{command}` yet; ask whoever runs the bot to add you as an operator."
        return finish(text, [section(text)])
    blocks: list[Block] = [
        section(md("*What you can do with `{}`*", command)),
        section(join_lines(lines)),
        context(
            "A transfer can be named by its domain, the provider's id or the bot's short id "
            "(like `t-4k7q`). Provider verbs such as `abort`, `reset`, `resubmit` and "
            "`relaunch` work too."
        ),
    ]
    if approver:
        blocks.insert(
            2,
            section(
                "*As an approver*, you answer requests with the *Approve* and *Reject* buttons "
                "on each request message (in the channel it was asked in, or the alert "
                "channel); nobody approves their own request."
            ),
        )
    return finish(f"What you can do with {command}", blocks)


def choice_message(
    candidates: Sequence[Row | tuple[str, Transfer] | tuple[str, Transfer, bool]],
    *,
    ref: str,
    verb: str = "status",
) -> Message:
    """Several transfers answer to ``ref``: a button per candidate to say which one.

    Args:
        candidates: (short_id, transfer[, stalled]) for each match.
        ref: what the person typed.
        verb: the command to carry on with once chosen ("status", "unwatch", an Action value).
    """
    rows = [Row(*c) for c in candidates]
    blocks: list[Block] = [
        section(
            md("More than one transfer answers to `{}`. Which one did you mean?", clip(ref, 200))
        ),
        DividerBlock(),
    ]
    for row in rows[:MAX_CHOICES]:
        choice = TransferChoice(row.short_id, verb)
        label = clip(
            f"{row.short_id} · {provider_name(row.transfer.provider)} {row.transfer.account}",
            MAX_BUTTON_TEXT,
        )
        blocks.append(
            section(
                transfer_line(row),
                accessory=ButtonElement(text=label, action_id=choice.action_id, value=choice.value),
            )
        )
    if len(rows) > MAX_CHOICES:
        blocks.append(context(f"… and {len(rows) - MAX_CHOICES} more; use the short id instead."))
    return finish(md("Which transfer did you mean by {}?", clip(ref, 100)), blocks[:MAX_BLOCKS])


class TrailEntry(NamedTuple):
    """One audit entry as the history shows it."""

    at: datetime
    actor: str  # a Slack user id, "watcher" or "system"
    verb: str
    detail: str


def audit_trail(
    entries: Sequence[TrailEntry],
    *,
    short_id: str,
    subject: str,
    more: bool = False,
    command: str = "/transfer",
) -> Message:
    """A transfer's audit trail, oldest first, one line per entry, times in the reader's zone.

    Args:
        entries: the entries to show, oldest first.
        more: older entries exist than those shown.
    """
    title = md("*History of {}* · `{}`", clip(subject or short_id, 200), short_id)
    blocks: list[Block] = [section(title)]
    if not entries:
        blocks.append(section("Nothing has been recorded for it yet."))
    lines = [
        md(
            "• {} · {} *{}* {}",
            slack_date(entry.at),
            mention(entry.actor),
            clip(entry.verb, 32),
            clip(" ".join(entry.detail.split()), 300),
        ).rstrip()
        for entry in entries
    ]
    for start in range(0, len(lines), 10):  # a section holds at most 3,000 characters
        blocks.append(section(join_lines(lines[start : start + 10])))
    if more:
        blocks.append(
            context(
                md(
                    "Older entries are not shown; `transferbot audit export` has them all "
                    "(ask whoever runs the bot), or see `{} status {}`.",
                    command,
                    short_id,
                )
            )
        )
    count = len(entries)
    text = md("History of {}: {} entr{}", short_id, count, "y" if count == 1 else "ies")
    return finish(text, blocks)


def owned_list(items: Sequence[tuple[Row, Owner]], *, command: str = "/transfer") -> Message:
    """The transfers one person has taken on, longest-held first, with an Open button each."""
    if not items:
        text = (
            "You own no transfers. Take a stuck one on with *I'll take it* on its alert "
            "in the alert channel."
        )
        return finish("You own no transfers.", [section(text)])
    blocks: list[Block] = [section(md("*Yours* · {} taken on", len(items)))]
    for row, owner in items[:MAX_LIST_ROWS]:
        target = TransferRef(row.short_id, ActionKind.SHOW)
        blocks.append(
            section(
                md("{} · yours since {}", transfer_line(row), slack_date(owner.since)),
                accessory=ButtonElement(
                    text="Open", action_id=target.action_id, value=target.value
                ),
            )
        )
    if len(items) > MAX_LIST_ROWS:
        blocks.append(context(f"… and {len(items) - MAX_LIST_ROWS} more not shown."))
    noun = "transfer" if len(items) == 1 else "transfers"
    return finish(f"You own {len(items)} {noun}", blocks)
