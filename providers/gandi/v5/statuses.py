"""Gandi v5 transfer steps and error types as phases, the FOA answers, and the actions offered.

The v5 follow-up (``GET /v5/domain/transferin/{domain}``, https://api.gandi.net/docs/domains/)
gives a ``step``, a ``step_nb`` and, in error, an ``errortype`` with its ``errortype_label``.
The docs enumerate neither: their one example of a v5 step is ``"step": "WAIT"`` with
``"step_nb": 2`` and ``"inner_step": "checking_foa_response"`` (the change-owner follow-up on
the same page), the steps of Gandi's operation engine that v3 shows too (seed 004). So the
v3 steps and errortype semantics carry over: client_recoverable / support_recoverable are
blocked (relaunch), fatal is failed, temporary is still moving (Gandi retries).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from providers.base import Action, ActionSpec
from providers.descriptor import Speed
from providers.gandi.statuses import AUTHINFO_INPUT as V3_AUTHINFO_INPUT
from providers.gandi.statuses import CAPABILITIES as V3_CAPABILITIES
from providers.gandi.statuses import (
    ERROR_PHASES,
    RETRYABLE_ERRORS,
    STEP_PHASES,
    phase_of,
    step_waits_for,
)
from providers.gandi.statuses import RELAUNCH as V3_RELAUNCH
from providers.gandi.statuses import SPEEDS as V3_SPEEDS

__all__ = [
    "AUTHINFO_INPUT",
    "CAPABILITIES",
    "ERRORTYPES",
    "FOA_WORDS",
    "RETRYABLE_ERRORS",
    "SPEEDS",
    "STEPS",
    "Foa",
    "actions_for",
    "foa_answer",
    "phase_of",
    "waiting_for",
]

STEPS: tuple[str, ...] = (*STEP_PHASES, "ERROR")
ERRORTYPES: tuple[str, ...] = tuple(ERROR_PHASES)  # client_recoverable ... unknown
# raw code -> how fast it moves, and which errortypes a relaunch can mend: the same words
# as v3, so the same pacing (WAIT: the owner's FOA answer, the registry or the registrar)
SPEEDS: Mapping[str, Speed] = V3_SPEEDS

# Gandi's words as v3 has them (a domain, "relaunched"); what v5 offers and how it names a ref
CAPABILITIES = replace(
    V3_CAPABILITIES,
    actions=frozenset({Action.RETRY, Action.RESEND}),
    can_list=False,  # v5 has no endpoint listing transfers in
    ref_label="domain",
)
# the same secret authinfo as v3's, within v5's bounds
AUTHINFO_INPUT = replace(
    V3_AUTHINFO_INPUT,
    min_length=4,
    max_length=255,
    hint=(
        "The code from the current registrar; it is given to Gandi first, then the transfer "
        "is relaunched. Leave empty to relaunch with the code Gandi has."
    ),
)
_RETRY = replace(
    V3_RELAUNCH,
    inputs=(AUTHINFO_INPUT,),
    description="Relaunch the transfer at Gandi, optionally giving it a new authinfo first.",
)
_RESEND = ActionSpec(
    Action.RESEND,
    verb="FOA e-mail",
    description="Ask Gandi to send the approval (FOA) e-mail again to whoever has not answered.",
)


# -- FOA answers -----------------------------------------------------------------------------
# The docs give ``foa[]`` items as ``{"email": ..., "answer": ...}`` without the answer's
# words; the change-owner example answers "T". Empty means not answered yet.
_YES = frozenset({"t", "true", "yes", "y", "1", "ok", "accept", "accepted", "approved", "ack"})
_NO = frozenset({"f", "false", "no", "n", "0", "refuse", "refused", "reject", "rejected", "nack"})
FOA_WORDS = {"yes": "approved", "no": "refused", None: "not answered yet"}


class Foa:
    """One approval (FOA) e-mail: where it went, and the answer if any."""

    __slots__ = ("answer", "email", "raw")

    def __init__(self, email: str, raw: str) -> None:
        self.email = email
        self.raw = raw
        self.answer = foa_answer(raw)

    @property
    def answered(self) -> bool:
        return bool(self.raw)

    def words(self) -> str:
        if not self.answered:
            return FOA_WORDS[None]
        return FOA_WORDS.get(self.answer, f"answered “{self.raw}”")


def foa_answer(raw: str) -> str | None:
    """``"yes"``, ``"no"`` or None (not answered, or an answer word we do not know)."""
    word = raw.strip().lower()
    if word in _YES:
        return "yes"
    if word in _NO:
        return "no"
    return None


# -- what a person can do, and what it waits for ---------------------------------------------
def actions_for(step: str, errortype: str | None, foas: Sequence[Foa]) -> tuple[ActionSpec, ...]:
    """Relaunch after a recoverable error; resend the FOA while one is unanswered."""
    if phase_of(step, errortype).finished:
        return ()
    actions: list[ActionSpec] = []
    if step == "ERROR" and errortype in RETRYABLE_ERRORS:
        actions.append(_RETRY)
    if step in ("WAIT", "ERROR") and any(not foa.answered for foa in foas):
        actions.append(_RESEND)
    return tuple(actions)


def waiting_for(step: str, errortype: str | None, foas: Sequence[Foa]) -> str | None:
    pending = [foa.email for foa in foas if not foa.answered]
    if step == "WAIT" and pending:
        return f"the approval (FOA) e-mail sent to {', '.join(pending)} to be answered"
    return step_waits_for(step, errortype, billed="transfer")
