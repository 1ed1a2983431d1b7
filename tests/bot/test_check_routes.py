"""``transferbot check-config`` on [[routes]]: one sentence for each rule that can never
match, one for each channel the bot is not in (asked of the Slack stand-in on loopback with
``conversations.info``), and a plain "skipped" when it can't ask; never a secret."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Protocol

import pytest

from bot.cli import main
from bot.runtime.standin import SlackStandIn

TOKEN = "xoxb-check-config-0123456789"
ACCOUNTS = """
[[accounts]]
name = "whm-east"
type = "cpanel"
base_url = "https://whm-east.example.net:2087"
username = "root"
secret_env = "WHM_TOKEN"

[[accounts]]
name = "hostway"
type = "hostway"
base_url = "https://api.hostway.com"
account_number = "1234567"
secret_env = "HOSTWAY_TOKEN"
"""


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_SIGNING_SECRET",
        "TRANSFERBOT_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WHM_TOKEN", "planted-whm-secret")
    monkeypatch.setenv("HOSTWAY_TOKEN", "planted-hostway-secret")
    yield


def config(tmp_path: Path, routes: str, *, api: str = "https://slack.com/api/") -> Path:
    path = tmp_path / "transferbot.toml"
    path.write_text(
        f'[slack]\nalert_channel = "C0ALERTS"\napi_base_url = "{api}"\n{ACCOUNTS}{routes}'
    )
    return path


def check(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    status = main(["check-config", "--config", str(path), *extra])
    out, err = capsys.readouterr()
    return status, out, err


def warnings(err: str) -> list[str]:
    return [line.split(": ", 2)[2] for line in err.splitlines() if "routes[" in line]


def test_each_rule_that_can_never_match_is_named_in_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = """
[[routes]]
channel = "C0ACME"
subject = '(^|\\.)acme\\.com$'

[[routes]]
channel = "C0GONE"
account = "whm-west"

[[routes]]
channel = "C0GANDI"
provider = ["gandi", "opensrs"]

[[routes]]
channel = "C0MIXED"
account = "hostway"
provider = "cpanel"

[[routes]]
channel = "C0WHM"
account = "whm-east"

[[routes]]
channel = "C0WHMBLOCKED"
account = "whm-east"
phase = "blocked"

[[routes]]
channel = "C0ALL"

[[routes]]
channel = "C0LATE"
phase = "failed"
"""
    status, out, err = check(config(tmp_path, routes), capsys, "--offline")
    assert status == 0
    assert warnings(err) == [
        "routes[1]: can never match: no configured account is named 'whm-west'",
        "routes[2]: can never match: no configured account is of type gandi or opensrs",
        "routes[3]: can never match: account 'hostway' is not of type cpanel",
        "routes[5]: can never match: routes[4] before it matches every transfer this one would",
        "routes[7]: can never match: routes[6] before it matches every transfer (it has no "
        "match keys)",
    ]
    assert "routes: 8, first match wins" in out
    assert "routes[0]: subject ~ '(^|\\.)acme\\.com$' -> C0ACME" in out
    assert "slack channels: check skipped (--offline)" in out


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        (
            'phase = "stuck"',
            "routes[0].phase[0]: 'stuck' is not a phase, so it can never match; use one of "
            "pending, active, paused, blocked, completed, failed, cancelled",
        ),
        (
            "subject = '(acme'",
            "routes[0].subject: '(acme' is not a pattern that compiles (missing ), "
            "unterminated subpattern at position 0), so it can never match",
        ),
        ('provider = "godaddy"', "routes[0].provider[0]: 'godaddy' is not a provider type"),
        ('channel = "#acme"', "routes[0].channel: '#acme' is not a Slack channel id"),
        ('policy = "Acme Team"', "routes[0].policy: 'Acme Team' is not a policy name"),
        ('colour = "red"', "routes[0].colour: unknown key"),
    ],
)
def test_a_rule_that_cant_be_read_is_an_error_in_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rule: str, said: str
) -> None:
    channel = "" if rule.startswith("channel") else 'channel = "C0ACME"\n'
    status, _, err = check(config(tmp_path, f"[[routes]]\n{channel}{rule}\n"), capsys)
    assert status == 2
    [line] = err.splitlines()
    assert line.startswith(f"{tmp_path / 'transferbot.toml'}: {said}")


def test_routes_need_a_default_channel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "transferbot.toml"
    path.write_text(f'{ACCOUNTS}\n[[routes]]\nchannel = "C0ACME"\naccount = "hostway"\n')
    status, _, err = check(path, capsys)
    assert status == 2
    assert "slack.alert_channel: routes need a default channel" in err


def test_a_rule_naming_a_policy_that_does_not_exist_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = (
        '[[routes]]\nchannel = "C0ACME"\naccount = "hostway"\npolicy = "urgnt"\n'
        '[followups.policies.urgent]\nremind_after = "1h"\n'
    )
    status, _, err = check(config(tmp_path, routes), capsys)
    assert status == 2
    [line] = err.splitlines()
    assert line == (
        f"{tmp_path / 'transferbot.toml'}: routes[0].policy: no policy 'urgnt' in "
        "followups.policies (default, urgent) (did you mean 'urgent'?)"
    )


def test_without_the_bot_token_the_channel_check_is_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = check(config(tmp_path, '[[routes]]\nchannel = "C0ACME"\n'), capsys)
    assert status == 0
    assert (
        "slack channels: check skipped: variable SLACK_BOT_TOKEN is not set, and only the bot "
        "token can ask Slack which channels the bot is in"
    ) in out


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    standin = SlackStandIn(
        token=TOKEN,
        channels={
            "C0ALERTS": "transfer-alerts",
            "C0ACME": "acme-team",
            "G0PRIVATE": "secret-team",
            "C0JOINED": "whm-team",
        },
        not_joined=["C0ACME", "G0PRIVATE"],
    )
    async with standin.serve():
        yield standin


class CheckAgainstSlack(Protocol):
    async def __call__(self, routes: str, *, token: str = TOKEN) -> tuple[int, str, str]: ...


@pytest.fixture
def check_against_slack(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    slack: SlackStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> CheckAgainstSlack:
    """``check-config`` of a file with these ``routes``, asking the stand-in with SLACK_BOT_TOKEN
    set to ``token``: (exit status, stdout, stderr)."""

    async def run(routes: str, *, token: str = TOKEN) -> tuple[int, str, str]:
        monkeypatch.setenv("SLACK_BOT_TOKEN", token)
        path = config(tmp_path, routes, api=f"{slack.base_url}/api/")
        return await asyncio.to_thread(check, path, capsys)  # main runs its own loop

    return run


CHANNEL_ROUTES = """
[[routes]]
channel = "C0ACME"
subject = "acme"

[[routes]]
channel = "G0PRIVATE"
account = "hostway"

[[routes]]
channel = "C0NOSUCH"
account = "whm-east"

[[routes]]
channel = "C0JOINED"
phase = "failed"

[[routes]]
channel = "C0ACME"
phase = "blocked"
"""


async def test_each_channel_the_bot_is_not_in_is_named_once(
    slack: SlackStandIn, check_against_slack: CheckAgainstSlack
) -> None:
    status, out, err = await check_against_slack(CHANNEL_ROUTES)

    assert status == 0
    asked = [call.args["channel"] for call in slack.calls_to("conversations.info")]
    assert asked == ["C0ALERTS", "C0ACME", "G0PRIVATE", "C0NOSUCH", "C0JOINED"]  # once each
    assert warnings(err) == [
        "routes[0].channel: the bot is not in channel C0ACME (#acme-team); invite it there "
        "(/invite @transferbot) or its alerts can't be posted",
        "routes[1].channel: Slack shows the bot no channel G0PRIVATE: the id is wrong, or the "
        "channel is private and the bot is not in it (invite it there)",
        "routes[2].channel: Slack shows the bot no channel C0NOSUCH: the id is wrong, or the "
        "channel is private and the bot is not in it (invite it there)",
    ]
    assert "slack channels: 5 checked; the bot can't post in 3 (below)" in out
    assert TOKEN not in out + err


async def test_the_bot_in_every_channel_is_said_so(
    slack: SlackStandIn, check_against_slack: CheckAgainstSlack
) -> None:
    routes = '[[routes]]\nchannel = "C0JOINED"\naccount = "whm-east"\n'
    status, out, err = await check_against_slack(routes)
    assert status == 0
    assert "slack channels: 2 checked; the bot is in every one" in out
    assert "the bot is not in" not in err and "shows the bot no channel" not in err


async def test_a_token_without_the_read_scope_skips_the_check_in_one_sentence(
    slack: SlackStandIn, check_against_slack: CheckAgainstSlack
) -> None:
    slack.fail("conversations.info", "missing_scope", times=None)
    status, out, _ = await check_against_slack(CHANNEL_ROUTES)
    assert status == 0
    assert len(slack.calls_to("conversations.info")) == 1  # the same answer for every channel
    assert (
        "slack channels: check skipped after 0 of 5: the bot token lacks channels:read "
        "(groups:read for private channels); add the scopes (manifest.yml) and reinstall the app"
    ) in out


async def test_a_wrong_token_skips_the_check_and_is_never_shown(
    slack: SlackStandIn, check_against_slack: CheckAgainstSlack
) -> None:
    wrong = "xoxb-not-the-right-one-42"
    status, out, err = await check_against_slack(CHANNEL_ROUTES, token=wrong)
    assert status == 0
    assert "check skipped after 0 of 5: Slack refused the bot token (invalid_auth)" in out
    assert wrong not in out + err
