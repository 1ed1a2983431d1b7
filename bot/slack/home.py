"""The App Home tab: tracked transfers grouped by phase, the ones needing people first."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from slack_sdk.models.blocks import Block, DividerBlock, HeaderBlock
from slack_sdk.models.views import View

from bot.slack.blocks import (
    MAX_VIEW_BLOCKS,
    PHASE_EMOJI,
    Row,
    context,
    section,
    transfer_buttons,
    transfer_line,
)
from providers.base import Phase, Transfer

__all__ = ["app_home", "home_groups"]

logger = logging.getLogger(__name__)

STALLED = "stalled"
GROUP_ORDER: tuple[Phase | str, ...] = (
    Phase.BLOCKED,
    STALLED,
    Phase.ACTIVE,
    Phase.PAUSED,
    Phase.PENDING,
    Phase.FAILED,
    Phase.CANCELLED,
    Phase.COMPLETED,
)
_TITLES = {
    Phase.BLOCKED: f"{PHASE_EMOJI[Phase.BLOCKED]} Blocked: waiting for someone",
    STALLED: ":snail: Stalled: no change for a while",
    Phase.ACTIVE: f"{PHASE_EMOJI[Phase.ACTIVE]} Active",
    Phase.PAUSED: f"{PHASE_EMOJI[Phase.PAUSED]} Paused",
    Phase.PENDING: f"{PHASE_EMOJI[Phase.PENDING]} Pending",
    Phase.FAILED: f"{PHASE_EMOJI[Phase.FAILED]} Failed",
    Phase.CANCELLED: f"{PHASE_EMOJI[Phase.CANCELLED]} Cancelled",
    Phase.COMPLETED: f"{PHASE_EMOJI[Phase.COMPLETED]} Completed",
}


def home_groups(rows: Iterable[Row | tuple[str, Transfer, bool]]) -> list[tuple[str, list[Row]]]:
    """Rows grouped for the Home tab: blocked, stalled, then the other phases; empty groups gone.

    A stalled transfer shows under "stalled" unless it is blocked (blocked comes first anyway).
    """
    groups: dict[Phase | str, list[Row]] = {key: [] for key in GROUP_ORDER}
    for raw in rows:
        row = Row(*raw)
        phase = row.transfer.phase
        stalled = row.stalled and phase is not Phase.BLOCKED and not phase.finished
        key: Phase | str = STALLED if stalled else phase
        groups[key].append(row)
    return [(_TITLES[key], members) for key, members in groups.items() if members]


def app_home(rows: Iterable[Row | tuple[str, Transfer, bool]]) -> dict[str, Any]:
    """The Home tab view for views.publish: at most 100 blocks, the rest pointed to the list.

    Args:
        rows: (short_id, transfer, stalled) for each tracked transfer, in the order to show
            within a group (newest change first, say).
    """
    grouped = home_groups(rows)
    total = sum(len(members) for _, members in grouped)
    blocks: list[Block] = [HeaderBlock(text="Transfers you are tracking")]
    if not grouped:
        blocks.append(
            section(
                "Nothing is tracked yet. Start with `/transfer watch <account> <ref>` "
                "or import in-flight transfers with `/transfer sync`."
            )
        )
    budget = MAX_VIEW_BLOCKS - 1  # keep one block for the "… and N more" line
    shown = 0
    full = False
    for title, members in grouped:
        group_blocks: list[Block] = [DividerBlock(), section(f"*{title}* ({len(members)})")]
        if not _fits(blocks, group_blocks, budget, reserve=2):
            break
        blocks.extend(group_blocks)
        for row in members:
            row_blocks: list[Block] = [section(transfer_line(row))]
            buttons = transfer_buttons(row.transfer, row.short_id)
            if buttons is not None:
                row_blocks.append(buttons)
            full = not _fits(blocks, row_blocks, budget)
            if full:
                break
            blocks.extend(row_blocks)
            shown += 1
        if full:
            break
    if shown < total:
        blocks.append(context(f"… and {total - shown} more: use `/transfer list`."))
    return View(type="home", blocks=blocks).to_dict()


def _fits(blocks: list[Block], more: list[Block], budget: int, *, reserve: int = 0) -> bool:
    """Whether ``more`` fits, leaving ``reserve`` blocks for what must follow it."""
    return len(blocks) + len(more) + reserve <= budget
