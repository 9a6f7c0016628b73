"""Several Notion integrations, through the real API, services as processes and the emulator
sharing each page with one integration only, as Notion does.

Team A's page is shared with team A's integration alone: a batch naming ``team-a`` works it
with team A's token (every request the emulator saw for the page carries it), a batch on the
default integration cannot see it, and each integration has its own shared rate limit.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.e2e.conftest import unique_title
from tests.e2e.stack import TOKEN, Stack, wait_for
from tests.e2e.test_batch_flow import log_lines, page_todos, requests

pytestmark = pytest.mark.e2e

TEAM_A_TOKEN = "secret_teamatoken9876543210"


async def create_page_for(stack: Stack, token: str, texts: list[str]) -> str:
    created = await stack.notion(
        "POST",
        "/_emulator/pages",
        json={
            "title": unique_title(),
            "children": [{"type": "to_do", "text": t} for t in texts],
            "shared_with": [token],
        },
    )
    return str(created["page_id"])


@pytest.mark.stack_env(
    NOTION_EMULATOR_TOKENS=f"{TOKEN},{TEAM_A_TOKEN}",
    NOTION_INTEGRATIONS="team-a",
    NOTION_TOKEN_TEAM_A=TEAM_A_TOKEN,
    NOTION_RATE_LIMIT_PER_SECOND_TEAM_A="500",
)
async def test_each_batch_works_through_the_integration_it_named(
    stack: Stack, database_url: str
) -> None:
    team_page = await create_page_for(stack, TEAM_A_TOKEN, ["team task 1", "team task 2"])
    default_page = await create_page_for(stack, TOKEN, ["plain task"])

    started = await stack.start_batch(
        team_page, integration="team-a", interval_seconds=1, duration_seconds=120
    )
    assert started["integration"] == "team-a"
    plain = await stack.start_batch(default_page, interval_seconds=1, duration_seconds=120)
    assert plain["integration"] == "default"

    async def all_checked(page_id: str, n: int) -> dict[str, Any] | None:
        todos = await page_todos(stack, page_id)
        lines = await log_lines(stack, page_id)
        done = len(todos) == n and all(t["checked"] for t in todos.values()) and len(lines) == n
        return todos if done else None

    await wait_for(lambda: all_checked(team_page, 2), timeout=30, what="team A's page worked")
    await wait_for(lambda: all_checked(default_page, 1), timeout=30, what="default page worked")

    team_calls = await requests(stack, path_contains=team_page)
    assert team_calls, "no request reached team A's page"
    assert {r["token"] for r in team_calls} == {TEAM_A_TOKEN}
    default_calls = await requests(stack, path_contains=default_page)
    assert {r["token"] for r in default_calls} == {TOKEN}

    status = await stack.status(team_page)
    assert status["integration"] == "team-a"
    code, history = await stack.api("GET", f"/api/v1/batch/history/{team_page}")
    assert code == 200
    assert history["runs"][0]["integration"] == "team-a"

    # Each integration has a bucket of its own in the fleet-wide rate limiter (keyed by a hash
    # of its token, never the token).
    db = await asyncpg.connect(database_url)
    try:
        buckets = {
            r["integration"] for r in await db.fetch("SELECT integration FROM notion_rate_limits")
        }
    finally:
        await db.close()
    assert len(buckets) == 2
    assert not any(TOKEN in b or TEAM_A_TOKEN in b for b in buckets)


@pytest.mark.stack_env(
    NOTION_EMULATOR_TOKENS=f"{TOKEN},{TEAM_A_TOKEN}",
    NOTION_INTEGRATIONS="team-a",
    NOTION_TOKEN_TEAM_A=TEAM_A_TOKEN,
)
async def test_a_page_shared_with_another_integration_fails_with_the_reason(
    stack: Stack,
) -> None:
    team_page = await create_page_for(stack, TEAM_A_TOKEN, ["not yours"])
    await stack.start_batch(team_page, interval_seconds=1, duration_seconds=120)

    async def failed() -> dict[str, Any] | None:
        status = await stack.status(team_page)
        return status if status["db_status"] == "failed" else None

    status = await wait_for(failed, timeout=30, what="the default integration's batch failing")
    assert "shared" in status["db_message"] or "not found" in status["db_message"].lower()
    assert not (await page_todos(stack, team_page))["not yours"]["checked"]


async def test_an_unknown_integration_is_refused_naming_the_known_ones(stack: Stack) -> None:
    code, answer = await stack.api(
        "POST",
        "/api/v1/batch/start",
        json={"notion_page_id": "0" * 32, "integration": "team-z"},
    )
    assert code == 400
    assert answer["field"] == "integration"
    assert "default" in answer["message"] and "team-z" in answer["message"]
