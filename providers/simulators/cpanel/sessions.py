"""A simulated cPanel transfer session: its accounts, its state machine and its master.log."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

__all__ = [
    "ABORT_SECONDS",
    "PAUSE_SECONDS",
    "START_DELAY",
    "Outcome",
    "SimAccount",
    "SimSession",
    "kind_of",
    "script_to",
]

logger = logging.getLogger(__name__)

PAUSE_SECONDS = 4.0  # PAUSING lasts this long before PAUSED
ABORT_SECONDS = 3.0  # ABORTING lasts this long before ABORTED
START_DELAY = 5.0  # a new session waits this long in PENDING before its worker starts
BYTES_PER_SECOND = 5_000_000
ITEM_SECONDS = 15.0  # what each account costs besides its bytes

# the docs' queue states behave like the source-code state they refine
_KIND = {
    "TRANSFER_PENDING": "PENDING",
    "TRANSFER_INPROGRESS": "RUNNING",
    "RESTORE_PENDING": "RUNNING",
    "RESTORE_INPROGRESS": "RUNNING",
}
# cPanel's transition rules; REACHEDMAXMEM behaves like PENDING (it can be started or aborted)
_STARTABLE = ("PENDING", "PAUSED", "REACHEDMAXMEM")
_ABORTABLE = ("PENDING", "RUNNING", "PAUSING", "PAUSED", "REACHEDMAXMEM")
_STATE_LOG = {
    "PAUSING": ("pause", "Pausing the transfer session once the items in progress finish."),
    "PAUSED": ("paused", "The transfer session is paused."),
    "ABORTING": ("abort", "Aborting the transfer session once the items in progress finish."),
    "ABORTED": ("aborted", "The transfer session was aborted."),
    "REACHEDMAXMEM": (
        "reachedmaxmem",
        "The transfer session stopped: the server reached its memory limit. "
        "Free memory, then start the session again.",
    ),
}

Outcome = tuple[bool, str, dict[str, Any] | None]  # (result, reason, data) of one API call
Script = list[tuple[float, str]]


def kind_of(state: str) -> str:
    """The source-code state a state behaves like (the docs' queue states refine two)."""
    return _KIND.get(state, state)


def script_to(state: str, work: float) -> tuple[Script, float]:
    """Steps that lead to ``state`` (and on from it), and how many seconds ago they began.

    A session added as PAUSED has run a third of its work and paused; one added as
    COMPLETED has run all of it a minute ago; pending and running ones go on to complete.
    """
    third = work / 3
    if kind_of(state) == "PENDING":
        running = "TRANSFER_INPROGRESS" if state == "TRANSFER_PENDING" else "RUNNING"
        return [(0, state), (START_DELAY, running), (START_DELAY + work, "COMPLETED")], 0
    if kind_of(state) == "RUNNING":
        return [(0, state), (work, "COMPLETED")], 0
    pausing = [(0.0, "RUNNING"), (third, "PAUSING"), (third + PAUSE_SECONDS, "PAUSED")]
    aborting = [(0.0, "RUNNING"), (third, "ABORTING"), (third + ABORT_SECONDS, "ABORTED")]
    paths: dict[str, tuple[Script, float]] = {
        "PAUSING": (pausing, third),
        "PAUSED": (pausing, third + PAUSE_SECONDS),
        "ABORTING": (aborting, third),
        "ABORTED": (aborting, third + ABORT_SECONDS + 60),
        "REACHEDMAXMEM": (
            [(0, "PENDING"), (START_DELAY, "RUNNING"), (START_DELAY + third, "REACHEDMAXMEM")],
            START_DELAY + third,
        ),
        "COMPLETED": ([(0, "RUNNING"), (work, "COMPLETED")], work + 60),
        "FAILED": ([(0, "RUNNING"), (third, "FAILED")], third + 60),
    }
    return paths.get(state, ([(0, state)], 0))


@dataclass
class SimAccount:
    """One cPanel account a session moves."""

    user: str
    domain: str
    size: int
    owner: str = "root"
    package: str = "default"

    @property
    def seconds(self) -> float:
        return ITEM_SECONDS + self.size / BYTES_PER_SECOND


def _item(queue: str, action: str, account: SimAccount, msg: dict[str, Any]) -> dict[str, Any]:
    return {
        "action": action,
        "queue": queue,
        "item": account.user,
        "local_item": account.user,
        "item_name": "Account",
        "item_type": "AccountRemoteRoot",
        "msg": msg,
        "logfile": f"item-{queue}_AccountRemoteRoot_{account.user}",
        "child_number": 1,
    }


@dataclass
class SimSession:
    """One transfer session, moved lazily: :meth:`settle` applies what is due by a time.

    Work advances only while the session runs (a paused session's clock stops); each
    account's transfer and restore are written to the log at the moment work reaches them.
    """

    id: str
    accounts: list[SimAccount]
    remote_host: str
    pid: int
    state: str = "PENDING"
    anchor: datetime | None = None  # the script counts from here (creation or last action)
    script: Script = field(default_factory=list)
    dies_after: float | None = None  # seconds of work after which the worker dies silently
    failure: str | None = None
    run_done: float = 0.0  # seconds of work done before the current running stretch
    running_since: datetime | None = None
    started: bool = False
    logged: int = 0  # milestones already in the log
    log: list[dict[str, Any]] = field(default_factory=list)

    @property
    def work(self) -> float:
        return sum(account.seconds for account in self.accounts)

    def progress(self, now: datetime) -> float:
        done = self.run_done
        if self.running_since is not None:
            done += (now - self.running_since).total_seconds()
        return min(done, self.dies_after) if self.dies_after is not None else done

    def worker_dead(self, now: datetime) -> bool:
        return (
            kind_of(self.state) == "RUNNING"
            and self.dies_after is not None
            and self.progress(now) >= self.dies_after
        )

    # -- time -----------------------------------------------------------------------------
    def follow(self, script: Script, anchor: datetime) -> None:
        """Replace what comes next: ``script`` offsets count from ``anchor``."""
        if self.dies_after is not None and self.dies_after < self.work:
            script = [step for step in script if step[1] != "COMPLETED"]
        self.anchor, self.script = anchor, [(float(at), str(state)) for at, state in script]

    def settle(self, now: datetime) -> None:
        """Apply every scripted step that is due by ``now``, and log the work done so far."""
        while self.script and self.anchor is not None:
            offset, state = self.script[0]
            at = self.anchor + timedelta(seconds=offset)
            if at > now:
                break
            self.script.pop(0)
            self.enter(state, at)
        self._log_progress(now)

    def enter(self, state: str, at: datetime) -> None:
        """Move to ``state`` at ``at``: stop or start the work clock and write the log."""
        was_running = self.running_since is not None
        if was_running and kind_of(state) != "RUNNING":
            self._log_progress(at)
            self.run_done = self.progress(at)
            self.running_since = None
        elif not was_running and kind_of(state) == "RUNNING":
            self.running_since = at
            if self.started:
                self._log(at, "resume", "The transfer session was restarted.")
            else:
                self._log(at, "start", None)
            self.started = True
        self.state = state
        if state == "COMPLETED":
            for queue in ("TRANSFER", "RESTORE", None):
                self._log(at, "complete", None, queue=queue)
        elif state == "FAILED":
            account = self._account_at(self.run_done)
            words = self.failure or f"The restore of “{account.user}” failed."
            self._append(at, _item("RESTORE", "failed-item", account, {"failure": words}))
            self._log(at, "fail", words)
        elif state in _STATE_LOG:
            self._log(at, *_STATE_LOG[state])

    # -- actions --------------------------------------------------------------------------
    def pause(self, now: datetime) -> Outcome:
        if self.worker_dead(now):
            return self._mark_dead(now)
        if kind_of(self.state) != "RUNNING":
            return False, "The system failed to “pause” the transfer session.", None
        self.follow([(PAUSE_SECONDS, "PAUSED")], now)
        self.enter("PAUSING", now)
        return True, "OK.", None

    def start(self, now: datetime, pid: int) -> Outcome:
        if kind_of(self.state) not in _STARTABLE:
            return False, "The system failed to “start” the transfer session.", None
        self.pid = pid
        self.enter("RUNNING", now)
        self.follow([(max(0.0, self.work - self.run_done), "COMPLETED")], now)
        return True, "OK", {"pid": pid}

    def abort(self, now: datetime) -> Outcome:
        if self.worker_dead(now):
            return self._mark_dead(now)
        if kind_of(self.state) not in _ABORTABLE:
            return False, "The system failed to “abort” the transfer session.", None
        self.follow([(ABORT_SECONDS, "ABORTED")], now)
        self.enter("ABORTING", now)
        return True, "OK.", None

    def _mark_dead(self, now: datetime) -> Outcome:
        """cPanel's quirk: acting on a session whose worker died fails it, and says OK."""
        self.failure = f"The worker of the transfer session (pid {self.pid}) is no longer running."
        self.follow([], now)
        self.enter("FAILED", now)
        return True, "OK.", None

    # -- the log --------------------------------------------------------------------------
    def log_text(self) -> str:
        """master.log as WHM returns it: one JSON record a line."""
        return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in self.log)

    def _milestones(self) -> list[tuple[float, dict[str, Any]]]:
        """(seconds of work, log contents) for each account's transfer and restore."""
        out: list[tuple[float, dict[str, Any]]] = []
        at = 0.0
        for account in self.accounts:
            split = at + 0.6 * account.seconds
            size = {"size": account.size}
            out += [
                (at, _item("TRANSFER", "start-item", account, size)),
                (split, _item("TRANSFER", "success-item", account, size)),
                (split, _item("RESTORE", "start-item", account, size)),
                (at + account.seconds, _item("RESTORE", "success-item", account, {})),
            ]
            at += account.seconds
        return out

    def _account_at(self, seconds: float) -> SimAccount:
        at = 0.0
        for account in self.accounts:
            at += account.seconds
            if seconds < at:
                return account
        return self.accounts[-1]

    def _log_progress(self, now: datetime) -> None:
        if self.running_since is None:
            return
        done = self.progress(now) + 1e-6
        for offset, contents in self._milestones()[self.logged :]:
            if offset > done:
                break
            seconds = max(0.0, offset - self.run_done)
            self._append(self.running_since + timedelta(seconds=seconds), contents)
            self.logged += 1

    def _log(self, at: datetime, action: str, msg: str | None, queue: str | None = None) -> None:
        contents: dict[str, Any] = {"action": action, "child_number": 0}
        if msg is not None:
            contents["msg"] = msg
        if queue is not None:
            contents["queue"] = queue
        self._append(at, contents)

    def _append(self, at: datetime, contents: dict[str, Any]) -> None:
        """Write one master.log record, in the shape cPanel writes them."""
        record = {"contents": {**contents, "time": int(at.timestamp())}, "pid": self.pid}
        self.log.append({**record, "type": "control", "indent": 0, "partial": 0})
