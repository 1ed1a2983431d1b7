"""Modal submissions: inputs for an action, validated inline before the modal closes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.slack.ids import CallbackId, ModalContext, input_name
from bot.slack.listeners.acting import Asker, submit_inputs
from bot.slack.listeners.answers import BUSY, AfterAck, Answer, Pool
from bot.slack.permissions import Roster, not_an_operator
from bot.slack.requests import modal_errors, modal_values
from providers.base import ActionInput

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["inputs_of_view", "register_views"]

logger = logging.getLogger(__name__)


def register_views(app: AsyncApp) -> None:
    app.view(CallbackId.ACTION_INPUTS.value)(on_action_inputs)


async def on_action_inputs(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    services: Services,
    roster: Roster,
    retried: bool,
    after_ack: AfterAck,
) -> None:
    """Validate against the form as it was opened (no I/O), then close it and carry on.

    Nothing typed is logged here; the secret inputs (a new authInfo) are masked in the logs
    once the action that takes them is known and its sender may ask for it
    (``bot.slack.listeners.acting.submit_inputs``), for as long as that work runs.
    """
    values = modal_values(view.get("state"))
    inputs = inputs_of_view(view)
    problems = _problems(inputs, values)
    if not problems and after_ack.is_busy(Pool.DECISIONS) and inputs:  # stays open, as typed
        after_ack.refuse(pool=Pool.DECISIONS)
        problems = {inputs[0].name: BUSY}
    if problems:
        await ack(**modal_errors(problems))
        return
    await ack()
    user = str((body.get("user") or {}).get("id") or "")
    context = ModalContext.decode(view.get("private_metadata"))
    answer = Answer(services, user_id=user, channel_id=context.channel_id if context else None)
    asker = Asker(services, answer, user, answer.channel_id, None, retried)
    after_ack(answer, _submitted(asker, roster, context, values), name="modal", pool=Pool.DECISIONS)


async def _submitted(
    asker: Asker,
    roster: Roster,
    context: ModalContext | None,
    values: Mapping[str, str | None],
) -> None:
    if context is None:
        await asker.answer.send("That form could not be read, so nothing was done.")
        return
    if not (await roster.roles_of(asker.user_id)).operator:
        await asker.answer.send(not_an_operator(asker.services.settings.slack.command))
        return
    await submit_inputs(asker, context, values)


def inputs_of_view(view: Mapping[str, Any]) -> tuple[ActionInput, ...]:
    """The inputs a submitted modal asked for, read back from its own blocks."""
    inputs = []
    for block in view.get("blocks") or ():
        if not isinstance(block, Mapping) or block.get("type") != "input":
            continue
        name = input_name(str(block.get("block_id") or ""))
        if name is None:
            continue
        element = block.get("element")
        if not isinstance(element, Mapping):
            element = {}
        label = (block.get("label") or {}).get("text") or name
        inputs.append(
            ActionInput(
                name=name,
                label=str(label),
                required=not block.get("optional", False),
                min_length=_int(element.get("min_length")),
                max_length=_int(element.get("max_length")),
            )
        )
    return tuple(inputs)


def _problems(inputs: tuple[ActionInput, ...], values: Mapping[str, str | None]) -> dict[str, str]:
    problems = {}
    for item in inputs:
        problem = item.validate(values.get(item.name))
        if problem:
            problems[item.name] = problem
    return problems


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
