"""200 pages at once, 4 workers, second-scale ticks: every tick accounted for, the API fast."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from tests.e2e.conftest import unique_title
from tests.e2e.stack import Stack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAGES, TODOS, INTERVAL, DURATION = 200, 3, 2, 16


def events(path: Path, name: str) -> list[dict]:
    found = []
    for line in path.read_text().splitlines():
        if line.startswith("{") and f'"event": "{name}"' in line:
            found.append(json.loads(line))
    return found


@pytest.mark.stack_env(TEST_WORKERS="4", WORKER_CONCURRENCY="8", DB_POOL_MAX_SIZE="12")
async def test_200_pages_every_tick_accounted_for_and_status_stays_fast(
    stack: Stack, database_url: str
) -> None:
    pages = []
    for p in range(PAGES):
        children = [{"type": "to_do", "text": f"p{p} t{i}"} for i in range(TODOS)]
        created = await stack.notion(
            "POST", "/_emulator/pages", json={"title": unique_title(), "children": children}
        )
        pages.append(created["page_id"])
    await asyncio.gather(
        *(stack.start_batch(p, interval_seconds=INTERVAL, duration_seconds=DURATION) for p in pages)
    )

    # Status requests while the fleet works, at a steady pace, as dashboards and CLIs would.
    latencies: list[float] = []
    deadline = time.monotonic() + DURATION - 2
    while time.monotonic() < deadline:
        page = random.choice(pages)
        started = time.perf_counter()
        status, _ = await stack.api("GET", f"/api/v1/batch/status/{page}")
        latencies.append(time.perf_counter() - started)
        assert status == 200
        await asyncio.sleep(0.05)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"\nstatus p99 {p99 * 1000:.1f} ms, p50 {latencies[len(latencies) // 2] * 1000:.1f} ms")
    assert p99 < 0.1, f"status p99 {p99 * 1000:.0f} ms over {len(latencies)} requests"

    db = await asyncpg.connect(database_url)
    try:

        async def all_settled() -> bool:
            busy: int = await db.fetchval(
                "SELECT count(*) FROM notion_batch_status"
                " WHERE status = 'running' OR lease_owner IS NOT NULL OR next_tick_at IS NOT NULL"
            )
            return busy == 0

        await wait_for(all_settled, timeout=60, what="every batch to end and settle")
        done = await db.fetchval("SELECT count(*) FROM notion_todos WHERE status = 'done'")
        emitted_total = await db.fetchval("SELECT sum(ticks) FROM notion_batch_runs")
    finally:
        await db.close()
    assert done == PAGES * TODOS

    await asyncio.sleep(1)  # the last acks and their log lines
    emitted = Counter(e["tick_id"] for e in events(stack.log_dir / "scheduler.log", "tick_emitted"))
    processed: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for n in range(4):
        log_path = stack.log_dir / f"worker-{n + 1}.log"
        assert not events(log_path, "tick_crashed")
        for event in events(log_path, "tick_processed"):
            processed[event["tick_id"]] += 1
            outcomes[event["outcome"]] += 1
    assert set(emitted.values()) == {1}, "a tick was emitted twice"
    assert set(processed) == set(emitted), "a tick was emitted but never consumed, or vice versa"
    assert set(processed.values()) == {1}, "a tick was processed twice"
    regular = [t for t in emitted if not t.endswith(":record")]
    assert len(regular) == emitted_total
    # Every tick is worked, or deliberately coalesced into the work of the tick before it.
    assert set(outcomes) <= {"worked", "busy", "stale", "recorded"}, outcomes
    assert outcomes["worked"] >= PAGES
    print(f"ticks emitted {len(emitted)}, outcomes {dict(outcomes)}")
