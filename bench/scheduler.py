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
import signal
import sys
import tempfile
import time
from array import array
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aio_pika
import asyncpg
import numpy as np
from aio_pika.abc import AbstractIncomingMessage
from pamqp import commands, frame
from pamqp.header import ProtocolHeader

from bench.common import (
    AMQP_URL,
    RESULTS,
    Result,
    Sampler,
    Service,
    broker_cpu,
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
from notion_batch.common.messaging.topology import Topology

INTERVAL = 60
#: Seconds between the scheduler being up and the first tick falling due.
LEAD = 3.0
#: How long the scheduler works through 1M due batches (it cannot finish them in a minute).
MILLION_SECONDS = 25.0
#: The held steady state of the full run: 1M batches at 60 s, for 10 periods (10 minutes).
HOLD_PAGES = 1_000_000
HOLD_PERIODS = 10
#: BATCH_STALL_SECONDS of the held run: longer than the run (see hold()).
HOLD_STALL_SECONDS = 86_400

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


async def insert_batches(
    url: str, pages: int, first_due: datetime, spread: float, interval: int = INTERVAL
) -> float:
    """``pages`` running batches every ``interval`` s, due from ``first_due`` evenly over
    ``spread`` s; seconds taken."""
    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute(_INSERT_STATUS, pages, first_due, interval, spread)
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


def _lag_figures(lags: np.ndarray, due: int) -> dict[str, Any]:
    """p50/p99/max lag (ms) of the ticks due in a span; those that never came count as
    endless (so a p99 over lost ticks is not flattered)."""
    ordered = np.sort(lags)
    missing = max(due - len(ordered), 0)

    def rank(q: float) -> float:
        n = len(ordered) + missing
        if n == 0:
            return float("nan")
        index = min(max(1, round(q / 100 * n + 0.5)), n) - 1
        return float(ordered[index]) * 1000 if index < len(ordered) else float("inf")

    return {
        "ticks_due": due,
        "ticks_received": len(ordered),
        "lag_p50_ms": round(rank(50), 1),
        "lag_p99_ms": round(rank(99), 1),
        "lag_max_ms": round(float(ordered[-1]) * 1000, 1)
        if missing == 0 and len(ordered)
        else float("inf"),
    }


async def hold(
    pages: int,
    periods: int,
    *,
    interval: int = INTERVAL,
    profile_to: Path | None = None,
    env_extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Steady state held: ``pages`` batches ticking every ``interval`` s, due evenly over it,
    for ``periods`` intervals; lag per period from a drain in a process of its own, the CPU
    of scheduler, drain, PostgreSQL and RabbitMQ and the scheduler's RSS per period."""
    namespace = new_namespace()
    per_period: list[dict[str, Any]] = []
    async with fresh_database() as url:
        database = url.rsplit("/", 1)[1]
        with tempfile.TemporaryDirectory(prefix="nb-bench-") as tmp:
            # No workers here, so no batch makes progress: without a longer bound the stall
            # watch would call all of them stalled after 3 minutes and write a row and a line
            # for each — work a fleet whose workers keep up never causes.
            env = service_env(
                url, namespace, BATCH_STALL_SECONDS=str(HOLD_STALL_SECONDS), **(env_extra or {})
            )
            drained = Path(tmp) / "drained.bin"
            broker = Broker(BrokerSettings(AMQP_URL, namespace), service="bench")
            await broker.start()  # declares the topology the drain consumes from
            try:
                # The first tick falls due once the rows are in and the scheduler is surely up.
                first_due = datetime.now(UTC) + timedelta(seconds=LEAD + pages / 20_000)
                queue = Topology(namespace).ticks_queue
                drain_args = ("-m", "bench.scheduler", "drain", queue, repr(first_due.timestamp()))
                drainer = await spawn("drain", "python", env, Path(tmp), *drain_args, str(drained))
                try:
                    await wait_for_log(drainer, "drain_consuming")
                    setup = await insert_batches(url, pages, first_due, interval, interval)
                    scheduler = await spawn("scheduler", "notion-batch-scheduler", env, Path(tmp))
                    try:
                        await wait_for_log(scheduler, "scheduler_started")
                        late_start = (datetime.now(UTC) - first_due).total_seconds()
                        profiler = None
                        if profile_to is not None:
                            profiler = await start_profiler(scheduler.pid, profile_to)
                        await _sleep_until(first_due)
                        for k in range(periods):
                            end = first_due + timedelta(seconds=interval * (k + 1))
                            row = await _sample_period(scheduler, drainer, database, end)
                            row["period"] = k + 1
                            row["_rss"] = (
                                [interval * k + t for t in row["_rss"][0]],
                                row["_rss"][1],
                            )
                            per_period.append(row)
                            print(f"    period {k + 1}: {_brief(row)}", flush=True)
                        if profiler is not None:
                            await stop_profiler(profiler)
                        # Ticks due at the window's end get their chance to arrive.
                        await asyncio.sleep(2.0)
                        explain = await _explain_claim(url)
                    finally:
                        await scheduler.stop()
                finally:
                    await drainer.stop()
                due, lags = read_drained(drained)
                published = _publish_lags(scheduler)
                figures = _hold_figures(pages, interval, per_period, due, lags)
            finally:
                await broker.close()
                await drop_namespace(namespace)
    return {
        "pages": pages,
        "periods": periods,
        "interval_s": interval,
        "profiled": profile_to is not None,
        "env": env_extra or {},
        "setup_s": round(setup, 1),
        # Negative: the scheduler was up that long before the first tick fell due.
        "scheduler_up_after_first_due_s": round(late_start, 1),
        "claim_query_ms": explain,
        **published,
        **figures,
        # Per tick emitted: a scheduler that falls behind emits fewer than fall due.
        "scheduler_cpu_us_per_tick": round(
            figures["scheduler_cpu_cores"]
            * interval
            * periods
            / max(published["ticks_emitted"], 1)
            * 1e6,
            1,
        ),
    }


def _publish_lags(scheduler: Service) -> dict[str, Any]:
    """How late the claims were at their commit, from the scheduler's ``ticks_emitted``
    lines (``max_lag_ms``: now − the claim's earliest due time): the scheduler's part of a
    tick's lag, before the broker delivers it."""
    claims = [
        line
        for line in scheduler.log_lines()
        if line.get("event") == "ticks_emitted" and not line.get("record_only")
    ]
    lags = [float(line["max_lag_ms"]) for line in claims]
    return {
        "claims": len(claims),
        "ticks_emitted": sum(int(line["count"]) for line in claims),
        "ticks_per_claim_max": max((int(line["count"]) for line in claims), default=0),
        "claim_lag_p50_ms": round(percentile(lags, 50), 1),
        "claim_lag_p99_ms": round(percentile(lags, 99), 1),
        "claim_lag_max_ms": round(max(lags, default=float("nan")), 1),
    }


async def _sample_period(
    scheduler: Service, drainer: Service, database: str, end: datetime
) -> dict[str, Any]:
    """CPU of scheduler, drain, PostgreSQL (this database's backends) and RabbitMQ (the
    whole server), and the scheduler's RSS, from now until ``end``."""
    pg0, mq0 = postgres_cpu(database), broker_cpu()
    async with Sampler([scheduler, drainer], every=1.0) as sampler:
        await _sleep_until(end)
    elapsed = sampler.elapsed()
    return {
        "scheduler_cpu_cores": round(sampler.cpu_used("scheduler") / elapsed, 3),
        "drain_cpu_cores": round(sampler.cpu_used("drain") / elapsed, 3),
        "postgres_cpu_cores": round((postgres_cpu(database) - pg0) / elapsed, 3),
        "broker_cpu_cores": round((broker_cpu() - mq0) / elapsed, 3),
        "scheduler_rss_mib": sampler.rss_summary("scheduler"),
        "drain_rss_mib": sampler.rss_summary("drain"),
        "noise": sampler.noise(),
        "_rss": (sampler.t, sampler.rss["scheduler"]),
    }


def _hold_figures(
    pages: int,
    interval: int,
    per_period: list[dict[str, Any]],
    due: np.ndarray,
    lags: np.ndarray,
) -> dict[str, Any]:
    """Lag per period and over all (ticks by the period they fell due in), mean CPU."""
    inside = (due >= 0) & (due < interval * len(per_period))
    for row in per_period:
        k = row["period"] - 1
        span = inside & (due >= interval * k) & (due < interval * (k + 1))
        row.update(_lag_figures(lags[span], pages))

    def mean(key: str) -> float:
        return round(sum(float(r[key]) for r in per_period) / len(per_period), 3)

    # Every received tick due in the window, thinned for the plot.
    step = max(1, int(inside.sum()) // 30_000)
    points = np.column_stack([due[inside], lags[inside]])[::step].round(4).tolist()
    rss = [v for row in per_period for v in row["_rss"][1]]
    return {
        "ticks_due_per_s": round(pages / interval, 1),
        **_lag_figures(lags[inside], pages * len(per_period)),
        "scheduler_cpu_cores": mean("scheduler_cpu_cores"),
        "postgres_cpu_cores": mean("postgres_cpu_cores"),
        "broker_cpu_cores": mean("broker_cpu_cores"),
        "drain_cpu_cores": mean("drain_cpu_cores"),
        "scheduler_rss_mib": {
            "start": round(rss[0], 1),
            "peak": round(max(rss), 1),
            "end": round(rss[-1], 1),
            "second_half_growth": round(rss[-1] - rss[len(rss) // 2], 1),
        },
        "per_period": per_period,
        "_points": points,
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
    # The steady state at a million, held (issue 15); quick: the same at a tenth of the
    # rate, on a 10 s interval so that two periods fit in a smoke run.
    pages, periods, interval = (50_000, 2, 10) if quick else (HOLD_PAGES, HOLD_PERIODS, INTERVAL)
    print(f"  scheduler hold: {pages:,} batches x {periods} periods of {interval} s", flush=True)
    series["hold"] = await hold(pages, periods, interval=interval)
    print(f"  scheduler hold: {_brief(series['hold'])}", flush=True)
    return Result("scheduler", {}, {"window_s": window, "interval_s": INTERVAL}, series=series)


def _brief(run: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in run.items() if not k.startswith("_"))


# -- the drain: the queue's consumer in a process of its own ---------------------------------

#: Ticks the broker may have in flight to the drain (no acks: it is only a bound on buffers).
DRAIN_PREFETCH = 20_000
_SCHEDULED = b'"scheduled_at":"'
#: Frame types of AMQP 0-9-1 (section 4.2.3): method, content header, content body, heartbeat.
_FRAME_METHOD, _FRAME_BODY = 1, 3


class _Drain(asyncio.Protocol):
    """The least AMQP 0-9-1 client that consumes a queue without acks and keeps, per tick,
    when it was due and when it arrived.

    Why not aio-pika or aiormq: both run a task per delivered message (aiormq's
    ``Channel._on_deliver``), tens of µs a tick, and at 16,667 ticks/s that alone is most of
    a core the scheduler and the servers need on this machine: the drain must not become
    what is measured. Here a tick costs a frame split and a ``fromisoformat``. The handshake
    goes through pamqp (as aiormq's does); past ``Basic.ConsumeOk`` only body frames are read
    (a tick's JSON), anything else but deliveries and headers ends the drain.
    """

    def __init__(self, queue: str, prefetch: int, origin: float, *, login: str, vhost: str) -> None:
        self.queue = queue
        self._login = login
        self._vhost = vhost
        self.prefetch = prefetch
        self.origin = origin
        #: Per tick: seconds from ``origin`` to its due time, and its lag at arrival.
        self.due = array("d")
        self.lag = array("d")
        self.consuming = asyncio.Event()
        self.closed = asyncio.Event()
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(frame.marshal(ProtocolHeader(), 0))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()

    def _send(self, method: Any, channel: int = 0) -> None:
        assert self._transport is not None
        self._transport.write(frame.marshal(method, channel))

    def data_received(self, data: bytes) -> None:
        arrived = time.time()
        buffer = self._buffer + data
        at = 0
        end = len(buffer)
        while end - at >= 7:
            kind = buffer[at]
            size = int.from_bytes(buffer[at + 3 : at + 7], "big")
            if end - at < size + 8:
                break
            if kind == _FRAME_BODY and self.consuming.is_set():
                body = buffer[at + 7 : at + 7 + size]
                start = body.find(_SCHEDULED) + len(_SCHEDULED)
                due = datetime.fromisoformat(body[start : body.index(b'"', start)].decode())
                scheduled = due.timestamp()
                self.due.append(scheduled - self.origin)
                self.lag.append(arrived - scheduled)
            elif kind == _FRAME_METHOD:
                self._on_method(buffer[at : at + size + 8])
            at += size + 8
        self._buffer = buffer[at:]

    def _on_method(self, raw: bytes) -> None:
        _, _, method = frame.unmarshal(raw)
        if isinstance(method, commands.Basic.Deliver):
            return
        if isinstance(method, commands.Connection.Start):
            self._send(commands.Connection.StartOk(response=self._login))
        elif isinstance(method, commands.Connection.Tune):
            # No heartbeats: the drain lives minutes on a local socket.
            self._send(commands.Connection.TuneOk(method.channel_max, method.frame_max, 0))
            self._send(commands.Connection.Open(virtual_host=self._vhost))
        elif isinstance(method, commands.Connection.OpenOk):
            self._send(commands.Channel.Open(), 1)
        elif isinstance(method, commands.Channel.OpenOk):
            self._send(commands.Basic.Qos(prefetch_count=self.prefetch), 1)
        elif isinstance(method, commands.Basic.QosOk):
            self._send(commands.Basic.Consume(queue=self.queue, no_ack=True), 1)
        elif isinstance(method, commands.Basic.ConsumeOk):
            self.consuming.set()
        else:  # a close, or something this drain does not speak
            print(json.dumps({"event": "drain_stopped", "by": repr(method)}), flush=True)
            assert self._transport is not None
            self._transport.close()


async def drain(queue: str, origin: float, out: Path) -> None:
    """Consume ``queue`` until SIGTERM, then write every tick's (due, lag) to ``out``."""
    parts = urlsplit(AMQP_URL)
    login = f"\0{unquote(parts.username or 'guest')}\0{unquote(parts.password or 'guest')}"
    vhost = unquote(parts.path[1:]) or "/"
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    _, protocol = await loop.create_connection(
        lambda: _Drain(queue, DRAIN_PREFETCH, origin, login=login, vhost=vhost),
        parts.hostname or "127.0.0.1",
        parts.port or 5672,
    )
    await asyncio.wait_for(protocol.consuming.wait(), 30)
    print(json.dumps({"event": "drain_consuming", "queue": queue}), flush=True)
    await asyncio.wait(
        [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(protocol.closed.wait())],
        return_when=asyncio.FIRST_COMPLETED,
    )
    with out.open("wb") as handle:
        array("d", [len(protocol.due)]).tofile(handle)
        protocol.due.tofile(handle)
        protocol.lag.tofile(handle)


def read_drained(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(due seconds from the origin, lag seconds) of every tick the drain received."""
    data = np.fromfile(path, dtype=np.float64)
    count = int(data[0])
    return data[1 : 1 + count], data[1 + count : 1 + 2 * count]


if __name__ == "__main__":
    # python -m bench.scheduler drain QUEUE ORIGIN OUT: the drain process of hold().
    if len(sys.argv) == 5 and sys.argv[1] == "drain":
        asyncio.run(drain(sys.argv[2], float(sys.argv[3]), Path(sys.argv[4])))
    else:
        sys.exit("usage: python -m bench.scheduler drain QUEUE ORIGIN OUT")
