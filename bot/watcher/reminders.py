"""Follow-ups, PagerDuty-style: a stuck transfer nobody moves is reminded of, then escalated.

A transfer gets a follow-up (``storage.followups``) when it becomes stuck — blocked, or
stalled (a stall is as much "nobody acted" as a block, and owners already treat both as
stuck) — or enters a status its provider puts a clock on. Its clock starts then. The
reminder pass, run from every tick, reads only the follow-ups whose moment has come and,
for each:

- a reminder in the transfer's thread ``remind_after`` the start, then every
  ``remind_every`` (its owner mentioned, if it has one); only the latest slot when the
  bot was down for several;
- while nobody owns it, each escalation level once at its ``after``, mentioning that
  level's user groups, broadcast to the channel (an escalation due takes the place of
  the reminder due with it);
- a warning ``deadline_warning`` before the provider's deadline, if it has one.

Each is reserved as an alert under a unique key (transfer, stay, level, slot), so it is
posted exactly once across restarts and replicas, by the alert poster, which drops it
unposted if the transfer moved, finished, was unwatched, owned (an escalation) or
snoozed meanwhile. "Snooze until tomorrow" silences reminders and escalation (not a
deadline warning); the slots it covers are skipped, not made up afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.routing import route_policy
from bot.settings import FollowupPolicy, FollowupSettings, Settings
from bot.watcher.decisions import (
    DEADLINE,
    ESCALATION,
    REMINDER,
    deadline_key,
    escalation_key,
    reminder_key,
)
from providers.base import Phase
from storage.alerts import reserve_alert
from storage.followups import (
    DueFollowup,
    advance_followup,
    drop_followup,
    due_followups,
    ensure_followups,
    get_followup,
    put_followup,
)
from storage.models import Followup, TrackedTransfer
from storage.polling import ClaimedTransfer

if TYPE_CHECKING:
    from bot.services import Services

__all__ = [
    "Due",
    "ReminderReport",
    "follow_up",
    "follow_up_quiet",
    "is_stuck",
    "new_followup",
    "plan",
    "policy_of",
    "run_reminder_pass",
    "stay_is",
]

logger = logging.getLogger(__name__)

CHUNK = 50  # follow-ups moved on per transaction


@dataclass(frozen=True, slots=True)
class Due:
    """One follow-up message whose moment has come."""

    kind: str  # REMINDER, ESCALATION or DEADLINE
    at: datetime  # its moment
    slot: int = 0  # the reminder's number (0 for the first)
    level: int = 0  # the escalation level (1 for the first)


@dataclass
class ReminderReport:
    """What one pass did: follow-ups read, alerts reserved, clocks stopped."""

    due: int = 0
    reserved: int = 0
    dropped: int = 0


def policy_of(settings: FollowupSettings, name: str | None = None) -> FollowupPolicy:
    """The named policy, else the configured default."""
    return settings.policy_for(name)


def policy_for_transfer(
    config: Settings, *, account: str, provider: str, phase: str, subject: str
) -> FollowupPolicy:
    """The policy the first [[routes]] rule matching the transfer names, else the default."""
    name = route_policy(config, account=account, provider=provider, phase=phase, subject=subject)
    return policy_of(config.followups, name)


def is_stuck(settings: FollowupSettings, row: TrackedTransfer | ClaimedTransfer) -> bool:
    """Blocked, or (when ``followups.stalled``) stalled in the status the stall alert named."""
    if not row.watching or Phase(row.phase).finished:
        return False
    if row.phase == Phase.BLOCKED.value:
        return True
    return settings.stalled and row.stalled_alerted_for == row.raw_code


def _reminder_at(policy: FollowupPolicy, since: datetime, slot: int) -> datetime:
    return since + policy.remind_after + slot * policy.remind_every


def _last_slot(policy: FollowupPolicy, since: datetime, now: datetime) -> int | None:
    """The latest reminder slot at or before ``now`` (None: not yet)."""
    first = since + policy.remind_after
    if now < first:
        return None
    slot = int((now - first) / policy.remind_every)
    if policy.max_reminders:
        slot = min(slot, policy.max_reminders - 1)
    return slot


def plan(
    followup: Followup,
    *,
    policy: FollowupPolicy,
    warning: timedelta,
    warn: bool,
    owned: bool,
    now: datetime,
) -> tuple[list[Due], datetime | None]:
    """Pure: what is due now (moments after the last pass, up to ``now``), and when the
    next moment comes (None: nothing more)."""
    since = followup.since
    checked = followup.checked_at
    snoozed = followup.snoozed_until
    # reminders and escalation never look back past a snooze's end
    lower = max(filter(None, (checked, snoozed)), default=None)
    due: list[Due] = []
    later: list[datetime] = []
    quiet = snoozed is not None and now < snoozed
    if followup.stuck:
        slot = _last_slot(policy, since, now)
        if not quiet and slot is not None:
            at = _reminder_at(policy, since, slot)
            if lower is None or at > lower:
                due.append(Due(REMINDER, at, slot=slot))
        following = 0 if slot is None else slot + 1
        if not policy.max_reminders or following < policy.max_reminders:
            later.append(_reminder_at(policy, since, following))
        reached = [
            index + 1
            for index, level in enumerate(policy.escalations)
            if since + level.after <= now and (lower is None or since + level.after > lower)
        ]
        if reached and not quiet and not owned:
            top = max(reached)
            due = [d for d in due if d.kind != REMINDER]
            due.append(Due(ESCALATION, since + policy.escalations[top - 1].after, level=top))
        later += [since + lvl.after for lvl in policy.escalations if since + lvl.after > now]
        if quiet:
            assert snoozed is not None
            later = [max(at, snoozed) for at in later]
    deadline = followup.deadline_at
    if deadline is not None and warn:
        warn_at = deadline - warning
        if warn_at <= now < deadline and (checked is None or warn_at > checked):
            due.append(Due(DEADLINE, warn_at))
        elif warn_at > now:
            later.append(warn_at)
    return due, min(later, default=None)


def new_followup(
    config: Settings,
    row: TrackedTransfer | ClaimedTransfer,
    *,
    status_since: datetime,
    now: datetime,
    stuck: bool,
) -> Followup | None:
    """The follow-up a transfer in this status gets (None: none, nothing to follow up)."""
    settings = config.followups
    deadline = settings.deadline_for(row.provider, row.raw_code)
    if not stuck and deadline is None:
        return None
    assert row.id is not None
    followup = Followup(
        transfer_id=row.id,
        raw_code=row.raw_code,
        stuck=stuck,
        since=now,
        deadline_at=status_since + deadline.after if deadline is not None else None,
    )
    _, followup.due_at = plan(
        followup,
        policy=policy_for_transfer(
            config,
            account=row.account,
            provider=row.provider,
            phase=row.phase,
            subject=row.subject or row.ref,
        ),
        warning=settings.deadline_warning,
        warn=deadline is not None and deadline.warn,
        owned=False,
        now=now,
    )
    return followup


async def follow_up(
    session: AsyncSession,
    config: Settings,
    row: TrackedTransfer,
    *,
    status_since: datetime,
    now: datetime,
    changed: bool,
) -> None:
    """Start, keep, restart or stop the transfer's follow-up after a look at it (inside the
    observation's transaction). Costs nothing for a transfer with no clock that did not
    change."""
    settings = config.followups
    if not settings.enabled:
        return
    assert row.id is not None
    stuck = is_stuck(settings, row)
    live = row.watching and not Phase(row.phase).finished
    has_deadline = live and settings.deadline_for(row.provider, row.raw_code) is not None
    if not (stuck or has_deadline):
        if changed or not live:
            await drop_followup(session, transfer_id=row.id)
        return
    current = await get_followup(session, transfer_id=row.id)
    if current is not None and current.raw_code == row.raw_code and current.stuck == stuck:
        return  # the same stay: its clock runs on
    fresh = new_followup(config, row, status_since=status_since, now=now, stuck=stuck)
    if fresh is not None:
        await put_followup(session, followup=fresh)


async def follow_up_quiet(
    session: AsyncSession,
    config: Settings,
    rows: Sequence[tuple[ClaimedTransfer, datetime]],
    now: datetime,
) -> None:
    """Polls that changed nothing: a stuck transfer (or one on a clock) that has no
    follow-up yet gets one — it was watched while already stuck. One INSERT for all."""
    settings = config.followups
    if not settings.enabled:
        return
    fresh = []
    for row, since in rows:
        stuck = is_stuck(settings, row)
        followup = new_followup(config, row, status_since=since, now=now, stuck=stuck)
        if followup is not None:
            fresh.append(followup)
    await ensure_followups(session, followups=fresh)


def stay_is(followup: Followup | None, payload: dict[str, object]) -> bool:
    """The follow-up is the same stay an alert was reserved for."""
    if followup is None:
        return False
    return followup.raw_code == payload.get(
        "raw_code"
    ) and followup.since.isoformat() == payload.get("since")


# -- the pass --------------------------------------------------------------------------------
async def run_reminder_pass(services: Services) -> ReminderReport:
    """Reserve every reminder, escalation and deadline warning due now; the alert poster
    posts them. One indexed query when nothing is due."""
    settings = services.settings.followups
    report = ReminderReport()
    if not settings.enabled:
        return report
    now = services.now()
    async with services.db.session() as session:
        items = await due_followups(session, now=now, limit=settings.batch_size)
    report.due = len(items)
    for start in range(0, len(items), CHUNK):  # short transactions: SQLite has one writer
        async with services.db.session() as session:
            for item in items[start : start + CHUNK]:
                await _one(session, services, settings, item, now, report)
    if report.reserved:
        services.alert_posting.kick()
    return report


async def _one(
    session: AsyncSession,
    services: Services,
    settings: FollowupSettings,
    item: DueFollowup,
    now: datetime,
    report: ReminderReport,
) -> None:
    followup = item.followup
    transfer_id = followup.transfer_id
    live = item.watching and not Phase(item.phase).finished
    if not live or item.raw_code != followup.raw_code:
        # unwatched, finished or moved without an observation telling us: the clock stops
        if await drop_followup(session, transfer_id=transfer_id):
            report.dropped += 1
        return
    deadline = settings.deadline_for(item.provider, followup.raw_code)
    policy = policy_for_transfer(
        services.settings,
        account=item.account,
        provider=item.provider,
        phase=item.phase,
        subject=item.subject,
    )
    dues, next_at = plan(
        followup,
        policy=policy,
        warning=settings.deadline_warning,
        warn=deadline is not None and deadline.warn,
        owned=item.owner_id is not None,
        now=now,
    )
    won = await advance_followup(
        session, transfer_id=transfer_id, was_due=followup.due_at, checked_at=now, due_at=next_at
    )
    if not won:
        return  # another replica's pass took it
    for due in dues:
        key, message = _key_and_words(item, due)
        payload: dict[str, object] = {
            "since": followup.since.isoformat(),
            "raw_code": followup.raw_code,
            "phase": item.phase,
            "slot": due.slot,
            "level": due.level,
            "broadcast": policy.broadcast,
        }
        if due.kind == ESCALATION:
            payload["mention"] = list(policy.escalations[due.level - 1].mention)
            payload["after"] = policy.escalations[due.level - 1].after.total_seconds()
        if followup.deadline_at is not None:
            payload["deadline_at"] = followup.deadline_at.isoformat()
            payload["outcome"] = deadline.outcome if deadline is not None else "due"
        alert = await reserve_alert(
            session,
            key=key,
            kind=due.kind,
            account=item.account,
            transfer_id=transfer_id,
            message=message,
            payload=payload,
            now=now,
        )
        if alert is not None:
            report.reserved += 1


def _key_and_words(item: DueFollowup, due: Due) -> tuple[str, str]:
    followup = item.followup
    subject = item.subject or item.short_id
    if due.kind == REMINDER:
        key = reminder_key(followup.transfer_id, followup.since, due.slot)
        return key, f"Reminder: {subject} is still stuck ({item.raw_code})."
    if due.kind == ESCALATION:
        key = escalation_key(followup.transfer_id, followup.since, due.level)
        return key, f"Escalation {due.level}: {subject} is stuck and nobody has taken it on."
    assert followup.deadline_at is not None
    key = deadline_key(followup.transfer_id, followup.deadline_at)
    return key, f"{subject} has a deadline coming ({item.raw_code})."
