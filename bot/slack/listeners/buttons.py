"""Button clicks: act, refresh, open, choose, approve / reject / withdraw, page a list."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.actions import approve_request, reject_request, withdraw_request
from bot.slack.cards import transfer_list
from bot.slack.ids import (
    ActionKind,
    ButtonTarget,
    ListPage,
    OwnerButton,
    RequestButton,
    TransferAct,
    TransferChoice,
    parse_button,
)
from bot.slack.listeners.acting import Asker, answer_outcome, card_message, start_action
from bot.slack.listeners.answers import AfterAck, Answer, Pool
from bot.slack.listeners.commands import carry_on
from bot.slack.listeners.events import publish_home
from bot.slack.listeners.owning import own_transfer, snooze_transfer
from bot.slack.permissions import READ_WORDS, Roster, not_an_operator
from bot.tracking import list_page, refresh_transfer, transfer_by_short_id

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["register_buttons"]

logger = logging.getLogger(__name__)

STALE_BUTTON = "That button is no longer valid; run the command again for a fresh one."


def register_buttons(app: AsyncApp) -> None:
    for kind in ActionKind:
        app.action(kind.pattern)(on_click)


async def on_click(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    services: Services,
    roster: Roster,
    retried: bool,
    after_ack: AfterAck,
) -> None:
    await ack()
    user = str((body.get("user") or {}).get("id") or "")
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    answer = Answer(services, user_id=user, respond=respond, channel_id=channel)
    target = parse_button(str(action.get("action_id") or ""), action.get("value"))
    pool = Pool.DECISIONS if isinstance(target, RequestButton) else Pool.COMMANDS
    if after_ack.is_busy(pool):
        after_ack.refuse(answer, pool=pool)
        return
    asker = Asker(services, answer, user, channel, body.get("trigger_id"), retried)
    in_home = (body.get("view") or {}).get("type") == "home"
    after_ack(answer, _clicked(asker, roster, target, in_home), name="button", pool=pool)


async def _clicked(
    asker: Asker, roster: Roster, target: ButtonTarget | None, in_home: bool
) -> None:
    if target is None:
        await asker.answer.send(STALE_BUTTON)
        return
    if isinstance(target, RequestButton):
        await _decide(asker, roster, target)
        return
    roles = await roster.roles_of(asker.user_id)
    needs_operator = isinstance(target, TransferAct | OwnerButton) or (
        isinstance(target, TransferChoice) and target.verb not in READ_WORDS
    )
    if not roles.member or (needs_operator and not roles.operator):
        await asker.answer.send(not_an_operator(asker.services.settings.slack.command))
        return
    if isinstance(target, ListPage):
        await _page(asker, target)
        return
    row = await transfer_by_short_id(asker.services, target.short_id)
    if row is None:
        await asker.answer.send(f"`{target.short_id}` is no longer tracked.")
    elif isinstance(target, TransferAct):
        await start_action(asker, row, target.action)
    elif isinstance(target, TransferChoice):
        await carry_on(asker, row, target.verb)
    elif isinstance(target, OwnerButton) and target.kind is ActionKind.SNOOZE:
        await snooze_transfer(asker, row)
    elif isinstance(target, OwnerButton):
        await own_transfer(asker, row, target.kind)
    elif not in_home:
        fresh = await refresh_transfer(asker.services, row, actor=asker.user_id)
        replace = target.kind is ActionKind.REFRESH
        await asker.answer.send(card_message(fresh), replace=replace)
    else:
        await refresh_transfer(asker.services, row, actor=asker.user_id)
    if in_home:
        await publish_home(asker.services, roster, asker.user_id)


async def _decide(asker: Asker, roster: Roster, target: RequestButton) -> None:
    if not target.request_id.isdigit():
        await asker.answer.send(STALE_BUTTON)
        return
    request_id, user = int(target.request_id), asker.user_id
    services = asker.services
    if target.kind is ActionKind.APPROVE:
        outcome = await approve_request(services, roster, request_id=request_id, user_id=user)
    elif target.kind is ActionKind.REJECT:
        outcome = await reject_request(services, roster, request_id=request_id, user_id=user)
    else:
        outcome = await withdraw_request(services, request_id=request_id, user_id=user)
    await answer_outcome(asker, outcome)


async def _page(asker: Asker, target: ListPage) -> None:
    page = await list_page(
        asker.services, provider=target.provider, phase=target.phase, page=target.page
    )
    message = transfer_list(
        page.rows, page=page.page, pages=page.pages, provider=target.provider, phase=target.phase
    )
    await asker.answer.send(message, replace=True)
