"""Worker-side scenarios: an emulator and N worker processes working ticks we publish.

One scenario = a fresh database and broker namespace, the Notion emulator as its own process,
``workers`` real ``notion-batch-worker`` processes, pages of to-dos created in the emulator,
their batches started, and one tick per page published on the ticks queue (no scheduler: the
scheduler is measured on its own). It ends when every to-do is done and recorded in Notion
and every lease released, or, with ``window``, that many seconds after the first Notion
request (then the workers are stopped, as a deploy would).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.common import (
    AMQP_URL,
    NOTION_TOKEN,
    Sampler,
    Service,
    drop_namespace,
    free_port,
    fresh_database,
    new_namespace,
    postgres_cpu,
    service_env,
    spawn,
    start_profiler,
    stop_all,
    stop_profiler,
    wait_for_log,
)
from notion_batch.common.config import BrokerSettings
from notion_batch.common.db.batches import BatchRepository, NewBatch
from notion_batch.common.messaging.broker import Broker
from notion_batch.common.messaging.messages import Tick

#: Longest a scenario may take before it is abandoned (a hung run must not hang `make bench`).
SCENARIO_TIMEOUT = 240.0


@dataclass(frozen=True)
class Scenario:
    label: str
    pages: int
    todos_per_page: int
    workers: int
    #: WORKER_CONCURRENCY (prefetch: pages one worker works at once); the product's default.
    concurrency: int = 4
    #: The emulator's limit in requests/s per token; None: off.
    emulator_rate: float | None = None
    #: NOTION_RATE_LIMIT_PER_SECOND of the workers: 10,000 is the most the setting allows.
    worker_rate: float = 10_000.0
    limiter_scope: str = "shared"
    #: Stop after this many seconds of Notion traffic instead of waiting for the end.
    window: float | None = None
    #: NOTION_RECORD_MODE: page_log (batched appends) or todo_children (one append per to-do).
    record_mode: str = "page_log"
    #: More environment for the workers (e.g. DB_POOL_MAX_SIZE).
    worker_env: tuple[tuple[str, str], ...] = ()
    #: py-spy the first worker into this collapsed-stacks file.
    profile_to: Path | None = None

    @property
    def todos(self) -> int:
        return self.pages * self.todos_per_page


@dataclass
class Request:
    t: float  # seconds since the first request
    operation: str
    status: int


@dataclass
class Run:
    scenario: Scenario
    #: Tick publication → every to-do done, checked and logged, leases released.
    seconds: float
    done: int
    requests: list[Request]
    worker_cpu: float
    emulator_cpu: float
    rss: dict[str, dict[str, float]]
    noise: dict[str, float]
    #: (seconds since the ticks were published, to-dos done) samples.
    timeline: list[tuple[float, int]] = field(default_factory=list)
    rss_series: dict[str, list[float]] = field(default_factory=dict)
    rss_t: list[float] = field(default_factory=list)
    ticks_worked: int = 0
    postgres_cpu: float = 0.0
    db_transactions: int = 0

    def calls(self, operation: str | None = None, status: int | None = None) -> int:
        return sum(
            1
            for r in self.requests
            if (operation is None or r.operation == operation)
            and (status is None or r.status == status)
        )

    def rate_in(self, start: float, end: float) -> float:
        n = sum(1 for r in self.requests if start <= r.t < end)
        return n / (end - start)


async def run_scenario(s: Scenario) -> Run:
    namespace = new_namespace()
    async with fresh_database() as url:
        with tempfile.TemporaryDirectory(prefix="nb-bench-") as tmp:
            try:
                return await asyncio.wait_for(_run(s, url, namespace, Path(tmp)), SCENARIO_TIMEOUT)
            finally:
                await drop_namespace(namespace)


async def _run(s: Scenario, url: str, namespace: str, log_dir: Path) -> Run:
    database = url.rsplit("/", 1)[1]
    port = free_port()
    notion_url = f"http://127.0.0.1:{port}"
    env = service_env(
        url,
        namespace,
        NOTION_TOKEN=NOTION_TOKEN,
        NOTION_BASE_URL=notion_url,
        NOTION_EMULATOR_TOKENS=NOTION_TOKEN,
        NOTION_EMULATOR_PORT=str(port),
        NOTION_EMULATOR_RATE_LIMIT="off" if s.emulator_rate is None else f"{s.emulator_rate:g}",
        NOTION_RATE_LIMIT_PER_SECOND=f"{s.worker_rate:g}",
        NOTION_RATE_LIMIT_SCOPE=s.limiter_scope,
        WORKER_CONCURRENCY=str(s.concurrency),
        NOTION_RECORD_MODE=s.record_mode,
    )
    worker_env = {**env, **dict(s.worker_env)}
    services: list[Service] = []
    profiler: asyncio.subprocess.Process | None = None
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    assert pool is not None
    try:
        async with aiohttp.ClientSession() as http:
            emulator = await spawn("emulator", "notion-batch-emulator", env, log_dir)
            services.append(emulator)
            await wait_http(http, f"{notion_url}/_emulator/health", emulator)
            ticks = await _create_pages(http, notion_url, pool, s)
            for n in range(s.workers):
                worker = await spawn(f"worker-{n + 1}", "notion-batch-worker", worker_env, log_dir)
                services.append(worker)
            # While the workers start, the set-up's statistics settle (see _transactions).
            xacts0, *_ = await asyncio.gather(
                _transactions(pool, settle=1.1),
                *(wait_for_log(w, "worker_started") for w in services[1:]),
            )
            if s.profile_to is not None:
                profiler = await start_profiler(services[1].pid, s.profile_to)
            broker = Broker(BrokerSettings(AMQP_URL, namespace), service="bench")
            await broker.start()
            try:
                pg0 = postgres_cpu(database)
                async with Sampler(services) as sampler:
                    t0 = time.monotonic()
                    await broker.publish_many(list(ticks))
                    timeline = await _until_finished(pool, s, http, notion_url, t0)
                    seconds = time.monotonic() - t0
                    if s.window is not None:
                        await stop_all(services[1:])
                pg_cpu = postgres_cpu(database) - pg0
            finally:
                await broker.close()
            if profiler is not None:
                await stop_profiler(profiler)
            requests = await emulator_requests(http, notion_url)
            await stop_all(services)
            # The workers' own transactions, less the benchmark's polls (one each; the last
            # second's may not be counted yet: an error of a few in thousands).
            xacts = await _transactions(pool, settle=0.3) - xacts0 - len(timeline)
            done = await pool.fetchval("SELECT count(*) FROM notion_todos WHERE status = 'done'")
            worked = sum(
                1
                for w in services[1:]
                for line in w.log_lines()
                if line.get("event") == "tick_processed" and line.get("outcome") == "worked"
            )
    finally:
        if profiler is not None and profiler.returncode is None:
            profiler.kill()
        await stop_all(services)
        await pool.close()
    workers = [w.name for w in services[1:]]
    return Run(
        scenario=s,
        seconds=seconds,
        done=int(done),
        requests=requests,
        worker_cpu=sum(sampler.cpu_used(w) for w in workers),
        emulator_cpu=sampler.cpu_used("emulator"),
        rss={name: sampler.rss_summary(name) for name in sampler.rss},
        noise=sampler.noise(),
        timeline=timeline,
        rss_series=sampler.rss,
        rss_t=sampler.t,
        ticks_worked=worked,
        postgres_cpu=pg_cpu,
        db_transactions=xacts,
    )


async def _transactions(pool: asyncpg.Pool, settle: float) -> int:
    """Transactions of the database so far. A backend reports its counts when idle, at most
    once a second (or when it exits): ``settle`` waits for the ones of interest."""
    await asyncio.sleep(settle)
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database"
                " WHERE datname = current_database()"
            )
        )


async def wait_http(http: aiohttp.ClientSession, url: str, service: Service) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(url) as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{service.name} did not answer {url}:\n{service.tail()}")


async def _create_pages(
    http: aiohttp.ClientSession, notion_url: str, pool: asyncpg.Pool, s: Scenario
) -> list[Tick]:
    batches = BatchRepository(pool)
    ticks = []
    now = datetime.now(UTC).isoformat()
    for p in range(s.pages):
        children = [{"type": "to_do", "text": f"p{p} task {i}"} for i in range(s.todos_per_page)]
        async with http.post(
            f"{notion_url}/_emulator/pages", json={"title": f"bench {p}", "children": children}
        ) as response:
            assert response.status == 201, await response.text()
            page_id = (await response.json())["page_id"]
        # Long interval and duration: one tick works the whole page, nothing expires meanwhile.
        started = await batches.start(
            NewBatch(page_id, interval_seconds=1200, duration_seconds=7200, message="running")
        )
        assert started is not None
        ticks.append(Tick(started.notion_page_id, started.run_id, now))
    return ticks


async def _until_finished(
    pool: asyncpg.Pool, s: Scenario, http: aiohttp.ClientSession, notion_url: str, t0: float
) -> list[tuple[float, int]]:
    timeline: list[tuple[float, int]] = []
    first_request: float | None = None
    while True:
        row = await pool.fetchrow(
            """
            SELECT count(*) FILTER (WHERE status = 'done') AS done,
                   count(*) FILTER (WHERE check_pending OR log_pending) AS outbox,
                   (SELECT count(*) FROM notion_batch_status WHERE lease_owner IS NOT NULL)
                       AS leased
              FROM notion_todos
            """
        )
        assert row is not None
        now = time.monotonic()
        timeline.append((now - t0, int(row["done"])))
        if s.window is None:
            if row["done"] == s.todos and row["outbox"] == 0 and row["leased"] == 0:
                return timeline
        else:
            if first_request is None and row["leased"]:
                first_request = now
            if first_request is not None and now - first_request >= s.window + 1:
                return timeline
        await asyncio.sleep(0.2)


async def emulator_requests(http: aiohttp.ClientSession, notion_url: str) -> list[Request]:
    async with http.get(f"{notion_url}/_emulator/requests") as response:
        entries: list[dict[str, Any]] = (await response.json())["requests"]
    if not entries:
        return []
    t0 = entries[0]["monotonic"]
    return [Request(e["monotonic"] - t0, e["operation"], e["status"]) for e in entries]


def operations(run: Run) -> dict[str, int]:
    return dict(Counter(r.operation for r in run.requests))
