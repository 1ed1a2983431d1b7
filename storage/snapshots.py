"""Turn a provider's Transfer snapshot into column values and back, ActionSpecs included."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from providers.base import Action, ActionInput, ActionSpec, HistoryEntry, Phase, Transfer
from storage.models import TrackedTransfer

__all__ = [
    "HISTORY_LIMIT",
    "SNAPSHOT_COLUMNS",
    "actions_from_json",
    "actions_to_json",
    "history_from_json",
    "history_to_json",
    "transfer_columns",
    "transfer_from_row",
]

logger = logging.getLogger(__name__)

HISTORY_LIMIT = 50  # the most recent entries are kept (the provider's order is preserved)

# The columns a provider observation writes; everything else is the bot's own state.
SNAPSHOT_COLUMNS = (
    "subject",
    "phase",
    "raw_code",
    "raw_text",
    "waiting_for",
    "actions",
    "details",
    "history",
    "changed_at",
)


def transfer_columns(transfer: Transfer) -> dict[str, Any]:
    """Column values of a TrackedTransfer for ``transfer`` (account, provider, ref and snapshot)."""
    return {
        "account": transfer.account,
        "provider": transfer.provider,
        "ref": transfer.ref,
        "subject": transfer.subject,
        "phase": Phase(transfer.phase).value,
        "raw_code": str(transfer.raw_code),
        "raw_text": str(transfer.raw_text),
        "waiting_for": transfer.waiting_for,
        "actions": actions_to_json(transfer.actions),
        "details": {str(k): str(v) for k, v in transfer.details.items()},
        "history": history_to_json(transfer.history),
        "changed_at": transfer.changed_at,
    }


def transfer_from_row(row: TrackedTransfer) -> Transfer:
    """The Transfer snapshot stored in ``row``, as the provider last showed it."""
    return Transfer(
        account=row.account,
        provider=row.provider,
        ref=row.ref,
        subject=row.subject,
        phase=Phase(row.phase),
        raw_code=row.raw_code,
        raw_text=row.raw_text,
        actions=actions_from_json(row.actions),
        changed_at=row.changed_at,
        history=history_from_json(row.history),
        waiting_for=row.waiting_for,
        details=dict(row.details or {}),
    )


def actions_to_json(actions: tuple[ActionSpec, ...]) -> list[dict[str, Any]]:
    return [
        {
            "action": spec.action.value,
            "verb": spec.verb,
            "inputs": [asdict(item) for item in spec.inputs],  # name, label, required...
            "destructive": spec.destructive,
            "description": spec.description,
        }
        for spec in actions
    ]


def actions_from_json(data: list[Any] | None) -> tuple[ActionSpec, ...]:
    specs = []
    for item in data or ():
        try:
            action = Action(item["action"])
        except (KeyError, ValueError, TypeError):
            logger.warning("ignoring a stored action we don't know: %r", item)
            continue
        specs.append(
            ActionSpec(
                action=action,
                verb=str(item.get("verb", action.value)),
                inputs=tuple(_input_from_json(i) for i in item.get("inputs", ())),
                destructive=bool(item.get("destructive", False)),
                description=str(item.get("description", "")),
            )
        )
    return tuple(specs)


def _input_from_json(data: Mapping[str, Any]) -> ActionInput:
    return ActionInput(
        name=str(data["name"]),
        label=str(data.get("label", data["name"])),
        required=bool(data.get("required", False)),
        secret=bool(data.get("secret", False)),
        min_length=data.get("min_length"),
        max_length=data.get("max_length"),
        hint=str(data.get("hint", "")),
    )


def history_to_json(history: tuple[HistoryEntry, ...]) -> list[dict[str, Any]]:
    return [
        {
            "at": entry.at.isoformat() if entry.at else None,
            "raw_code": entry.raw_code,
            "raw_text": entry.raw_text,
            "phase": entry.phase.value if entry.phase else None,
        }
        for entry in history[-HISTORY_LIMIT:]
    ]


def history_from_json(data: list[Any] | None) -> tuple[HistoryEntry, ...]:
    entries = []
    for item in data or ():
        at = item.get("at")
        phase = item.get("phase")
        entries.append(
            HistoryEntry(
                at=datetime.fromisoformat(at) if at else None,
                raw_code=str(item.get("raw_code", "")),
                raw_text=str(item.get("raw_text", "")),
                phase=Phase(phase) if phase in Phase._value2member_map_ else None,
            )
        )
    return tuple(entries)
