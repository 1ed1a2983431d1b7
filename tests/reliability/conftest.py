"""The reliability suite's plugin (figures → results.json) and its fuzzing bench (hypothesis)."""

from __future__ import annotations

import functools
import logging
import re
import shlex
import unicodedata
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.reliability import results

logger = logging.getLogger(__name__)

# examples per fuzz test: CI stays quick and repeatable; the slow variant explores new ground
BUDGETS = {"ci": 200, "deep": 2000}
PLANTED_SECRET = "PLANTED-s3cret-9f2c7e"
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+")
_SENTENCE_END = (".", "!", "?")
_BREAKING = {"Cc", "Zl", "Zp"}  # control characters (line breaks among them) and separators


# -- the plugin ------------------------------------------------------------------------------

_ran: set[str] = set()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[Any]:
    results.current_test(item.nodeid)
    try:
        return (yield)
    finally:
        results.current_test("")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _ran.add(report.nodeid)
    if report.when == "call" or report.failed or report.skipped:
        results.settle(report.nodeid, report.outcome)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Merge this session's figures into results.json, only when reliability tests ran."""
    if not _ran:
        return
    command = shlex.join(["pytest", *session.config.invocation_params.args])
    merged = results.merge_figures(results.load_results(), results.figures(), _ran)
    results.save_results(merged, command=command)


# -- the fuzzing bench ----------------------------------------------------------------------


def readable_problems(message: object, *, sentence: bool) -> list[str]:
    """What keeps a message from being one readable line (empty when it is fine)."""
    if not isinstance(message, str):
        return [f"the message is a {type(message).__name__}, not text"]
    problems = []
    if not message.strip():
        problems.append("the message is empty")
    if message != message.strip():
        problems.append("the message starts or ends with blank space")
    if any(unicodedata.category(ch) in _BREAKING for ch in message):
        problems.append("the message holds a line break or control character")
    if _TRACEBACK.search(message):
        problems.append("the message holds traceback text")
    if len(message) > 600:
        problems.append(f"the message is {len(message)} characters long")
    if sentence and not message.endswith(_SENTENCE_END):
        problems.append("the message is not a sentence (no full stop)")
    return problems


@dataclass
class FuzzTarget:
    """Hypothesis runs against one parser, counting every input it was given."""

    name: str
    examples: int
    deep: bool
    tried: int = 0
    secret_checks: int = 0
    secrets_found: int = 0
    notes: list[str] = field(default_factory=list)

    def settings(self) -> settings:
        return settings(
            max_examples=self.examples,
            deadline=None,
            derandomize=not self.deep,
            database=None,
            print_blob=self.deep,
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
                HealthCheck.filter_too_much,
                HealthCheck.large_base_example,
            ],
        )

    def given(
        self, *strategies: st.SearchStrategy[Any], examples: tuple[tuple[Any, ...], ...] = ()
    ) -> Callable[[Callable[..., None]], Callable[[], None]]:
        """Like hypothesis.given, with this target's budget, counting each input tried.

        ``examples`` are argument tuples always tried first: edge cases worth pinning.
        """

        def wrap(body: Callable[..., None]) -> Callable[[], None]:
            @functools.wraps(body)
            def counted(*args: Any, **kwargs: Any) -> None:
                self.tried += 1
                body(*args, **kwargs)

            test = given(*strategies)(counted)
            for args in reversed(examples):
                test = example(*args)(test)
            return self.settings()(test)  # type: ignore[no-any-return]

        return wrap

    def readable(self, error: BaseException, *, sentence: bool = True) -> None:
        """Assert the error says one readable line (a sentence for our user-facing errors)."""
        message = getattr(error, "message", None)
        if message is None:
            message = str(error)
        else:
            assert str(error) == message, f"str() and .message differ: {error!r}"
        problems = readable_problems(message, sentence=sentence)
        assert not problems, f"{type(error).__name__}: {'; '.join(problems)}: {message!r}"

    def clean(self, *texts: object, secrets: tuple[str, ...] = (PLANTED_SECRET,)) -> None:
        """Assert no planted secret shows in any of ``texts`` (messages, reprs, cards)."""
        self.secret_checks += 1
        joined = "\n".join(str(text) for text in texts)
        found = [secret for secret in secrets if secret and secret in joined]
        if found:
            self.secrets_found += 1
            raise AssertionError(f"a planted secret shows in the output: {joined[:500]!r}")


@pytest.fixture(params=["ci", pytest.param("deep", marks=pytest.mark.slow)])
def fuzz(request: pytest.FixtureRequest) -> Iterator[Callable[[str], FuzzTarget]]:
    """``fuzz("OpenSRS envelope parser")`` → a FuzzTarget; its counts are recorded afterwards.

    Each fuzz test runs twice: ``[ci]`` with a bounded, derandomized budget, and ``[deep]``
    (marked slow) with many more random examples.
    """
    targets: list[FuzzTarget] = []

    def target(name: str) -> FuzzTarget:
        found = FuzzTarget(name, BUDGETS[request.param], deep=request.param == "deep")
        targets.append(found)
        return found

    yield target
    for found in targets:
        if found.tried:
            results.record(
                "bad inputs tried",
                found.name,
                found.tried,
                "inputs",
                combine="sum",
                note="Inputs hypothesis generated (random and near-valid); each parsed to a "
                "value or raised only our own error with one readable line.",
            )
        if found.secret_checks:
            results.record(
                "secrets found",
                f"{found.name}: planted secret shown",
                1 if found.secrets_found else 0,
                "secrets",
                combine="max",
                note="Inputs carried a planted secret in their credential fields; every message, "
                "error and parsed result was searched for it (1: it showed at least once).",
            )


@pytest.fixture
def planted() -> str:
    return PLANTED_SECRET


# -- strategies the fuzz tests share ------------------------------------------------------------


class Shapes:
    """Strategies for inputs shaped like what our parsers read (the ``shapes`` fixture)."""

    @staticmethod
    def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
        """Any JSON value: scalars of every type, lists and objects nested a few levels."""
        scalars = (
            st.none()
            | st.booleans()
            | st.integers(min_value=-(2**70), max_value=2**70)
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(max_size=30)
        )
        return st.recursive(
            scalars,
            lambda children: (
                st.lists(children, max_size=4)
                | st.dictionaries(st.text(max_size=12), children, max_size=4)
            ),
            max_leaves=max_leaves,
        )

    @staticmethod
    def shaped(
        fields: dict[str, st.SearchStrategy[Any]], *, extra: bool = True
    ) -> st.SearchStrategy[dict[str, Any]]:
        """Objects shaped like a reply: any subset of ``fields`` (each drawn from its own
        strategy) and, with ``extra``, a few unknown keys of any type."""
        known = st.fixed_dictionaries({}, optional=fields)
        if not extra:
            return known
        unknown = st.dictionaries(st.text(max_size=10), Shapes.json_values(4), max_size=2)
        return st.builds(lambda a, b: {**b, **a}, known, unknown)

    @staticmethod
    def noisy(words: list[str]) -> st.SearchStrategy[str]:
        """Real words, sometimes with noise: case changes, junk around them, odd unicode."""
        word = st.sampled_from(words)
        cased = st.builds(lambda w, up: w.upper() if up else w, word, st.booleans())
        junk = st.text(max_size=6)
        return st.one_of(word, cased, st.builds(lambda a, w, b: a + w + b, junk, word, junk), junk)

    @staticmethod
    def odd_digits() -> st.SearchStrategy[str]:
        """Strings ``str.isdigit()`` accepts, including ones ``int()`` refuses (², ①)."""
        return st.text(alphabet="0123456789²³¹①٣൬", min_size=1, max_size=25)

    @staticmethod
    def mutated(valid: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
        """A valid document with a few random cuts, insertions and replaced bytes."""

        def apply(body: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
            for where, cut, insert in edits:
                at = where % (len(body) + 1)
                body = body[:at] + insert + body[at + cut :]
            return body

        edit = st.tuples(
            st.integers(min_value=0, max_value=10**6),
            st.integers(min_value=0, max_value=8),
            st.binary(max_size=8)
            | st.sampled_from([b"<", b">", b"&", b"/", b'"', b"<item>", b"</item>", b"\x00"]),
        )
        return st.builds(apply, valid, st.lists(edit, min_size=1, max_size=4))


@pytest.fixture(scope="session")
def shapes() -> type[Shapes]:
    return Shapes


# -- the whole bot on loopback (tests/slack/conftest.py), for the Slack abuse and load parts ----

# fixtures, re-exported: the Slack test bot and what it asks for ([slack] overrides, routes),
# and the follow-up settings the watcher rig asks for (modules that use the rig import it)
from tests.slack.conftest import bot, routes, slack_overrides  # noqa: E402, F401
from tests.watcher.conftest import followup_config  # noqa: E402, F401
