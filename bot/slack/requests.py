"""Approval requests in a thread, and the modal that collects an action's inputs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    InputBlock,
    PlainTextInputElement,
    PlainTextObject,
)
from slack_sdk.models.views import View

from bot.slack.blocks import (
    MAX_VIEW_BLOCKS,
    Message,
    action_label,
    clip,
    context,
    finish,
    provider_name,
    section,
    slack_date,
    status_line,
)
from bot.slack.ids import (
    INPUT_ACTION_ID,
    ActionKind,
    BlockId,
    CallbackId,
    RequestButton,
    input_block_id,
    input_name,
)
from bot.slack.mrkdwn import Mrkdwn, escape, join_lines, md, mention
from providers.base import Action, ActionSpec, Transfer
from storage.models import RequestState  # the stored request's own states

__all__ = [
    "RequestCard",
    "RequestState",
    "action_inputs_modal",
    "modal_errors",
    "modal_values",
    "request_message",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RequestCard:
    """What a request message shows; built by the bot from the stored request.

    ``inputs`` holds only public values; a secret input is named in ``secrets_provided``
    and shown as "provided", never with its value. An input that ``spec`` marks secret is
    never shown with its value even if it turns up in ``inputs``.
    """

    request_id: str
    short_id: str
    transfer: Transfer
    action: Action
    requested_by: str  # Slack user id
    state: RequestState
    spec: ActionSpec | None = None  # the action as offered: its verb and input labels
    inputs: Mapping[str, str] = field(default_factory=dict)  # public values by input name
    secrets_provided: tuple[str, ...] = ()  # names of the secret inputs that were given
    decided_by: str | None = None
    result_message: str | None = None
    dry_run: bool = False
    expires_at: datetime | None = None
    requested_at: datetime | None = None
    approved_before_expiry: bool = False  # expired after an approval whose run never started


def request_message(card: RequestCard) -> Message:
    """The request's message: who asked for what, its state, and buttons while it is pending."""
    transfer = card.transfer
    what = _what(card)
    where = md(
        "`{}` ({} `{}`, `{}`)",
        clip(transfer.subject, 120),
        provider_name(transfer.provider),
        transfer.account,
        card.short_id,
    )
    blocks: list[Block] = [
        section(md(":raising_hand: {} asks to *{}* {}.", mention(card.requested_by), what, where)),
        context(
            status_line(transfer, limit=120),
            md("asked {}", slack_date(card.requested_at)) if card.requested_at else "",
        ),
    ]
    given = _given_inputs(card)
    if given:
        blocks.append(section(join_lines(given)))
    if card.dry_run:
        blocks.append(
            context(
                ":test_tube: *Dry run*: if approved, this is recorded and reported but "
                "not sent to the provider."
            )
        )
    blocks.append(section(_state_sentence(card), block_id=BlockId.REQUEST_STATE.value))
    if card.state is RequestState.PENDING:
        blocks.append(_decision_buttons(card))
    text = md(
        "{} asks to {} {}: {}",
        mention(card.requested_by),
        what,
        clip(transfer.subject, 200),
        card.state.value,
    )
    return finish(text, blocks)


def _what(card: RequestCard) -> Mrkdwn:
    verb = card.spec.verb if card.spec and card.spec.verb else card.action.value
    if verb.lower().replace("_", " ") == card.action.value:
        return escape(card.action.value)
    return md("{} ({})", card.action.value, clip(verb, 40))


def _given_inputs(card: RequestCard) -> list[Mrkdwn]:
    specs = {item.name: item for item in card.spec.inputs} if card.spec else {}
    lines = []
    for name, value in card.inputs.items():
        item = specs.get(name)
        if name in card.secrets_provided or (item is not None and item.secret):
            continue  # a secret that slipped into the public inputs is still never shown
        label = item.label if item is not None else name
        lines.append(md("*{}:* {}", clip(label, 100), clip(str(value), 300)))
    for name in card.secrets_provided:
        label = specs[name].label if name in specs else name
        lines.append(md("*{}:* provided :lock:", clip(label, 100)))
    return lines


def _state_sentence(card: RequestCard) -> Mrkdwn:
    state = card.state
    by = mention(card.decided_by) if card.decided_by else "someone"
    result = clip(card.result_message or "", 1500)
    dry = " (dry run: nothing was sent to the provider)" if card.dry_run else ""
    if state is RequestState.PENDING:
        expiry = md("; it expires {}", slack_date(card.expires_at)) if card.expires_at else ""
        return md(
            ":hourglass: Waiting for an approver other than {}{}.",
            mention(card.requested_by),
            expiry,
        )
    sentences = {
        RequestState.APPROVED: md(":white_check_mark: Approved by {}; running it shortly.", by),
        RequestState.REJECTED: md(":no_entry: Rejected by {}; nothing was done.", by),
        RequestState.WITHDRAWN: md(
            ":leftwards_arrow_with_hook: Withdrawn by {}; nothing was done.", by
        ),
        RequestState.EXPIRED: md(
            ":alarm_clock: Approved by {}, but the bot stopped before running it and it "
            "expired; nothing was done.",
            by,
        )
        if card.approved_before_expiry
        else md(":alarm_clock: Expired without a decision; nothing was done."),
        RequestState.RUNNING: md(":gear: Approved by {}; running now{}.", by, dry),
        RequestState.DONE: md(":white_check_mark: Done{}. {}", dry, result).rstrip(),
        RequestState.FAILED: md(":x: Failed: {}", result or "the provider did not say why."),
        RequestState.UNKNOWN: md(
            ":grey_question: *Outcome unknown*: the bot lost track of this action while it "
            "was running, so it may or may not have reached {}; check the transfer there "
            "(or `/transfer status {}`) before acting again.",
            provider_name(card.transfer.provider),
            card.short_id,
        ),
    }
    return sentences[state]


def _decision_buttons(card: RequestCard) -> ActionsBlock:
    approve = RequestButton(card.request_id, ActionKind.APPROVE)
    reject = RequestButton(card.request_id, ActionKind.REJECT)
    withdraw = RequestButton(card.request_id, ActionKind.WITHDRAW)
    return ActionsBlock(
        block_id=BlockId.REQUEST_ACTIONS.value,
        elements=[
            ButtonElement(
                text="Approve",
                action_id=approve.action_id,
                value=approve.value,
                style="primary",
                confirm=_approve_confirm(card),
            ),
            ButtonElement(
                text="Reject",
                action_id=reject.action_id,
                value=reject.value,
                style="danger",
                confirm=ConfirmObject(
                    title="Reject this request?",
                    text=PlainTextObject(
                        text=clip(f"Nothing will be done to {card.transfer.subject}.", 300),
                        emoji=False,
                    ),
                    confirm="Reject",
                    deny="Keep it",
                    style="danger",
                ),
            ),
            ButtonElement(text="Withdraw", action_id=withdraw.action_id, value=withdraw.value),
        ],
    )


def _approve_confirm(card: RequestCard) -> ConfirmObject | None:
    """A destructive action (a cancel) is run the moment it is approved: ask first."""
    if card.spec is None or not card.spec.destructive:
        return None
    transfer = card.transfer
    return ConfirmObject(
        title=clip(f"Approve this {card.action.value}?", 100),
        text=PlainTextObject(
            text=clip(
                f"It runs at once: {card.action.value} {transfer.subject} at "
                f"{provider_name(transfer.provider)} ({transfer.account}, {card.spec.verb}). "
                "It may not be undone.",
                300,
            ),
            emoji=False,
        ),
        confirm=clip(f"Approve and {card.action.value}", 30),
        deny="Not yet",
        style="danger",
    )


# -- the action-inputs modal -----------------------------------------------------------------
SECRET_HINT = "Kept encrypted only until the action has run, then erased; never shown in Slack."


def action_inputs_modal(
    *, spec: ActionSpec, transfer: Transfer, short_id: str, private_metadata: str
) -> dict[str, Any]:
    """A modal with one text input per ActionInput of ``spec`` (a view dict for views.open)."""
    title = clip(f"{spec.action.value.capitalize()} transfer", 24)
    blocks: list[Block] = [
        section(
            md(
                "*{}* `{}` at {} `{}` (`{}`).",
                action_label(spec),
                clip(transfer.subject, 120),
                provider_name(transfer.provider),
                transfer.account,
                short_id,
            )
        ),
        context(status_line(transfer, limit=120)),
    ]
    if spec.description:
        blocks.append(context(clip(spec.description, 1000)))
    for item in spec.inputs[: MAX_VIEW_BLOCKS - len(blocks)]:
        hint = " ".join(x for x in (item.hint, SECRET_HINT if item.secret else "") if x)
        blocks.append(
            InputBlock(
                block_id=input_block_id(item.name),
                label=PlainTextObject(text=clip(item.label, 2000), emoji=False),
                element=PlainTextInputElement(
                    action_id=INPUT_ACTION_ID,
                    min_length=item.min_length,
                    max_length=min(item.max_length or 3000, 3000),
                ),
                optional=not item.required,
                hint=PlainTextObject(text=clip(hint, 2000), emoji=False) if hint else None,
            )
        )
    view = View(
        type="modal",
        callback_id=CallbackId.ACTION_INPUTS.value,
        title=title,
        submit="Continue",
        close="Cancel",
        blocks=blocks,
        private_metadata=private_metadata,
    )
    return view.to_dict()


def modal_errors(problems: Mapping[str, str]) -> dict[str, Any]:
    """The ``ack`` body that shows each problem under its input: {input name: sentence}."""
    return {
        "response_action": "errors",
        "errors": {
            input_block_id(name): clip(sentence, 300) for name, sentence in problems.items()
        },
    }


def modal_values(state: Mapping[str, Any] | None) -> dict[str, str | None]:
    """{input name: typed value or None} from a view_submission's ``view.state``.

    Values are trimmed (only spaces is None), as they are sent: a padded code must not pass
    the length check and then reach the provider shorter, or not at all. Garbled or
    foreign blocks are ignored; the caller validates with ``ActionSpec.validate``.
    """
    values: dict[str, str | None] = {}
    blocks = (state or {}).get("values") if isinstance(state, Mapping) else None
    if not isinstance(blocks, Mapping):
        return values
    for block_id, elements in blocks.items():
        name = input_name(block_id) if isinstance(block_id, str) else None
        if name is None or not isinstance(elements, Mapping):
            continue
        element = elements.get(INPUT_ACTION_ID)
        value = element.get("value") if isinstance(element, Mapping) else None
        values[name] = (value.strip() or None) if isinstance(value, str) else None
    return values
