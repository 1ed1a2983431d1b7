"""The follow-up plan on its own (pure): limits, snoozes and deadlines at their edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.settings import FollowupPolicy
from bot.watcher.reminders import plan
from storage.models import Followup

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def followup(**fields: object) -> Followup:
    values: dict[str, object] = {"transfer_id": 1, "raw_code": "32", "stuck": True, "since": START}
    values.update(fields)
    return Followup.model_validate(values)


def at(f: Followup, policy: FollowupPolicy, hours: float, **kw: object) -> list[str]:
    dues, _ = plan(f, policy=policy, warning=timedelta(days=3), warn=True, owned=False,
                   now=START + hours * H, **kw)  # type: ignore[arg-type]  # fmt: skip
    return [f"{d.kind}{d.slot or d.level}" for d in dues]


def test_max_reminders_stops_the_loop_and_nothing_is_due_after() -> None:
    policy = FollowupPolicy(remind_after=H, remind_every=H, max_reminders=2, escalations=())
    f = followup()
    assert at(f, policy, 1) == ["reminder0"]
    f.checked_at = START + H
    assert at(f, policy, 2) == ["reminder1"]
    f.checked_at = START + 2 * H
    dues, next_at = plan(f, policy=policy, warning=timedelta(days=3), warn=True, owned=False,
                         now=START + 3 * H)  # fmt: skip
    assert dues == [] and next_at is None


def test_a_bot_down_for_hours_sends_only_the_latest_slot() -> None:
    policy = FollowupPolicy(remind_after=H, remind_every=H, escalations=())
    assert at(followup(checked_at=START), policy, 5.5) == ["reminder4"]


def test_a_snooze_skips_its_slots_and_resumes_at_the_next_one() -> None:
    policy = FollowupPolicy(remind_after=H, remind_every=2 * H, escalations=())
    f = followup(checked_at=START + H, snoozed_until=START + 4 * H)
    dues, next_at = plan(f, policy=policy, warning=timedelta(days=3), warn=True, owned=False,
                         now=START + 3 * H)  # fmt: skip
    assert dues == [] and next_at == START + 5 * H  # the 3 h slot is silenced; next, 5 h
    assert at(f, policy, 4) == []  # nothing made up when the snooze ends
    assert at(f, policy, 5) == ["reminder2"]


def test_the_deadline_warning_comes_once_before_the_deadline_even_while_snoozed() -> None:
    policy = FollowupPolicy(remind_after=100 * H, escalations=())
    deadline = START + timedelta(days=10)
    f = followup(deadline_at=deadline, snoozed_until=deadline)
    _, next_at = plan(f, policy=policy, warning=timedelta(days=3), warn=True, owned=False,
                      now=START)  # fmt: skip
    assert next_at == deadline - timedelta(days=3)
    assert at(f, policy, 7 * 24) == ["deadline0"]
    f.checked_at = START + 7 * 24 * H
    assert at(f, policy, 9 * 24) == []
    assert at(followup(deadline_at=deadline, stuck=False), policy, 10 * 24 + 1) == []  # past it
