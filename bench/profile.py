"""Where the worker's time goes: py-spy on one worker working one large page.

py-spy samples the worker process 100 times a second while it works a page with Notion's
limit off; idle time (waiting in epoll for PostgreSQL or the emulator) is not sampled, so the
profile is the worker's CPU. The flame graph is kept as
``bench/results/worker-flame.svg``; the shares below are read from the same samples.
"""

from __future__ import annotations

from typing import Any

from bench import flame
from bench.common import RESULTS, Result
from bench.stack import Scenario, run_scenario
from bench.worker import summarise


async def bench_profile(quick: bool) -> Result:
    suffix = "-quick" if quick else ""
    todos = 200 if quick else 6_000
    raw = RESULTS / f"worker-profile{suffix}.txt"
    raw.unlink(missing_ok=True)
    run = await run_scenario(Scenario(f"1 page x {todos:,}, profiled", 1, todos, 1, profile_to=raw))
    profiled = summarise(run)
    if not raw.exists():
        # py-spy needs ptrace (root, or CAP_SYS_PTRACE in a container): say so, go on.
        print("  profile: py-spy wrote no profile (is ptrace allowed?)", flush=True)
        return Result("profile", {}, {}, series={"unavailable": "py-spy wrote no profile"})
    flame.tidy_file(raw)
    stacks = flame.read_collapsed(raw)
    svg = RESULTS / f"worker-flame{suffix}.svg"
    flame.render_svg(
        stacks, f"notion-batch-worker: 1 page of {todos:,} to-dos, Notion limit off", svg
    )
    figures: dict[str, Any] = {
        "samples": sum(stacks.values()),
        "breakdown_percent": flame.breakdown(stacks),
        "top_functions_inclusive_percent": flame.top_functions(stacks),
        "hotspots_percent": flame.hotspots(stacks),
        "run": profiled,
    }
    print(f"  profile: {figures['breakdown_percent']}", flush=True)
    files = [svg.name, raw.name]
    # Other profiles written by other benchmarks this run, drawn the same way.
    for name, title in (
        ("scheduler", "notion-batch-scheduler: the largest steady run (60 s interval)"),
        ("api", "notion-batch-api: GET status at 1,000 requests/s"),
    ):
        other = RESULTS / f"{name}-profile{suffix}.txt"
        if other.exists():
            flame.tidy_file(other)
            other_stacks = flame.read_collapsed(other)
            flame.render_svg(other_stacks, title, RESULTS / f"{name}-flame{suffix}.svg")
            figures[f"{name}_breakdown_percent"] = flame.breakdown(other_stacks)
            figures[f"{name}_hotspots_percent"] = flame.hotspots(other_stacks)
            files += [f"{name}-flame{suffix}.svg", other.name]

    return Result(
        "profile",
        {},
        {"sampler": "py-spy record --rate 100"},
        series=figures,
        files=files,
    )
