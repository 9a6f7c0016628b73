"""One scenario of the benchmarks, quickly, for a before/after while changing code.

    python bench/probe.py worker [TODOS] [PAGES] [REPEATS]     1 page x TODOS, PAGES x 10
    python bench/probe.py scheduler-burst [BATCHES] [CLAIM]    all due at once
    python bench/probe.py scheduler-steady [BATCHES] [WINDOW]  60 s interval, lag at a consumer
    python bench/probe.py api [RATES] [SECONDS]                GET status, open loop, e.g. 500,1000

The same machinery as ``bench/run.py`` (real processes, a fresh database and namespace each),
one line of figures per run on stdout and nothing written to bench/results/. CPU per unit is
the figure to compare on a shared machine; each line says how busy the rest of it was.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import api, scheduler
from bench.common import (
    Service,
    drop_namespace,
    fresh_database,
    new_namespace,
    proc_cpu_seconds,
    spawn,
)
from bench.stack import Scenario, run_scenario
from bench.worker import summarise

_WORKER = (
    "todos_per_second",
    "worker_cpu_ms_per_todo",
    "postgres_cpu_ms_per_todo",
    "emulator_cpu_ms_per_todo",
    "db_transactions_per_todo",
    "notion_calls_per_todo",
)


def _say(label: str, figures: dict[str, Any], keys: tuple[str, ...] = ()) -> None:
    shown = {k: figures[k] for k in keys} if keys else figures
    print(label, {k: v for k, v in shown.items() if not k.startswith("_")}, flush=True)


async def worker(todos: int = 2_000, pages: int = 200, repeats: int = 1) -> None:
    for _ in range(repeats):
        for scenario in (
            Scenario(f"1 page x {todos}", 1, todos, 1),
            Scenario(f"{pages} pages x 10", pages, 10, 1),
        ):
            figures = summarise(await run_scenario(scenario))
            _say(scenario.label, {**figures, "other_cores": figures["noise"].get("other_cores")})


async def scheduler_burst(batches: int = 50_000, claim: int = 500) -> None:
    keys = ("ticks_per_second", "scheduler_cpu_us_per_tick", "scheduler_cpu_cores", "noise")
    _say(f"burst {batches}", await scheduler.burst(batches, claim_batch_size=claim), keys)


async def scheduler_steady(batches: int = 10_000, window: float = 15.0) -> None:
    keys = ("lag_p50_ms", "lag_p99_ms", "lag_max_ms", "scheduler_cpu_cores", "noise")
    _say(f"steady {batches}", await scheduler.steady(batches, window), keys)


async def api_status(rates: str = "500,1000", seconds: float = 8.0) -> None:
    namespace = new_namespace()
    async with fresh_database() as url:
        pages = await api._seed(url)
        env, base, headers = api.api_env(url, namespace)
        status = [["GET", f"/api/v1/batch/status/{p}", None] for p in pages]
        with tempfile.TemporaryDirectory(prefix="nb-probe-") as tmp:
            server: Service = await spawn("api", "notion-batch-api", env, Path(tmp))
            try:
                await api._wait_ready(base, server)
                for rate in (int(r) for r in rates.split(",")):
                    cpu0, t0 = proc_cpu_seconds(server.pid), time.monotonic()
                    spec = {"mode": "open", "requests": status, "rate": rate}
                    figures = await api._load(
                        {"base_url": base, "headers": headers, **spec, "duration": seconds}
                    )
                    cores = (proc_cpu_seconds(server.pid) - cpu0) / (time.monotonic() - t0)
                    figures["api_cpu_ms_per_request"] = round(
                        cores * 1000 / figures["requests_per_second"], 3
                    )
                    _say(
                        f"status at {rate}/s",
                        figures,
                        ("requests_per_second", "p50_ms", "p99_ms", "api_cpu_ms_per_request"),
                    )
            finally:
                await server.stop()
    await drop_namespace(namespace)


def main() -> None:
    what, *args = sys.argv[1:] or ["worker"]
    if what == "worker":
        asyncio.run(worker(*(int(a) for a in args)))
    elif what == "scheduler-burst":
        asyncio.run(scheduler_burst(*(int(a) for a in args)))
    elif what == "scheduler-steady":
        asyncio.run(scheduler_steady(int(args[0]) if args else 10_000, *map(float, args[1:])))
    elif what == "api":
        rates = args[0] if args else "500,1000"
        asyncio.run(api_status(rates, *map(float, args[1:2])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
