"""The reliability suite's figures: record them in tests, keep them in results.json, render them."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "RESULTS_PATH",
    "SECTIONS",
    "Figure",
    "Section",
    "current_test",
    "figures",
    "load_results",
    "merge_figures",
    "record",
    "render_summary",
    "render_table",
    "save_results",
    "settle",
]

logger = logging.getLogger(__name__)

RESULTS_PATH = Path(__file__).resolve().with_name("results.json")

Combine = Literal["last", "sum", "max"]


@dataclass(frozen=True, slots=True)
class Section:
    """One row of the summary table: what it counts and the unit its figures add up in."""

    name: str
    explains: str
    total_unit: str | None = None  # figures in this unit add up to the section's headline


SECTIONS: Mapping[str, Section] = {
    s.name: s
    for s in (
        Section(
            "load held",
            "Sustained load the bot answered without an error, and how fast it answered.",
        ),
        Section(
            "faults survived",
            "Provider and database faults injected while the bot ran; none crashed it or lost "
            "a request, an approval or an alert.",
            "faults",
        ),
        Section(
            "bad inputs tried",
            "Malformed, hostile or random inputs fed to every parser and client that reads "
            "from outside; none escaped as anything but our own error with a readable sentence.",
            "inputs",
        ),
        Section(
            "crashes survived",
            "The bot killed with SIGKILL at chosen moments and restarted; nothing lost, "
            "nothing run twice.",
            "crashes",
        ),
        Section(
            "secrets found",
            "Planted secrets (authInfo codes, API keys, tokens) found anywhere they must never "
            "be: messages, errors, cards, logs, Slack calls, database bytes. Must be zero.",
            "secrets",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure, and the test that produced it (its outcome decides if it stands)."""

    section: str
    name: str
    value: float
    unit: str = ""
    note: str = ""
    combine: Combine = "last"
    tests: tuple[str, ...] = ()
    outcome: str = "unknown"  # passed, failed, skipped or unknown (the test did not finish)
    recorded_at: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.section, self.name)


@dataclass
class _Book:
    """This process's figures, in the order first recorded."""

    figures: dict[tuple[str, str], Figure] = field(default_factory=dict)
    current_test: str = ""
    outcomes: dict[str, str] = field(default_factory=dict)


_book = _Book()


def record(
    section: str,
    name: str,
    value: float,
    unit: str = "",
    *,
    note: str = "",
    combine: Combine = "last",
) -> None:
    """Record one figure for the results table.

    Args:
        section: one of :data:`SECTIONS` ("load held", "faults survived", "bad inputs
            tried", "crashes survived", "secrets found").
        name: what the figure is, e.g. "OpenSRS envelope parser: inputs tried".
        value: the number measured; record only what actually ran.
        unit: "inputs", "faults", "crashes", "secrets" (these add up in the summary),
            "ms", "s", "requests/s", ...
        note: one sentence shown under the table, saying how the figure was made.
        combine: what a second record of the same figure does: replace it ("last"),
            add to it ("sum", for counts over parametrized tests) or keep the larger ("max").
    """
    if section not in SECTIONS:
        raise ValueError(f"unknown section {section!r}; choose from {', '.join(SECTIONS)}")
    test = _book.current_test
    old = _book.figures.get((section, name))
    if old is not None and combine == "sum":
        value = old.value + value
    elif old is not None and combine == "max":
        value = max(old.value, value)
    tests = old.tests if old is not None and combine != "last" else ()
    if test and test not in tests:
        tests = (*tests, test)
    _book.figures[(section, name)] = Figure(
        section=section,
        name=name,
        value=value,
        unit=unit,
        note=note or (old.note if old else ""),
        combine=combine,
        tests=tests,
        recorded_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def current_test(nodeid: str) -> None:
    """Set by the pytest plugin: figures recorded from now on belong to this test."""
    _book.current_test = nodeid


def settle(nodeid: str, outcome: str) -> None:
    """Set by the pytest plugin: a test's outcome (a failure anywhere in it wins)."""
    if _book.outcomes.get(nodeid) != "failed":
        _book.outcomes[nodeid] = outcome


def figures() -> list[Figure]:
    """This process's figures, each with the worst outcome among the tests that made it."""
    return [replace(f, outcome=_outcome_of(f.tests)) for f in _book.figures.values()]


def _outcome_of(tests: tuple[str, ...]) -> str:
    outcomes = [_book.outcomes.get(test, "unknown") for test in tests]
    for worst in ("failed", "unknown", "skipped"):
        if worst in outcomes:
            return worst
    return "passed" if outcomes else "unknown"


# -- results.json ---------------------------------------------------------------------------


def load_results(path: Path = RESULTS_PATH) -> list[Figure]:
    """The figures kept in results.json; none if it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [Figure(**{**item, "tests": tuple(item["tests"])}) for item in data["figures"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def merge_figures(old: Iterable[Figure], new: Iterable[Figure], ran: set[str]) -> list[Figure]:
    """Old figures, minus those re-recorded now or made by a test that ran now, plus the new."""
    fresh = list(new)
    keys = {f.key for f in fresh}
    kept = [f for f in old if f.key not in keys and not set(f.tests) & ran]
    return kept + fresh


def save_results(found: list[Figure], *, command: str, path: Path = RESULTS_PATH) -> None:
    """Write results.json atomically."""
    data: dict[str, Any] = {
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "figures": [asdict(f) for f in found],
    }
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temporary, path)


# -- rendering ------------------------------------------------------------------------------


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.1f}"


def _shown(figure: Figure) -> str:
    text = f"{_number(figure.value)} {figure.unit}".strip()
    return text if figure.outcome == "passed" else f"{text} (test {figure.outcome})"


def render_summary(found: list[Figure]) -> str:
    """The five-row table the issue asks for: one headline per section."""
    lines = ["| | result |", "| --- | --- |"]
    for section in SECTIONS.values():
        rows = [f for f in found if f.section == section.name]
        lines.append(f"| {section.name} | {_headline(section, rows)} |")
    return "\n".join(lines)


def _headline(section: Section, rows: list[Figure]) -> str:
    if not rows:
        return "not run yet"
    failed = [f for f in rows if f.outcome != "passed"]
    flag = f" — {len(failed)} figure(s) from a test that did not pass" if failed else ""
    counted = [f for f in rows if section.total_unit and f.unit == section.total_unit]
    if counted:
        total = sum(f.value for f in counted)
        return f"{_number(total)} {section.total_unit} over {len(counted)} figure(s){flag}"
    groups: dict[str, list[str]] = {}  # "what ran: figure" names, grouped by what ran
    for figure in rows:
        what, colon, name = figure.name.partition(": ")
        key, shown = (what, f"{name} {_shown(figure)}") if colon else ("", _shown(figure))
        groups.setdefault(key, []).append(shown if colon else f"{figure.name} {shown}")
    lines = [f"{what}: {', '.join(items)}" if what else ", ".join(items)
             for what, items in groups.items()]  # fmt: skip
    return "<br>".join(lines) + flag


def render_table(found: list[Figure]) -> str:
    """Every figure, by section and name, with the tests that produced it."""
    lines = ["| section | figure | value | produced by |", "| --- | --- | --- | --- |"]
    order = list(SECTIONS)
    for figure in sorted(found, key=lambda f: (order.index(f.section), f.name.lower())):
        name = figure.name.replace("|", "\\|")
        lines.append(
            f"| {figure.section} | {name} | {_shown(figure)} | {_producers(figure.tests)} |"
        )
    return "\n".join(lines)


def _producers(tests: tuple[str, ...]) -> str:
    """One test by its id (without parameters); several by their file and how many."""
    names = sorted({test.split("[", 1)[0] for test in tests})
    if len(names) == 1:
        return f"`{names[0]}`"
    files = sorted({name.split("::", 1)[0] for name in names})
    return ", ".join(
        f"`{file}` ({sum(n.startswith(file + '::') for n in names)} tests)" for file in files
    )
