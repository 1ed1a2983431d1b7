"""Record a fresh snapshot of a transfer: its events, its next poll, and the alerts it calls for."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.watcher.decisions import header_key, status_alert_key, status_alert_kind
from bot.watcher.feedpace import note_unannounced_change, safety_interval
from bot.watcher.intervals import PollPolicy, next_poll_delay
from bot.watcher.reminders import follow_up
from bot.watcher.reservations import reserve_status_alert
from bot.watcher.stalls import flag_stall, stall_in
from providers.base import Phase, Transfer
from storage.alerts import reserve_alert
from storage.audit import record_transfer_audit
from storage.models import TrackedTransfer, TransferEvent
from storage.polling import (
    ClaimedTransfer,
    last_status_at,
    record_observation,
    release_transfer,
    reschedule_poll,
)
from storage.transfers import record_superseded

if TYPE_CHECKING:
    from bot.services import Services

__all__ = [
    "SUPERSEDED_DETAIL",
    "Observation",
    "next_poll",
    "observe_transfer",
    "record_snapshot",
    "status_since",
]

logger = logging.getLogger(__name__)

SUPERSEDED_DETAIL = "superseded by"  # a snapshot detail naming the order that replaced it
_rng = random.Random()


@dataclass(frozen=True, slots=True)
class Observation:
    """What one look at a transfer changed and decided."""

    transfer: TrackedTransfer  # the row after the update
    previous_phase: Phase
    status_changed: bool  # phase, raw code or raw text changed: an event was recorded
    status_since: datetime  # when the current raw status began, as far as we know
    next_poll_at: datetime | None  # None: finished, or no longer watched
    alerts: tuple[str, ...] = ()  # keys of the alerts reserved by this observation
    followed: TrackedTransfer | None = None  # the new order it was resubmitted as

    @property
    def phase_changed(self) -> bool:
        return self.previous_phase.value != self.transfer.phase


async def observe_transfer(
    services: Services,
    *,
    transfer_id: int,
    snapshot: Transfer,
    actor: str = "watcher",
    lease_owner: str | None = None,
    kick: bool = True,
) -> Observation | None:
    """Record ``snapshot`` (one event per change), schedule the next poll, reserve alerts.

    The Slack bot calls this when a person's ``status``, Refresh or action fetched a
    transfer, so a change a person saw still alerts exactly once. Everything happens in
    one transaction; alert posting is kicked off afterwards unless ``kick`` is False.

    Args:
        transfer_id: the tracked transfer the snapshot is of.
        snapshot: the provider's fresh view of it.
        actor: who looked ("watcher" or a Slack user id), for the audit log.
        lease_owner: the poll pass's lease, given back with the next poll time; without
            it the next poll is set only if no poll pass holds the transfer.
        kick: start posting the reserved alerts in the background.

    Returns:
        What changed and what was decided, or None if no such transfer is tracked.
    """
    now = services.now()
    async with services.db.session() as session:
        seen = await record_snapshot(
            session,
            services,
            transfer_id=transfer_id,
            snapshot=snapshot,
            actor=actor,
            lease_owner=lease_owner,
            now=now,
        )
    if seen is not None and seen.alerts and kick:
        services.alert_posting.kick()
    return seen


async def record_snapshot(
    session: AsyncSession,
    services: Services,
    *,
    transfer_id: int,
    snapshot: Transfer,
    actor: str,
    lease_owner: str | None,
    now: datetime,
) -> Observation | None:
    """What observe_transfer does, inside the caller's transaction."""
    seen = await record_observation(session, transfer_id=transfer_id, transfer=snapshot, now=now)
    if seen is None:
        return None
    row = seen.transfer
    since = await status_since(session, row, now=now, changed_now=seen.status_changed)
    keys: list[str] = []
    followed = None
    if row.watching:
        keys += await _status_alerts(session, row, seen.previous_phase, seen.event, now)
        followed = await _follow_resubmission(session, row, snapshot, actor, now)
    threshold = services.settings.watcher.stall_threshold(row.provider, row.raw_code)
    if row.watching and followed is None:
        stalled = await flag_stall(session, row=row, since=since, now=now, threshold=threshold)
        keys += [stalled] if stalled else []
    if row.watching and seen.status_changed and row.alert_ts and not keys:
        keys += await _header_refresh(session, row, seen.event, now)
    await follow_up(
        session,
        services.settings,
        row,
        status_since=since,
        now=now,
        changed=seen.status_changed or bool(keys),
    )
    safety = await safety_interval(session, services, row.account, now)
    if safety is not None and seen.status_changed and row.watching:
        silent = await note_unannounced_change(session, services, row, now)
        if silent is not None:
            keys.append(silent)
            safety = None  # the feed is not trusted now: poll adaptively
    next_poll_at, interval = next_poll(
        services, row, since, now, threshold, followed, safety=safety
    )
    if lease_owner is not None:
        await release_transfer(
            session,
            transfer_id=transfer_id,
            owner=lease_owner,
            next_poll_at=next_poll_at,
            poll_interval_seconds=interval,
        )
    else:
        await _reschedule(session, transfer_id, next_poll_at, interval, now)
    return Observation(
        transfer=row,
        previous_phase=seen.previous_phase,
        status_changed=seen.status_changed,
        status_since=since,
        next_poll_at=next_poll_at,
        alerts=tuple(keys),
        followed=followed,
    )


async def status_since(
    session: AsyncSession, row: TrackedTransfer, *, now: datetime, changed_now: bool = False
) -> datetime:
    """When the transfer's current raw status began: our first sight of it, or the
    provider's own change time when that is earlier (a status that began before we
    watched). A provider time in the future is ignored."""
    if changed_now:
        ours = now
    else:
        last = await last_status_at(session, transfer_id=row.id or 0)
        ours = last or row.first_seen_at
    theirs = row.changed_at
    if theirs is not None and theirs <= now:
        return min(ours, theirs)
    return ours


def next_poll(
    services: Services,
    row: TrackedTransfer | ClaimedTransfer,
    since: datetime,
    now: datetime,
    threshold: timedelta,
    followed: TrackedTransfer | None,
    policy: PollPolicy | None = None,
    *,
    safety: float | None = None,
) -> tuple[datetime | None, float | None]:
    """When to poll next; ``safety`` (a trusted change feed's safety-net interval) replaces
    the adaptive interval for an unfinished transfer."""
    if not row.watching or followed is not None:
        return None, None
    policy = policy or PollPolicy.from_settings(services.settings.watcher)
    delay = next_poll_delay(
        provider=row.provider,
        phase=row.phase,
        raw_code=row.raw_code,
        unchanged_for=(now - since).total_seconds(),
        policy=policy,
        stall_in=stall_in(row, since=since, now=now, threshold=threshold),
        rng=_rng,
        safety=safety,
    )
    if delay is None:
        return None, None
    return now + timedelta(seconds=delay), delay


async def _status_alerts(
    session: AsyncSession,
    row: TrackedTransfer,
    previous: Phase,
    event: TransferEvent | None,
    now: datetime,
) -> list[str]:
    """Reserve the alert a phase change calls for (blocked, completed, failed, cancelled)."""
    kind = status_alert_kind(previous, row.phase) if event is not None else None
    if kind is None:
        return []
    assert row.id is not None and event is not None
    key = status_alert_key(row.id, kind, event.id)
    reserved = await reserve_status_alert(session, row, kind, key=key, now=now)
    return [key] if reserved is not None else []


async def _header_refresh(
    session: AsyncSession, row: TrackedTransfer, event: TransferEvent | None, now: datetime
) -> list[str]:
    """A status change without an alert still updates the thread's first message."""
    assert row.id is not None
    key = header_key(row.id, event.id if event is not None else None)
    alert = await reserve_alert(
        session, key=key, kind="header", account=row.account, transfer_id=row.id, now=now
    )
    return [key] if alert is not None else []


async def _follow_resubmission(
    session: AsyncSession, row: TrackedTransfer, snapshot: Transfer, actor: str, now: datetime
) -> TrackedTransfer | None:
    """An order the provider says was resubmitted (outside the bot too) is followed."""
    new_ref = (snapshot.details.get(SUPERSEDED_DETAIL) or "").strip()
    if not new_ref or row.superseded_by_id is not None or new_ref == row.ref:
        return None
    assert row.id is not None
    new = await record_superseded(session, transfer_id=row.id, new_ref=new_ref, now=now)
    if new is None:
        return None
    detail = f"{row.account} order {row.ref} was resubmitted as {new_ref}; following it."
    await record_transfer_audit(
        session, transfer=row, actor=actor, verb="superseded", detail=detail, now=now
    )
    logger.info("following %s/%s, which replaced %s", row.account, new_ref, row.ref)
    row.watching = False
    return new


async def _reschedule(
    session: AsyncSession,
    transfer_id: int,
    next_poll_at: datetime | None,
    interval: float | None,
    now: datetime,
) -> None:
    """Set the next poll unless a poll pass holds the transfer (its release sets it)."""
    if next_poll_at is None:
        return
    await reschedule_poll(
        session, transfer_id=transfer_id, next_poll_at=next_poll_at, interval=interval, now=now
    )
