"""The Slack side of action requests: the request message, its updates and its thread replies."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.slack.blocks import provider_name
from bot.slack.mrkdwn import Mrkdwn, as_mrkdwn, md, mention
from bot.slack.requests import RequestCard, request_message
from providers.base import Action
from storage.models import ActionRequest, RequestState, TrackedTransfer
from storage.requests import get_request, set_request_message
from storage.snapshots import transfer_from_row
from storage.transfers import get_transfer

if TYPE_CHECKING:
    from bot.services import Services

__all__ = [
    "already_decided",
    "outcome_line",
    "post_request",
    "provider_label",
    "refresh_request_message",
    "request_card",
]

logger = logging.getLogger(__name__)

_EMOJI = {
    RequestState.DONE.value: ":white_check_mark:",
    RequestState.FAILED.value: ":x:",
    RequestState.UNKNOWN.value: ":grey_question:",
}


def provider_label(provider: str) -> str:
    return provider_name(provider)


def request_card(request: ActionRequest, row: TrackedTransfer) -> RequestCard:
    """What the request message shows, from the stored request and transfer (no secret)."""
    transfer = transfer_from_row(row)
    action = Action(request.action)
    spec = transfer.action(action)
    secret_names: tuple[str, ...] = ()
    if request.has_secret and spec is not None:
        secret_names = tuple(item.name for item in spec.inputs if item.secret)
    return RequestCard(
        request_id=str(request.id),
        short_id=row.short_id,
        transfer=transfer,
        action=action,
        requested_by=request.requested_by,
        state=RequestState(request.state),
        spec=spec,
        inputs={str(k): str(v) for k, v in (request.inputs or {}).items()},
        secrets_provided=secret_names,
        decided_by=request.decided_by if request.decided_by != "system" else None,
        result_message=request.result_message,
        dry_run=request.dry_run,
        expires_at=request.expires_at,
        requested_at=request.created_at,
        approved_before_expiry=request.state == RequestState.EXPIRED.value
        and request.decided_at is not None,
    )


def already_decided(request: ActionRequest) -> Mrkdwn:
    """Why a click on a request that is no longer pending does nothing."""
    state = request.state
    by = mention(request.decided_by) if request.decided_by else "someone"
    if state == RequestState.PENDING.value:
        return md("This request is still waiting for an approver.")
    if state in (RequestState.APPROVED.value, RequestState.RUNNING.value):
        return md("{} already approved this request; it is running.", by)
    if state == RequestState.REJECTED.value:
        return md("{} already rejected this request; nothing was done.", by)
    if state == RequestState.WITHDRAWN.value:
        return md("This request was withdrawn; nothing was done.")
    if state == RequestState.EXPIRED.value:
        return md(
            "This request expired without a decision; ask again with `/transfer {}` if it is "
            "still needed.",
            request.action,
        )
    if state == RequestState.DONE.value:
        return md("This request has run already: {}", request.result_message or "done.")
    if state == RequestState.FAILED.value:
        return md("This request ran already and failed: {}", request.result_message or "").rstrip()
    return md("This request's outcome is unknown; check the transfer's status before asking again.")


def outcome_line(request: ActionRequest, row: TrackedTransfer, *, who: bool = False) -> Mrkdwn:
    """One line about how an action went, for the person who asked and, with ``who`` (who
    asked, and who approved), for the threads people follow. Whatever the provider said
    (its result message) and the transfer's subject are shown as text, never as markup."""
    emoji = Mrkdwn(_EMOJI.get(request.state, ":information_source:"))
    what = md("{} of `{}` ({})", request.action.capitalize(), row.short_id, row.subject)
    if who:
        what += md(" {}", _who(request))
    result = " ".join((request.result_message or "").split())
    if request.state == RequestState.DONE.value:
        return md("{} {} done: {}", emoji, what, result or "the provider accepted it.")
    if request.state == RequestState.FAILED.value:
        return md("{} {} failed: {}", emoji, what, result or "no reason given.")
    if request.state == RequestState.UNKNOWN.value:
        lead = md("{} {}: outcome unknown.", emoji, what)
        return md("{} {}It will not be run again by itself.", lead, f"{result} " if result else "")
    return md("{}: {}.", what, request.state)


def _who(request: ActionRequest) -> Mrkdwn:
    """Who did it: by the asker, or asked by one person and approved by another."""
    asked = mention(request.requested_by)
    approver = request.decided_by
    if approver and approver != "system" and approver != request.requested_by:
        return md("asked by {}, approved by {}", asked, mention(approver))
    return md("by {}", asked)


async def post_request(services: Services, *, request_id: int, channel: str) -> bool:
    """Post the request message in ``channel`` and remember where; False if Slack refused."""
    request, row = await _load(services, request_id)
    if request is None or row is None:
        return False
    text, blocks = request_message(request_card(request, row))
    posted = await services.calls.answer(
        "chat.postMessage", channel=channel, text=text, blocks=blocks
    )
    if posted is None or not posted.get("ts"):
        return False
    async with services.db.session() as session:
        await set_request_message(
            session,
            request_id=request_id,
            channel=str(posted.get("channel") or channel),
            ts=str(posted["ts"]),
        )
    return True


async def refresh_request_message(
    services: Services, request_id: int, *, reply: str | None = None
) -> None:
    """Show the request's current state in its message (``chat.update``), and post ``reply``
    in its thread and in the transfer's alert thread, if the watcher has started one: all
    about one transfer stays in that thread. A request run at once has no message of its own."""
    request, row = await _load(services, request_id)
    if request is None or row is None:
        return
    if request.channel and request.message_ts:
        text, blocks = request_message(request_card(request, row))
        await services.calls.answer(
            "chat.update",
            channel=request.channel,
            ts=request.message_ts,
            text=text,
            blocks=blocks,
        )
    if not reply:
        return
    threads = [(request.channel, request.message_ts), (row.alert_channel, row.alert_ts)]
    for channel, ts in dict.fromkeys(threads):  # each thread once, the request's first
        if channel and ts:
            await _reply(services, channel, ts, reply)


async def _reply(services: Services, channel: str, thread_ts: str, text: str) -> None:
    """A reply in a thread: ``text`` is escaped unless it is markup (:class:`Mrkdwn`)."""
    await services.calls.answer(
        "chat.postMessage", channel=channel, thread_ts=thread_ts, text=as_mrkdwn(text)
    )


async def _load(
    services: Services, request_id: int
) -> tuple[ActionRequest | None, TrackedTransfer | None]:
    async with services.db.session() as session:
        request = await get_request(session, request_id=request_id)
        row = await get_transfer(session, transfer_id=request.transfer_id) if request else None
    return request, row
