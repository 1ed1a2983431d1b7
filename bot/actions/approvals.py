"""Action requests: ask, decide, run exactly once, and show the outcome in the request's thread.

Every step is a compare-and-set state transition in the database (``move_request``),
so a double click, a Slack retry or two replicas handling the same click act once: the
loser of the race is told what happened instead. An action whose outcome is unknown (a
crash while it ran, or a provider error that may have applied) is marked ``unknown`` and
never run again by itself. Running is :mod:`bot.actions.running`; the Slack messages are
:mod:`bot.actions.posting`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.actions.posting import already_decided, post_request, refresh_request_message
from bot.actions.running import (
    RUN_TIMEOUT,
    Outcome,
    audit_request,
    count_requests,
    recover_requests,
    run_request,
    settle_request,
)
from bot.slack.mrkdwn import Mrkdwn, channel_link, md, mention
from bot.slack.permissions import Roster, not_an_approver
from providers.base import Action, ActionSpec
from storage.audit import record_audit
from storage.models import ActionRequest, RequestState, TrackedTransfer
from storage.requests import (
    OPEN_REQUEST_STATES,
    create_request,
    expire_requests,
    find_open_request,
    get_request,
    lock_transfer_requests,
)
from storage.secrets import erase_secret, store_secret

if TYPE_CHECKING:
    from bot.services import Services

__all__ = [
    "OPEN_STATES",
    "RUN_TIMEOUT",
    "Outcome",
    "approve_request",
    "expire_due_requests",
    "recover_requests",
    "reject_request",
    "request_action",
    "run_request",
    "withdraw_request",
]

logger = logging.getLogger(__name__)

OPEN_STATES = OPEN_REQUEST_STATES
RETRY_WINDOW = timedelta(minutes=10)  # a Slack redelivery comes within seconds of the first
DOUBLE_CLICK_WINDOW = timedelta(seconds=10)  # the same action asked again this soon: a repeat


# -- asking ------------------------------------------------------------------------------------
async def request_action(
    services: Services,
    *,
    row: TrackedTransfer,
    spec: ActionSpec,
    requested_by: str,
    values: Mapping[str, str | None] | None = None,
    channel: str | None = None,
    retried: bool = False,
) -> Outcome:
    """Ask for ``spec`` on ``row``: run it at once, or post a request for approval in ``channel``.

    Secret inputs (a new authInfo) are stored only encrypted, and only until the action
    has run. Refuses a second open request for the same action on the same transfer, and
    one asked again within seconds (a double click); a Slack redelivery (``retried``) also
    finds the one its first delivery created minutes ago.

    Args:
        spec: the action as the provider offers it now (checked by the caller).
        values: what the person typed into the modal, by input name.
        channel: where a request that needs approval is posted.
    """
    assert row.id is not None
    action = spec.action
    public, secret = _split_inputs(spec, values or {})
    needs_approval = services.settings.slack.needs_approval(action)
    if needs_approval and channel is None:
        return Outcome(
            "This action needs an approver, but there is no channel to ask in: run the "
            "command in a channel, or set slack.alert_channel."
        )
    created = await _create(
        services,
        row=row,
        action=action,
        requested_by=requested_by,
        inputs=(public, secret),
        channel=channel if needs_approval else None,
        retried=retried,
    )
    if isinstance(created, Outcome):
        return created
    if not needs_approval:
        return await run_request(
            services, request_id=created, from_states=(RequestState.PENDING,), actor=requested_by
        )
    return await _ask_for_approval(services, created, channel or "")


async def _create(
    services: Services,
    *,
    row: TrackedTransfer,
    action: Action,
    requested_by: str,
    inputs: tuple[dict[str, str], dict[str, str]],
    channel: str | None,
    retried: bool,
) -> int | Outcome:
    """Store the request (its secret encrypted) and audit it; its id, or why not (a repeat)."""
    assert row.id is not None
    public, secret = inputs
    now = services.now()
    slack = services.settings.slack
    async with services.db.session() as session:
        await lock_transfer_requests(session, transfer_id=row.id)
        since = now - (RETRY_WINDOW if retried else DOUBLE_CLICK_WINDOW)
        existing = await find_open_request(session, transfer_id=row.id, action=action, since=since)
        if existing is not None:
            return Outcome(_duplicate(existing, row), existing.id)
        request = await create_request(
            session,
            transfer_id=row.id,
            action=action,
            requested_by=requested_by,
            expires_at=now + timedelta(minutes=slack.request_expiry_minutes),
            inputs=public,
            dry_run=slack.dry_run,
            channel=channel,
            now=now,
        )
        assert request.id is not None
        count_requests(services, RequestState.PENDING)
        if secret:
            await store_secret(
                session, request_id=request.id, value=json.dumps(secret), box=services.secret_box
            )
        await record_audit(
            session,
            actor=requested_by,
            verb="requested",
            transfer_id=row.id,
            request_id=request.id,
            detail=f"{action.value} {row.subject} ({row.account} {row.ref})"
            + (", for approval" if channel else ", run at once"),
            now=now,
        )
    return request.id


async def _ask_for_approval(services: Services, request_id: int, channel: str) -> Outcome:
    posted = await post_request(services, request_id=request_id, channel=channel)
    if posted:
        expiry = services.settings.slack.request_expiry_minutes
        return Outcome(
            md(
                "Asked for approval in {}: an approver other than you has to approve it "
                "within {} minutes.",
                channel_link(channel),
                expiry,
            ),
            request_id,
        )
    now = services.now()
    async with services.db.session() as session:
        await settle_request(
            services,
            session,
            request_id,
            to_state=RequestState.WITHDRAWN,
            actor="system",
            detail="the request could not be posted to Slack",
            now=now,
            decided_by="system",
            decided_at=now,
            result_message="The request could not be posted to Slack.",
        )
    return Outcome(
        md(
            "The request could not be posted in {} (is the bot in that channel?); "
            "nothing was done.",
            channel_link(channel),
        ),
        request_id,
    )


# -- deciding ----------------------------------------------------------------------------------
_OWN_REQUEST = {  # what the requester is told when they try to decide their own request
    RequestState.APPROVED: "You can't approve your own request; another approver has to.",
    RequestState.REJECTED: "This is your own request: use Withdraw to take it back.",
}


async def approve_request(
    services: Services, roster: Roster, *, request_id: int, user_id: str
) -> Outcome:
    """Approve and run a pending request, once; only an approver other than the requester."""
    return await _approver_decides(services, roster, request_id, user_id, RequestState.APPROVED)


async def reject_request(
    services: Services, roster: Roster, *, request_id: int, user_id: str
) -> Outcome:
    """Reject a pending request: nothing is done; only an approver other than the requester."""
    return await _approver_decides(services, roster, request_id, user_id, RequestState.REJECTED)


async def _approver_decides(
    services: Services, roster: Roster, request_id: int, user_id: str, to: RequestState
) -> Outcome:
    """Approve (and run) or reject the pending request, once, if ``user_id`` may decide it and
    an approval has not expired; else the sentence saying why not."""
    request = await _get(services, request_id)
    if request is None:
        return Outcome("That request no longer exists.")
    if request.state != RequestState.PENDING.value:
        return Outcome(already_decided(request), request_id)
    if request.requested_by == user_id:
        return Outcome(_OWN_REQUEST[to], request_id)
    if not (await roster.roles_of(user_id, fresh=True)).approver:
        return Outcome(not_an_approver(), request_id)
    if to is RequestState.APPROVED and request.expires_at <= services.now():
        await _expire(services, [request_id])
        return await _already_decided(services, request)
    if not await _decide(services, request, to, user_id):
        return await _already_decided(services, request)
    if to is RequestState.APPROVED:
        return await run_request(services, request_id=request_id, actor=user_id)  # shows "running"
    await refresh_request_message(services, request_id)
    return Outcome("Rejected; nothing was done.", request_id)


async def withdraw_request(services: Services, *, request_id: int, user_id: str) -> Outcome:
    """The requester takes a pending request back."""
    request = await _get(services, request_id)
    if request is None:
        return Outcome("That request no longer exists.")
    if request.requested_by != user_id:
        return Outcome(
            md("Only {}, who asked, can withdraw this request.", mention(request.requested_by)),
            request_id,
        )
    if request.state != RequestState.PENDING.value:
        return Outcome(already_decided(request), request_id)
    if not await _decide(services, request, RequestState.WITHDRAWN, user_id):
        return await _already_decided(services, request)
    await refresh_request_message(services, request_id)
    return Outcome("Withdrawn; nothing was done.", request_id)


async def _decide(
    services: Services, request: ActionRequest, to: RequestState, user_id: str
) -> bool:
    """``user_id`` moves the pending request to ``to``; whether this click won."""
    now = services.now()
    async with services.db.session() as session:
        return await settle_request(
            services,
            session,
            request,
            to_state=to,
            actor=user_id,
            detail=f"{request.action} requested by {request.requested_by}",
            now=now,
            decided_by=user_id,
            decided_at=now,
        )


async def _already_decided(services: Services, request: ActionRequest) -> Outcome:
    """What became of a request another click, replica or the clock decided first."""
    request_id = request.id or 0
    return Outcome(already_decided(await _get(services, request_id) or request), request_id)


# -- housekeeping (the watcher's scheduler and start-up) ---------------------------------------
async def expire_due_requests(services: Services) -> list[int]:
    """Expire pending requests past their time and recover interrupted runs; the expired ids.

    Called periodically by the watcher's scheduler. Expired requests' secrets are erased
    and their messages say so; see :func:`recover_requests` for the rest.
    """
    now = services.now()
    async with services.db.session() as session:
        expired = [r.id or 0 for r in await expire_requests(session, now=now)]
    count_requests(services, RequestState.EXPIRED, len(expired))
    await _expire(services, expired, already=True)
    await recover_requests(services)
    return expired


async def _expire(services: Services, request_ids: list[int], *, already: bool = False) -> None:
    now = services.now()
    detail = "no decision in time"
    for request_id in request_ids:
        async with services.db.session() as session:
            if already:  # the sweep moved them (and counted them) all at once
                await erase_secret(session, request_id=request_id)
                await audit_request(
                    session, request_id, actor="system", verb="expired", detail=detail, now=now
                )
            elif not await settle_request(
                services,
                session,
                request_id,
                to_state=RequestState.EXPIRED,
                actor="system",
                detail=detail,
                now=now,
            ):
                continue
        await refresh_request_message(services, request_id)


# -- queries -----------------------------------------------------------------------------------
async def _get(services: Services, request_id: int) -> ActionRequest | None:
    async with services.db.session() as session:
        return await get_request(session, request_id=request_id)


def _split_inputs(
    spec: ActionSpec, values: Mapping[str, str | None]
) -> tuple[dict[str, str], dict[str, str]]:
    """(public, secret) inputs the spec knows, empty ones left out."""
    public: dict[str, str] = {}
    secret: dict[str, str] = {}
    for item in spec.inputs:
        value = (values.get(item.name) or "").strip()
        if value:
            (secret if item.secret else public)[item.name] = value
    return public, secret


def _duplicate(existing: ActionRequest, row: TrackedTransfer) -> Mrkdwn:
    if existing.state == RequestState.PENDING.value:
        return md(
            "{} already asked to {} `{}`; that request is waiting for an approver.",
            mention(existing.requested_by),
            existing.action,
            row.short_id,
        )
    if existing.state in (RequestState.APPROVED.value, RequestState.RUNNING.value):
        return md("The {} of `{}` is running already.", existing.action, row.short_id)
    return md("That was done a moment ago: {}", already_decided(existing))
