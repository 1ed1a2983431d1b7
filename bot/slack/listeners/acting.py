"""Acting on a transfer from Slack: check what can be done, ask for inputs, then request it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.actions import Outcome, request_action
from bot.routing import route_alerts
from bot.slack.blocks import MAX_BLOCKS, Message, finish, provider_name, section
from bot.slack.cards import transfer_card
from bot.slack.ids import ModalContext, is_token
from bot.slack.listeners.answers import Answer
from bot.slack.requests import action_inputs_modal
from bot.tracking import Fresh, refresh_transfer, transfer_by_short_id
from providers.base import Action, ActionSpec, Transfer
from providers.registry import capabilities_of
from storage.models import TrackedTransfer
from storage.snapshots import transfer_from_row

if TYPE_CHECKING:
    from bot.services import Services
    from bot.settings import Settings

__all__ = [
    "Asker",
    "cant_do",
    "card_message",
    "request_channel",
    "start_action",
    "submit_inputs",
]

logger = logging.getLogger(__name__)

_PASSIVE = {
    Action.PAUSE: "paused",
    Action.RESUME: "resumed",
    Action.CANCEL: "cancelled",
    Action.RETRY: "retried",
}
_RESEND = "have its approval e-mail resent"


@dataclass(frozen=True, slots=True)
class Asker:
    """Who asked, where, and how to answer them."""

    services: Services
    answer: Answer
    user_id: str
    channel_id: str | None = None
    trigger_id: str | None = None
    retried: bool = False


def request_channel(settings: Settings, row: TrackedTransfer, asked_in: str | None) -> str | None:
    """Where a request for approval goes: the channel it was asked in, else (asked in a
    direct message) where the transfer's alerts go."""
    if asked_in and asked_in[:1] in "CG":
        return asked_in
    return route_alerts(settings, row).channel


def what_can_be_done(transfer: Transfer) -> str:
    """ "this one can be retried or cancelled", or that nothing can be done now."""
    offered = {spec.action for spec in transfer.actions}
    passive = [_PASSIVE[a] for a in Action if a in offered and a in _PASSIVE]
    parts = ["be " + " or ".join(passive)] if passive else []
    if Action.RESEND in offered:
        parts.append(_RESEND)
    if not parts:
        return "nothing can be done to this one right now"
    return "this one can " + " or ".join(parts)


def cant_do(row: TrackedTransfer, transfer: Transfer, action: Action) -> str:
    """Why ``action`` can't be done to this transfer, and what can."""
    provider = provider_name(row.provider)
    then = what_can_be_done(transfer)
    if not capabilities_of(row.provider).supports(action):
        if action is Action.RESEND:
            return f"{provider} can't resend the approval e-mail; {then}."
        return f"{provider} transfers can't be {_PASSIVE[action]}; {then}."
    status = f"{provider} {transfer.raw_code} “{transfer.raw_text}”".strip()
    verb = _PASSIVE.get(action)
    doing = f"be {verb}" if verb else "have its approval e-mail resent"
    return (
        f"`{row.short_id}` ({transfer.subject}) is {transfer.phase.value} ({status}), "
        f"so it can't {doing} now; {then}."
    )


def card_message(fresh: Fresh, *, lead: str | None = None) -> Message:
    """The status card of a freshly asked transfer, optionally under a sentence."""
    text, blocks = transfer_card(
        fresh.snapshot,
        short_id=fresh.row.short_id,
        stalled_since=fresh.stalled_since,
        last_error=fresh.error,
        polled_at=fresh.row.last_polled_at,
        superseded_by=fresh.superseded_by,
        deadline=fresh.deadline,
        now=fresh.now,
    )
    if lead is None:
        return text, blocks
    return finish(lead, [section(lead).to_dict(), *blocks], limit=MAX_BLOCKS)


async def start_action(asker: Asker, row: TrackedTransfer, action: Action) -> None:
    """Check ``action`` can be done now, ask for its inputs in a modal if it takes any, else
    request it (run at once, or post for approval)."""
    transfer = transfer_from_row(row)
    if not capabilities_of(row.provider).supports(action):
        await asker.answer.send(cant_do(row, transfer, action))
        return
    stored = transfer.action(action)
    if stored is not None and stored.inputs:  # the 3-second trigger: open the form first
        await _ask_inputs(asker, row, transfer, stored)
        return
    fresh = await refresh_transfer(asker.services, row, actor=asker.user_id)
    spec = await _available(asker, fresh, action)
    if spec is None:
        return
    if spec.inputs:
        await _ask_inputs(asker, fresh.row, fresh.snapshot, spec)
        return
    await _request(asker, fresh, spec, {})


async def submit_inputs(
    asker: Asker, context: ModalContext, values: Mapping[str, str | None]
) -> None:
    """Carry on with an action once its modal was submitted (and validated inline)."""
    row = await transfer_by_short_id(asker.services, context.short_id)
    if row is None:
        await asker.answer.send(f"`{context.short_id}` is no longer tracked, so nothing was done.")
        return
    fresh = await refresh_transfer(asker.services, row, actor=asker.user_id)
    spec = await _available(asker, fresh, context.action)
    if spec is None:
        return
    problems = spec.validate(values)
    if problems:
        first = next(iter(problems.values()))
        await asker.answer.send(f"{first} Nothing was done; try again.")
        return
    secrets = (values.get(item.name) for item in spec.inputs if item.secret)
    with asker.services.masker.masking(*secrets):  # until it is stored encrypted, or run
        await _request(asker, fresh, spec, values)


async def _available(asker: Asker, fresh: Fresh, action: Action) -> ActionSpec | None:
    """The action as offered now, or None after telling the person why not."""
    if fresh.error is not None:
        await asker.answer.send(f"{fresh.error} Nothing was done.")
        return None
    if fresh.superseded_by is not None:
        await asker.answer.send(
            f"`{fresh.row.short_id}` was resubmitted as `{fresh.superseded_by}`; "
            "act on that one instead."
        )
        return None
    spec = fresh.snapshot.action(action)
    if spec is None:
        await asker.answer.send(cant_do(fresh.row, fresh.snapshot, action))
    return spec


async def _ask_inputs(
    asker: Asker, row: TrackedTransfer, transfer: Transfer, spec: ActionSpec
) -> None:
    channel = asker.channel_id if is_token(asker.channel_id) else None
    metadata = ModalContext(row.short_id, spec.action, channel, None, asker.user_id).encode()
    view = action_inputs_modal(
        spec=spec, transfer=transfer, short_id=row.short_id, private_metadata=metadata
    )
    opened = None
    if asker.trigger_id:
        opened = await asker.services.calls.answer(
            "views.open", trigger_id=asker.trigger_id, view=view
        )
    if opened is None:
        await asker.answer.send(
            f"The form for the {spec.action.value} of `{row.short_id}` could not be opened "
            "in time; run the command again."
        )


async def _request(
    asker: Asker, fresh: Fresh, spec: ActionSpec, values: Mapping[str, str | None]
) -> None:
    services = asker.services
    outcome = await request_action(
        services,
        row=fresh.row,
        spec=spec,
        requested_by=asker.user_id,
        values=values,
        channel=request_channel(services.settings, fresh.row, asker.channel_id),
        retried=asker.retried,
    )
    await answer_outcome(asker, outcome)


async def answer_outcome(asker: Asker, outcome: Outcome) -> None:
    """The outcome sentence, over the transfer's fresh card when the action ran."""
    if outcome.fresh is not None:
        await asker.answer.send(card_message(outcome.fresh, lead=outcome.message))
    else:
        await asker.answer.send(outcome.message)
