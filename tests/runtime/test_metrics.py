"""`/metrics`: the exposition parses, each method moves its series, a restart counts recovery."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette

from bot.runtime.metrics import GaugeReadings, Metrics, metrics_route
from bot.runtime.serve import start_bot
from bot.services import Services
from bot.settings import SecuritySettings, Settings
from providers.base import Action, Phase
from providers.registry import ProviderRegistry
from storage.database import Database
from storage.migrate import upgrade_engine
from storage.requests import create_request, transition_request
from storage.secrets import SecretBox
from storage.transfers import watch_transfer
from tests.slack.conftest import slack_settings
from tests.storage.samples import T0, hostway_blocked

FAMILIES = {
    "transferbot_polls",
    "transferbot_poll_duration_seconds",
    "transferbot_provider_errors",
    "transferbot_alerts_posted",
    "transferbot_actions",
    "transferbot_ack_duration_seconds",
    "transferbot_requests",
    "transferbot_transfers_tracked",
    "transferbot_accounts_unreachable",
    "transferbot_account_unreachable",
}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, by name and labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


async def scrape(metrics: Metrics, accept: str | None = None) -> httpx.Response:
    app = Starlette(routes=[metrics_route(metrics)])
    headers = {"Accept": accept} if accept else {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bot"
    ) as client:
        return await client.get("/metrics", headers=headers)


@pytest.fixture
async def metrics() -> AsyncIterator[Metrics]:
    yield Metrics(accounts=["whm-east", "hostway-main"])


async def test_exposition_parses_with_every_family_and_known_series_at_zero(metrics: Metrics):
    response = await scrape(metrics)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert names >= FAMILIES
    assert "process_resident_memory_bytes" in names  # sizing needs the process's memory
    text = response.text
    assert value(text, "transferbot_polls_total", provider="gandi", outcome="ok") == 0
    assert value(text, "transferbot_actions_total", action="retry", outcome="unknown") == 0
    assert value(text, "transferbot_requests_total", state="expired") == 0
    assert value(text, "transferbot_ack_duration_seconds_count", surface="submission") == 0
    for phase in Phase:
        assert value(text, "transferbot_transfers_tracked", phase=phase.value) == 0
    assert value(text, "transferbot_account_unreachable", account="whm-east") == 0
    assert value(text, "transferbot_accounts_unreachable") == 0


async def test_polls_count_by_provider_and_outcome_and_errors_by_kind(metrics: Metrics):
    metrics.observe_poll("hostway", 0.2)
    metrics.observe_poll("hostway", 0.3)
    metrics.observe_poll("hostway", 7.5, error_kind="timed_out")
    metrics.observe_poll("opensrs", 0.04, error_kind="rate_limited")

    text = (await scrape(metrics)).text

    assert value(text, "transferbot_polls_total", provider="hostway", outcome="ok") == 2
    assert value(text, "transferbot_polls_total", provider="hostway", outcome="error") == 1
    assert value(text, "transferbot_polls_total", provider="opensrs", outcome="error") == 1
    assert value(text, "transferbot_polls_total", provider="cpanel", outcome="ok") == 0
    assert value(text, "transferbot_poll_duration_seconds_count", provider="hostway") == 3
    assert value(text, "transferbot_poll_duration_seconds_sum", provider="hostway") == 8.0
    assert (
        value(text, "transferbot_poll_duration_seconds_bucket", provider="hostway", le="0.25") == 1
    )
    assert (
        value(text, "transferbot_poll_duration_seconds_bucket", provider="hostway", le="5.0") == 2
    )
    errors = "transferbot_provider_errors_total"
    assert value(text, errors, provider="hostway", kind="timed_out") == 1
    assert value(text, errors, provider="opensrs", kind="rate_limited") == 1
    assert value(text, errors, provider="hostway", kind="rate_limited") is None


async def test_errors_outside_polls_alerts_actions_and_requests_are_counted(metrics: Metrics):
    metrics.count_provider_error("gandi", "not_allowed_now")
    metrics.count_alert("blocked")
    metrics.count_alert("blocked")
    metrics.count_alert("unreachable")
    metrics.count_action(Action.RETRY, "done")
    metrics.count_action("cancel", "unknown")
    metrics.count_action(Action.PAUSE, "dry_run")
    metrics.count_request("pending")
    metrics.count_request("approved")

    text = (await scrape(metrics)).text

    assert (
        value(text, "transferbot_provider_errors_total", provider="gandi", kind="not_allowed_now")
        == 1
    )
    assert value(text, "transferbot_alerts_posted_total", kind="blocked") == 2
    assert value(text, "transferbot_alerts_posted_total", kind="unreachable") == 1
    assert value(text, "transferbot_actions_total", action="retry", outcome="done") == 1
    assert value(text, "transferbot_actions_total", action="cancel", outcome="unknown") == 1
    assert value(text, "transferbot_actions_total", action="pause", outcome="dry_run") == 1
    assert value(text, "transferbot_actions_total", action="retry", outcome="failed") == 0
    assert value(text, "transferbot_requests_total", state="pending") == 1
    assert value(text, "transferbot_requests_total", state="approved") == 1


async def test_ack_latency_lands_in_millisecond_buckets(metrics: Metrics):
    metrics.observe_ack("command", 0.0008)
    metrics.observe_ack("command", 0.004)
    metrics.observe_ack("click", 2.5)

    text = (await scrape(metrics)).text

    bucket = "transferbot_ack_duration_seconds_bucket"
    assert value(text, bucket, surface="command", le="0.001") == 1
    assert value(text, bucket, surface="command", le="0.002") == 1
    assert value(text, bucket, surface="command", le="0.005") == 2
    assert value(text, bucket, surface="click", le="2.0") == 0
    assert value(text, bucket, surface="click", le="3.0") == 1
    assert value(text, "transferbot_ack_duration_seconds_count", surface="submission") == 0


async def test_a_value_outside_a_closed_set_is_counted_as_other_and_logged(
    metrics: Metrics, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.WARNING, logger="bot.runtime.metrics"):
        metrics.count_action("retry", "ok")
        metrics.observe_ack("shortcut", 0.01)

    text = (await scrape(metrics)).text

    assert value(text, "transferbot_actions_total", action="retry", outcome="other") == 1
    assert value(text, "transferbot_ack_duration_seconds_count", surface="other") == 1
    assert "'ok' is not a known action outcome" in caplog.text
    assert "'shortcut' is not a known ack surface" in caplog.text


async def test_gauges_set_by_the_watcher_replace_earlier_values(metrics: Metrics):
    metrics.set_phase_counts({Phase.ACTIVE: 4, "blocked": 2})
    metrics.set_unreachable(["hostway-main"])
    first = (await scrape(metrics)).text
    metrics.set_phase_counts({Phase.COMPLETED: 6})
    metrics.set_unreachable([])
    second = (await scrape(metrics)).text

    assert value(first, "transferbot_transfers_tracked", phase="active") == 4
    assert value(first, "transferbot_transfers_tracked", phase="blocked") == 2
    assert value(first, "transferbot_accounts_unreachable") == 1
    assert value(first, "transferbot_account_unreachable", account="hostway-main") == 1
    assert value(first, "transferbot_account_unreachable", account="whm-east") == 0
    assert value(second, "transferbot_transfers_tracked", phase="active") == 0
    assert value(second, "transferbot_transfers_tracked", phase="completed") == 6
    assert value(second, "transferbot_accounts_unreachable") == 0
    assert value(second, "transferbot_account_unreachable", account="hostway-main") == 0


async def test_a_snapshot_function_is_read_at_each_scrape_and_its_failure_keeps_the_last_values():
    readings = [
        GaugeReadings(phase_counts={"pending": 3}, unreachable=["gandi"]),
        GaugeReadings(phase_counts={"pending": 1, "paused": 1}, unreachable=None),
    ]
    calls: list[int] = []

    def snapshot() -> GaugeReadings:
        calls.append(1)
        if len(calls) > len(readings):
            raise RuntimeError("watcher gone")
        return readings[len(calls) - 1]

    metrics = Metrics(snapshot=snapshot)
    assert calls == []  # registering the collector does not read the snapshot

    first = await scrape(metrics)
    second = await scrape(metrics)
    third = await scrape(metrics)

    assert value(first.text, "transferbot_transfers_tracked", phase="pending") == 3
    assert value(first.text, "transferbot_account_unreachable", account="gandi") == 1
    assert value(second.text, "transferbot_transfers_tracked", phase="pending") == 1
    assert value(second.text, "transferbot_transfers_tracked", phase="paused") == 1
    assert value(second.text, "transferbot_account_unreachable", account="gandi") == 1  # kept
    assert third.status_code == 200
    assert value(third.text, "transferbot_transfers_tracked", phase="paused") == 1


async def test_two_apps_in_one_process_keep_their_own_counts():
    one, two = Metrics(), Metrics()
    one.count_alert("completed")

    assert value((await scrape(one)).text, "transferbot_alerts_posted_total", kind="completed") == 1
    assert (
        value((await scrape(two)).text, "transferbot_alerts_posted_total", kind="completed") is None
    )


async def test_openmetrics_is_served_to_a_scraper_that_asks_for_it(metrics: Metrics):
    metrics.count_alert("stalled")

    response = await scrape(metrics, accept="application/openmetrics-text; version=1.0.0")

    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
    assert 'transferbot_alerts_posted_total{kind="stalled"} 1.0' in response.text


async def test_label_values_from_callers_are_bounded():
    metrics = Metrics()
    metrics.count_alert('Weird "kind"\nwith newline' + "x" * 200)

    text = (await scrape(metrics)).text

    kinds = [
        labels for (name, labels) in samples(text) if name == "transferbot_alerts_posted_total"
    ]
    assert len(kinds) == 1
    (kind,) = dict(kinds[0]).values()
    assert len(kind) <= 64 and "\n" not in kind and '"' not in kind


async def test_runs_a_crash_interrupted_are_counted_when_the_bot_starts_again(tmp_path: Path):
    key = SecretBox.generate_key()
    settings = Settings(
        slack=slack_settings(), security=SecuritySettings(secret_key=SecretStr(key))
    )
    services = Services(
        settings=settings,
        db=Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"),
        registry=ProviderRegistry(()),
        slack=AsyncWebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/api/"),
        secret_box=SecretBox(key),
    )
    await upgrade_engine(services.db.engine)
    async with services.db.session() as session:  # the last process died mid-run
        row = (await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1")).transfer
        request = await create_request(
            session,
            transfer_id=row.id or 0,
            action="retry",
            requested_by="U1",
            expires_at=T0 + timedelta(hours=1),
            now=T0,
        )
        await transition_request(
            session, request_id=request.id or 0, from_states=["pending"], to_state="running", now=T0
        )
    try:
        running = await start_bot(services, watcher_factory=lambda _: None)
        text = (await scrape(running.metrics)).text
    finally:
        await services.aclose()

    assert services.metrics is running.metrics
    assert value(text, "transferbot_requests_total", state="unknown") == 1
    assert value(text, "transferbot_actions_total", action="retry", outcome="unknown") == 1
