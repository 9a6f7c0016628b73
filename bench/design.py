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
- the pool's connection reset: asyncpg resets a connection (one more statement and round
  trip) each time it goes back to the pool; a pool created with a no-op ``reset`` does not.
  This one is not a product setting: it measures a change we suggest.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import asyncpg

from bench import scheduler
from bench.common import Result, fresh_database
from bench.stack import Scenario, run_scenario
from bench.worker import summarise
from notion_batch.common.db.queries import sql

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


def _pick(source: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: source.get(k) for k in keys}


def _say(findings: dict[str, Any], key: str) -> None:
    print(f"  design {key}: {findings[key]}", flush=True)
