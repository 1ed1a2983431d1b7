"""Benchmark the watcher: ``python -m tests.perf.watcher --transfers N``.

The four simulators each run in their own process (``transferbot simulate``), so their CPU
is not the bot's; each answers after an added 50 ms (the ``latency`` fault). N transfers
are spread evenly over them and tracked in a real database (SQLite in a temporary
directory unless ``--database`` says otherwise). Every measured pass is a steady-state
pass: the same clients made one unmeasured pass first, as in a watcher that has been
running. Measured, in this order:

1. the first look at every transfer (limits lifted; for information);
2. **the pass** under per-account limits (``--concurrency``, ``--rate``) and the floor
   those limits imply for the provider calls it made;
3. the top polls/s with limits lifted, with the aiohttp transport the watcher uses and
   with httpx's default transport, beside a bare aiohttp poller sending the same requests
   at the same concurrency, in a process of its own (the machine's limit). The watcher
   and the bare poller take turns for ``--rounds`` rounds, and the ratio is the median
   of each round's, so a machine that is busier for a while weighs on both alike; with
   ``--workers K``, also K watcher processes sharing the database;
4. a naive sequential poller (one account after another, one call after another, each
   result stored): timed on a sample, extrapolated to N;
5. a simulated week of adaptive polling against a fixed 5-minute cron
   (tests.watcher.perf_week);
6. the peak RSS of this process while the watcher ran (the bare poller runs apart);
7. the reminder pass's cost per tick (database statements and time) at N transfers with
   ``--blocked-share`` of them blocked (tests.watcher.perf_reminders). ``--reminders``
   runs this step alone, without simulators, in seconds:
   ``python -m tests.perf.watcher --reminders --transfers 10000``.
8. OpenSRS event notifications: a simulated week of OpenSRS transfers through the real
   watcher (tests.watcher.perf_events) with events on and off, beside a fixed 5-minute
   cron: detection delay p50 / p99 / worst and provider calls per transfer-day. Alone with
   ``--events-only`` (``--events-transfers N``, ``--adaptive-transfers M``).

The garbage collector is tuned as ``transferbot serve`` tunes it (bot.runtime.tuning).

It prints a table and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
from typing import Any

import aiohttp
import httpx

from bot.runtime.tuning import tune_gc
from bot.settings import WatcherSettings
from bot.watcher.intervals import PollPolicy
from bot.watcher.poll import run_poll_pass
from bot.watcher.transport import provider_transport
from storage.database import Database
from storage.migrate import upgrade_database
from tests.watcher.perf_events import events_week, fixed_week
from tests.watcher.perf_reminders import reminder_bench
from tests.watcher.perf_rig import (
    LIFTED,
    PROVIDERS,
    all_due,
    bare_worker,
    calls,
    floor_of,
    naive_sequential,
    replicas_top,
    seed,
    services_for,
    start_simulator,
    timed_pass,
    top_rounds,
    track,
    worker,
)
from tests.watcher.perf_week import simulate_week


# -- the run ---------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> dict[str, Any]:
    sims = list(await asyncio.gather(*(start_simulator(p) for p in PROVIDERS)))
    workdir = tempfile.TemporaryDirectory(prefix="watcher-bench-")
    url = args.database or f"sqlite+aiosqlite:///{workdir.name}/bench.sqlite3"
    try:
        async with aiohttp.ClientSession() as http:
            share = [args.transfers // 4 + (1 if i < args.transfers % 4 else 0) for i in range(4)]
            await asyncio.gather(
                *(seed(http, s, n, args.latency) for s, n in zip(sims, share, strict=True))
            )
            await upgrade_database(url)
            db = Database(url)
            await track(db, sims)
            step("tracked", f"{args.transfers} transfers in {db.dialect}")
            tune_gc()  # as `transferbot serve` does once it has started
            lifted = {"concurrency": LIFTED["concurrency"], "rate": LIFTED["rate_limit"]}
            first, report = await timed_pass(
                services_for(db, sims, transport=provider_transport, **lifted), warm=False
            )
            step("first look", f"{first:.1f} s, {report.sentence()}")

            limited = services_for(
                db, sims, concurrency=args.concurrency, rate=args.rate, transport=provider_transport
            )
            await all_due(db)
            await run_poll_pass(limited)  # the warm-up: same clients, same limits
            before = await calls(http, sims)
            wall, report = await timed_pass(limited, warm=False)
            after = await calls(http, sims)
            made = {p: after[p] - before[p] for p in after}
            floor = floor_of(made, args.concurrency, args.rate, args.latency)
            step("the pass", f"{wall:.1f} s for {report.polled} polls ({sum(made.values())} calls)")

            tops, bares = await top_rounds(
                services_for(db, sims, transport=provider_transport, **lifted), sims, args.rounds
            )
            top, bare = statistics.median(tops), statistics.median(bares)
            top_vs_bare = statistics.median(t / b for t, b in zip(tops, bares, strict=True))
            httpx_s, httpx_report = await timed_pass(
                services_for(db, sims, transport=lambda _a: httpx.AsyncHTTPTransport(), **lifted)
            )
            rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            replicas = await replicas_top(db, url, sims, args.workers) if args.workers > 1 else None
            step(
                "top speed",
                f"{top:.0f} polls/s; bare aiohttp {bare:.0f}/s (medians of {args.rounds} rounds)"
                + (f"; {args.workers} processes {replicas:.0f}/s" if replicas else ""),
            )
            naive, sampled = await naive_sequential(db, sims, args.naive_sample)
            step("naive sequential", f"{naive:.0f} s (from {sampled} polls)")
            await db.dispose()
    finally:
        for sim in sims:
            sim.process.kill()
            await sim.process.wait()
        workdir.cleanup()
    policy = PollPolicy.from_settings(WatcherSettings())
    week = simulate_week(min(args.transfers, args.week_transfers), policy)
    return {
        "transfers": args.transfers,
        "latency_s": args.latency,
        "limits": {"concurrency": args.concurrency, "rate_per_s": args.rate, "accounts": 4},
        "pass_wall_s": round(wall, 2),
        "floor_s": round(floor, 2),
        "ratio_to_floor": round(wall / floor, 3),
        "pass_errors": report.errors,
        "provider_calls": made,
        "naive_sequential_s": round(naive, 1),
        "naive_sampled_polls": sampled,
        "naive_vs_pass": round(naive / wall, 1),
        "top_polls_per_s": round(top, 1),
        "top_polls_per_s_httpx_default": round(httpx_report.polled / httpx_s, 1),
        "bare_aiohttp_polls_per_s": round(bare, 1),
        "top_vs_bare": round(top_vs_bare, 3),
        "top_rounds": [round(t, 1) for t in tops],
        "bare_rounds": [round(b, 1) for b in bares],
        "top_polls_per_s_replicas": round(replicas, 1) if replicas else None,
        "replicas": args.workers,
        "replicas_vs_bare": round(replicas / bare, 3) if replicas else None,
        "lifted_concurrency_per_account": LIFTED["concurrency"],
        "week": {
            "transfers": week.transfers,
            "transfer_days": round(week.transfer_days, 1),
            "calls_per_transfer_day_adaptive": round(week.adaptive_per_day, 2),
            "calls_per_transfer_day_fixed_5min": round(week.fixed_per_day, 2),
            "reduction": round(week.fixed_per_day / week.adaptive_per_day, 2),
            "worst_detection_delay_s": {k: round(v, 1) for k, v in week.worst.items()},
            "detection_bound_s": {
                "moving": policy.max_detection_delay,
                "waiting": policy.max_interval,
            },
        },
        "peak_rss_mb": round(rss_mb, 1),
    }


def step(what: str, detail: str) -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  {what:<18} {detail} [peak RSS so far {peak:.0f} MB]", file=sys.stderr, flush=True)


def table(result: dict[str, Any]) -> str:
    r, week = result, result["week"]
    worst, bound = week["worst_detection_delay_s"], week["detection_bound_s"]
    rows = [
        (
            "pass under limits",
            f"{r['pass_wall_s']} s",
            f"floor {r['floor_s']} s, ratio {r['ratio_to_floor']} (target <= 1.25)",
        ),
        (
            "naive sequential",
            f"{r['naive_sequential_s']} s",
            f"{r['naive_vs_pass']}x the pass (from {r['naive_sampled_polls']} polls)",
        ),
        (
            "top polls/s",
            f"{r['top_polls_per_s']}",
            f"bare aiohttp {r['bare_aiohttp_polls_per_s']}: {r['top_vs_bare']} (target >= 0.5)"
            f"; rounds {r['top_rounds']} vs {r['bare_rounds']}",
        ),
        ("  httpx default", f"{r['top_polls_per_s_httpx_default']}", "httpx's own transport"),
        (
            "calls/transfer-day",
            f"{week['calls_per_transfer_day_adaptive']}",
            f"fixed 5 min {week['calls_per_transfer_day_fixed_5min']}: "
            f"{week['reduction']}x fewer (target >= 5)",
        ),
        (
            "worst detection",
            f"{worst['adaptive_moving']:.0f} / {worst['adaptive_waiting']:.0f} s",
            f"moving / waiting (bounds {bound['moving']:.0f} / {bound['waiting']:.0f} s); "
            f"fixed {worst['fixed']:.0f} s",
        ),
        ("peak RSS", f"{r['peak_rss_mb']} MB", "target < 250 MB"),
    ]
    if r["top_polls_per_s_replicas"]:
        rows.insert(
            3,
            (
                "  replicas",
                f"{r['top_polls_per_s_replicas']}",
                f"{r['replicas']} watcher processes, one database: {r['replicas_vs_bare']} of bare",
            ),
        )
    width = max(len(row[0]) for row in rows)
    return "\n".join(f"{a:<{width}}  {b:>14}  {c}" for a, b, c in rows)


# -- event notifications ------------------------------------------------------------------
async def run_events(args: argparse.Namespace) -> dict[str, Any]:
    """The OpenSRS week with events on and off (the real watcher), and the cron (computed)."""
    on = await events_week("events", transfers=args.events_transfers)
    step("events on", f"{on.seconds:.0f} s for a simulated week of {on.transfers} transfers")
    off = await events_week("adaptive", transfers=args.adaptive_transfers)
    step("events off", f"{off.seconds:.0f} s for a simulated week of {off.transfers} transfers")
    fixed = fixed_week(transfers=args.events_transfers)
    return {
        "events_on": on.summary(),
        "events_off": off.summary(),
        "fixed_5min": fixed.summary(),
        "reduction_vs_fixed": round(fixed.per_day / on.per_day, 1),
        "targets": {"worst_detection_s_below": 120, "reduction_at_least": 20},
    }


def events_table(result: dict[str, Any]) -> str:
    rows = [("OpenSRS week", "p50 / p99 / worst detection", "calls/transfer-day", "transfers")]
    for label, key in (
        ("events on", "events_on"), ("events off", "events_off"), ("fixed 5 min", "fixed_5min"),
    ):  # fmt: skip
        r = result[key]
        rows.append(
            (
                label,
                f"{r['detection_p50_s']:.0f} / {r['detection_p99_s']:.0f} / "
                f"{r['detection_worst_s']:.0f} s",
                f"{r['calls_per_transfer_day']}",
                f"{r['transfers']} ({r['transfer_days']} transfer-days, {r['changes']} changes)",
            )
        )
    on = result["events_on"]
    rows.append(
        (
            "targets",
            f"worst < 120 s: {'met' if on['detection_worst_s'] < 120 else 'NOT met'}",
            f"{result['reduction_vs_fixed']}x fewer than fixed: "
            f"{'met' if result['reduction_vs_fixed'] >= 20 else 'NOT met'} (>= 20x)",
            f"calls with events on: {on['calls']}",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in rows
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.perf.watcher", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--transfers", type=int, default=1000)
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds added by each simulator"
    )
    parser.add_argument("--concurrency", type=int, default=10, help="per account")
    parser.add_argument("--rate", type=float, default=50.0, help="calls per second per account")
    parser.add_argument("--naive-sample", type=int, default=100, help="polls per account")
    parser.add_argument("--week-transfers", type=int, default=10_000)
    parser.add_argument(
        "--database", help="a database URL (default: SQLite in a temporary directory)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="also time this many watcher processes at top speed"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="turns of watcher and bare poller at top speed"
    )
    parser.add_argument(
        "--reminders", action="store_true", help="only the reminder pass's cost per tick"
    )
    parser.add_argument("--blocked-share", type=float, default=0.1)
    parser.add_argument("--ticks", type=int, default=50, help="steady reminder passes timed")
    parser.add_argument(
        "--events-only", action="store_true", help="only the OpenSRS event-notification week"
    )
    parser.add_argument(
        "--no-events", action="store_true", help="leave out the event-notification week"
    )
    parser.add_argument("--events-transfers", type=int, default=1000)
    parser.add_argument("--adaptive-transfers", type=int, default=200)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare:
        asyncio.run(bare_worker())
        return
    if args.worker:
        asyncio.run(worker(args.worker))
        return
    if args.reminders:
        reminders = asyncio.run(reminders_step(args))
        print(reminders_table(reminders))
        print(json.dumps({"reminders": reminders}, sort_keys=True))
        return
    if args.events_only:
        events = asyncio.run(run_events(args))
        print(events_table(events))
        print(json.dumps({"events_week": events}, sort_keys=True))
        return
    result = asyncio.run(run(args))
    result["reminders"] = asyncio.run(reminders_step(args))
    if not args.no_events:
        result["events_week"] = asyncio.run(run_events(args))
    print(table(result))
    print(reminders_table(result["reminders"]))
    if "events_week" in result:
        print(events_table(result["events_week"]))
    print(json.dumps(result, sort_keys=True))


async def reminders_step(args: argparse.Namespace) -> dict[str, Any]:
    """Step 7 in a database of its own (the reminder pass reads no provider)."""
    with tempfile.TemporaryDirectory(prefix="reminder-bench-") as workdir:
        url = args.database or f"sqlite+aiosqlite:///{workdir}/reminders.sqlite3"
        figures = await reminder_bench(
            url, transfers=args.transfers, blocked_share=args.blocked_share, ticks=args.ticks
        )
    step("reminder pass", f"{figures['steady_queries_median']} statements per tick")
    return figures


def reminders_table(r: dict[str, Any]) -> str:
    burst = r["burst_due_per_pass"]
    return "\n".join(
        [
            f"reminder pass at {r['transfers']} transfers, {r['blocked']} blocked ({r['dialect']})",
            f"  steady tick   {r['steady_queries_median']} statements (max "
            f"{r['steady_queries_max']}), {r['steady_ms_median']} ms median, {r['steady_ms_max']}"
            f" ms max over {r['steady_ticks']} ticks; {r['steady_due_total']} follow-ups due",
            f"  burst         {len(burst)} passes for {sum(burst)} due at once: statements "
            f"{r['burst_queries_per_pass']}, ms {r['burst_ms_per_pass']}; "
            f"{r['burst_reserved']} alerts reserved",
        ]
    )


if __name__ == "__main__":
    main()
