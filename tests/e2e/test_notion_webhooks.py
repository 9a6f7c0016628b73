"""Notion webhooks end to end: real processes, the emulator's subscription sending signed events
to the real API over HTTP.

The operator's setup as the README tells it (subscription → verification request kept by the
API → token read with a write key, pasted into Notion, configured on the API), then: a to-do a
person adds is worked within seconds although the batch ticks every 5 minutes; our own checks
and log appends come back as events by a bot and cause no tick; a badly signed event is
refused and does nothing; a change while a worker is on the page is worked in the same tick.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import asyncpg
import pytest

from tests.e2e.conftest import unique_title
from tests.e2e.stack import Stack, wait_for, wait_http_ok
from tests.e2e.test_batch_flow import log_lines, page_todos

pytestmark = pytest.mark.e2e

HOOK = "/api/v1/notion/webhook"


async def create_page(stack: Stack, texts: list[str]) -> str:
    created = await stack.notion(
        "POST",
        "/_emulator/pages",
        json={"title": unique_title(), "children": [{"type": "to_do", "text": t} for t in texts]},
    )
    return str(created["page_id"])


async def restart(stack: Stack, name: str, command: str, **env: str) -> None:
    """Stop a service and start it again with more variables (the operator's restart)."""
    (service,) = [s for s in stack.services if s.name == name]
    assert await service.stop() == 0
    stack.services.remove(service)
    await stack.spawn(name, command, **env)
    if name == "api":
        await wait_http_ok(stack.http, f"{stack.api_url}/readyz", timeout=30, what="API ready")


async def set_up_webhooks(stack: Stack) -> str:
    """Subscribe in Notion, verify with the token the API kept, configure it; the subscription."""
    subscription = await stack.notion(
        "POST",
        "/_emulator/webhooks",
        json={"url": stack.api_url + HOOK, "aggregation_seconds": 0.3, "retry_seconds": 0.5},
    )

    async def kept() -> dict[str, Any] | None:
        status, answer = await stack.api("GET", "/api/v1/notion/webhook-verification")
        return dict(answer) if status == 200 else None

    answer = await wait_for(kept, timeout=10, what="the verification request kept by the API")
    token = answer["verification_token"]
    await stack.notion(
        "POST",
        f"/_emulator/webhooks/{subscription['id']}/verify",
        json={"verification_token": token},
    )
    await restart(stack, "api", "notion-batch-api", NOTION_WEBHOOK_VERIFICATION_TOKEN=token)
    return str(subscription["id"])


async def deliveries(stack: Stack, subscription: str) -> list[dict[str, Any]]:
    answer = await stack.notion("GET", f"/_emulator/webhooks/{subscription}")
    return [d for d in answer["deliveries"] if d["kind"] == "event"]


def api_events(stack: Stack, name: str) -> list[dict[str, Any]]:
    lines = []
    for service in stack.services:
        if service.name != "api":
            continue
        for line in service.log().splitlines():
            if line.startswith("{") and f'"{name}"' in line:
                lines.append(json.loads(line))
    return [e for e in lines if e["event"] == name]


async def ticks(database_url: str, page: str) -> int:
    db = await asyncpg.connect(database_url)
    try:
        count = await db.fetchval(
            "SELECT r.ticks FROM notion_batch_runs r JOIN notion_batch_status s"
            " ON s.run_id = r.id WHERE s.notion_page_id = $1",
            page,
        )
    finally:
        await db.close()
    return int(count)


async def test_a_todo_added_by_a_person_is_worked_within_seconds_without_feedback_loop(
    stack: Stack, database_url: str
) -> None:
    page = await create_page(stack, ["first"])
    subscription = await set_up_webhooks(stack)
    await stack.start_batch(page, interval_seconds=300, duration_seconds=600)

    async def first_worked() -> bool:
        todos = await page_todos(stack, page)
        return todos["first"]["checked"] and len(await log_lines(stack, page)) == 1

    await wait_for(first_worked, timeout=30, what="the first tick's work in Notion")
    # From now on the scheduler looks for due ticks by itself only every 60 s: a webhook's tick
    # that comes sooner came through the page.changed command waking it.
    await restart(stack, "scheduler", "notion-batch-scheduler", SCHEDULER_POLL_SECONDS="60")

    # Our own check and log append come back as events by a bot; the API ignores them.
    async def bot_events_answered() -> list[dict[str, Any]]:
        return [d for d in await deliveries(stack, subscription) if d["status"] == 200]

    seen = await wait_for(bot_events_answered, timeout=10, what="our writes' events answered")
    assert all(d["authors"] == ["bot"] for d in seen)
    assert await ticks(database_url, page) == 1

    # A person adds a to-do: the batch works it within seconds, not at its next tick in 5 min.
    added_at = time.monotonic()
    await stack.notion(
        "POST", f"/_emulator/blocks/{page}/children", json={"children": [{"text": "by a person"}]}
    )

    async def added_worked() -> bool:
        todos = await page_todos(stack, page)
        checked = "by a person" in todos and todos["by a person"]["checked"]
        return checked and len(await log_lines(stack, page)) == 2

    await wait_for(added_worked, timeout=20, what="the person's to-do checked and logged")
    assert time.monotonic() - added_at < 20
    person = [d for d in await deliveries(stack, subscription) if "person" in d["authors"]]
    assert [(d["status"], d["page_id"]) for d in person] == [(200, page)]
    assert await ticks(database_url, page) == 2

    # That tick's check and append come back as bot events too: answered, and no third tick.
    async def later_bot_events() -> list[dict[str, Any]]:
        events = await deliveries(stack, subscription)
        last_person = max(i for i, d in enumerate(events) if "person" in d["authors"])
        return [
            d for d in events[last_person + 1 :] if d["status"] == 200 and d["authors"] == ["bot"]
        ]

    await wait_for(later_bot_events, timeout=10, what="the second tick's writes' events answered")
    await asyncio.sleep(1.0)
    assert await ticks(database_url, page) == 2
    actions = [e["action"] for e in api_events(stack, "notion_webhook_received")]
    assert actions.count("triggered") == 1 and actions.count("ignored") >= 2

    # A request not signed with the verification token is refused, and nothing happens.
    forged = {
        "id": "forged-event",
        "type": "page.content_updated",
        "authors": [{"id": "someone", "type": "person"}],
        "entity": {"id": page, "type": "page"},
    }
    async with stack.http.post(
        stack.api_url + HOOK,
        data=json.dumps(forged).encode(),
        headers={"X-Notion-Signature": "sha256=" + "0" * 64},
    ) as response:
        assert response.status == 401
    await asyncio.sleep(1.0)
    assert await ticks(database_url, page) == 2
    assert [e["reason"] for e in api_events(stack, "notion_webhook_rejected")] == ["bad signature"]
    status = await stack.status(page)
    assert status["todos"] == {"done": 2, "skipped": 0, "pending": 0}


@pytest.mark.stack_env(TEST_SLOW_SECONDS="4", TEST_WORKERS="1")
async def test_a_change_while_the_page_is_being_worked_is_worked_in_the_same_tick(
    stack: Stack, database_url: str
) -> None:
    page = await create_page(stack, ["takes a while [slow]"])
    await set_up_webhooks(stack)
    await stack.start_batch(page, interval_seconds=300, duration_seconds=600)

    def worker_log() -> str:
        return "\n".join(s.log() for s in stack.services if s.name.startswith("worker"))

    async def read_and_working() -> bool:
        # The tick read the page and is in the slow handler now.
        return '"page_synced"' in worker_log()

    await wait_for(read_and_working, timeout=20, what="the tick in its slow to-do", every=0.05)
    await stack.notion(
        "POST",
        f"/_emulator/blocks/{page}/children",
        json={"children": [{"text": "added meanwhile"}]},
    )

    async def both_worked() -> bool:
        todos = await page_todos(stack, page)
        return all(t["checked"] for t in todos.values()) and len(todos) == 2

    await wait_for(both_worked, timeout=30, what="both to-dos checked")

    async def tick_done() -> bool:
        return '"tick_processed"' in worker_log()

    await wait_for(tick_done, timeout=10, what="the tick's end")
    # One tick did both: the one in progress read the page again before letting it go.
    assert await ticks(database_url, page) == 1
    actions = [e["action"] for e in api_events(stack, "notion_webhook_received")]
    assert "resync_requested" in actions
    assert worker_log().count('"tick_resync"') == 1
    assert worker_log().count('"page_synced"') == 2
