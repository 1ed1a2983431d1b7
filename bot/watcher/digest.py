"""The optional daily digest: what is in flight, blocked and stalled first; posted once a day."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
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
from bot.slack.mrkdwn import Mrkdwn
from bot.watcher.decisions import DIGEST, digest_key
from providers.base import Phase
from providers.registry import descriptor_of
from storage.alerts import reserve_alert
from storage.followups import list_deadlines
from storage.snapshots import transfer_from_row
from storage.transfers import count_transfers_by_phase, list_in_flight_transfers

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["digest_blocks", "digest_message", "reserve_digest"]

logger = logging.getLogger(__name__)

DIGEST_LINES = 30
_FIRST = (Phase.BLOCKED, Phase.PAUSED, Phase.PENDING, Phase.ACTIVE)


async def reserve_digest(services: Services) -> bool:
    """Reserve today's digest (once across replicas); it is posted with the other alerts."""
    now = services.now()
    async with services.db.session() as session:
        alert = await reserve_alert(
            session, key=digest_key(now), kind=DIGEST, account="*", message="Daily digest", now=now
        )
    if alert is not None:
        services.alert_posting.kick()
    return alert is not None


async def digest_message(session: AsyncSession, now: datetime | None = None) -> Message:
    """Today's digest from the database: counts by phase, then the transfers that need
    people (blocked, stalled), then the others; each with its provider deadline, if any."""
    by_phase = await count_transfers_by_phase(session, watching=True)
    counts = Counter({Phase(p): n for p, n in by_phase.items() if not Phase(p).finished})
    found = await list_in_flight_transfers(session, limit=500)
    rows = [
        Row(row.short_id, transfer_from_row(row), row.stalled_alerted_for == row.raw_code)
        for row in found
    ]
    clocks = await list_deadlines(session, transfer_ids=[r.id for r in found if r.id])
    deadlines = {}
    for row in found:
        at = clocks.get(row.id or 0)
        if at is not None:
            known = descriptor_of(row.provider).deadlines.get(row.raw_code.strip())
            deadlines[row.short_id] = Deadline(at, known.outcome if known else "due")
    return digest_blocks(rows, counts, deadlines=deadlines, now=now)


def digest_blocks(
    rows: Sequence[Row],
    counts: Counter[Phase],
    *,
    deadlines: Mapping[str, Deadline] | None = None,
    now: datetime | None = None,
) -> Message:
    """Pure: the digest for these rows (the most urgent first) and per-phase counts; a
    row's provider deadline (``deadlines``, by short id) follows its line."""
    deadlines = deadlines or {}
    total = sum(counts.values())
    tally = ", ".join(f"{counts[p]} {p.value}" for p in _FIRST if counts[p]) or "none"
    urgent = sorted(
        rows,
        key=lambda r: (
            not (r.transfer.phase is Phase.BLOCKED or r.stalled),
            _FIRST.index(r.transfer.phase) if r.transfer.phase in _FIRST else 9,
        ),
    )
    blocks: list[Block] = [section(f"*Daily digest: {total} transfers in flight* ({tally})")]
    text = Mrkdwn("")
    for row in urgent[:DIGEST_LINES]:
        line = transfer_line(row)
        deadline = deadlines.get(row.short_id)
        if deadline is not None:
            line = line + Mrkdwn(" · ") + deadline_line(deadline, now or deadline.at)
        if text and len(text) + len(line) + 1 > MAX_SECTION_TEXT:
            blocks.append(section(text))
            text = Mrkdwn("")
        text = text + Mrkdwn("\n") + line if text else line
    if text:
        blocks.append(section(text))
    if len(urgent) > DIGEST_LINES:
        blocks.append(context(f"… and {len(urgent) - DIGEST_LINES} more: use `/transfer list`."))
    return finish(f"Daily digest: {total} transfers in flight ({tally})", blocks)
