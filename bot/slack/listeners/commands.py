"""The ``/transfer`` slash command: acknowledge at once, then answer the person who typed it."""

from __future__ import annotations

import functools
import hashlib
import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.slack.blocks import Message
from bot.slack.cards import (
    HISTORY_ENTRIES,
    TrailEntry,
    audit_trail,
    choice_message,
    help_message,
    transfer_list,
)
from bot.slack.listeners.acting import Asker, card_message, start_action
from bot.slack.listeners.answers import BUSY, AfterAck, Answer, sentence
from bot.slack.listeners.owning import show_mine
from bot.slack.parsing import Command, CommandError, Verb, parse_command
from bot.slack.permissions import Roles, Roster, allowed_words, not_an_operator
from bot.tracking import (
    Fresh,
    list_page,
    not_found,
    refresh_transfer,
    resolve_ref,
    row_of,
    unwatch,
    watch,
)
from bot.watcher.sync import sync_accounts
from providers.base import Action
from providers.registry import capabilities_of
from storage.audit import list_audit
from storage.models import TrackedTransfer

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["carry_on", "help_for", "register_commands", "run_command"]

logger = logging.getLogger(__name__)

READ_ONLY = (Verb.HELP, Verb.STATUS, Verb.HISTORY, Verb.LIST)


def register_commands(app: AsyncApp, command: str) -> None:
    app.command(command)(on_command)


async def on_command(
    ack: AsyncAck,
    command: dict[str, Any],
    respond: AsyncRespond,
    services: Services,
    roster: Roster,
    retried: bool,
    after_ack: AfterAck,
) -> None:
    """Answer in the ack when that needs no I/O (help, misuse, refusal); else ack and go on.

    An answer given in the ack is given again to a command delivered again (its first ack
    was lost, or the answer never shown; it changes nothing). A command taken on is taken
    on once: its ``trigger_id`` (one per invocation) is recorded, before the ack, with the
    signatures every replica shares (batched with the commands arriving with it: one INSERT
    for a burst; measured, that write also paces a flood of commands enough that the
    decisions' database work keeps moving, tests/reliability/test_load.py), and one seen
    before is acknowledged and nothing more (a replay the events endpoint caught, or a
    Socket Mode envelope sent again after its ack was lost). One marked as sent again but
    never seen is taken on: in Socket Mode an envelope in flight when Slack refreshed the
    connection comes again with ``retry_attempt`` 1, and its first delivery never reached
    us.
    """
    name = services.settings.slack.command
    user = str(command.get("user_id") or "")
    try:
        parsed: Command | CommandError = parse_command(command.get("text") or "", command=name)
    except CommandError as exc:
        parsed = exc
    roles = roster.known_roles(user)
    immediate = _immediate(services, roles, parsed) if roles is not None else None
    if immediate is not None:
        text, blocks = immediate
        await ack(text=text, blocks=blocks, response_type="ephemeral")
        return
    if not await _first_delivery(services, command, retried):
        logger.info("a slash command delivered again: acknowledged, nothing done or answered")
        await ack()
        return
    if after_ack.busy:
        after_ack.refuse()  # counted, and summed up in the log once a minute
        await ack(text=BUSY, response_type="ephemeral")
        return
    await ack()
    answer = Answer(services, user_id=user, respond=respond, channel_id=command.get("channel_id"))
    asker = Asker(
        services,
        answer,
        user,
        channel_id=command.get("channel_id"),
        trigger_id=command.get("trigger_id"),
        retried=retried,
    )
    after_ack(answer, run_command(asker, roster, parsed), name="slash-command")


async def _first_delivery(services: Services, command: dict[str, Any], retried: bool) -> bool:
    """True unless this command's trigger_id was seen before (or, without one or while the
    database can't record it, unless it is marked as sent again)."""
    trigger = command.get("trigger_id")
    if not isinstance(trigger, str) or not trigger:
        return not retried
    digest = hashlib.sha256(f"command {trigger}".encode()).hexdigest()  # 64 hex, as a signature
    first = await services.signatures.first(digest, services.now())
    return not retried if first is None else first


def _immediate(services: Services, roles: Roles, parsed: Command | CommandError) -> Message | None:
    command = services.settings.slack.command
    if not roles.member:
        return _refusal(command)
    if isinstance(parsed, CommandError):
        return sentence(parsed.message)
    if parsed.verb is Verb.HELP:
        return help_for(services, roles)
    if parsed.verb not in READ_ONLY and not roles.operator:
        return _refusal(command)
    return None


def help_for(services: Services, roles: Roles) -> Message:
    """Help listing only what ``roles`` may do with the providers configured here."""
    kinds = tuple(sorted({account.type for account in services.registry}))
    return _help(services.settings.slack.command, kinds, roles.operator, roles.approver)


@functools.lru_cache(maxsize=64)
def _help(command: str, provider_types: tuple[str, ...], operator: bool, approver: bool) -> Message:
    """Built once per kind of person: Block Kit objects are slow to render, and help is
    answered inside the ack. The result is shared: never change it."""
    offered: set[Action] = set()
    can_sync = False
    for kind in provider_types:
        capabilities = capabilities_of(kind)
        offered |= capabilities.actions
        can_sync = can_sync or capabilities.can_list
    roles = Roles("", operator=operator, approver=approver)
    return help_message(
        allowed_words(roles, actions=offered, can_sync=can_sync), command=command, approver=approver
    )


@functools.lru_cache(maxsize=8)
def _refusal(command: str) -> Message:
    return sentence(not_an_operator(command))


async def run_command(asker: Asker, roster: Roster, parsed: Command | CommandError) -> None:
    """Everything after the ack: permissions, then the sub-command."""
    services = asker.services
    roles = await roster.roles_of(asker.user_id)
    immediate = _immediate(services, roles, parsed)
    if immediate is not None:
        await asker.answer.send(immediate)
        return
    assert isinstance(parsed, Command)
    if parsed.verb is Verb.LIST:
        page = await list_page(
            services, provider=parsed.provider, phase=parsed.phase, page=parsed.page
        )
        message = transfer_list(
            page.rows,
            page=page.page,
            pages=page.pages,
            provider=parsed.provider,
            phase=parsed.phase,
        )
        await asker.answer.send(message)
    elif parsed.verb is Verb.WATCH:
        await _watch(asker, parsed.account or "", parsed.ref or "")
    elif parsed.verb is Verb.SYNC:
        await _sync(asker, parsed.account)
    elif parsed.verb is Verb.MINE:
        await show_mine(asker)
    else:
        await _about_one(asker, parsed)


async def _about_one(asker: Asker, parsed: Command) -> None:
    """status, unwatch and the actions: find the one transfer meant, or ask which."""
    ref = parsed.ref or ""
    verb = parsed.action.value if parsed.action else parsed.verb.value
    matches = await resolve_ref(asker.services, ref)
    if not matches:
        await asker.answer.send(not_found(asker.services, ref))
    elif len(matches) > 1:
        rows = [row_of(row) for row in matches]
        await asker.answer.send(choice_message(rows, ref=ref, verb=verb))
    else:
        await carry_on(asker, matches[0], verb)


async def carry_on(asker: Asker, row: TrackedTransfer, verb: str) -> None:
    """Do ``verb`` (status, unwatch or an action) to the one transfer meant."""
    if verb == Verb.STATUS.value:
        fresh = await refresh_transfer(asker.services, row, actor=asker.user_id)
        await asker.answer.send(card_message(fresh))
    elif verb == Verb.HISTORY.value:
        await _history(asker, row)
    elif verb == Verb.UNWATCH.value:
        stopped = await unwatch(asker.services, row, actor=asker.user_id)
        what = f"`{row.short_id}` ({row.subject})"
        await asker.answer.send(
            f"Stopped watching {what}; its history is kept."
            if stopped
            else f"{what} was not being watched."
        )
    else:
        await start_action(asker, row, Action(verb))


async def _history(asker: Asker, row: TrackedTransfer) -> None:
    """The transfer's audit trail: the newest entries, shown oldest first."""
    async with asker.services.db.session() as session:
        newest = await list_audit(session, transfer_id=row.id, limit=HISTORY_ENTRIES + 1)
    shown = newest[:HISTORY_ENTRIES]
    entries = [TrailEntry(e.at, e.actor, e.verb, e.detail) for e in reversed(shown)]
    message = audit_trail(
        entries,
        short_id=row.short_id,
        subject=row.subject or row.ref,
        more=len(newest) > len(shown),
        command=asker.services.settings.slack.command,
    )
    await asker.answer.send(message)


async def _watch(asker: Asker, account: str, ref: str) -> None:
    watched = await watch(asker.services, account=account, ref=ref, actor=asker.user_id)
    row = watched.row
    if watched.created:
        lead = f"Now watching `{row.short_id}`; the channel hears when it gets stuck or finishes."
    elif watched.revived:
        lead = f"Watching `{row.short_id}` again."
    else:
        lead = f"`{row.short_id}` is already being watched."
    await asker.answer.send(card_message(Fresh(row, watched.snapshot), lead=lead))


async def _sync(asker: Asker, account: str | None) -> None:
    report = await sync_accounts(asker.services, account=account, actor=asker.user_id)
    lines = report.sentences() or ["There are no provider accounts to sync."]
    text = "*Sync*\n" + "\n".join(f"• {line}" for line in lines)
    await asker.answer.send(text)
