"""The shared action path: perform's opening checks in one order, and the one sentence for
an action the transfer's state does not offer now."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from providers.base import (
    Action,
    ActionInput,
    ActionResult,
    ActionSpec,
    Capabilities,
    Phase,
    ProviderClient,
    Transfer,
    not_allowed_now,
)
from providers.errors import InvalidInput, NotAllowedNow, Unsupported
from providers.settings import ProviderAccount

WHO = "gandi account 'g'"
WORDS = Capabilities(
    frozenset(Action), done_words={Action.RESUME: "started", Action.CANCEL: "aborted"}
)
CODE = ActionInput("code", "Code", min_length=3)


def transfer(phase: Phase, raw: str, *actions: Action, waiting: str | None = None, **kw):
    specs = tuple(
        ActionSpec(a, a.value, inputs=(CODE,) if a is Action.RETRY else ()) for a in actions
    )
    return Transfer(
        account="g", provider="gandi", ref=kw.get("ref", "42"),
        subject=kw.get("subject", "a.example"), phase=phase, raw_code=raw, raw_text="words",
        actions=specs, waiting_for=waiting,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("before", "action", "sentence"),
    [
        (
            transfer(Phase.PAUSED, "PAUSED", Action.RESUME, Action.CANCEL),
            Action.PAUSE,
            "The transfer 42 (a.example) at gandi account 'g' is PAUSED, so it can't be paused; "
            "it can be started or aborted.",
        ),
        (
            transfer(Phase.ACTIVE, "RUN", Action.CANCEL, Action.RESEND),
            Action.RETRY,
            "The transfer 42 (a.example) at gandi account 'g' is active (RUN), so it can't be "
            "retried; it can be aborted or have its approval e-mail resent.",
        ),
        (
            transfer(Phase.PENDING, "x", Action.CANCEL),
            Action.RESEND,
            "The transfer 42 (a.example) at gandi account 'g' is pending (x), so it can't have "
            "its approval e-mail resent; it can be aborted.",
        ),
        (
            transfer(Phase.FAILED, "18", ref="a.example"),
            Action.RETRY,
            "The transfer a.example at gandi account 'g' is failed (18), so it can't be retried; "
            "nothing more can be done to it.",
        ),
        (
            transfer(Phase.BLOCKED, "SUPPORT", waiting="Gandi support"),
            Action.CANCEL,
            "The transfer 42 (a.example) at gandi account 'g' is blocked (SUPPORT), so it can't "
            "be aborted; it is waiting for Gandi support.",
        ),
        (
            transfer(Phase.ACTIVE, "QUIESCING"),
            Action.RESUME,
            "The transfer 42 (a.example) at gandi account 'g' is active (QUIESCING), so it "
            "can't be started; nothing can be done to it now.",
        ),
    ],
)
def test_one_sentence_says_why_not_now_and_what_can_be_done(before, action, sentence) -> None:
    assert not_allowed_now(before, action, who=WHO, capabilities=WORDS) == sentence


class Recorder(ProviderClient):
    """A client whose hooks note each step; its transfer offers cancel and retry."""

    capabilities = Capabilities(frozenset({Action.CANCEL, Action.RETRY, Action.RESUME}))

    def __init__(self) -> None:
        self.account = ProviderAccount.model_validate(
            {"name": "g", "type": "gandi", "base_url": "https://a.example", "secret_env": "X"}
        )
        self.steps: list[str] = []

    def unsupported(self, action: Action) -> str:
        return f"No {action.value} here."

    def action_ref(self, ref: str) -> str:
        self.steps.append("ref")
        if not ref.isdigit():
            raise InvalidInput("Not a ref.")
        return ref

    def check_inputs(self, action: Action, inputs: Mapping[str, str]) -> None:
        self.steps.append("inputs")
        if "bad" in inputs:
            raise InvalidInput("Bad input.")

    async def get_transfer(self, ref: str, *, detailed: bool = False) -> Transfer:
        self.steps.append("read")
        return transfer(Phase.BLOCKED, "ERROR", Action.RETRY, Action.CANCEL, ref=ref)

    async def act(
        self, ref: str, before: Transfer, spec: ActionSpec, inputs: Mapping[str, str]
    ) -> ActionResult:
        self.steps.append("act")
        return ActionResult(spec.action, f"done {ref}")


@pytest.mark.parametrize(
    ("ref", "action", "inputs", "error", "steps"),
    [
        ("x", Action.PAUSE, {"bad": "1"}, Unsupported, []),  # the action first
        ("x", Action.CANCEL, {"bad": "1"}, InvalidInput, ["ref"]),  # then the ref
        ("7", Action.CANCEL, {"bad": "1"}, InvalidInput, ["ref", "inputs"]),  # then inputs
        ("7", Action.RESUME, {}, NotAllowedNow, ["ref", "inputs", "read"]),  # then the state
        ("7", Action.RETRY, {"code": "ab"}, InvalidInput, ["ref", "inputs", "read"]),  # its spec
        ("7", Action.RETRY, {"code": "abc"}, None, ["ref", "inputs", "read", "act"]),
    ],
)
async def test_perform_checks_in_one_order_and_acts_only_when_all_pass(
    ref, action, inputs, error, steps
) -> None:
    client = Recorder()
    if error is None:
        assert (await client.perform(ref, action, inputs)).message == f"done {ref}"
    else:
        with pytest.raises(error) as info:
            await client.perform(ref, action, inputs)
        assert info.value.message.endswith(".")
    assert client.steps == steps
