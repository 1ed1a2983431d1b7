"""The /transfer parser: every sub-command, every alias, every misuse and its one sentence."""

from __future__ import annotations

import re

import pytest

from bot.slack.parsing import MAX_COMMAND_LENGTH, Command, CommandError, Verb, parse_command
from providers.base import Action, Phase


def error_of(text: str) -> str:
    with pytest.raises(CommandError) as caught:
        parse_command(text)
    message = caught.value.message
    assert message == str(caught.value)
    assert is_one_sentence(message), message
    return message


def is_one_sentence(message: str) -> bool:
    """Ends with a full stop, no line break, no second sentence outside `code`."""
    prose = re.sub(r"`[^`]*`", "code", message).replace("e.g.", "eg")
    return message.endswith(".") and "\n" not in message and not re.search(r"[.!?]\s+[A-Z]", prose)


# -- the happy paths ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "   ", "help", "HELP", "?", "help retry"])
def test_help(text: str) -> None:
    assert parse_command(text).verb is Verb.HELP


def test_status_takes_a_domain_a_provider_id_or_a_short_id() -> None:
    assert parse_command("status example.com") == Command(
        Verb.STATUS, ref="example.com", word="status"
    )
    assert parse_command("status t-4k7q").ref == "t-4k7q"
    session = "exampleservercopya20140206192428NtyW"
    assert parse_command(f"status {session}").ref == session  # case kept: ids are exact
    assert parse_command("status 3572145").ref == "3572145"


def test_a_bare_domain_means_its_status() -> None:
    assert parse_command("example.com") == Command(Verb.STATUS, ref="example.com", word="status")


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("status <http://example.com|example.com>", "example.com"),
        ("status <http://Example.COM>", "example.com"),
        ("status <https://example.com/>", "example.com"),
        ("status <mailto:owner@example.com|owner@example.com>", "owner@example.com"),
        ("  Status    EXAMPLE.com.  ", "example.com"),
        ("status `example.com`", "example.com"),
        ("status “example.com”", "example.com"),
        ("status example.com!", "example.com"),
    ],
)
def test_forgiving_about_how_a_ref_is_typed(text: str, ref: str) -> None:
    assert parse_command(text).ref == ref


def test_list_filters_in_any_order() -> None:
    expected = Command(Verb.LIST, provider="hostway", phase=Phase.BLOCKED, page=2, word="list")
    assert parse_command("list hostway blocked page 2") == expected
    assert parse_command("list page 2 blocked hostway") == expected
    assert parse_command("LIST Blocked page:2 HOSTWAY") == expected
    assert parse_command("list") == Command(Verb.LIST, word="list")
    assert parse_command("list canceled").phase is Phase.CANCELLED
    assert parse_command("list gandi").provider == "gandi"
    assert parse_command("list page3").page == 3


@pytest.mark.parametrize("phase", list(Phase))
def test_list_knows_every_phase(phase: Phase) -> None:
    assert parse_command(f"list {phase.value}").phase is phase


def test_watch_unwatch_sync() -> None:
    assert parse_command("watch Hostway-Main Example.com") == Command(
        Verb.WATCH, ref="example.com", account="hostway-main", word="watch"
    )
    assert parse_command("unwatch t-4k7q") == Command(Verb.UNWATCH, ref="t-4k7q", word="unwatch")
    assert parse_command("sync") == Command(Verb.SYNC, word="sync")
    assert parse_command("sync opensrs-main") == Command(
        Verb.SYNC, account="opensrs-main", word="sync"
    )


@pytest.mark.parametrize(
    ("word", "action"),
    [
        ("pause", Action.PAUSE),
        ("resume", Action.RESUME),
        ("cancel", Action.CANCEL),
        ("retry", Action.RETRY),
        ("resend", Action.RESEND),
        ("abort", Action.CANCEL),
        ("reset", Action.RETRY),
        ("resubmit", Action.RETRY),
        ("relaunch", Action.RETRY),
        ("start", Action.RESUME),
        ("send_password", Action.RESEND),
        ("foa", Action.RESEND),
        ("send-password", Action.RESEND),
        ("ReSeT", Action.RETRY),
    ],
)
def test_actions_and_provider_verbs(word: str, action: Action) -> None:
    command = parse_command(f"{word} example.com")
    assert command == Command(Verb.ACT, ref="example.com", action=action, word=word.lower())


# -- misuse: one sentence that says what can be done -------------------------------------------
def test_unknown_sub_command() -> None:
    assert error_of("paws example.com") == (
        "`/transfer paws` isn't a command; try `/transfer pause` or `/transfer help`."
    )
    assert error_of("frobnicate") == "`/transfer frobnicate` isn't a command; try `/transfer help`."


def test_the_command_name_is_configurable() -> None:
    with pytest.raises(CommandError) as caught:
        parse_command("frobnicate", command="/xfer")
    assert caught.value.message == "`/xfer frobnicate` isn't a command; try `/xfer help`."


@pytest.mark.parametrize("verb", ["status", "unwatch", "retry", "reset", "cancel"])
def test_missing_ref(verb: str) -> None:
    message = error_of(verb)
    assert message.startswith(f"`/transfer {verb}` needs a transfer")
    assert f"`/transfer {verb} example.com`" in message


def test_an_action_never_echoes_extra_words_which_may_be_a_secret() -> None:
    message = error_of("retry example.com hunter2-authinfo")
    assert "hunter2" not in message
    assert "asked for in a private form" in message


def test_status_with_two_refs() -> None:
    message = error_of("status a.com b.com")
    assert (
        message
        == "`/transfer status` takes just one transfer, e.g. `/transfer status example.com`."
    )


def test_a_ref_that_cannot_be_one() -> None:
    message = error_of("status <!channel>")
    assert "doesn't look like a transfer reference" in message
    assert "<" not in message and "!channel" not in message.replace("`!channel`", "")
    assert "doesn't look like" in error_of("status ex$ample.com")


def test_watch_needs_account_and_ref() -> None:
    assert error_of("watch example.com") == (
        "`/transfer watch` needs a provider account and a transfer, "
        "e.g. `/transfer watch hostway-main example.com`."
    )
    assert "isn't a provider account name" in error_of("watch host/way example.com")


def test_sync_takes_at_most_one_account() -> None:
    assert "at most one provider account" in error_of("sync a b")
    assert "isn't a provider account name" in error_of("sync Höst!")


def test_list_misuse() -> None:
    assert "`wibble` is none of those" in error_of("list wibble")
    assert "one provider at a time" in error_of("list hostway gandi")
    assert "one phase at a time" in error_of("list blocked active")
    assert error_of("list page 0") == (
        "A page is a number from 1 to 10000, e.g. `/transfer list page 2`."
    )
    assert "A page is a number" in error_of("list page")
    assert "A page is a number" in error_of("list page two")
    assert "A page is a number" in error_of("list page ²")


def test_too_long() -> None:
    message = error_of("status " + "a" * MAX_COMMAND_LENGTH)
    assert "too long" in message
    assert len(message) < 200


def test_echoed_words_carry_no_slack_markup() -> None:
    message = error_of("*boom*<@U123>&")
    assert "<@" not in message and "*boom*" not in message
    long_word = "x" * 200
    assert len(error_of(long_word)) < 120
