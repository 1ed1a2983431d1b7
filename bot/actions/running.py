"""Running an action request once: the provider call, its outcome, and the follow-up.

Only the caller that wins the ``… → running`` transition runs the action; it is never
retried. Secret inputs are erased as soon as the provider has answered (or failed to).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.actions.posting import (
    already_decided,
    outcome_line,
    provider_label,
    refresh_request_message,
)
from bot.provider_lanes import LANE_STUCK_SECONDS
from bot.slack.mrkdwn import md
from bot.tracking import Fresh, refresh_transfer
from providers.base import Action, ActionResult
from providers.errors import ProviderError
from storage.audit import record_audit
from storage.errors import StorageError
from storage.models import ActionRequest, RequestState, TrackedTransfer
from storage.polling import schedule_poll_now
from storage.requests import (
    get_request,
    list_requests,
    mark_interrupted_requests_unknown,
    transition_request,
)
from storage.secrets import erase_secret, erase_stale_secrets, load_secret
from storage.transfers import get_transfer, record_superseded

if TYPE_CHECKING:
    from bot.services import Services

__all__ = [
    "CRASHED",
    "RUN_TIMEOUT",
    "Outcome",
    "audit_request",
    "count_requests",
    "move_request",
    "recover_requests",
    "run_request",
    "settle_request",
]

logger = logging.getLogger(__name__)

RUN_TIMEOUT = timedelta(minutes=10)  # the bound when no account is configured (tests)
STALLED_APPROVAL = timedelta(minutes=1)  # approved but not started: its runner crashed
_RUN_MARGIN = timedelta(seconds=30)  # database writes and Slack posts around the provider call
STALE_APPROVAL = (
    "It was approved, but the bot stopped before running it and it is now past its expiry, "
    "so nothing was done; ask again if it is still needed."
)
RAN_TOO_LONG = (
    "The action did not finish in time, so its outcome is unknown; check the transfer "
    "before asking again."
)


def run_bound(services: Services) -> timedelta:
    """How long one run can take at most: its provider call is bounded by the account's
    timeout (actions are sent once, never retried) and its lane's wait; a request still
    ``running`` after this long was left by a process that stopped, whichever replica."""
    timeouts = [float(account.timeout) for account in services.registry]
    if not timeouts:
        return RUN_TIMEOUT
    return timedelta(seconds=2 * max(timeouts) + LANE_STUCK_SECONDS) + _RUN_MARGIN


def _call_bound(services: Services) -> float:
    """The in-process deadline of one provider call for an action (inside run_bound)."""
    return (run_bound(services) - _RUN_MARGIN).total_seconds()


CRASHED = (
    "Something went wrong on our side while the action was running, so its outcome is "
    "unknown; check the transfer before asking again."
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the person who asked, approved or clicked is told."""

    message: str  # one plain sentence (mrkdwn)
    request_id: int | None = None
    ran: bool = False  # this call ran the action (or recorded it, in a dry run)
    fresh: Fresh | None = None  # the transfer after the action, for a card


def count_requests(services: Services, state: RequestState, requests: int = 1) -> None:
    """Count ``requests`` entering ``state`` in /metrics (when the services have metrics)."""
    if services.metrics is not None:
        services.metrics.count_request(state.value, requests)


async def move_request(
    services: Services,
    session: AsyncSession,
    *,
    request_id: int,
    from_states: Iterable[RequestState],
    to_state: RequestState,
    now: datetime | None = None,
    **fields: Any,
) -> bool:
    """``transition_request`` at the services' time, counted in /metrics if this caller won.

    Every state a request enters after it was asked goes through here (or is counted
    with :func:`count_requests` when a sweep moves many at once).
    """
    won = await transition_request(
        session,
        request_id=request_id,
        from_states=from_states,
        to_state=to_state,
        now=now or services.now(),
        **fields,
    )
    if won:
        count_requests(services, to_state)
    return won


async def audit_request(
    session: AsyncSession,
    request: ActionRequest | int,
    *,
    actor: str,
    verb: str,
    detail: str,
    now: datetime,
) -> None:
    """Add what happened to a request to the audit trail, under its transfer (given only the
    request's id, its transfer is looked up), so ``/transfer history`` shows it."""
    found = await get_request(session, request_id=request) if isinstance(request, int) else request
    request_id = request if isinstance(request, int) else request.id
    transfer_id = found.transfer_id if found is not None else None
    await record_audit(
        session,
        actor=actor,
        verb=verb,
        transfer_id=transfer_id,
        request_id=request_id,
        detail=detail,
        now=now,
    )


async def settle_request(
    services: Services,
    session: AsyncSession,
    request: ActionRequest | int,
    *,
    to_state: RequestState,
    actor: str,
    detail: str,
    now: datetime,
    from_state: RequestState = RequestState.PENDING,
    **fields: Any,
) -> bool:
    """Move a request on without running it (approved, rejected, withdrawn, expired); if this
    caller won, audit the move (its verb is the new state) and, unless the request is approved
    to run, erase its secret inputs: it never runs now. Whether this caller won.

    ``request`` is the request, or its id as for :func:`audit_request`.
    """
    request_id = request if isinstance(request, int) else request.id or 0
    won = await move_request(
        services,
        session,
        request_id=request_id,
        from_states=(from_state,),
        to_state=to_state,
        now=now,
        **fields,
    )
    if won:
        if to_state is not RequestState.APPROVED:
            await erase_secret(session, request_id=request_id)
        await audit_request(
            session, request, actor=actor, verb=to_state.value, detail=detail, now=now
        )
    return won


def _count_action(services: Services, request: ActionRequest, state: RequestState) -> None:
    if services.metrics is not None:
        outcome = "dry_run" if request.dry_run else state.value
        services.metrics.count_action(request.action, outcome)


async def _get(services: Services, request_id: int) -> ActionRequest | None:
    async with services.db.session() as session:
        return await get_request(session, request_id=request_id)


async def run_request(
    services: Services,
    *,
    request_id: int,
    actor: str,
    from_states: Iterable[RequestState] = (RequestState.APPROVED,),
) -> Outcome:
    """Run the request's action once (the caller that wins ``… → running``), then report it.

    The action is never retried. Its secret inputs are erased as soon as the provider has
    answered (or failed to); the request message and its thread show the outcome.
    """
    now = services.now()
    async with services.db.session() as session:
        won = await move_request(
            services,
            session,
            request_id=request_id,
            from_states=from_states,
            to_state=RequestState.RUNNING,
            now=now,
        )
        request = await get_request(session, request_id=request_id)
        row = await get_transfer(session, transfer_id=request.transfer_id) if request else None
    if request is None or row is None:
        return Outcome("That request no longer exists.")
    if not won:
        return Outcome(already_decided(request), request_id)
    await refresh_request_message(services, request_id)
    result, state, message = await _perform(services, request, row)
    async with services.db.session() as session:
        await erase_secret(session, request_id=request_id)
    new_row = await _finish(services, request, row, state, message, result, actor)
    fresh = None
    if not request.dry_run:
        fresh = await refresh_transfer(services, new_row or row, actor=actor)
        if fresh.error is not None:
            async with services.db.session() as session:
                await schedule_poll_now(session, transfer_id=(new_row or row).id or 0)
    done = await _get(services, request_id) or request
    await refresh_request_message(services, request_id, reply=outcome_line(done, row, who=True))
    return Outcome(outcome_line(done, row), request_id, ran=True, fresh=fresh)


async def _perform(
    services: Services, request: ActionRequest, row: TrackedTransfer
) -> tuple[ActionResult | None, RequestState, str]:
    """Send the action to the provider once: (result, final state, sentence)."""
    action = Action(request.action)
    if request.dry_run:
        return (
            None,
            RequestState.DONE,
            f"Dry run: the {action.value} of {row.subject} was recorded but not sent to "
            f"{provider_label(row.provider)}.",
        )
    try:
        secrets = await _secret_inputs(services, request)
    except StorageError as exc:
        return None, RequestState.FAILED, exc.message
    with services.masker.masking(*secrets.values()):  # while the provider call holds them
        return await _send(services, request, row, action, {**request.inputs, **secrets})


async def _send(
    services: Services,
    request: ActionRequest,
    row: TrackedTransfer,
    action: Action,
    inputs: dict[str, str],
) -> tuple[ActionResult | None, RequestState, str]:
    try:
        provider = services.registry.get(row.account)
        async with (
            asyncio.timeout(_call_bound(services)),
            services.lanes.call(row.account, row.provider, purpose="actions"),
        ):
            result = await provider.perform(row.ref, action, inputs)
    except TimeoutError:
        logger.warning("request %s: the %s of %s ran too long", request.id, action, row.short_id)
        return None, RequestState.UNKNOWN, RAN_TOO_LONG
    except ProviderError as exc:
        state = RequestState.UNKNOWN if exc.maybe_applied else RequestState.FAILED
        logger.info("request %s: %s of %s: %s", request.id, action.value, row.short_id, exc.kind)
        return None, state, exc.message
    except Exception:
        logger.exception("request %s: the %s of %s crashed", request.id, action, row.short_id)
        return None, RequestState.UNKNOWN, CRASHED
    return result, RequestState.DONE, result.message


async def _secret_inputs(services: Services, request: ActionRequest) -> dict[str, str]:
    if not request.has_secret:
        return {}
    async with services.db.session() as session:
        text = await load_secret(session, request_id=request.id or 0, box=services.secret_box)
    if text is None:
        return {}
    values = json.loads(text)
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}


async def _finish(
    services: Services,
    request: ActionRequest,
    row: TrackedTransfer,
    state: RequestState,
    message: str,
    result: ActionResult | None,
    actor: str,
) -> TrackedTransfer | None:
    """Record the outcome; follow a resubmission's new order. Returns the new order's row."""
    now = services.now()
    new_ref = result.new_ref if result is not None else None
    verb = {RequestState.DONE: "ran", RequestState.FAILED: "failed"}.get(state, "unknown")
    verb = "dry_run" if request.dry_run else verb
    new_row = None
    async with services.db.session() as session:
        if await move_request(
            services,
            session,
            request_id=request.id or 0,
            from_states=(RequestState.RUNNING,),
            to_state=state,
            result_message=message,
            new_ref=new_ref,
            now=now,
        ):
            _count_action(services, request, state)
        detail = f"{request.action} {row.subject}: {message}"
        await audit_request(session, request, actor=actor, verb=verb, detail=detail, now=now)
        if new_ref:
            snapshot = result.transfer if result and result.transfer else None
            new_row = await record_superseded(
                session,
                transfer_id=row.id or 0,
                new_ref=new_ref,
                now=now,
                transfer=snapshot if snapshot and snapshot.ref == new_ref else None,
                watched_by=actor,
            )
            detail = f"{row.account} {row.ref} resubmitted as {new_ref}"
            await audit_request(
                session, request, actor=actor, verb="superseded", detail=detail, now=now
            )
    return new_row


# -- after a crash -------------------------------------------------------------------------
async def recover_requests(services: Services, *, run_timeout: timedelta | None = None) -> None:
    """After a crash: runs left ``running`` longer than a run can take (:func:`run_bound`)
    become ``unknown`` (never re-run); approvals whose run never started are run now if
    they are still within their expiry (the ``approved → running`` transition keeps that to
    one replica), and are expired, and said so, if not. Secrets of finished requests are
    erased."""
    now = services.now()
    run_timeout = run_timeout if run_timeout is not None else run_bound(services)
    async with services.db.session() as session:
        interrupted = await mark_interrupted_requests_unknown(
            session, started_before=now - run_timeout, now=now
        )
        count_requests(services, RequestState.UNKNOWN, len(interrupted))
        for request in interrupted:
            _count_action(services, request, RequestState.UNKNOWN)
            detail = "interrupted while running"
            await audit_request(
                session, request, actor="system", verb="unknown", detail=detail, now=now
            )
        await erase_stale_secrets(session)
        approved = [
            r
            for r in await list_requests(session, states=(RequestState.APPROVED,), limit=100)
            if r.decided_at is not None and r.decided_at <= now - STALLED_APPROVAL
        ]
    for request in interrupted:
        row = await _transfer_of(services, request)
        line = outcome_line(request, row, who=True) if row is not None else None
        await refresh_request_message(services, request.id or 0, reply=line)
    for request in approved:
        if request.expires_at <= now:
            await _expire_stale_approval(services, request)
            continue
        logger.warning("request %s was approved but never started; running it now", request.id)
        await run_request(services, request_id=request.id or 0, actor=request.decided_by or "")


async def _expire_stale_approval(services: Services, request: ActionRequest) -> None:
    """An approval whose run never started and whose expiry has passed: never run it."""
    now = services.now()
    async with services.db.session() as session:
        if not await settle_request(
            services,
            session,
            request,
            from_state=RequestState.APPROVED,
            to_state=RequestState.EXPIRED,
            actor="system",
            detail="approved but never run, and past its expiry",
            now=now,
            result_message=STALE_APPROVAL,
            finished_at=now,
        ):
            return  # another replica took it
    logger.warning("request %s was approved but never run and is past its expiry", request.id)
    row = await _transfer_of(services, request)
    line = md(":alarm_clock: {} of `{}`: {}", request.action.capitalize(),
              row.short_id if row else "?", STALE_APPROVAL)  # fmt: skip
    await refresh_request_message(services, request.id or 0, reply=line)


async def _transfer_of(services: Services, request: ActionRequest) -> TrackedTransfer | None:
    async with services.db.session() as session:
        return await get_transfer(session, transfer_id=request.transfer_id)
