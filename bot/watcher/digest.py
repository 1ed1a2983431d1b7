"""The optional daily digest, at a local time in the team's zone, once a local day: what is
due soon (a provider deadline within a week), then what is stuck and nobody owns, then
the rest in flight.

The watcher asks :func:`digest_day_due` every half minute by its own clock
(``services.now``), so the digest follows the zone's clock across daylight-saving changes
(a time the change skips fires when the clock has passed it: an hour later that day), and
:func:`reserve_digest` reserves it under the local day's unique key, so it is posted once
however many replicas ask and however often.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

from slack_sdk.models.blocks import Block
from sqlalchemy.ext.asyncio import AsyncSession

from bot.slack.blocks import (
    MAX_SECTION_TEXT,
    Deadline,
    Message,
    Row,
    context,
    deadline_line,
    finish,
    section,
    transfer_line,
)
from bot.slack.mrkdwn import Mrkdwn, md, mention
from bot.watcher.decisions import DIGEST, digest_key
from providers.base import Phase
from providers.registry import descriptor_of
from storage.alerts import reserve_alert
from storage.followups import list_deadlines
from storage.snapshots import transfer_from_row
from storage.transfers import count_transfers_by_phase, list_in_flight_transfers

if TYPE_CHECKING:
    from bot.services import Services

__all__ = [
    "digest_blocks",
    "digest_day_due",
    "digest_message",
    "reserve_digest",
]

logger = logging.getLogger(__name__)

DIGEST_LINES = 30
_FIRST = (Phase.BLOCKED, Phase.PAUSED, Phase.PENDING, Phase.ACTIVE)
DUE_SOON = timedelta(days=7)  # a provider deadline this near leads the digest


def digest_day_due(now: datetime, at: time, zone: tzinfo) -> date | None:
    """The local day whose digest is due at ``now``: today's (in ``zone``) once the local
    clock has reached ``at``; None before that."""
    today = now.astimezone(zone).date()
    due = datetime.combine(today, at, tzinfo=zone)  # in a skipped hour: that hour later
    return today if now >= due else None


async def reserve_digest(services: Services, *, day: date | None = None) -> bool:
    """Reserve the digest of ``day`` (default: today in UTC) once across replicas; it is
    posted with the other alerts. False: it was reserved already."""
    now = services.now()
    async with services.db.session() as session:
        alert = await reserve_alert(
            session,
            key=digest_key(day or now.date()),
            kind=DIGEST,
            account="*",
            message="Daily digest",
            now=now,
        )
    if alert is not None:
        services.alert_posting.kick()
    return alert is not None


async def digest_message(session: AsyncSession, now: datetime) -> Message:
    """Today's digest from the database: what is due soon, then the stuck transfers nobody
    owns, then the others (blocked and stalled first), each with its provider deadline."""
    by_phase = await count_transfers_by_phase(session, watching=True)
    counts = Counter({Phase(p): n for p, n in by_phase.items() if not Phase(p).finished})
    found = await list_in_flight_transfers(session, limit=500)
    rows = [
        Row(row.short_id, transfer_from_row(row), row.stalled_alerted_for == row.raw_code)
        for row in found
    ]
    owners = {row.short_id: row.owner_id for row in found if row.owner_id}
    clocks = await list_deadlines(session, transfer_ids=[r.id for r in found if r.id])
    deadlines = {}
    for row in found:
        at = clocks.get(row.id or 0)
        if at is not None:
            known = descriptor_of(row.provider).deadlines.get(row.raw_code.strip())
            deadlines[row.short_id] = Deadline(at, known.outcome if known else "due")
    return digest_blocks(rows, counts, owners=owners, deadlines=deadlines, now=now)


def _stuck(row: Row) -> bool:
    return row.transfer.phase is Phase.BLOCKED or row.stalled


def digest_blocks(
    rows: Sequence[Row],
    counts: Counter[Phase],
    *,
    owners: Mapping[str, str] | None = None,
    deadlines: Mapping[str, Deadline] | None = None,
    now: datetime | None = None,
) -> Message:
    """Pure: the digest for these rows and per-phase counts, with who owns which (short id ->
    user id) and each one's provider deadline (short id -> Deadline): what is due within
    DUE_SOON first (soonest first), then the stuck transfers nobody owns, then the rest (the
    most urgent first), owners named; a deadline follows its line wherever it is."""
    owners, deadlines = owners or {}, deadlines or {}
    total = sum(counts.values())
    tally = ", ".join(f"{counts[p]} {p.value}" for p in _FIRST if counts[p]) or "none"
    due = sorted(
        (r for r in rows if r.short_id in deadlines and _due_soon(deadlines[r.short_id], now)),
        key=lambda r: deadlines[r.short_id].at,
    )
    listed = {r.short_id for r in due}
    unowned = [r for r in rows if _stuck(r) and r.short_id not in {*owners, *listed}]
    listed |= {r.short_id for r in unowned}
    rest = sorted(
        (r for r in rows if r.short_id not in listed),
        key=lambda r: (
            not _stuck(r),
            _FIRST.index(r.transfer.phase) if r.transfer.phase in _FIRST else 9,
        ),
    )

    def line(row: Row) -> Mrkdwn:
        shown = _owned(transfer_line(row), owners.get(row.short_id))
        deadline = deadlines.get(row.short_id)
        if deadline is not None:
            shown = shown + Mrkdwn(" · ") + deadline_line(deadline, now or deadline.at)
        return shown

    blocks: list[Block] = [section(f"*Daily digest: {total} transfers in flight* ({tally})")]
    room = DIGEST_LINES
    for lead, group in (
        (md("*Due soon ({})*", len(due)), due),
        (md("*Stuck, and nobody has taken it on ({})*", len(unowned)), unowned),
        (Mrkdwn("*In flight*") if due or unowned else None, rest),
    ):
        shown = [line(r) for r in group[:room]]
        if shown:
            blocks += _listed(lead, shown)
        room -= len(shown)
    left = len(rows) - (DIGEST_LINES - room)
    if left > 0:
        blocks.append(context(f"… and {left} more: use `/transfer list`."))
    title = f"Daily digest: {total} transfers in flight ({tally})"
    if unowned:
        title += f"; {len(unowned)} stuck with no owner"
    return finish(title, blocks)


def _due_soon(deadline: Deadline, now: datetime | None) -> bool:
    return now is not None and deadline.at - now <= DUE_SOON


def _owned(line: Mrkdwn, owner: str | None) -> Mrkdwn:
    return line + md(" · owned by {}", mention(owner)) if owner else line


def _listed(lead: Mrkdwn | None, lines: list[Mrkdwn]) -> list[Block]:
    """Lines under an optional bold lead, in as few sections as Slack's text limit allows."""
    blocks: list[Block] = []
    text = lead or Mrkdwn("")
    for line in lines:
        if text and len(text) + len(line) + 1 > MAX_SECTION_TEXT:
            blocks.append(section(text))
            text = Mrkdwn("")
        text = text + Mrkdwn("\n") + line if text else line
    if text:
        blocks.append(section(text))
    return blocks
