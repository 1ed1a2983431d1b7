"""The adaptive polling policy, on plain data."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.watcher.decisions import stall_due_in, status_alert_kind
from bot.watcher.intervals import (
    MOVING_STATUSES,
    WAITING_STATUSES,
    Pace,
    PollPolicy,
    error_delay,
    next_poll_delay,
    outage_probe_delay,
    pace_of,
    poll_interval,
)
from providers.base import Phase

POLICY = PollPolicy(min_interval=15, max_interval=21600, max_detection_delay=3600, jitter=0.1)
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


def delay(
    provider: str, phase: str, code: str, unchanged: float, *, seed: int = 1, **kwargs: object
) -> float:
    result = next_poll_delay(
        provider=provider,
        phase=phase,
        raw_code=code,
        unchanged_for=unchanged,
        policy=POLICY,
        rng=random.Random(seed),
        **kwargs,  # type: ignore[arg-type]
    )
    assert result is not None
    return result


def test_moving_statuses_are_polled_quickly_when_they_just_changed() -> None:
    for provider, phase, code in [
        ("cpanel", "active", "RUNNING"),
        ("gandi", "active", "RUN"),
        ("opensrs", "active", "pending_registry"),
        ("hostway", "pending", "11"),
    ]:
        assert pace_of(provider, phase, code) is Pace.MOVING
        assert delay(provider, phase, code, 0) == 15


def test_waiting_statuses_start_slower_and_back_off_to_the_ceiling() -> None:
    for provider, phase, code in [
        ("opensrs", "pending", "pending_owner"),
        ("hostway", "pending", "14"),
        ("gandi", "pending", "WAIT"),
        ("cpanel", "paused", "PAUSED"),
        ("hostway", "blocked", "32"),
    ]:
        assert pace_of(provider, phase, code) is Pace.WAITING
        fresh, day_old, week_old = (delay(provider, phase, code, t) for t in (0, DAY, 7 * DAY))
        assert 50 <= fresh <= 60 < day_old <= week_old <= 21600
        assert week_old >= 21600 * 0.9  # jitter only ever shortens


def test_moving_statuses_back_off_but_never_past_the_detection_bound() -> None:
    assert delay("cpanel", "active", "RUNNING", 10 * MINUTE) < 70
    assert 3600 * 0.9 <= delay("opensrs", "active", "pending_registry", 4 * DAY) <= 3600


def test_finished_transfers_are_never_polled_again() -> None:
    for phase in ("completed", "failed", "cancelled"):
        assert pace_of("hostway", phase, "5") is Pace.FINISHED
        assert poll_interval(Pace.FINISHED, 0, POLICY) is None
        assert (
            next_poll_delay(
                provider="gandi", phase=phase, raw_code="DONE", unchanged_for=0, policy=POLICY
            )
            is None
        )


def test_a_transfer_is_polled_no_later_than_when_it_would_stall() -> None:
    assert delay("opensrs", "pending", "pending_owner", 6 * DAY, stall_in=300) == 301
    assert delay("opensrs", "pending", "pending_owner", 6 * DAY, stall_in=-5) == 15
    since = datetime(2026, 3, 1, tzinfo=UTC)
    assert stall_due_in(since=since, now=since, threshold=timedelta(days=2), alerted=False) == (
        2 * DAY
    )
    assert stall_due_in(since=since, now=since, threshold=timedelta(days=2), alerted=True) is None


@given(
    provider=st.sampled_from(["cpanel", "hostway", "opensrs", "gandi", "other"]),
    phase=st.sampled_from([p.value for p in Phase if not p.finished]),
    code=st.sampled_from(
        [
            *sorted(
                {
                    c
                    for codes in (*MOVING_STATUSES.values(), *WAITING_STATUSES.values())
                    for c in codes
                }
            ),
            "??",
        ]
    ),
    unchanged=st.floats(min_value=-10, max_value=90 * DAY),
    seed=st.integers(0, 1000),
)
def test_every_delay_stays_within_its_bound(
    provider: str, phase: str, code: str, unchanged: float, seed: int
) -> None:
    pace = pace_of(provider, phase, code)
    result = delay(provider, phase, code, unchanged, seed=seed)  # never None: asserted there
    assert POLICY.min_interval <= result <= POLICY.bound(pace)


def test_jitter_spreads_polls_and_only_shortens_them() -> None:
    rng = random.Random(3)
    draws = {
        next_poll_delay(
            provider="hostway", phase="pending", raw_code="14", unchanged_for=DAY,
            policy=POLICY, rng=rng,
        )
        for _ in range(50)
    }  # fmt: skip
    assert len(draws) > 40 and max(draws) <= 0.25 * DAY  # type: ignore[type-var]


def test_failed_polls_back_off_by_doubling_within_their_cap() -> None:
    transient = [error_delay(n, transient=True, policy=POLICY) for n in range(1, 12)]
    assert transient[:4] == [15, 30, 60, 120] and transient[-1] == 3600
    lasting = error_delay(30, transient=False, policy=POLICY)
    assert lasting == 21600
    assert error_delay(1, transient=True, policy=POLICY, retry_after=90) == 90
    assert [outage_probe_delay(k, POLICY) for k in (0, 1, 2, 10)] == [15, 30, 60, 600]


def test_alert_kinds_for_phase_changes() -> None:
    assert status_alert_kind("active", "blocked") == "blocked"
    assert status_alert_kind("blocked", "blocked") is None
    assert status_alert_kind("pending", "completed") == "completed"
    assert status_alert_kind("blocked", "cancelled") == "cancelled"
    assert status_alert_kind("completed", "failed") is None
    assert status_alert_kind("blocked", "active") is None


def test_a_trusted_change_feed_stretches_polls_to_its_safety_net_but_not_past_a_stall() -> None:
    policy = PollPolicy(jitter=0.0)
    moving = {"provider": "opensrs", "phase": "active", "raw_code": "pending_registry"}
    adaptive = next_poll_delay(unchanged_for=600, policy=policy, **moving)
    assert adaptive is not None and adaptive < 3600
    assert next_poll_delay(unchanged_for=600, policy=policy, safety=86400, **moving) == 86400
    capped = next_poll_delay(
        unchanged_for=600, policy=policy, safety=86400, stall_in=7200, **moving
    )
    assert capped == 7201  # a stall still falls due on time
    done = {"provider": "opensrs", "phase": "completed", "raw_code": "completed"}
    assert next_poll_delay(unchanged_for=600, policy=policy, safety=86400, **done) is None
