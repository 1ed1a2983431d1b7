"""Fuzzing the /transfer parser: any text, real words with noise, typed-in secrets, round trips."""

from __future__ import annotations

from hypothesis import strategies as st

from bot.slack.parsing import MAX_COMMAND_LENGTH, Command, CommandError, Verb, parse_command
from providers.base import ACTION_ALIASES, Action, Phase, parse_action
from providers.settings import PROVIDER_TYPES

TARGET = "Slack /transfer parser (parse_command)"
_VERBS = ["help", "?", "status", "show", "list", "ls", "watch", "track", "unwatch", "untrack"]
_VERBS += ["sync", *(a.value for a in Action), *ACTION_ALIASES]
_FILTERS = [*PROVIDER_TYPES, *(p.value for p in Phase), "canceled", "done", "stuck", "page"]
_REFS = ["example.com", "t-4k7q", "3572145", "exampleservercopya20140206192428NtyW", "40100000"]
_NOISE = ["<http://example.com|example.com>", "<mailto:a@example.com>", "&amp;", "&lt;x&gt;"]
_NOISE += ["`", "“", "”", "'", '"', "!", ".", ",", "page:2", "page#0", "page=99999", "<@U123>"]


def _texts() -> st.SearchStrategy[str]:
    """Commands built from the real words, shuffled, cased and dressed the way people type."""
    word = st.one_of(
        st.sampled_from(_VERBS),
        st.sampled_from(_FILTERS),
        st.sampled_from(_REFS),
        st.sampled_from(_NOISE),
        st.integers(min_value=-5, max_value=20_000).map(str),
        st.text(max_size=12),
    )
    dressed = st.builds(
        lambda w, up, quote, tail: quote + (w.upper() if up else w) + quote + tail,
        word,
        st.booleans(),
        st.sampled_from(["", "", "`", '"', "“"]),
        st.sampled_from(["", "", ".", "!", ",", "?"]),
    )
    gap = st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", "\u3000"])
    return st.lists(st.tuples(dressed, gap), max_size=7).map(
        lambda parts: "".join(w + g for w, g in parts)
    )


def _check(target, text: str) -> Command | None:
    try:
        command = parse_command(text)
    except CommandError as error:
        target.readable(error)
        return None
    assert isinstance(command, Command) and command.verb in Verb
    if command.verb is Verb.ACT:
        assert command.action in Action and command.ref
    return command


def test_any_text_is_a_command_or_one_sentence(fuzz):
    target = fuzz(TARGET)

    @target.given(
        st.text(max_size=MAX_COMMAND_LENGTH + 20),
        examples=(("x" * (MAX_COMMAND_LENGTH + 1),), ("\u2028retry example.com",)),
    )
    def one(text: str) -> None:
        _check(target, text)

    one()


def test_commands_built_from_the_real_vocabulary_are_commands_or_one_sentence(fuzz):
    target = fuzz(TARGET)

    @target.given(_texts())
    def one(text: str) -> None:
        _check(target, text)

    one()


def test_a_secret_typed_after_an_action_is_never_repeated(fuzz, planted):
    target = fuzz(TARGET)
    words = st.sampled_from([*(a.value for a in Action), *ACTION_ALIASES, "watch", "status"])

    @target.given(words, st.lists(st.sampled_from(_REFS), max_size=2), st.sampled_from(["", "!"]))
    def one(verb: str, refs: list[str], tail: str) -> None:
        text = " ".join([verb, *refs, planted + tail])
        command = _check(target, text)
        if command is None:
            try:
                parse_command(text)
            except CommandError as error:
                target.clean(error.message)
        else:  # the only way to keep it: it was taken as the one reference asked for
            target.clean(command.account or "", command.word)

    one()


def _ref_and_expected() -> st.SearchStrategy[tuple[str, str]]:
    label = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
    tld = st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=6)
    domains = st.builds(
        lambda a, b, up: f"{a}.{b}".upper() if up else f"{a}.{b}", label, tld, st.booleans()
    )
    ids = st.from_regex(r"\At-[a-z0-9]{4}\Z") | st.integers(1, 10**9).map(str)
    sessions = st.from_regex(r"\A[a-z]{4,12}copya20\d{12}[A-Za-z]{4}\Z")
    return st.one_of(
        domains.map(lambda d: (d, d.lower())),
        ids.map(lambda r: (r, r)),
        sessions.map(lambda r: (r, r)),
    )


def test_action_status_and_watch_commands_read_back_what_was_typed(fuzz):
    target = fuzz(TARGET)
    verbs = st.sampled_from([*(a.value for a in Action), *ACTION_ALIASES, "status", "unwatch"])
    accounts = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,20}\Z")

    @target.given(
        verbs, _ref_and_expected(), accounts, st.sampled_from(["", "`", '"']), st.booleans()
    )
    def one(verb: str, ref: tuple[str, str], account: str, quote: str, upper: bool) -> None:
        typed, expected = ref
        shown_verb = verb.upper() if upper else verb
        command = parse_command(f"  {shown_verb}   {quote}{typed}{quote}. ")
        assert command.ref == expected and command.word == verb.lower()
        action = parse_action(verb)
        if action is not None:
            assert command.verb is Verb.ACT and command.action is action
        watch = parse_command(f"watch {account.upper() if upper else account} {typed}")
        assert (watch.verb, watch.account, watch.ref) == (Verb.WATCH, account, expected)

    one()


def test_list_filters_in_any_order_read_back(fuzz):
    target = fuzz(TARGET)

    @target.given(
        st.sampled_from(PROVIDER_TYPES) | st.none(),
        st.sampled_from(list(Phase)) | st.none(),
        st.integers(min_value=1, max_value=10_000) | st.none(),
        st.randoms(use_true_random=False),
        st.booleans(),
    )
    def one(provider, phase, page, shuffler, upper: bool) -> None:
        parts = [provider, phase.value if phase else None, f"page {page}" if page else None]
        words = [p.upper() if upper else p for p in parts if p]
        shuffler.shuffle(words)
        command = parse_command(" ".join(["list", *words]))
        assert command == Command(
            Verb.LIST, provider=provider, phase=phase, page=page or 1, word="list"
        )

    one()
