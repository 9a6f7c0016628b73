"""Four workers share one Notion rate limit: Notion sees its 3 requests/s, never a 429."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.e2e.conftest import unique_title
from tests.e2e.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RATE = 3.0
PAGES, TODOS = 20, 50
WINDOW = (8.0, 38.0)  # seconds after the first request: past start-up, before any page ends


@pytest.mark.stack_env(
    TEST_WORKERS="4",
    WORKER_CONCURRENCY="5",
    NOTION_EMULATOR_RATE_LIMIT=str(RATE),
    NOTION_RATE_LIMIT_PER_SECOND=str(RATE),
    NOTION_RATE_LIMIT_SCOPE="shared",
)
async def test_the_fleet_keeps_to_notions_rate_without_a_429(stack: Stack) -> None:
    pages: list[str] = []
    page_of_block: dict[str, str] = {}
    for p in range(PAGES):
        children = [{"type": "to_do", "text": f"page {p} task {i}"} for i in range(TODOS)]
        created = await stack.notion(
            "POST", "/_emulator/pages", json={"title": unique_title(), "children": children}
        )
        pages.append(created["page_id"])
        page_of_block |= {block: created["page_id"] for block in created["block_ids"]}
    for page_id in pages:
        await stack.start_batch(page_id, interval_seconds=2, duration_seconds=120)

    await asyncio.sleep(WINDOW[1] + 2)
    for page_id in pages:
        await stack.api("POST", f"/api/v1/batch/stop/{page_id}")

    requests = (await stack.notion("GET", "/_emulator/requests"))["requests"]
    statuses = Counter(r["status"] for r in requests)
    assert statuses[429] == 0, f"Notion answered 429 {statuses[429]} times: {statuses}"
    first = min(r["monotonic"] for r in requests)
    in_window = [r for r in requests if WINDOW[0] <= r["monotonic"] - first < WINDOW[1]]
    rate = len(in_window) / (WINDOW[1] - WINDOW[0])
    print(f"\nNotion saw {rate:.2f} requests/s of {RATE} allowed; statuses {dict(statuses)}")
    assert rate >= 0.9 * RATE, f"only {rate:.2f} requests/s of the {RATE} allowed"
    assert rate <= RATE * 1.05, f"{rate:.2f} requests/s is over the {RATE} allowed"

    # Fair: every page already under way when the window opens gets its share of checks, the
    # same within a small factor (each page holds at most two slots of the shared queue).
    listed_at: dict[str, float] = {}
    for r in requests:
        if r["operation"] == "list_children":
            page = r["path"].split("/")[3]
            listed_at.setdefault(page, r["monotonic"] - first)
    under_way = {page for page, at in listed_at.items() if at < WINDOW[0] and page in pages}
    assert len(under_way) >= PAGES // 2, f"only {len(under_way)} pages started in time"
    checks = Counter(
        page_of_block[r["path"].rsplit("/", 1)[-1]]
        for r in in_window
        if r["operation"] == "update_block"
    )
    shares = [checks[page] for page in under_way]
    assert min(shares) >= 1, f"a page under way was starved: {checks}"
    assert max(shares) <= 4 * min(shares), f"unfair shares between pages: {sorted(shares)}"
