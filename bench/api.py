"""API latency and throughput: the real ``notion-batch-api`` process, loaded from another process.

The API runs as shipped (JSON request log at info, a pool of 10 connections) except that the
per-key write limit is off (``API_WRITE_RATE_PER_MINUTE=0``): at its default, 120 writes a
minute, it would answer 429 long before the server is the limit. The database holds 1,000
running batches with 10 pending to-dos each, so a status query counts real rows.

Load comes from ``bench/loadgen.py`` (aiohttp) in a subprocess — closed loop at a fixed
concurrency for throughput, open loop at a fixed rate for the 1,000 requests/s target — and,
when installed, from ``wrk`` (C, lighter on the shared 2 cores) as a cross-check of the
closed-loop status figures.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench import loadgen
from bench.common import (
    API_KEY,
    ROOT,
    Result,
    Sampler,
    Service,
    drop_namespace,
    free_port,
    fresh_database,
    new_namespace,
    service_env,
    spawn,
    start_profiler,
    stop_profiler,
)

SEED_PAGES = 1_000
SEED_TODOS = 10
CONCURRENCY = 16

_SEED = """
WITH pages AS (
    INSERT INTO notion_batch_status (notion_page_id, status, message, run_id, start_time,
                                     end_time, interval_seconds, next_tick_at)
    SELECT gen_random_uuid(), 'running', 'running',
           nextval(pg_get_serial_sequence('notion_batch_runs', 'id')),
           now(), now() + interval '3 hours', 60, now() + interval '1 hour'
      FROM generate_series(1, $1)
    RETURNING notion_page_id, run_id, start_time, end_time
), runs AS (
    INSERT INTO notion_batch_runs (id, notion_page_id, interval_seconds, started_at, ends_at)
    SELECT run_id, notion_page_id, 60, start_time, end_time FROM pages
), todos AS (
    INSERT INTO notion_todos (block_id, notion_page_id, position, text)
    SELECT gen_random_uuid(), notion_page_id, n, 'task ' || n
      FROM pages, generate_series(0, $2 - 1) AS n
)
SELECT notion_page_id::text FROM pages
"""


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        loadgen.__file__,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, _ = await process.communicate(json.dumps(spec).encode())
    if process.returncode != 0:
        raise RuntimeError(f"loadgen failed ({process.returncode}): {out.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def _wrk(url: str, seconds: float, connections: int) -> dict[str, Any] | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    process = await asyncio.create_subprocess_exec(
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "-H",
        f"Authorization: Bearer {API_KEY}",
        url,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    text = out.decode()
    figures: dict[str, Any] = {"client": "wrk -t1", "concurrency": connections}
    match = re.search(r"Requests/sec:\s+([\d.]+)", text)
    figures["requests_per_second"] = float(match.group(1)) if match else None
    for pct in ("50", "90", "99"):
        found = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
        if found:
            value, unit = float(found.group(1)), found.group(2)
            figures[f"p{pct}_ms"] = round(value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    figures["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    return figures


def api_env(url: str, namespace: str) -> tuple[dict[str, str], str, dict[str, str]]:
    """The API's environment on a free port (writes unlimited), its base URL, and the
    headers of the benchmark's key."""
    port = free_port()
    env = service_env(
        url,
        namespace,
        API_HOST="127.0.0.1",
        API_PORT=str(port),
        API_KEYS=f"bench:write:{API_KEY}",
        API_WRITE_RATE_PER_MINUTE="0",
    )
    return env, f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {API_KEY}"}


async def bench_api(quick: bool, profile_to: Path | None = None) -> Result:
    namespace = new_namespace()
    seconds = 3.0 if quick else 15.0
    open_seconds = 3.0 if quick else 10.0
    repeats = 1 if quick else 3
    writes = 200 if quick else 3_000
    phases: dict[str, dict[str, Any]] = {}
    async with fresh_database() as url:
        pages = await _seed(url)
        env, base, headers = api_env(url, namespace)
        with tempfile.TemporaryDirectory(prefix="nb-bench-") as tmp:
            api = await spawn("api", "notion-batch-api", env, Path(tmp))
            try:
                await _wait_ready(base, api)
                status = [["GET", f"/api/v1/batch/status/{p}", None] for p in pages]
                new = [str(uuid.uuid4()) for _ in range(writes)]
                plan: list[tuple[str, dict[str, Any]]] = [
                    (
                        "status_closed",
                        {
                            "mode": "closed",
                            "requests": status,
                            "cycle": True,
                            "concurrency": CONCURRENCY,
                            "duration": seconds,
                        },
                    ),
                    *(
                        []
                        if quick
                        else [
                            (
                                "status_open_500rps",
                                {
                                    "mode": "open",
                                    "requests": status,
                                    "rate": 500,
                                    "duration": open_seconds,
                                },
                            ),
                        ]
                    ),
                    # Repeated: with other suites sharing the 2 cores, one run can be unlucky.
                    *[
                        (
                            f"status_open_1000rps#{n + 1}",
                            {
                                "mode": "open",
                                "requests": status,
                                "rate": 1000,
                                "duration": open_seconds,
                            },
                        )
                        for n in range(repeats)
                    ],
                    (
                        "start_closed",
                        {
                            "mode": "closed",
                            "concurrency": CONCURRENCY,
                            "warmup_requests": status,
                            "requests": [
                                ["POST", "/api/v1/batch/start", {"notion_page_id": p}] for p in new
                            ],
                        },
                    ),
                    (
                        "stop_closed",
                        {
                            "mode": "closed",
                            "concurrency": CONCURRENCY,
                            "warmup_requests": status,
                            "requests": [["POST", f"/api/v1/batch/stop/{p}", None] for p in new],
                        },
                    ),
                ]
                async with Sampler([api], every=0.5) as whole:
                    for name, spec in plan:
                        cpu0, t0 = api.cpu_seconds(), time.monotonic()
                        figures = await _load({"base_url": base, "headers": headers, **spec})
                        figures["api_cpu_cores"] = round(
                            (api.cpu_seconds() - cpu0) / (time.monotonic() - t0), 2
                        )
                        figures["concurrency"] = spec.get("concurrency")
                        phases[name] = figures
                        print(f"  api {name}: {_brief(figures)}", flush=True)
                    repeats_run = sorted(
                        (v for k, v in phases.items() if k.startswith("status_open_1000rps#")),
                        key=lambda v: float(v["p99_ms"]),
                    )
                    median = repeats_run[len(repeats_run) // 2]
                    phases["status_open_1000rps"] = {
                        **{k: v for k, v in median.items() if k != "p99_ms_by_second"},
                        "repeats": len(repeats_run),
                        "p50_ms_each": [r["p50_ms"] for r in repeats_run],
                        "p99_ms_each": [r["p99_ms"] for r in repeats_run],
                    }
                    if profile_to is not None and not quick:
                        profiler = await start_profiler(api.pid, profile_to)
                        profiled = {"mode": "open", "requests": status, "rate": 1000}
                        await _load(
                            {"base_url": base, "headers": headers, **profiled, "duration": 10}
                        )
                        await stop_profiler(profiler)
                    wrk = None
                    if not quick:  # a cross-check: the smoke run leaves it out
                        wrk = await _wrk(
                            f"{base}/api/v1/batch/status/{pages[0]}", seconds, CONCURRENCY
                        )
                    if wrk is not None:
                        phases["status_closed_wrk"] = wrk
                        print(f"  api status (wrk): {_brief(wrk)}", flush=True)
            finally:
                await api.stop()
        await drop_namespace(namespace)
    return Result(
        "api",
        {},
        {"seed_pages": SEED_PAGES, "todos_per_page": SEED_TODOS, "write_limit": "off"},
        series={"phases": phases, "rss": whole.rss_summary("api"), "noise": whole.noise()},
    )


async def _seed(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            rows = await conn.fetch(_SEED, SEED_PAGES, SEED_TODOS)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return [r[0] for r in rows]


async def _wait_ready(base: str, api: Service) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the API did not become ready:\n{api.tail()}")


def _brief(figures: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in figures.items() if k != "p99_ms_by_second")
