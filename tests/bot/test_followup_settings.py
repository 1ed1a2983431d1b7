"""[followups]: named policies with a default, escalation levels in order, provider
deadlines from the descriptors, overridden or turned off per status; each mistake is one
line naming its key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.settings import ConfigError, load_settings
from tests.bot.test_settings import EXAMPLE, EXAMPLE_ENV, write


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), environ={})
    return caught.value.problems


def test_defaults_remind_after_4_hours_daily_and_escalate_at_1_and_3_days(tmp_path: Path) -> None:
    followups = load_settings(write(tmp_path, ""), environ={}).followups
    policy = followups.policy_for()
    assert (policy.remind_after, policy.remind_every) == (timedelta(hours=4), timedelta(days=1))
    assert [level.after for level in policy.escalations] == [timedelta(days=1), timedelta(days=3)]
    assert followups.snooze_for == timedelta(days=1)
    hostway = followups.deadline_for("hostway", "32")
    assert hostway is not None and hostway.after == timedelta(days=60)
    assert followups.deadline_for("opensrs", "pending_owner") is None  # OpenSRS gives no figure
    assert followups.deadline_for("cpanel", "PAUSED") is None


def test_the_example_names_user_groups_for_each_level() -> None:
    policy = load_settings(EXAMPLE, environ=EXAMPLE_ENV).followups.policy_for()
    assert [level.mention for level in policy.escalations] == [("S0123TRIAGE",), ("S0456LEADS",)]


def test_named_policies_keep_the_default_and_a_route_can_pick_one(tmp_path: Path) -> None:
    text = '[followups.policies.vip]\nremind_after = "30m"\nremind_every = "2h"\nbroadcast = true\n'
    followups = load_settings(write(tmp_path, text), environ={}).followups
    assert followups.policy_for("vip").remind_after == timedelta(minutes=30)
    assert followups.policy_for().remind_after == timedelta(hours=4)  # "default" is still there
    assert followups.policy_for("unknown-route-policy") == followups.policy_for()


def test_deadlines_are_overridden_or_turned_off_per_status(tmp_path: Path) -> None:
    text = '[followups.deadlines]\n"gandi:WAIT" = "10d"\n"hostway:32" = "off"\n'
    followups = load_settings(write(tmp_path, text), environ={}).followups
    gandi = followups.deadline_for("gandi", "WAIT")
    assert gandi is not None and gandi.after == timedelta(days=10)
    assert followups.deadline_for("hostway", "32") is None
    assert followups.deadline_for("hostway", "22") is not None  # the others keep theirs


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ('[followups]\npolicy = "vip"\n', "followups.policy", "no policy 'vip'"),
        (
            '[[followups.policies.default.escalations]]\nafter = "3d"\n'
            '[[followups.policies.default.escalations]]\nafter = "1d"\n',
            "followups.policies.default.escalations",
            "in order",
        ),
        (
            '[[followups.policies.default.escalations]]\nafter = "1d"\nmention = ["#ops"]\n',
            "followups.policies.default.escalations[0].mention[0]",
            "user-group id",
        ),
        ('[followups.deadlines]\n"nowhere:1" = "2d"\n', "followups.deadlines", "provider type"),
        ('[followups]\nsnooze_for = "soon"\n', "followups.snooze_for", "duration"),
        ('[followups]\nremind = "1h"\n', "followups.remind", "unknown key"),
    ],
)
def test_mistakes_are_one_line_naming_the_key(
    tmp_path: Path, text: str, where: str, words: str
) -> None:
    [problem] = problems(tmp_path, text)
    assert f": {where}" in problem and words in problem, problem
