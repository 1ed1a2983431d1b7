"""cPanel transfer session states: what each means as a phase and which actions it allows."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from providers._common import ascii_digits
from providers.base import Action, ActionSpec, Capabilities, Phase
from providers.descriptor import Speed

__all__ = [
    "ACTION_FUNCTIONS",
    "ACTION_SPECS",
    "CAPABILITIES",
    "SPEEDS",
    "STATES",
    "STATE_NUMBERS",
    "StateRule",
    "rule_for",
    "state_name_of",
]

logger = logging.getLogger(__name__)

CAPABILITIES = Capabilities(
    actions=frozenset({Action.PAUSE, Action.RESUME, Action.CANCEL}),
    can_list=False,  # WHM has no function that lists transfer sessions: they are watched by id
    ref_label="transfer session id",
    subject_label="accounts",
    done_words={Action.RESUME: "started", Action.CANCEL: "aborted"},
)

# our action -> the WHM API 1 function that does it
ACTION_FUNCTIONS: Mapping[Action, str] = {
    Action.PAUSE: "pause_transfer_session",
    Action.RESUME: "start_transfer_session",
    Action.CANCEL: "abort_transfer_session",
}

ACTION_SPECS: Mapping[Action, ActionSpec] = {
    Action.PAUSE: ActionSpec(
        Action.PAUSE,
        "pause",
        description="Pause the session once the items in progress finish.",
    ),
    Action.RESUME: ActionSpec(
        Action.RESUME,
        "start",
        description="Start the session, or restart it where it stopped.",
    ),
    Action.CANCEL: ActionSpec(
        Action.CANCEL,
        "abort",
        destructive=True,
        description="Abort the session; accounts not yet restored are not moved.",
    ),
}


@dataclass(frozen=True, slots=True)
class StateRule:
    """What one session state means to us."""

    phase: Phase
    actions: tuple[Action, ...]
    text: str  # the state in plain words, shown next to the raw name
    waiting_for: str | None = None
    speed: Speed | None = None  # how fast it moves (the watcher's pace); None once finished

    @property
    def specs(self) -> tuple[ActionSpec, ...]:
        return tuple(ACTION_SPECS[action] for action in self.actions)


_PENDING_ACTIONS = (Action.RESUME, Action.CANCEL)
_RUNNING_ACTIONS = (Action.PAUSE, Action.CANCEL)
_MOVING, _WAITING = Speed.MOVING, Speed.WAITING

# The union of the state names in cPanel's source and in its published docs.
STATES: Mapping[str, StateRule] = {
    "PENDING": StateRule(
        Phase.PENDING, _PENDING_ACTIONS, "Pending", "the session to be started", _MOVING
    ),
    "TRANSFER_PENDING": StateRule(
        Phase.PENDING, _PENDING_ACTIONS, "Transfer pending", "a free transfer slot", _MOVING
    ),
    "REACHEDMAXMEM": StateRule(
        Phase.BLOCKED,
        _PENDING_ACTIONS,
        "Reached the memory limit",
        "someone to free memory on the server and start the session again",
        _WAITING,
    ),
    "RUNNING": StateRule(Phase.ACTIVE, _RUNNING_ACTIONS, "Running", speed=_MOVING),
    "TRANSFER_INPROGRESS": StateRule(Phase.ACTIVE, _RUNNING_ACTIONS, "Transferring", speed=_MOVING),
    "RESTORE_PENDING": StateRule(
        Phase.ACTIVE, _RUNNING_ACTIONS, "Restore pending", "a free restore slot", _MOVING
    ),
    "RESTORE_INPROGRESS": StateRule(Phase.ACTIVE, _RUNNING_ACTIONS, "Restoring", speed=_MOVING),
    # cPanel lets a session that is pausing be aborted (ABORTING from PAUSING), not restarted
    "PAUSING": StateRule(
        Phase.ACTIVE, (Action.CANCEL,), "Pausing", "the items in progress to finish", _MOVING
    ),
    "ABORTING": StateRule(Phase.ACTIVE, (), "Aborting", "the items in progress to finish", _MOVING),
    "PAUSED": StateRule(
        Phase.PAUSED, _PENDING_ACTIONS, "Paused", "someone to restart it", _WAITING
    ),
    "COMPLETED": StateRule(Phase.COMPLETED, (), "Completed"),
    "ABORTED": StateRule(Phase.CANCELLED, (), "Aborted"),
    "FAILED": StateRule(Phase.FAILED, (), "Failed"),
}
SPEEDS: Mapping[str, Speed] = {
    name: rule.speed for name, rule in STATES.items() if rule.speed is not None
}

# The numbers cPanel stores for its source-code states; some replies may carry them.
STATE_NUMBERS: Mapping[int, str] = {
    0: "PENDING",
    10: "REACHEDMAXMEM",
    20: "RUNNING",
    50: "PAUSING",
    60: "ABORTING",
    70: "PAUSED",
    100: "COMPLETED",
    150: "ABORTED",
    200: "FAILED",
}


_SEEN_UNKNOWN: set[str] = set()  # unknown states already logged, so polls don't repeat it


def state_name_of(raw: str) -> str:
    """The state name a raw value stands for: itself (upper-cased) or a stored number's name."""
    key = raw.strip().upper()
    if ascii_digits(key) and int(key) in STATE_NUMBERS:
        return STATE_NUMBERS[int(key)]
    return key


def rule_for(raw: str) -> StateRule:
    """The rule for a raw state; an unknown state is safe: still moving, nothing offered."""
    rule = STATES.get(state_name_of(raw))
    if rule is None:
        if raw not in _SEEN_UNKNOWN and len(_SEEN_UNKNOWN) < 100:
            _SEEN_UNKNOWN.add(raw)
            logger.warning("unknown cPanel transfer session state %r; treating it as active", raw)
        return StateRule(Phase.ACTIVE, (), raw.strip() or "Unknown")
    return rule
