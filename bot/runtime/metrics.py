"""Prometheus metrics on a registry of our own: polls, provider errors, alerts, actions, acks."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from providers.base import Action, Phase
from providers.settings import PROVIDER_TYPES

__all__ = [
    "ACK_BUCKETS",
    "ACK_SURFACES",
    "ACTION_OUTCOMES",
    "POLL_BUCKETS",
    "REQUEST_STATES",
    "GaugeReadings",
    "Metrics",
    "metrics_route",
]

logger = logging.getLogger(__name__)

ACTION_OUTCOMES = ("done", "failed", "unknown", "dry_run")
ACK_SURFACES = ("command", "click", "submission")
REFUSAL_POOLS = ("decisions", "commands")
REFUSAL_REASONS = ("busy", "provider")
REQUEST_STATES = (
    "pending",
    "approved",
    "rejected",
    "withdrawn",
    "expired",
    "running",
    "done",
    "failed",
    "unknown",
)
OTHER = "other"  # where a value outside a closed set is counted (and logged)
# seconds; Slack wants an ack within 3 s, and ours should take a few milliseconds
ACK_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
# seconds; one poll is a provider call (or a few), read retries included
POLL_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

_LABEL_TEXT = re.compile(r"[^a-z0-9_.:-]+")
_LABEL_MAX = 64


@dataclass(frozen=True, slots=True)
class GaugeReadings:
    """What the gauges show at one scrape; None keeps the value last set."""

    phase_counts: Mapping[Phase | str, int] | None = None
    unreachable: Iterable[str] | None = None


Snapshot = Callable[[], GaugeReadings]


def _label(value: object) -> str:
    """A bounded, printable label value (provider types, kinds, account names)."""
    text = _LABEL_TEXT.sub("_", str(value).strip().lower()).strip("_")
    return text[:_LABEL_MAX] or "none"


def _closed(value: object, allowed: Iterable[str], what: str) -> str:
    """``value`` if it is one of ``allowed``, else ``other`` (logged: a caller's mistake)."""
    text = str(value).strip().lower()
    if text in allowed:
        return text
    logger.warning("metrics: %r is not a known %s; counted as %r", text[:40], what, OTHER)
    return OTHER


class _GaugeCollector(Collector):
    """Tracked transfers by phase and unreachable accounts, read at scrape time."""

    def __init__(self, snapshot: Snapshot | None, accounts: Iterable[str]) -> None:
        self.snapshot = snapshot
        self.accounts = tuple(sorted({_label(a) for a in accounts}))
        self.phase_counts: dict[str, int] = {phase.value: 0 for phase in Phase}
        self.unreachable: frozenset[str] = frozenset()

    def set_phase_counts(self, counts: Mapping[Phase | str, int]) -> None:
        fresh = {phase.value: 0 for phase in Phase}
        for phase, count in counts.items():
            name = _closed(phase, fresh, "phase")
            fresh[name] = fresh.get(name, 0) + max(0, int(count))
        self.phase_counts = fresh

    def set_unreachable(self, accounts: Iterable[str]) -> None:
        self.unreachable = frozenset(_label(a) for a in accounts)

    def _refresh(self) -> None:
        if self.snapshot is None:
            return
        try:
            readings = self.snapshot()
        except Exception:
            logger.warning(
                "metrics: the gauge snapshot failed; showing the last values", exc_info=True
            )
            return
        if readings.phase_counts is not None:
            self.set_phase_counts(readings.phase_counts)
        if readings.unreachable is not None:
            self.set_unreachable(readings.unreachable)

    def describe(self) -> Iterator[Metric]:
        yield from self._families(fill=False)

    def collect(self) -> Iterator[Metric]:
        self._refresh()
        yield from self._families(fill=True)

    def _families(self, *, fill: bool) -> Iterator[Metric]:
        phases = GaugeMetricFamily(
            "transferbot_transfers_tracked",
            "Tracked transfers by phase.",
            labels=["phase"],
        )
        down = GaugeMetricFamily(
            "transferbot_accounts_unreachable",
            "Provider accounts currently unreachable.",
        )
        each = GaugeMetricFamily(
            "transferbot_account_unreachable",
            "1 while a provider account is unreachable, 0 when it answers.",
            labels=["account"],
        )
        if fill:
            for phase, count in self.phase_counts.items():
                phases.add_metric([phase], count)
            down.add_metric([], len(self.unreachable))
            for account in sorted(set(self.accounts) | self.unreachable):
                each.add_metric([account], 1 if account in self.unreachable else 0)
        yield from (phases, down, each)


class Metrics:
    """The bot's Prometheus metrics, on a registry of its own.

    Several apps in one process (tests, the demo) each get their own ``Metrics`` and
    never collide in the global default registry.

    Args:
        snapshot: called at every scrape, outside any event loop work (no I/O, no awaiting):
            returns the gauges' current readings; without it the watcher sets them with
            :meth:`set_phase_counts` and :meth:`set_unreachable`.
        accounts: the configured provider account names, so a reachable account shows 0.
        registry: the registry to use; by default a fresh one with the process_* metrics.
    """

    def __init__(
        self,
        *,
        snapshot: Snapshot | None = None,
        accounts: Iterable[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        if registry is None:
            ProcessCollector(registry=self.registry)  # process_*: memory, CPU, open files
        self._define(self.registry)
        self._gauges = _GaugeCollector(snapshot, accounts)
        self.registry.register(self._gauges)
        self._start_at_zero()

    def _define(self, registry: CollectorRegistry) -> None:
        self._polls = Counter(
            "transferbot_polls",
            "Transfer polls by provider type and outcome (ok or error).",
            ["provider", "outcome"],
            registry=registry,
        )
        self._poll_seconds = Histogram(
            "transferbot_poll_duration_seconds",
            "How long one transfer poll took, by provider type.",
            ["provider"],
            buckets=POLL_BUCKETS,
            registry=registry,
        )
        self._errors = Counter(
            "transferbot_provider_errors",
            "Provider errors by provider type and kind (e.g. unavailable, rate_limited).",
            ["provider", "kind"],
            registry=registry,
        )
        self._alerts = Counter(
            "transferbot_alerts_posted",
            "Alerts posted to the alert channel, by kind.",
            ["kind"],
            registry=registry,
        )
        self._actions = Counter(
            "transferbot_actions",
            "Actions run on transfers, by action and outcome (done, failed, unknown, dry_run).",
            ["action", "outcome"],
            registry=registry,
        )
        self._ack_seconds = Histogram(
            "transferbot_ack_duration_seconds",
            "Time from receiving a Slack request to acknowledging it, by surface.",
            ["surface"],
            buckets=ACK_BUCKETS,
            registry=registry,
        )
        self._refused = Counter(
            "transferbot_work_refused",
            "Commands, clicks and form submissions turned away at once, by why: busy (the "
            "after-ack pool was full) or provider (the account's lane was full or stuck).",
            ["pool", "reason"],
            registry=registry,
        )
        self._requests = Counter(
            "transferbot_requests",
            "Action requests entering each state (for approval, or run at once).",
            ["state"],
            registry=registry,
        )

    def _start_at_zero(self) -> None:
        """Known label values show 0 from the start, so rates and alerts see the first event."""
        for provider in PROVIDER_TYPES:
            self._poll_seconds.labels(provider)
            for outcome in ("ok", "error"):
                self._polls.labels(provider, outcome)
        for action in Action:
            for outcome in ACTION_OUTCOMES:
                self._actions.labels(action.value, outcome)
        for surface in ACK_SURFACES:
            self._ack_seconds.labels(surface)
        for state in REQUEST_STATES:
            self._requests.labels(state)
        for pool in REFUSAL_POOLS:
            for reason in REFUSAL_REASONS:
                self._refused.labels(pool, reason)

    # -- events --------------------------------------------------------------------------

    def observe_poll(self, provider: str, seconds: float, error_kind: str | None = None) -> None:
        """One poll of one transfer at ``provider`` (its type), and the error kind if it failed.

        ``error_kind`` is ``ProviderError.kind`` (e.g. ``unavailable``); it also counts in
        ``transferbot_provider_errors_total``.
        """
        name = _label(provider)
        self._poll_seconds.labels(name).observe(max(0.0, seconds))
        self._polls.labels(name, "ok" if error_kind is None else "error").inc()
        if error_kind is not None:
            self._errors.labels(name, _label(error_kind)).inc()

    def count_provider_error(self, provider: str, kind: str) -> None:
        """A provider error outside a poll (an action, a sync)."""
        self._errors.labels(_label(provider), _label(kind)).inc()

    def count_alert(self, kind: str) -> None:
        """An alert posted (blocked, completed, failed, cancelled, stalled, unreachable, ...)."""
        self._alerts.labels(_label(kind)).inc()

    def count_action(self, action: Action | str, outcome: str) -> None:
        """An action that ran (or was recorded in dry run): done, failed, unknown or dry_run."""
        name = _closed(action, [a.value for a in Action], "action")
        self._actions.labels(name, _closed(outcome, ACTION_OUTCOMES, "action outcome")).inc()

    def count_refused(self, pool: str, reason: str) -> None:
        """A piece of work turned away at once (``pool``: decisions or commands)."""
        name = _closed(pool, REFUSAL_POOLS, "pool")
        self._refused.labels(name, _closed(reason, REFUSAL_REASONS, "refusal reason")).inc()

    def observe_ack(self, surface: str, seconds: float) -> None:
        """How long a command, click or submission took to be acknowledged."""
        name = _closed(surface, ACK_SURFACES, "ack surface")
        self._ack_seconds.labels(name).observe(max(0.0, seconds))

    def count_request(self, state: str, count: int = 1) -> None:
        """``count`` action requests entered ``state`` (pending when asked, then approved,
        ...; one run at once goes pending, running, then done, failed or unknown)."""
        if count > 0:
            self._requests.labels(_closed(state, REQUEST_STATES, "request state")).inc(count)

    # -- gauges --------------------------------------------------------------------------

    def set_phase_counts(self, counts: Mapping[Phase | str, int]) -> None:
        """How many tracked transfers are in each phase; phases left out show 0."""
        self._gauges.set_phase_counts(counts)

    def set_unreachable(self, accounts: Iterable[str]) -> None:
        """The provider accounts unreachable now (replaces the previous set)."""
        self._gauges.set_unreachable(accounts)

    # -- exposition ----------------------------------------------------------------------

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition and its content type: Prometheus text, or OpenMetrics if accepted."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type


def metrics_route(metrics: Metrics, path: str = "/metrics") -> Route:
    """A Starlette route serving ``metrics`` at ``path`` (GET and HEAD)."""

    async def serve_metrics(request: Request) -> Response:
        body, content_type = metrics.render(request.headers.get("accept"))
        return Response(body, headers={"Content-Type": content_type})

    return Route(path, serve_metrics, methods=["GET", "HEAD"], name="metrics")
