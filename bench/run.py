"""notion-batch benchmarks: `make bench` (full) or `make bench-quick` (a smoke run, < 2 min).

Each benchmark uses the real parts — PostgreSQL, RabbitMQ, the SDK against the emulator over
HTTP — and writes one JSON file to bench/results/ plus a line to bench/results/summary.md.
Every result records the commit, date, machine and the exact command.

    python bench/run.py [--quick] [--only scheduler,worker,api]

Figures are for reading, not asserting: CI runs --quick only as a smoke test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer

from notion_batch.api.main import create_app
from notion_batch.common.config import ApiSettings, BrokerSettings, NotionSettings
from notion_batch.common.db.batches import BatchRepository
from notion_batch.common.db.migrate import migrate
from notion_batch.common.messaging.broker import Broker
from notion_batch.common.messaging.messages import Tick
from notion_batch.common.messaging.topology import Topology
from notion_batch.common.notion.gateway import NotionGateway
from notion_batch.emulator import EmulatorConfig, run_emulator
from notion_batch.scheduler.emitter import TickEmitter
from notion_batch.worker.handlers import complete
from notion_batch.worker.main import build_processor
from notion_batch.worker.tick import TickPolicy

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@dataclass(frozen=True)
class Result:
    name: str
    figures: dict[str, float | int | str]
    params: dict[str, Any]


def machine() -> dict[str, Any]:
    memory_kb = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    ).stdout.strip()
    return {
        "commit": commit or "unknown",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    name = f"nb_bench_{uuid.uuid4().hex[:8]}"
    url = urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))
    await migrate(url)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


# -- 1. scheduler ------------------------------------------------------------------------------


async def bench_scheduler(pages: int) -> Result:
    """Tick emission for `pages` batches all due at once: claim + publish with confirms."""
    namespace = f"nbbench.{uuid.uuid4().hex[:6]}"
    async with fresh_database() as url:
        pool = await asyncpg.create_pool(url, min_size=2, max_size=4)
        assert pool is not None
        # Set-based set-up: `pages` running batches, every one due now.
        await pool.execute(
            """
            WITH pages AS (SELECT gen_random_uuid() AS id FROM generate_series(1, $1))
            INSERT INTO notion_batch_status (notion_page_id, status, run_id, start_time,
                                             end_time, interval_seconds, next_tick_at)
            SELECT id, 'running', NULL, now(), now() + interval '1 hour', 60, now() FROM pages
            """,
            pages,
        )
        await pool.execute(
            """
            WITH runs AS (
                INSERT INTO notion_batch_runs
                    (notion_page_id, interval_seconds, started_at, ends_at)
                SELECT notion_page_id, 60, start_time, end_time FROM notion_batch_status
                RETURNING id, notion_page_id)
            UPDATE notion_batch_status s SET run_id = runs.id FROM runs
             WHERE s.notion_page_id = runs.notion_page_id
            """
        )
        broker = Broker(BrokerSettings(AMQP_URL, namespace), service="bench")
        await broker.start()
        try:
            emitter = TickEmitter(
                BatchRepository(pool), broker, poll_seconds=1, claim_batch_size=500
            )
            cpu0, t0 = cpu_seconds(), time.perf_counter()
            emitted = await emitter.emit_due()
            elapsed = time.perf_counter() - t0
            cpu = cpu_seconds() - cpu0
            lag = await pool.fetchval(
                "SELECT extract(epoch FROM max(now() - start_time)) FROM notion_batch_status"
            )
        finally:
            await _drop_namespace(namespace)
            await broker.close()
            await pool.close()
    return Result(
        "scheduler",
        {
            "pages_due": pages,
            "ticks_emitted": emitted,
            "seconds": round(elapsed, 3),
            "ticks_per_second": round(emitted / elapsed),
            "worst_lag_seconds": round(float(lag), 3),
            "scheduler_cpu_seconds": round(cpu, 3),
        },
        {"claim_batch_size": 500},
    )


async def _drop_namespace(namespace: str) -> None:
    topology = Topology(namespace)
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        for queue in topology.all_queues():
            await channel.queue_delete(queue)
        for exchange in topology.all_exchanges():
            await channel.exchange_delete(exchange)


# -- 2. worker -------------------------------------------------------------------------------


async def bench_worker(todos: int) -> Result:
    """One tick over one page of `todos` to-dos: handler, commits, checks and log appends."""
    async with fresh_database() as url, run_emulator(EmulatorConfig(rate_limit=None)) as emu:
        pool = await asyncpg.create_pool(url, min_size=2, max_size=8)
        assert pool is not None
        settings = NotionSettings(
            token=emu.token,
            base_url=emu.url,
            version="2025-09-03",
            rate_limit_per_second=1000,
            rate_limit_burst=1,
            timeout_seconds=30,
            max_attempts=3,
            max_retry_after_seconds=10,
        )
        created = emu.state.create_page(
            "bench", [{"type": "to_do", "text": f"task {i}"} for i in range(todos)]
        )
        started = await BatchRepository(pool).start(
            created.page_id, interval_seconds=3600, duration_seconds=7200, message="running"
        )
        assert started is not None
        async with NotionGateway(settings) as notion:
            processor = build_processor(
                pool,
                notion,
                handler=complete,
                policy=TickPolicy(max_attempts=3, handler_timeout_seconds=60, lease_seconds=60),
                record_mode="page_log",
                worker_id="bench",
                reconcile_delay_seconds=60,
            )
            tick = Tick(started.notion_page_id, started.run_id, datetime.now(UTC).isoformat())
            cpu0, t0 = cpu_seconds(), time.perf_counter()
            report = await processor.process(tick)
            elapsed = time.perf_counter() - t0
            cpu = cpu_seconds() - cpu0
        calls = len(emu.state.requests.query())
        await pool.close()
    return Result(
        "worker",
        {
            "todos": todos,
            "done": report.done,
            "seconds": round(elapsed, 3),
            "todos_per_second": round(report.done / elapsed),
            "notion_calls": calls,
            "notion_calls_per_todo": round(calls / todos, 3),
            # CPU of this process: the worker's and the in-process emulator's together.
            "cpu_ms_per_todo_incl_emulator": round(cpu * 1000 / todos, 3),
        },
        {"record_mode": "page_log", "notion_rate_limit": "off"},
    )


# -- 3. API --------------------------------------------------------------------------------


async def bench_api(requests: int, concurrency: int) -> Result:
    """GET /api/v1/batch/status/{page} at fixed concurrency, in-process server, real database."""
    namespace = f"nbbench.{uuid.uuid4().hex[:6]}"
    async with fresh_database() as url:
        key = "bench-key-0123456789abcdef"
        settings = ApiSettings.from_env(
            {
                "DATABASE_URL": url,
                "AMQP_URL": AMQP_URL,
                "AMQP_NAMESPACE": namespace,
                "API_KEYS": f"bench:write:{key}",
                "LOG_LEVEL": "warning",
            }
        )
        server = TestServer(create_app(settings))
        await server.start_server()
        headers = {"Authorization": f"Bearer {key}"}
        try:
            async with aiohttp.ClientSession(headers=headers) as http:
                page = str(uuid.uuid4())
                async with http.post(
                    server.make_url("/api/v1/batch/start"), json={"notion_page_id": page}
                ) as response:
                    assert response.status == 200, await response.text()
                path = server.make_url(f"/api/v1/batch/status/{page}")
                latencies = await _load(http, path, requests, concurrency)
        finally:
            await server.close()
            await _drop_namespace(namespace)
    latencies.sort()
    total = sum(latencies)
    return Result(
        "api_status",
        {
            "requests": requests,
            "concurrency": concurrency,
            "requests_per_second": round(requests / (total / concurrency)),
            "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        },
        {"client": "aiohttp, same process"},
    )


async def _load(
    http: aiohttp.ClientSession, url: Any, requests: int, concurrency: int
) -> list[float]:
    latencies: list[float] = []
    remaining = requests

    async def one_client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            async with http.get(url) as response:
                await response.read()
                assert response.status == 200
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return latencies


# -- main ----------------------------------------------------------------------------------


def plans(quick: bool) -> dict[str, Callable[[], Awaitable[Result]]]:
    return {
        "scheduler": lambda: bench_scheduler(2_000 if quick else 100_000),
        "worker": lambda: bench_worker(500 if quick else 10_000),
        "api": lambda: bench_api(500 if quick else 20_000, 10 if quick else 50),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", default="", help="comma-separated: scheduler,worker,api")
    args = parser.parse_args()
    chosen = plans(args.quick)
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(",")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    about = machine()
    rows = []
    for run in chosen.values():
        result = await run()
        record = {
            "benchmark": result.name,
            "quick": args.quick,
            **about,
            "params": result.params,
            "figures": result.figures,
        }
        suffix = "-quick" if args.quick else ""
        (RESULTS / f"{result.name}{suffix}.json").write_text(json.dumps(record, indent=2) + "\n")
        figures = ", ".join(f"{k}={v}" for k, v in result.figures.items())
        rows.append(f"| {result.name} | {figures} |")
        print(f"{result.name}: {figures}", flush=True)
    header = [
        f"Run {about['date']} on commit {about['commit']}, {about['cores']} cores, "
        f"{about['memory_gib']} GiB: `{about['command']}`",
        "",
        "| benchmark | figures |",
        "| --- | --- |",
    ]
    name = "summary-quick.md" if args.quick else "summary.md"
    (RESULTS / name).write_text("\n".join(header + rows) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
