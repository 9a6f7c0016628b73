"""Scheduler scale: N active batches ticking every 60 s, one real scheduler process.

Steady state: N running batches with interval 60 s whose next ticks are spread evenly over the
minute (as they are once a fleet has been running a while), so N/60 ticks fall due each
second. The scheduler runs with the product's defaults (poll 1 s, claims of 500, JSON logs at
info) for a window. The benchmark takes the ticks off the queue as workers would (a consumer
in its own process) and a tick's lag is when it arrived − its ``scheduled_at``: what a worker
would see, publish, confirm, commit and delivery included.

Capacity: N batches all due at once, the queue purged every second; ticks/s = N / time from
the first to the last claim published, read from the scheduler's ``ticks_emitted`` lines (one
per claim). With ``SCHEDULER_CLAIM_BATCH_SIZE=1`` the same run measures what set-based claims
with pipelined confirms buy over one page per transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractIncomingMessage

from bench.common import (
    AMQP_URL,
    RESULTS,
    Result,
    Sampler,
    Service,
    drop_namespace,
    fresh_database,
    new_namespace,
    percentile,
    postgres_cpu,
    service_env,
    spawn,
    start_profiler,
    stop_profiler,
    wait_for_log,
)
from notion_batch.common.config import BrokerSettings
from notion_batch.common.db.sql import sql
from notion_batch.common.messaging.broker import Broker

INTERVAL = 60
#: Seconds between the scheduler being up and the first tick falling due.
LEAD = 3.0
#: How long the scheduler works through 1M due batches (it cannot finish them in a minute).
MILLION_SECONDS = 25.0

_INSERT_STATUS = """
INSERT INTO notion_batch_status (notion_page_id, status, message, run_id, start_time, end_time,
                                 interval_seconds, next_tick_at)
SELECT gen_random_uuid(), 'running', 'running',
       nextval(pg_get_serial_sequence('notion_batch_runs', 'id')),
       now(), now() + interval '3 hours', $3::integer,
       $2::timestamptz + make_interval(secs => $4::double precision * i / $1)
  FROM generate_series(0, $1 - 1) AS i
"""
_INSERT_RUNS = """
INSERT INTO notion_batch_runs (id, notion_page_id, interval_seconds, started_at, ends_at)
SELECT run_id, notion_page_id, interval_seconds, start_time, end_time FROM notion_batch_status
"""


@dataclass
class Emission:
    #: Lags in seconds of the ticks due inside the window.
    lags: list[float]
    #: (seconds since the first due time, lag) for the plot.
    points: list[tuple[float, float]] = field(default_factory=list)
    emitted: int = 0
    #: Seconds after the first due time of the first and the last emission.
    first_emitted_at: float = float("inf")
    last_emitted_at: float = 0.0


async def insert_batches(url: str, pages: int, first_due: datetime, spread: float) -> float:
    """``pages`` running batches, due from ``first_due`` evenly over ``spread`` s; seconds taken."""
    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute(_INSERT_STATUS, pages, first_due, INTERVAL, spread)
            await conn.execute(_INSERT_RUNS)
        await conn.execute("ANALYZE notion_batch_status")
        await conn.execute("ANALYZE notion_batch_runs")
    finally:
        await conn.close()
    return time.perf_counter() - started


@asynccontextmanager
async def _draining(
    namespace: str, received: list[tuple[float, bytes]] | None = None
) -> AsyncIterator[None]:
    """Declare the topology, and keep the ticks queue empty while the block runs: with
    ``received``, by consuming each tick (its arrival time and body kept), else by purging."""
    broker = Broker(BrokerSettings(AMQP_URL, namespace), service="bench")
    await broker.start()
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    queue = await channel.declare_queue(broker.topology.ticks_queue, passive=True)
    task: asyncio.Task[None] | None = None
    if received is None:

        async def purge_forever() -> None:
            while True:
                await asyncio.sleep(1.0)
                await queue.purge()

        task = asyncio.create_task(purge_forever())
    else:

        async def arrived(message: AbstractIncomingMessage) -> None:
            received.append((time.time(), message.body))

        await channel.set_qos(prefetch_count=5_000)
        await queue.consume(arrived, no_ack=True)
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await connection.close()
        await broker.close()


def _lags(received: list[tuple[float, bytes]], first_due: datetime, window: float) -> Emission:
    """Lags of the ticks due inside the window, from their arrival at the consumer."""
    result = Emission(lags=[])
    start = first_due.timestamp()
    for arrived, body in received:
        scheduled = datetime.fromisoformat(json.loads(body)["scheduled_at"]).timestamp()
        result.emitted += 1
        due_offset = scheduled - start
        if 0 <= due_offset < window:
            result.lags.append(arrived - scheduled)
            result.points.append((due_offset, arrived - scheduled))
    return result


def _read_emissions(service: Service, first_due: datetime) -> Emission:
    """Ticks emitted and when, from the scheduler's ``ticks_emitted`` lines (one per claim)."""
    result = Emission(lags=[])
    for line in service.log_lines():
        if line.get("event") != "ticks_emitted":
            continue
        emitted = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
        at = (emitted - first_due).total_seconds()
        result.emitted += int(line["count"])
        result.first_emitted_at = min(result.first_emitted_at, at)
        result.last_emitted_at = max(result.last_emitted_at, at)
    return result


async def steady(
    pages: int,
    window: float,
    *,
    poll_seconds: float | None = None,
    profile_to: Path | None = None,
) -> dict[str, Any]:
    """Tick lag and scheduler cost with ``pages`` batches due evenly over each minute."""
    namespace = new_namespace()
    extra = {} if poll_seconds is None else {"SCHEDULER_POLL_SECONDS": f"{poll_seconds:g}"}
    received: list[tuple[float, bytes]] = []
    async with fresh_database() as url:
        database = url.rsplit("/", 1)[1]
        with tempfile.TemporaryDirectory(prefix="nb-bench-") as tmp:
            env = service_env(url, namespace, **extra)
            try:
                async with _draining(namespace, received):
                    # The first tick falls due once the scheduler is surely up.
                    first_due = datetime.now(UTC) + timedelta(seconds=LEAD + pages / 40_000)
                    setup = await insert_batches(url, pages, first_due, INTERVAL)
                    scheduler = await spawn("scheduler", "notion-batch-scheduler", env, Path(tmp))
                    try:
                        await wait_for_log(scheduler, "scheduler_started")
                        profiler = None
                        if profile_to is not None:
                            profiler = await start_profiler(scheduler.pid, profile_to)
                        await _sleep_until(first_due)
                        pg0 = postgres_cpu(database)
                        async with Sampler([scheduler], every=1.0) as sampler:
                            await asyncio.sleep(window)
                        pg_cpu = postgres_cpu(database) - pg0
                        if profiler is not None:
                            await stop_profiler(profiler)
                        # Ticks due at the window's end get their chance to arrive.
                        await asyncio.sleep(max(poll_seconds or 1.0, 1.5))
                    finally:
                        await scheduler.stop()
                    emission = _lags(received, first_due, window)
            finally:
                await drop_namespace(namespace)
    expected = pages * window / INTERVAL
    cpu = sampler.cpu_used("scheduler") / sampler.elapsed()
    return {
        "pages": pages,
        "window_s": window,
        "poll_seconds": poll_seconds or 1.0,
        "profiled": profile_to is not None,
        "setup_s": round(setup, 1),
        "ticks_due_per_s": round(pages / INTERVAL, 1),
        "ticks_due_in_window": round(expected),
        "ticks_emitted_in_window": len(emission.lags),
        "lag_p50_ms": round(percentile(emission.lags, 50) * 1000, 1),
        "lag_p99_ms": round(percentile(emission.lags, 99) * 1000, 1),
        "lag_max_ms": round(max(emission.lags, default=float("nan")) * 1000, 1),
        "scheduler_cpu_cores": round(cpu, 3),
        "scheduler_cpu_us_per_tick": round(
            sampler.cpu_used("scheduler") / max(len(emission.lags), 1) * 1e6, 1
        ),
        "postgres_cpu_cores": round(pg_cpu / sampler.elapsed(), 3),
        "scheduler_rss_mib": sampler.rss_summary("scheduler"),
        "noise": sampler.noise(),
        "_points": emission.points,
        "_rss": (sampler.t, sampler.rss["scheduler"]),
    }


async def burst(
    pages: int,
    *,
    claim_batch_size: int = 500,
    time_limit: float = 120.0,
    profile_to: Path | None = None,
) -> dict[str, Any]:
    """Capacity: every one of ``pages`` batches due at the same moment; how fast they go out."""
    namespace = new_namespace()
    env_extra = {"SCHEDULER_CLAIM_BATCH_SIZE": str(claim_batch_size)}
    async with fresh_database() as url:
        database = url.rsplit("/", 1)[1]
        with tempfile.TemporaryDirectory(prefix="nb-bench-") as tmp:
            env = service_env(url, namespace, **env_extra)
            try:
                async with _draining(namespace):
                    first_due = datetime.now(UTC) + timedelta(seconds=LEAD + pages / 40_000)
                    await insert_batches(url, pages, first_due, 0.0)
                    scheduler = await spawn("scheduler", "notion-batch-scheduler", env, Path(tmp))
                    try:
                        await wait_for_log(scheduler, "scheduler_started")
                        profiler = None
                        if profile_to is not None:
                            profiler = await start_profiler(scheduler.pid, profile_to)
                        await _sleep_until(first_due)
                        pg0 = postgres_cpu(database)
                        async with Sampler([scheduler], every=1.0) as sampler:
                            deadline = time.monotonic() + time_limit
                            while time.monotonic() < deadline:
                                await asyncio.sleep(1.0)
                                if await _all_emitted(url):
                                    break
                        pg_cpu = postgres_cpu(database) - pg0
                        if profiler is not None:
                            await stop_profiler(profiler)
                        explain = await _explain_claim(url)
                    finally:
                        await scheduler.stop()
                    emission = _read_emissions(scheduler, first_due)
            finally:
                await drop_namespace(namespace)
    # From the moment they fell due to the last claim published (the scheduler wakes at the
    # due time, so nothing but its own work is in between).
    seconds = emission.last_emitted_at
    return {
        "pages": pages,
        "claim_batch_size": claim_batch_size,
        "emitted": emission.emitted,
        "all_emitted": emission.emitted >= pages,
        "seconds_to_emit_all": round(emission.last_emitted_at, 2),
        "ticks_per_second": round(emission.emitted / seconds) if seconds > 0 else None,
        "scheduler_cpu_cores": round(sampler.cpu_used("scheduler") / sampler.elapsed(), 3),
        "scheduler_cpu_us_per_tick": round(
            sampler.cpu_used("scheduler") / max(emission.emitted, 1) * 1e6, 1
        ),
        "postgres_cpu_cores": round(pg_cpu / sampler.elapsed(), 3),
        "scheduler_rss_mib": sampler.rss_summary("scheduler"),
        "claim_query_ms": explain,
        "noise": sampler.noise(),
    }


async def _all_emitted(url: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        return not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM notion_batch_status WHERE next_tick_at <= now())"
        )
    finally:
        await conn.close()


async def _explain_claim(url: str) -> float | None:
    """Execution time of one claim of 500 due pages at this table size: the best of 3."""
    return min([await _explain_claim_once(url) for _ in range(3)])


async def _explain_claim_once(url: str) -> float:
    """One claim of 500 due pages under EXPLAIN ANALYZE, rolled back."""
    conn = await asyncpg.connect(url)
    try:
        tx = conn.transaction()
        await tx.start()
        try:
            # A few thousand due among all the rows, as in steady state.
            await conn.execute(
                "UPDATE notion_batch_status SET next_tick_at = now() - interval '1 second'"
                " WHERE notion_page_id IN (SELECT notion_page_id FROM notion_batch_status"
                " LIMIT 2000)"
            )
            plan = await conn.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + sql("claim_due_ticks"), 500
            )
        finally:
            await tx.rollback()
    finally:
        await conn.close()
    data = plan if isinstance(plan, list) else json.loads(plan)
    return round(float(data[0]["Execution Time"]), 2)


async def _sleep_until(moment: datetime) -> None:
    delay = (moment - datetime.now(UTC)).total_seconds()
    if delay > 0:
        await asyncio.sleep(delay)


async def bench_scheduler(quick: bool) -> Result:
    suffix = "-quick" if quick else ""
    sizes = [1_000] if quick else [1_000, 10_000, 100_000]
    window = 4.0 if quick else 25.0
    runs = []
    for pages in sizes:
        # The largest steady run is also profiled (py-spy pauses it 100 times a second).
        profile = RESULTS / f"scheduler-profile{suffix}.txt" if pages == sizes[-1] else None
        run = await steady(pages, window, profile_to=profile)
        runs.append(run)
        print(f"  scheduler steady {pages:,}: {_brief(run)}", flush=True)
    series: dict[str, Any] = {"runs": runs}
    if quick:
        series["burst"] = await burst(2_000)
    else:
        # Capacity at 1M active batches: the table, the index and one scheduler's pace at
        # that size, for a bounded time (emitting all 1M at the measured pace takes minutes).
        series["burst"] = await burst(1_000_000, time_limit=MILLION_SECONDS)
    print(f"  scheduler burst: {_brief(series['burst'])}", flush=True)
    return Result("scheduler", {}, {"window_s": window, "interval_s": INTERVAL}, series=series)


def _brief(run: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in run.items() if not k.startswith("_"))
