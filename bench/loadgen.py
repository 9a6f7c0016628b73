"""An HTTP load generator for the API benchmark, run as a process of its own.

    python bench/loadgen.py SPEC_JSON  → one JSON line on stdout

The spec: ``{"base_url", "headers", "requests": [[method, path, body_or_null], ...], "mode":
"closed" | "open", "concurrency", "duration", "rate", "cycle"}``.

Each run is preceded by one uncounted second of the same load (of ``warmup_requests`` when
given: writes cannot be sent twice), so connection set-up is not in the figures.

- closed: ``concurrency`` clients send back to back (the next request when the answer came);
  with ``cycle`` they go round the request list for ``duration`` seconds, else each request
  is sent once.
- open: one request every 1/``rate`` s for ``duration`` s, whether or not earlier answers
  came; latency is counted from when the request was due, so a server falling behind shows
  as latency rather than as a slower client (no coordinated omission).

A separate process so that the client's CPU is not the server's, and so the server's event
loop is not the client's.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections import Counter
from typing import Any

import aiohttp

MAX_IN_FLIGHT = 512


def _pct(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    rank = max(1, round(q / 100 * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    base = spec["base_url"]
    requests: list[list[Any]] = spec["requests"]
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    per_second: dict[int, list[float]] = {}
    connector = aiohttp.TCPConnector(limit=spec.get("concurrency", 64) or MAX_IN_FLIGHT)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        connector=connector, headers=spec.get("headers", {}), timeout=timeout
    ) as http:
        recording = False

        async def send(request: list[Any], due: float, t0: float) -> None:
            method, path, body = request
            try:
                async with http.request(method, base + path, json=body) as response:
                    await response.read()
                    statuses[str(response.status)] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                statuses[type(exc).__name__] += 1
            latency = time.perf_counter() - due
            if not recording:
                return
            latencies.append(latency)
            per_second.setdefault(int(due - t0), []).append(latency)

        # A second of the same load first, not counted: connections opened, caches warm.
        # Writes cannot be repeated; they warm up with the reads given as "warmup_requests".
        warm = spec.get("warmup_requests") or requests
        if spec["mode"] == "open":
            await _open({**spec, "duration": 1.0}, warm, send, time.perf_counter())
        else:
            await _closed({**spec, "duration": 1.0, "cycle": True}, warm, send, time.perf_counter())
        statuses.clear()
        recording = True
        t0 = time.perf_counter()
        if spec["mode"] == "open":
            await _open(spec, requests, send, t0)
        else:
            await _closed(spec, requests, send, t0)
        elapsed = time.perf_counter() - t0
    latencies.sort()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 3),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "statuses": dict(statuses),
        "p50_ms": round(_pct(latencies, 50) * 1000, 2),
        "p90_ms": round(_pct(latencies, 90) * 1000, 2),
        "p99_ms": round(_pct(latencies, 99) * 1000, 2),
        "p999_ms": round(_pct(latencies, 99.9) * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
        "client_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "p99_ms_by_second": [
            round(_pct(sorted(v), 99) * 1000, 2) for _, v in sorted(per_second.items())
        ],
    }


async def _closed(spec: dict[str, Any], requests: list[list[Any]], send: Any, t0: float) -> None:
    cycle = bool(spec.get("cycle"))
    deadline = t0 + float(spec.get("duration") or 1e9)
    position = 0

    async def client() -> None:
        nonlocal position
        while time.perf_counter() < deadline:
            if position >= len(requests):
                if not cycle:
                    return
                position = 0
            request = requests[position]
            position += 1
            await send(request, time.perf_counter(), t0)

    await asyncio.gather(*(client() for _ in range(int(spec["concurrency"]))))


async def _open(spec: dict[str, Any], requests: list[list[Any]], send: Any, t0: float) -> None:
    rate = float(spec["rate"])
    total = int(rate * float(spec["duration"]))
    in_flight: set[asyncio.Task[None]] = set()
    for i in range(total):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(in_flight) >= MAX_IN_FLIGHT:  # the server is hopelessly behind: stop adding
            await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(send(requests[i % len(requests)], due, t0))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight)


def main() -> None:
    spec = json.loads(sys.argv[1]) if len(sys.argv) > 1 else json.load(sys.stdin)
    print(json.dumps(asyncio.run(run(spec))), flush=True)


if __name__ == "__main__":
    main()
