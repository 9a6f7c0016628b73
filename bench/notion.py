"""Notion efficiency at Notion's real limit: the emulator enforcing 3 requests/s per token.

The workers run with the product's defaults for Notion (3 requests/s, burst 1, the limiter
shared in PostgreSQL). A page much larger than the window can finish is worked for
``window`` seconds after its first Notion request; then the workers are stopped (drain of
2 s, so the run ends promptly). Rate = requests that arrived at the emulator inside the
window / window. The fleet case runs 2 workers on 2 pages, once with the shared limiter and
once with ``NOTION_RATE_LIMIT_SCOPE=local`` (each worker pacing itself alone), to show what
the shared limiter buys: the same total pace with no 429s.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.common import Result
from bench.stack import Run, Scenario, operations, run_scenario

NOTION_RATE = 3.0
DRAIN = (("WORKER_DRAIN_SECONDS", "2"),)


def measure(run: Run, window: float) -> dict[str, Any]:
    inside = [r for r in run.requests if r.t < window]
    checks = sum(1 for r in inside if r.operation == "update_block" and r.status == 200)
    rate = len(inside) / window
    return {
        "label": run.scenario.label,
        "workers": run.scenario.workers,
        "limiter_scope": run.scenario.limiter_scope,
        "window_s": window,
        "requests_in_window": len(inside),
        "requests_per_second": round(rate, 3),
        "share_of_limit": round(rate / NOTION_RATE, 3),
        "http_429": run.calls(status=429),
        "http_429_in_window": sum(1 for r in inside if r.status == 429),
        "successful_per_second": round(sum(1 for r in inside if r.status < 300) / window, 3),
        "todos_checked_in_window": checks,
        "todos_per_minute_measured": round(checks * 60 / window, 1),
        "calls_by_operation": operations(run),
        "noise": run.noise,
        "per_second": sorted(Counter(int(r.t) for r in run.requests).items()),
        "per_second_429": sorted(
            Counter(int(r.t) for r in run.requests if r.status == 429).items()
        ),
    }


async def bench_notion(quick: bool) -> Result:
    window = 5.0 if quick else 60.0
    fleet_window = 30.0
    todos = 100 if quick else 1_000
    single = await run_scenario(_limited(f"1 worker, 1 page x {todos:,}", 1, todos, window))
    cases = [measure(single, window)]
    print(f"  notion {_brief(cases[-1])}", flush=True)
    # The fleet comparison takes a minute; the smoke run leaves it out.
    for scope in () if quick else ("shared", "local"):
        label = f"2 workers, 2 pages, limiter {scope}"
        run = await run_scenario(_limited(label, 2, todos, fleet_window, scope))
        cases.append(measure(run, fleet_window))
        print(f"  notion {_brief(cases[-1])}", flush=True)
    return Result(
        "notion",
        {},
        {
            "emulator_rate_limit": f"{NOTION_RATE:g}/s, burst 3",
            "NOTION_RATE_LIMIT_PER_SECOND": NOTION_RATE,
            "NOTION_RATE_LIMIT_BURST": 1,
        },
        series={"cases": cases},
    )


def _limited(
    label: str, workers: int, todos: int, window: float, scope: str = "shared"
) -> Scenario:
    """``workers`` workers, as many pages of ``todos`` to-dos, Notion at 3 requests/s."""
    return Scenario(
        label,
        pages=workers,
        todos_per_page=todos,
        workers=workers,
        emulator_rate=NOTION_RATE,
        worker_rate=NOTION_RATE,
        limiter_scope=scope,
        window=window,
        worker_env=DRAIN,
    )


def _brief(case: dict[str, Any]) -> str:
    keys = (
        "label",
        "requests_per_second",
        "share_of_limit",
        "http_429",
        "todos_per_minute_measured",
    )
    return ", ".join(f"{k}={case[k]}" for k in keys)
