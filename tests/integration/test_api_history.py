"""History, to-dos and extend: the endpoints beyond start/stop, in-process against real
PostgreSQL and RabbitMQ, with the rows written by the real repositories."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from notion_batch.common.db.batches import BatchRepository
from notion_batch.common.db.ticks import SyncedTodo, TickRepository
from tests.integration.conftest import ApiClientFactory

PAGE = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
KEY = "history-writer-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def client(make_api_client: ApiClientFactory) -> TestClient:
    return await make_api_client({"API_KEYS": f"ops:write:{KEY}"})


async def call(
    client: TestClient, method: str, path: str, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    response = await client.request(method, path, headers=AUTH, **kwargs)
    assert response.content_type == "application/json"
    return response.status, await response.json()


async def start(client: TestClient, page: str = PAGE, **body: Any) -> dict[str, Any]:
    status, answer = await call(
        client, "POST", "/api/v1/batch/start", json={"notion_page_id": page, **body}
    )
    assert status == 200, answer
    return answer


async def stop(client: TestClient, page: str = PAGE) -> dict[str, Any]:
    status, answer = await call(client, "POST", f"/api/v1/batch/stop/{page}")
    assert status == 200, answer
    return answer


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), value
    return parsed


# -- history -------------------------------------------------------------------------------------


async def test_history_lists_runs_newest_first_with_how_they_ended(
    client: TestClient, pool: asyncpg.Pool
) -> None:
    first = await start(client, duration_seconds=1, interval_seconds=5)
    await asyncio.sleep(1.1)
    expired = await BatchRepository(pool).complete_expired(10)
    assert [e.run_id for e in expired] == [first["run_id"]]
    second = await start(client)
    await stop(client)
    third = await start(client)
    assert await TickRepository(pool).fail_batch(PAGE, third["run_id"], "page not shared")
    fourth = await start(client, interval_seconds=7)

    status, body = await call(client, "GET", f"/api/v1/batch/history/{PAGE}")
    assert status == 200
    assert body["success"] is True and body["notion_page_id"] == PAGE
    assert body["has_more"] is False and body["next_cursor"] is None
    runs = body["runs"]
    assert [r["run_id"] for r in runs] == [
        fourth["run_id"],
        third["run_id"],
        second["run_id"],
        first["run_id"],
    ]
    running, failed, stopped, ended = runs
    assert running["status"] == "running" and running["end_reason"] is None
    assert running["end_time"] is None and running["interval_seconds"] == 7
    assert running["scheduled_end_time"] == fourth["end_time"]
    assert failed["status"] == "failed" and failed["end_reason"] == "failed"
    assert failed["message"] == "page not shared"
    assert stopped["status"] == "completed" and stopped["end_reason"] == "stopped"
    assert "stopped" in stopped["message"]
    assert ended["end_reason"] == "expired" and "expired" in ended["message"]
    assert parse_time(ended["end_time"]) == parse_time(ended["scheduled_end_time"])
    for run in runs:
        parse_time(run["start_time"])
        assert run["ticks"] >= 0 and run["ticks_coalesced"] >= 0
        assert run["todos"] == {"done": 0, "skipped": 0}


async def test_history_is_paginated_by_cursor(client: TestClient) -> None:
    ids = []
    for _ in range(5):
        ids.append((await start(client))["run_id"])
        await stop(client)
    ids.reverse()
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, body = await call(client, "GET", f"/api/v1/batch/history/{PAGE}", params=params)
        assert status == 200
        seen += [r["run_id"] for r in body["runs"]]
        pages += 1
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        assert len(body["runs"]) == 2
        cursor = body["next_cursor"]
    assert seen == ids
    assert pages == 3
    # A cursor past the last run is simply an empty page.
    status, body = await call(
        client, "GET", f"/api/v1/batch/history/{PAGE}", params={"cursor": str(min(ids))}
    )
    assert status == 200 and body["runs"] == [] and body["has_more"] is False


async def test_history_of_a_page_that_never_ran_is_a_404(client: TestClient) -> None:
    status, body = await call(client, "GET", f"/api/v1/batch/history/{uuid.uuid4()}")
    assert status == 404
    assert body["success"] is False and "no batch" in body["message"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("limit=1&limit=2", "limit"),
        ("cursor=abc", "cursor"),
        ("cursor=0", "cursor"),
        ("cursor=-4", "cursor"),
        ("page=2", "page"),
    ],
)
async def test_bad_history_queries_name_the_parameter(
    client: TestClient, query: str, field: str
) -> None:
    await start(client)
    status, body = await call(client, "GET", f"/api/v1/batch/history/{PAGE}?{query}")
    assert status == 400
    assert body["success"] is False and body["field"] == field
    assert field in body["message"]


# -- to-dos ---------------------------------------------------------------------------------------


async def seed_todos(pool: asyncpg.Pool, run_id: int, count: int) -> list[str]:
    """``count`` to-dos in page order: every third done, every third+1 failed once."""
    todos = TickRepository(pool)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    await todos.merge_synced(
        PAGE,
        [SyncedTodo(block_id, i, f"task {i}", False) for i, block_id in enumerate(ids)],
    )
    for i, block_id in enumerate(ids):
        if i % 3 == 0:
            assert await todos.record_outcome(block_id, run_id, "done", f"done {i}")
        elif i % 3 == 1:
            await todos.record_failure(block_id, run_id, "boom", max_attempts=3)
    return ids


async def test_todos_list_the_pages_todos_in_page_order(
    client: TestClient, pool: asyncpg.Pool
) -> None:
    run = await start(client)
    ids = await seed_todos(pool, run["run_id"], 7)
    status, body = await call(client, "GET", f"/api/v1/batch/todos/{PAGE}")
    assert status == 200
    assert body["success"] is True and body["notion_page_id"] == PAGE
    assert body["counts"] == {"pending": 4, "done": 3, "skipped": 0, "total": 7}
    assert body["has_more"] is False and body["next_cursor"] is None
    todos = body["todos"]
    assert [t["block_id"] for t in todos] == ids
    done, failed, untouched = todos[0], todos[1], todos[2]
    assert done["status"] == "done" and done["result"] == "done 0"
    assert done["run_id"] == run["run_id"] and done["attempts"] == 0
    parse_time(done["processed_at"])
    assert failed["status"] == "pending" and failed["attempts"] == 1
    assert failed["last_error"] == "boom" and failed["processed_at"] is None
    assert untouched["attempts"] == 0 and untouched["last_error"] is None
    assert untouched["text"] == "task 2" and untouched["position"] == 2
    parse_time(untouched["first_seen_at"])


async def test_todos_filter_by_status_and_paginate(client: TestClient, pool: asyncpg.Pool) -> None:
    run = await start(client)
    ids = await seed_todos(pool, run["run_id"], 12)
    path = f"/api/v1/batch/todos/{PAGE}"
    status, body = await call(client, "GET", path, params={"status": "done"})
    assert status == 200
    assert [t["block_id"] for t in body["todos"]] == ids[::3]
    assert body["counts"]["total"] == 12  # counts cover the whole page whatever the filter
    status, body = await call(client, "GET", f"{path}?status=done,skipped")
    assert [t["status"] for t in body["todos"]] == ["done"] * 4
    status, body = await call(client, "GET", f"{path}?status=pending&status=done")
    assert len(body["todos"]) == 12

    seen: list[str] = []
    cursor = None
    while True:
        params = {"status": "pending", "limit": "3", **({"cursor": cursor} if cursor else {})}
        status, body = await call(client, "GET", path, params=params)
        assert status == 200
        seen += [t["block_id"] for t in body["todos"]]
        if not body["has_more"]:
            break
        cursor = body["next_cursor"]
    assert seen == [b for i, b in enumerate(ids) if i % 3]


async def test_todos_of_a_known_page_without_todos_is_an_empty_list(client: TestClient) -> None:
    await start(client)
    status, body = await call(client, "GET", f"/api/v1/batch/todos/{PAGE}")
    assert status == 200
    assert body["todos"] == [] and body["counts"]["total"] == 0


async def test_todos_of_a_page_that_never_ran_is_a_404(client: TestClient) -> None:
    status, body = await call(client, "GET", f"/api/v1/batch/todos/{uuid.uuid4()}")
    assert status == 404 and body["success"] is False


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=finished", "status"),
        ("status=", "status"),
        ("status=done,,pending", "status"),
        ("limit=501", "limit"),
        ("limit=-1", "limit"),
        ("cursor=12", "cursor"),
        ("cursor=1:not-a-uuid", "cursor"),
        ("sort=text", "sort"),
    ],
)
async def test_bad_todo_queries_name_the_parameter(
    client: TestClient, query: str, field: str
) -> None:
    await start(client)
    status, body = await call(client, "GET", f"/api/v1/batch/todos/{PAGE}?{query}")
    assert status == 400
    assert body["field"] == field


async def test_a_bad_page_id_in_report_paths_is_a_400(client: TestClient) -> None:
    for path in ("/api/v1/batch/history/nope", "/api/v1/batch/todos/nope"):
        status, body = await call(client, "GET", path)
        assert status == 400 and body["field"] == "notion_page_id"


# -- extend ---------------------------------------------------------------------------------------


async def test_extend_moves_the_end_of_the_batch_and_of_its_run(
    client: TestClient, pool: asyncpg.Pool
) -> None:
    started = await start(client, duration_seconds=120)
    status, body = await call(
        client, "POST", f"/api/v1/batch/extend/{PAGE}", json={"duration_seconds": 600}
    )
    assert status == 200, body
    assert body["success"] is True and body["notion_page_id"] == PAGE
    assert body["run_id"] == started["run_id"]
    assert body["previous_end_time"] == started["end_time"]
    end = parse_time(body["end_time"])
    assert end - parse_time(started["end_time"]) == timedelta(seconds=600)
    assert body["duration_seconds"] == 720
    assert "10 minutes" in body["message"]
    row = await pool.fetchrow(
        "SELECT s.end_time, r.ends_at FROM notion_batch_status s "
        "JOIN notion_batch_runs r ON r.id = s.run_id WHERE s.notion_page_id = $1",
        uuid.UUID(PAGE),
    )
    assert row is not None
    assert row["end_time"] == end and row["ends_at"] == end
    status, shown = await call(client, "GET", f"/api/v1/batch/status/{PAGE}")
    assert parse_time(shown["end_time"]) == end
    assert parse_time(shown["running_info"]["end_time"]) == end


async def test_a_whole_number_written_as_a_float_is_a_whole_number(client: TestClient) -> None:
    started = await start(client, duration_seconds=60.0)
    assert started["duration_seconds"] == 60
    status, body = await call(
        client, "POST", f"/api/v1/batch/extend/{PAGE}", json={"duration_seconds": 30.0}
    )
    assert status == 200 and body["duration_seconds"] == 90


async def test_concurrent_extensions_all_count(client: TestClient) -> None:
    started = await start(client, duration_seconds=60)
    results = await asyncio.gather(
        *(
            call(client, "POST", f"/api/v1/batch/extend/{PAGE}", json={"duration_seconds": 10})
            for _ in range(8)
        )
    )
    assert [status for status, _ in results] == [200] * 8
    _, shown = await call(client, "GET", f"/api/v1/batch/status/{PAGE}")
    assert parse_time(shown["end_time"]) - parse_time(started["end_time"]) == timedelta(seconds=80)


async def test_extending_a_batch_that_does_not_run_is_a_conflict(
    client: TestClient, pool: asyncpg.Pool
) -> None:
    path = f"/api/v1/batch/extend/{PAGE}"
    status, body = await call(client, "POST", path, json={"duration_seconds": 60})
    assert status == 409 and body["notion_page_id"] == PAGE  # never ran
    await start(client)
    await stop(client)
    status, body = await call(client, "POST", path, json={"duration_seconds": 60})
    assert status == 409 and "no batch is running" in body["message"]
    # Past its end but not yet expired by the scheduler: too late to extend.
    await start(client, duration_seconds=1)
    await asyncio.sleep(1.1)
    status, body = await call(client, "POST", path, json={"duration_seconds": 60})
    assert status == 409
    await BatchRepository(pool).complete_expired(10)
    status, body = await call(client, "GET", f"/api/v1/batch/history/{PAGE}")
    assert body["runs"][0]["end_reason"] == "expired"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "duration_seconds"),
        ({"duration_seconds": 0}, "duration_seconds"),
        ({"duration_seconds": -60}, "duration_seconds"),
        ({"duration_seconds": "600"}, "duration_seconds"),
        ({"duration_seconds": 1.5}, "duration_seconds"),
        ({"duration_seconds": True}, "duration_seconds"),
        ({"duration_seconds": 10**9}, "duration_seconds"),
        ({"duration_seconds": 60, "reason": "more"}, "reason"),
    ],
)
async def test_bad_extend_bodies_name_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    await start(client)
    status, answer = await call(client, "POST", f"/api/v1/batch/extend/{PAGE}", json=body)
    assert status == 400
    assert answer["field"] == field and field in answer["message"]


async def test_a_batch_cannot_be_extended_past_thirty_days(client: TestClient) -> None:
    started = await start(client, duration_seconds=29 * 86_400)
    path = f"/api/v1/batch/extend/{PAGE}"
    status, answer = await call(client, "POST", path, json={"duration_seconds": 2 * 86_400})
    assert status == 400
    assert answer["field"] == "duration_seconds" and answer["max_seconds"] == 30 * 86_400
    status, shown = await call(client, "GET", f"/api/v1/batch/status/{PAGE}")
    assert shown["end_time"] == started["end_time"]  # unchanged
    status, answer = await call(client, "POST", path, json={"duration_seconds": 86_400})
    assert status == 200 and answer["duration_seconds"] == 30 * 86_400


async def test_malformed_extend_json_is_a_400(client: TestClient) -> None:
    await start(client)
    for raw in (b"", b"{", b"[]"):
        response = await client.post(
            f"/api/v1/batch/extend/{PAGE}",
            data=raw,
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert response.status == 400
        assert (await response.json())["success"] is False
