"""Owning a stuck transfer: "I'll take it", "Release", "Snooze until tomorrow" and
``/transfer mine``."""

from __future__ import annotations

import logging

from bot.slack.blocks import slack_date
from bot.slack.calls import CHANNEL_PACE_SECONDS
from bot.slack.cards import owned_list
from bot.slack.ids import ActionKind
from bot.slack.listeners.acting import Asker
from bot.slack.mrkdwn import md, mention
from bot.tracking import row_of
from bot.watcher.messages import owner_of
from bot.watcher.threads import Posting, update_header
from storage.followups import snooze_followup
from storage.models import TrackedTransfer
from storage.owners import list_owned_transfers, release_transfer, still_stuck, take_transfer

__all__ = ["own_transfer", "show_mine", "snooze_transfer"]

logger = logging.getLogger(__name__)


async def own_transfer(asker: Asker, row: TrackedTransfer, kind: ActionKind) -> None:
    """Take ``row`` on (``ActionKind.TAKE``) or let it go (``RELEASE``); the thread's
    header is brought up to date and the clicker told."""
    services, user = asker.services, asker.user_id
    assert row.id is not None
    now = services.now()
    if kind is ActionKind.TAKE:
        if not still_stuck(row):
            await asker.answer.send(
                md(
                    "`{}` is no longer stuck ({}); there is nothing to take on.",
                    row.short_id,
                    row.phase,
                )
            )
            return
        async with services.db.session() as session:
            taken = await take_transfer(session, transfer_id=row.id, user_id=user, now=now)
        if taken is None:
            await asker.answer.send(md("`{}` is no longer tracked.", row.short_id))
            return
        owner = owner_of(taken.row)
        if taken.won:
            said = md(
                "You own `{}` now; its thread says so. Release it when you let it go.", row.short_id
            )
        elif owner is not None and owner.user_id == user:
            said = md("You already own `{}` (since {}).", row.short_id, slack_date(owner.since))
        else:
            assert owner is not None
            said = md(
                "{} has owned `{}` since {}; they (or any operator) can release it first.",
                mention(owner.user_id),
                row.short_id,
                slack_date(owner.since),
            )
    else:
        async with services.db.session() as session:
            before = await release_transfer(session, transfer_id=row.id, user_id=user, now=now)
        if before is None:
            said = md("Nobody owns `{}` now.", row.short_id)
        elif before == user:
            said = md("You have released `{}`; anyone can take it on.", row.short_id)
        else:
            said = md("You have released `{}` from {}.", row.short_id, mention(before))
    await _refresh_header(asker, row)
    await asker.answer.send(said)


async def snooze_transfer(asker: Asker, row: TrackedTransfer) -> None:
    """ "Snooze until tomorrow" on a reminder: no reminders or escalation for
    ``followups.snooze_for`` (a day); audited. A deadline warning still comes."""
    services = asker.services
    assert row.id is not None
    now = services.now()
    until = now + services.settings.followups.snooze_for
    async with services.db.session() as session:
        snoozed = await snooze_followup(
            session, transfer_id=row.id, until=until, user_id=asker.user_id, now=now
        )
    if snoozed is None:
        await asker.answer.send(
            md("`{}` is not stuck now; there are no reminders to snooze.", row.short_id)
        )
        return
    await asker.answer.send(
        md("Reminders about `{}` are snoozed until {}.", row.short_id, slack_date(until))
    )


async def _refresh_header(asker: Asker, row: TrackedTransfer) -> None:
    if not row.alert_channel:
        return
    services = asker.services
    posting = Posting(services, services.calls.poster, row.alert_channel, CHANNEL_PACE_SECONDS)
    await update_header(posting, row.id)


async def show_mine(asker: Asker) -> None:
    """``/transfer mine``: the stuck transfers the asker has taken on."""
    async with asker.services.db.session() as session:
        rows = await list_owned_transfers(session, user_id=asker.user_id)
    items = [(row_of(row), owner) for row in rows if (owner := owner_of(row)) is not None]
    await asker.answer.send(owned_list(items, command=asker.services.settings.slack.command))
