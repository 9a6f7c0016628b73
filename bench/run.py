"""notion-batch benchmarks: `make bench` (about 25 min) or `make bench-quick` (a smoke run).

    python bench/run.py [--quick] [--only scheduler,worker,notion,peer,changes,api,design,profile]

Each benchmark uses the real parts — the services' own processes, PostgreSQL, RabbitMQ, the
SDK against the Notion emulator over HTTP — each in a fresh database and broker namespace,
and writes bench/results/<benchmark>.json (commit, date, machine, the exact command, the
parameters and the figures). The run ends with bench/results/summary.md, the plots (PNG) and
the flame graphs (SVG). Quick runs write the same files with a ``-quick`` suffix (git-ignored).

Figures are for reading, not asserting: CI runs --quick only as a smoke test. Modules:
scheduler.py, worker.py, notion.py, peer.py (ours against the usual Celery way, bench/peers/;
`make bench-install` brings its packages), changes.py (Notion calls per tick and pages per
integration by change signal), api.py (+ loadgen.py), design.py, profile.py; stack.py
runs emulator + workers, common.py the processes and sampling, report.py the outputs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

# Run as a script (`python bench/run.py`): make the `bench` package importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import report
from bench.api import bench_api
from bench.changes import bench_changes
from bench.common import RESULTS, Result, machine
from bench.design import bench_design
from bench.notion import bench_notion
from bench.peer import bench_peer
from bench.profile import bench_profile
from bench.scheduler import bench_scheduler
from bench.worker import bench_worker


def plans(quick: bool) -> dict[str, Callable[[], Awaitable[Result]]]:
    """In order: the profile comes last, to draw the flame graphs the others recorded."""
    suffix = "-quick" if quick else ""
    return {
        "scheduler": lambda: bench_scheduler(quick),
        "worker": lambda: bench_worker(quick),
        "notion": lambda: bench_notion(quick),
        "peer": lambda: bench_peer(quick),
        "changes": lambda: bench_changes(quick),
        "api": lambda: bench_api(quick, profile_to=RESULTS / f"api-profile{suffix}.txt"),
        "design": lambda: bench_design(quick),
        "profile": lambda: bench_profile(quick),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated: scheduler,worker,notion,peer,changes,api,design,profile",
    )
    args = parser.parse_args()
    chosen = plans(args.quick)
    if args.only:
        wanted = args.only.split(",")
        unknown = set(wanted) - set(chosen)
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        chosen = {k: v for k, v in chosen.items() if k in wanted}
    RESULTS.mkdir(parents=True, exist_ok=True)
    about = machine(sys.argv)
    started = time.monotonic()
    results: dict[str, Result] = {}
    noise: list[str] = []
    for name, run in chosen.items():
        print(f"{name} …", flush=True)
        t0 = time.monotonic()
        result = await run()
        result.params["seconds"] = round(time.monotonic() - t0, 1)
        results[name] = result
        report.write_json(result, about, args.quick)
        noise.append(report.noise_line(result))
        print(f"{name}: done in {result.params['seconds']} s", flush=True)
    about["wall_seconds"] = round(time.monotonic() - started)
    # After --only, the summary still covers every benchmark: the others as last written.
    for name in plans(args.quick):
        if name not in results and (previous := report.load_previous(name, args.quick)):
            results[name], record = previous
            noise.append(f"{name}: from the run of {record['date']} ({record['command']})")
    results = {name: results[name] for name in plans(args.quick) if name in results}
    plots = report.plot_all(results, args.quick)
    summary = report.write_summary(results, about, args.quick, noise)
    print(f"wrote {summary.relative_to(RESULTS.parents[1])} and {', '.join(plots)}", flush=True)
    print(summary.read_text(), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
