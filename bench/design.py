"""What each design choice made for speed buys: the same run with and without it.

- set-based scheduling: a burst of due pages claimed 500 per transaction with pipelined
  confirms (``SCHEDULER_CLAIM_BATCH_SIZE=500``, the default) vs one page per transaction (1);
- prefetch: many small pages with ``WORKER_CONCURRENCY=4`` (default) vs 1;
- batched appends: the log as one append per 100 outcomes (``page_log``, default) vs one
  append per to-do (``todo_children``), by counting Notion calls;
- the fleet rate limiter's cost: the shared PostgreSQL token bucket (default) vs a per-process
  one (``NOTION_RATE_LIMIT_SCOPE=local``) with Notion's limit out of the way;
- pool sizes: ``DB_POOL_MAX_SIZE`` at its worker default (concurrency + 4 = 8) vs 16;

Worker-side comparisons run 3 times each, interleaved, and report the median run.

Choices that are code, not settings, measured in this process against the real servers (CPU
of the benchmark process per operation, ``getrusage``):
- the pool's connection reset: asyncpg resets a connection (one more statement and round
  trip) each time it goes back to the pool; the services' pools skip it (``keep_session``);
- the Notion transport: notion-client over httpx's own transport vs over the gateway's
  aiohttp transport, PATCHing a to-do on the emulator (a process of its own);
- publishing ticks: an aio-pika ``Message`` and ``exchange.publish`` per tick vs
  ``Broker.publish_many`` (one write for the batch), 500 ticks a batch, confirms awaited.
"""

from __future__ import annotations

import asyncio
import resource
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import asyncpg
import httpx
from notion_client import AsyncClient

from bench import scheduler
from bench.common import (
    AMQP_URL,
    NOTION_TOKEN,
    Result,
    drop_namespace,
    free_port,
    fresh_database,
    new_namespace,
    service_env,
    spawn,
)
from bench.stack import Scenario, run_scenario, wait_http
from bench.worker import summarise
from notion_batch.common.config import BrokerSettings
from notion_batch.common.db.sql import sql
from notion_batch.common.messaging.broker import Broker
from notion_batch.common.messaging.messages import Tick, encode
from notion_batch.common.notion.transport import AiohttpTransport

#: Runs of each worker-side comparison in the full run (the median is reported).
REPEATS = 3


def ratio(after: float | None, before: float | None) -> float | None:
    if not after or not before:
        return None
    return round(after / before, 2)


async def bench_design(quick: bool) -> Result:
    findings: dict[str, Any] = {}

    # -- set-based scheduling -------------------------------------------------------------
    burst_pages = 500 if quick else 5_000
    batched = await scheduler.burst(burst_pages, claim_batch_size=500)
    single = await scheduler.burst(burst_pages, claim_batch_size=1)
    findings["claim_batch_500_vs_1"] = {
        "pages": burst_pages,
        "batch_500": _pick(batched, "ticks_per_second", "scheduler_cpu_us_per_tick"),
        "batch_1": _pick(single, "ticks_per_second", "scheduler_cpu_us_per_tick"),
        "speedup": ratio(batched["ticks_per_second"], single["ticks_per_second"]),
    }
    _say(findings, "claim_batch_500_vs_1")

    # -- worker-side choices ---------------------------------------------------------------
    small = 20 if quick else 100
    big = 100 if quick else 1_000
    runs = {
        "prefetch_4": Scenario(f"{small} pages x 10, concurrency 4", small, 10, 1),
        "prefetch_1": Scenario(f"{small} pages x 10, concurrency 1", small, 10, 1, concurrency=1),
        "pool_16": Scenario(
            f"{small} pages x 10, pool 16",
            small,
            10,
            1,
            worker_env=(("DB_POOL_MAX_SIZE", "16"),),
        ),
        "page_log": Scenario(f"1 page x {big}, page_log", 1, big, 1),
        "todo_children": Scenario(
            f"1 page x {big}, todo_children", 1, big, 1, record_mode="todo_children"
        ),
        "limiter_local": Scenario(
            f"1 page x {big}, limiter local", 1, big, 1, limiter_scope="local"
        ),
    }
    if quick:  # the smoke run keeps one comparison of worker runs
        runs = {k: v for k, v in runs.items() if k in ("page_log", "todo_children")}
    # Runs of a few seconds on a shared machine vary by ±20 %: each comparison is repeated,
    # interleaved (A, B, A, B, …), and its median run kept, with every run's figure beside it.
    repeats = 1 if quick else REPEATS
    every: dict[str, list[dict[str, Any]]] = {key: [] for key in runs}
    for _ in range(repeats):
        for key, scenario in runs.items():
            every[key].append(summarise(await run_scenario(scenario)))
    measured: dict[str, dict[str, Any]] = {}
    for key, scenario in runs.items():
        ordered = sorted(every[key], key=lambda s: float(s["todos_per_second"]))
        measured[key] = {
            **ordered[len(ordered) // 2],
            "todos_per_second_each": [s["todos_per_second"] for s in every[key]],
        }
        each = measured[key]["todos_per_second_each"]
        print(f"  design {scenario.label}: {each} to-dos/s", flush=True)
    keys = (
        "todos_per_second",
        "todos_per_second_each",
        "worker_cpu_ms_per_todo",
        "db_transactions_per_todo",
    )
    calls = (
        "notion_calls_per_todo",
        "notion_calls_by_operation",
        "todos_per_second",
        "todos_per_second_each",
    )
    page_log, children = measured["page_log"], measured["todo_children"]
    findings["batched_appends"] = {
        "page_log": _pick(page_log, *calls),
        "todo_children": _pick(children, *calls),
        "calls_ratio": ratio(children["notion_calls_per_todo"], page_log["notion_calls_per_todo"]),
        # Notion's 3 requests/s is the ceiling: to-dos per minute each mode allows.
        "todos_per_minute_at_3rps": {
            "page_log": round(180 / page_log["notion_calls_per_todo"], 1),
            "todo_children": round(180 / children["notion_calls_per_todo"], 1),
        },
    }
    _say(findings, "batched_appends")
    if not quick:
        _worker_choices(findings, measured, keys)
    findings["pool_reset"] = await pool_reset(300 if quick else 3_000)
    _say(findings, "pool_reset")
    findings["notion_transport"] = await notion_transport(200 if quick else 2_000)
    _say(findings, "notion_transport")
    findings["tick_publish"] = await tick_publish(2 if quick else 20)
    _say(findings, "tick_publish")
    return Result("design", {}, {}, series={"findings": findings, "runs": measured})


def _worker_choices(
    findings: dict[str, Any], measured: dict[str, dict[str, Any]], keys: tuple[str, ...]
) -> None:
    page_log = measured["page_log"]
    findings["prefetch_4_vs_1"] = {
        "concurrency_4": _pick(measured["prefetch_4"], *keys),
        "concurrency_1": _pick(measured["prefetch_1"], *keys),
        "speedup": ratio(
            measured["prefetch_4"]["todos_per_second"], measured["prefetch_1"]["todos_per_second"]
        ),
    }
    findings["pool_8_vs_16"] = {
        "pool_8": _pick(measured["prefetch_4"], *keys),
        "pool_16": _pick(measured["pool_16"], *keys),
        "speedup_of_16": ratio(
            measured["pool_16"]["todos_per_second"], measured["prefetch_4"]["todos_per_second"]
        ),
    }
    findings["limiter_shared_vs_local"] = {
        "shared": _pick(page_log, *keys),
        "local": _pick(measured["limiter_local"], *keys),
        "cost_of_shared": ratio(
            measured["limiter_local"]["todos_per_second"], page_log["todos_per_second"]
        ),
    }
    for key in ("prefetch_4_vs_1", "pool_8_vs_16", "limiter_shared_vs_local"):
        _say(findings, key)


async def pool_reset(calls: int) -> dict[str, Any]:
    """One pooled query (the worker's per-to-do ``todo_may_start``), default reset vs none."""

    async def no_reset(_: asyncpg.Connection) -> None:
        return None

    found: dict[str, Any] = {"calls": calls, "query": "todo_may_start"}
    async with fresh_database() as url:
        page = str(uuid.uuid4())
        for label, reset in (("default_reset", None), ("no_reset", no_reset)):
            if reset is None:
                pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
            else:
                pool = await asyncpg.create_pool(url, min_size=1, max_size=1, reset=reset)
            assert pool is not None
            try:
                for _ in range(50):  # warm: statement cache, the server's plan
                    await pool.fetchval(sql("todo_may_start"), page, "owner")
                started = time.perf_counter()
                for _ in range(calls):
                    await pool.fetchval(sql("todo_may_start"), page, "owner")
                elapsed = time.perf_counter() - started
                statements = await _statements_per_call(pool, page)
            finally:
                await pool.close()
            found[label] = {
                "us_per_call": round(elapsed / calls * 1e6, 1),
                "statements_per_call": statements,
            }
    found["speedup"] = ratio(
        found["default_reset"]["us_per_call"], found["no_reset"]["us_per_call"]
    )
    return found


async def _statements_per_call(pool: asyncpg.Pool, page: str) -> float:
    """Statements the connection sends per pooled call (the query, and any reset)."""
    sent: list[str] = []
    async with pool.acquire() as conn:
        conn.add_query_logger(lambda record: sent.append(record.query))
    sent.clear()
    for _ in range(10):
        await pool.fetchval(sql("todo_may_start"), page, "owner")
    return len(sent) / 10


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def notion_transport(calls: int) -> dict[str, Any]:
    """Client CPU per Notion call: httpx's own transport vs the gateway's aiohttp one."""
    found: dict[str, Any] = {"calls": calls, "operation": "PATCH /v1/blocks/{id} (check)"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **service_env("postgresql://unused/x", "unused"),
        "NOTION_EMULATOR_PORT": str(port),
        "NOTION_EMULATOR_TOKENS": NOTION_TOKEN,
        "NOTION_EMULATOR_RATE_LIMIT": "off",
    }
    with tempfile.TemporaryDirectory(prefix="nb-bench-") as tmp:
        emulator = await spawn("emulator", "notion-batch-emulator", env, Path(tmp))
        try:
            async with aiohttp.ClientSession() as http:
                await wait_http(http, f"{base}/_emulator/health", emulator)
                async with http.post(
                    f"{base}/_emulator/pages",
                    json={"title": "transport", "children": [{"type": "to_do", "text": "x"}]},
                ) as response:
                    page = (await response.json())["page_id"]
            options = {"auth": NOTION_TOKEN, "base_url": base, "notion_version": "2025-09-03"}
            for label in ("httpx_transport", "aiohttp_transport"):
                inner = httpx.AsyncClient(
                    transport=AiohttpTransport() if label == "aiohttp_transport" else None
                )
                client = AsyncClient(options, client=inner)
                try:
                    listed = await client.blocks.children.list(page)
                    block = listed["results"][0]["id"]
                    for _ in range(20):  # warm: connections, caches
                        await client.blocks.update(block, to_do={"checked": True})
                    cpu0, t0 = _cpu(), time.perf_counter()
                    for _ in range(calls):
                        await client.blocks.update(block, to_do={"checked": True})
                    cpu, wall = _cpu() - cpu0, time.perf_counter() - t0
                finally:
                    await client.aclose()
                found[label] = {
                    "client_cpu_us_per_call": round(cpu / calls * 1e6, 1),
                    "wall_us_per_call": round(wall / calls * 1e6, 1),
                }
        finally:
            await emulator.stop()
    found["cpu_ratio"] = ratio(
        found["aiohttp_transport"]["client_cpu_us_per_call"],
        found["httpx_transport"]["client_cpu_us_per_call"],
    )
    return found


async def tick_publish(batches: int, size: int = 500) -> dict[str, Any]:
    """CPU per tick published with confirms: aio-pika Message each vs Broker.publish_many."""
    found: dict[str, Any] = {"batches": batches, "ticks_per_batch": size}
    namespace = new_namespace()
    broker = Broker(BrokerSettings(AMQP_URL, namespace), service="bench")
    await broker.start()
    try:
        connection = await aio_pika.connect(AMQP_URL)
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await channel.get_exchange(broker.topology.exchange)
            ticks = [
                Tick(str(uuid.uuid4()), n + 1, "2026-01-01T00:00:00.000001+00:00")
                for n in range(size)
            ]

            async def per_message(batch: list[Tick]) -> None:
                await asyncio.gather(
                    *(
                        exchange.publish(
                            aio_pika.Message(
                                encode(t),
                                content_type="application/json",
                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                message_id=t.message_id,
                                type=t.kind,
                                app_id="notion-batch-bench",
                            ),
                            routing_key=t.routing_key,
                            mandatory=True,
                        )
                        for t in batch
                    )
                )

            async def batched(batch: list[Tick]) -> None:
                await broker.publish_many(list(batch))

            ways = {"message_per_tick": per_message, "publish_many": batched}
            for _ in range(2):  # interleaved twice; the second round is kept
                for label, publish in ways.items():
                    cpu0, t0 = _cpu(), time.perf_counter()
                    for _ in range(batches):
                        await publish(ticks)
                    cpu, wall = _cpu() - cpu0, time.perf_counter() - t0
                    found[label] = {
                        "cpu_us_per_tick": round(cpu / (batches * size) * 1e6, 1),
                        "wall_us_per_tick": round(wall / (batches * size) * 1e6, 1),
                    }
                await (await channel.get_queue(broker.topology.ticks_queue)).purge()
        finally:
            await connection.close()
    finally:
        await broker.close()
        await drop_namespace(namespace)
    found["cpu_ratio"] = ratio(
        found["publish_many"]["cpu_us_per_tick"], found["message_per_tick"]["cpu_us_per_tick"]
    )
    return found


def _pick(source: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: source.get(k) for k in keys}


def _say(findings: dict[str, Any], key: str) -> None:
    print(f"  design {key}: {findings[key]}", flush=True)
