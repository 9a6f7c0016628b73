"""Worker throughput: to-dos/s for one large page and for many small ones, 1 and 2 workers.

Each case is a :class:`~bench.stack.Scenario`: real worker processes with the product's
defaults (WORKER_CONCURRENCY 4, the shared PostgreSQL rate limiter, JSON logs at info), the
default handler, the emulator's rate limit off and the workers' own limit at 1,000 requests/s
(the most ``NOTION_RATE_LIMIT_PER_SECOND`` allows). Throughput counts from the ticks'
publication until every to-do is done, checked and logged in Notion and the leases released.
"""

from __future__ import annotations

from typing import Any

from bench.common import Result
from bench.stack import Run, Scenario, operations, run_scenario


def summarise(run: Run) -> dict[str, Any]:
    s = run.scenario
    done = max(run.done, 1)
    return {
        "label": s.label,
        "pages": s.pages,
        "todos_per_page": s.todos_per_page,
        "workers": s.workers,
        "concurrency": s.concurrency,
        "done": run.done,
        "seconds": round(run.seconds, 2),
        "todos_per_second": round(run.done / run.seconds, 1),
        "worker_cpu_ms_per_todo": round(run.worker_cpu * 1000 / done, 2),
        "worker_cpu_cores": round(run.worker_cpu / run.seconds, 2),
        "emulator_cpu_ms_per_todo": round(run.emulator_cpu * 1000 / done, 2),
        "postgres_cpu_ms_per_todo": round(run.postgres_cpu * 1000 / done, 2),
        "db_transactions_per_todo": round(run.db_transactions / done, 2),
        "notion_calls": len(run.requests),
        "notion_calls_per_todo": round(len(run.requests) / done, 4),
        "notion_calls_by_operation": operations(run),
        "ticks_worked": run.ticks_worked,
        "rss_mib": run.rss,
        "noise": run.noise,
    }


def scenarios(quick: bool) -> list[Scenario]:
    big, pages = (200, 20) if quick else (10_000, 1_000)
    return [
        Scenario(f"1 page x {big:,}, 1 worker", 1, big, 1),
        Scenario(f"1 page x {big:,}, 2 workers", 1, big, 2),
        Scenario(f"{pages:,} pages x 10, 1 worker", pages, 10, 1),
        Scenario(f"{pages:,} pages x 10, 2 workers", pages, 10, 2),
    ]


async def bench_worker(quick: bool) -> Result:
    cases = []
    timelines: dict[str, list[tuple[float, int]]] = {}
    memory: dict[str, Any] = {}
    for scenario in scenarios(quick):
        run = await run_scenario(scenario)
        summary = summarise(run)
        cases.append(summary)
        timelines[scenario.label] = run.timeline
        memory[scenario.label] = {"t": run.rss_t, "rss": run.rss_series}
        print(f"  worker {scenario.label}: {_brief(summary)}", flush=True)
    return Result(
        "worker",
        {},
        {
            "handler": "notion_batch.worker.handlers:complete",
            "emulator_rate_limit": "off",
            "NOTION_RATE_LIMIT_PER_SECOND": 1000,
            "WORKER_CONCURRENCY": 4,
            "processes": "each worker and the emulator are processes of their own",
        },
        series={"cases": cases, "timelines": timelines, "memory": memory},
    )


def _brief(summary: dict[str, Any]) -> str:
    keys = (
        "todos_per_second",
        "worker_cpu_ms_per_todo",
        "postgres_cpu_ms_per_todo",
        "emulator_cpu_ms_per_todo",
        "notion_calls_per_todo",
        "db_transactions_per_todo",
        "ticks_worked",
    )
    return ", ".join(f"{k}={summary[k]}" for k in keys) + f", noise={summary['noise']}"
