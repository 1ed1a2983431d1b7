"""Run the reliability suite and rewrite the results table in tests/reliability/README.md.

python -m tests.reliability.report            # every test, slow ones included
python -m tests.reliability.report --quick    # only what CI runs (-m "not slow")
python -m tests.reliability.report --render   # rewrite the README from results.json only
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.reliability.results import (
    RESULTS_PATH,
    SECTIONS,
    Figure,
    load_results,
    render_summary,
    render_table,
)

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
README = HERE / "README.md"
EVERYTHING = "slow or not slow"
QUICK = "not slow"


def run_suite(marks: str, extra: Sequence[str]) -> int:
    """Run pytest on tests/reliability; the plugin in conftest.py writes results.json."""
    command = [sys.executable, "-m", "pytest", "tests/reliability", "-m", marks, "-q", *extra]
    print("running:", " ".join(command), flush=True)
    return subprocess.run(command, cwd=ROOT, check=False).returncode


def _notes(found: list[Figure]) -> str:
    by_note: dict[str, list[str]] = {}
    for figure in found:
        if figure.note:
            by_note.setdefault(figure.note, []).append(figure.name)
    lines = []
    for note, names in by_note.items():
        shown = "; ".join(names) if len(names) <= 3 else f"{names[0]} and {len(names) - 1} more"
        lines.append(f"- *{shown}*: {note}")
    return "\n".join(lines) or "- (no figures yet)"


def _sections() -> str:
    return "\n".join(f"- **{s.name}**: {s.explains}" for s in SECTIONS.values())


def render_readme(found: list[Figure], *, written_at: str, command: str) -> str:
    """The whole README: what the suite is, how to reproduce it, and the latest table."""
    when = f"Last written {written_at} by `{command}`." if written_at else "Not run yet."
    return f"""# Reliability suite

Figures, not assurances: what load the bot held, what faults it survived, what bad inputs
it was given, what crashes it came back from, and whether any planted secret showed up
where it must not. Every figure below was recorded by a test while it ran
(`tests/reliability/results.py: record(...)`); a figure whose test did not pass says so.

This file is generated: edit `tests/reliability/report.py`, not the table.

## Reproduce

```sh
.venv/bin/python -m tests.reliability.report           # the whole suite, slow tests too
.venv/bin/python -m tests.reliability.report --quick   # only what CI runs (-m "not slow")
.venv/bin/python -m tests.reliability.report --render  # redraw this file from results.json
```

One figure: run the test named next to it, e.g.
`.venv/bin/pytest -m "slow or not slow" "tests/reliability/test_fuzz_slack.py"`
(pytest's default `-m 'not slow'` would deselect the `[deep]` variants). Running any
reliability test merges its figures into `tests/reliability/results.json`; the report
command starts that file afresh.

## Latest results

{when}

{render_summary(found)}

### What the rows mean

{_sections()}

### Every figure

{render_table(found)}

### How each figure was made

{_notes(found)}

## The tests

- `test_fuzz_*.py`: hypothesis against every parser that reads from outside: the OpenSRS
  envelope, Gandi's XML-RPC and operation mappers, cPanel's and Hostway's reply mappers,
  the `/transfer` parser, the configuration loader, and each client end to end through
  its HTTP layer. Random bytes and text, and near-valid inputs built from the real
  vocabulary with random keys, values, types and nesting; round trips where a builder
  exists. Nothing may escape but our own errors, each one readable line; secrets planted
  in credential fields must show nowhere. Each test runs as `[ci]` (a bounded,
  derandomized budget) and `[deep]` (marked slow, many more random examples); the table
  counts the inputs actually tried.
- `test_xml_attacks.py`: external entities (file, URL, parameter, UTF-16), external DTDs,
  XInclude, billion laughs, quadratic blow-up, deep nesting and oversized bodies (declared
  and streamed), served on loopback to the real OpenSRS and Gandi clients: each a
  BadReply, no file opened (inotify on a sentinel file), no connection (a loopback
  listener), sent once; the time each took is recorded.
- `test_slack_abuse.py`: forged, stale, future and wrong-secret signatures, replayed
  requests, malformed and oversized payloads, unknown action ids, people outside the
  configured groups clicking Approve, a form for an expired request — each refused or
  answered politely; no provider asked to act, audit log and requests unchanged.
- `test_concurrency.py`: 50 Approve clicks at once, one click delivered to two replicas on
  one database (SQLite and PostgreSQL), an approval racing its expiry: one outcome each.
- `test_load.py`: 200 concurrent signed slash commands from an aiohttp process against HTTP
  mode on loopback (5 s in CI, 60 s slow): ack latency, errors, rate, replies lost; a
  realistic mix of status commands at three providers under their default rate limits;
  Hostway hanging during the load while an unrelated cPanel cancel is approved and run.
- `test_sqlite_load.py`: 50 concurrent `status` commands on the embedded SQLite default, 8
  rounds: every one answered with the card, none told the database is unavailable, no
  "database is locked" logged.
- `test_crashes.py`: the whole bot as a subprocess, killed with SIGKILL mid poll pass,
  between approval and execution, while an action runs and mid alert post; after the
  restart nothing is lost, no alert is posted twice, no action runs twice (an interrupted
  one is shown as of unknown outcome), leases are recovered.
- `test_chaos.py`: a simulated day with 20 % of provider calls faulted (latency, 5xx,
  hangs, 429, garbage) across the four simulators ends with the same phases and alerts as
  a clean day, each alert once.
- `test_db_loss.py`: PostgreSQL connections cut under the running watcher; `/healthz` and
  the log say so, the bot recovers by itself, nothing is lost.
- `test_db_faults.py` and `test_db_full_disk.py`: the SQLite file deleted, made read-only,
  a connection left read-only, its page limit reached, its disk (a small tmpfs, root only)
  filled: `/healthz` answers 503, the log and the person asking are told in one sentence,
  nothing claims a success it did not have, writes work again by themselves once the fault
  is gone, and a lost file is never silently replaced by an empty database at restart.
- `test_demo_secrets.py`: a whole demo story with planted authInfo codes, API key and
  tokens; none of them in the debug logs, Slack calls, channels or database bytes.

## Recording a figure

```python
from tests.reliability.results import record

record("load held", "slash commands, 200 concurrent for 60 s: p99 ack", 0.42, "s")
record("faults survived", "provider faults injected", 1, "faults", combine="sum")
```

Sections: {", ".join(f'"{name}"' for name in SECTIONS)}. Figures in the section's own
unit (inputs, faults, crashes, secrets) add up in the summary; `combine="sum"` or
`"max"` folds repeated records (parametrized tests) into one figure.
"""


def write_readme() -> None:
    try:
        data = json.loads(RESULTS_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    text = render_readme(
        load_results(),
        written_at=str(data.get("written_at", "")),
        command=str(data.get("command", "")),
    )
    README.write_text(text, encoding="utf-8")
    print(f"wrote {README.relative_to(ROOT)}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.report", description=__doc__)
    parser.add_argument("--quick", action="store_true", help='only what CI runs (-m "not slow")')
    parser.add_argument("--render", action="store_true", help="only rewrite README.md")
    parser.add_argument("--keep", action="store_true", help="merge into results.json")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args(argv)
    status = 0
    if not args.render:
        if not args.keep:
            RESULTS_PATH.unlink(missing_ok=True)
        status = run_suite(QUICK if args.quick else EVERYTHING, args.pytest_args)
    write_readme()
    return status


if __name__ == "__main__":
    sys.exit(main())
