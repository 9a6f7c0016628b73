"""``Idempotency-Key`` on start: a retried start gets the first answer, never a second batch.

In-process against real PostgreSQL and RabbitMQ; the outage case cuts the database with a
TCP proxy, as test_api.py does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from notion_batch.api.main import create_app
from notion_batch.api.settings import ApiSettings
from tests.support.tcp_proxy import TcpProxy

PAGE = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
PAGE_URL = "https://www.notion.so/acme/Groceries-0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f"
KEY_A = "client-a-key-0123456789abcdef"
KEY_B = "client-b-key-0123456789abcdef"


def settings(database_url: str, amqp_url: str, namespace: str) -> ApiSettings:
    return ApiSettings.from_env(
        {
            "DATABASE_URL": database_url,
            "AMQP_URL": amqp_url,
            "AMQP_NAMESPACE": namespace,
            "API_KEYS": f"a:write:{KEY_A},b:write:{KEY_B}",
        }
    )


@pytest.fixture
async def client(
    database_url: str, amqp_url: str, amqp_namespace: str
) -> AsyncIterator[TestClient]:
    app = create_app(settings(database_url, amqp_url, amqp_namespace))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def start(
    client: TestClient, body: dict[str, Any], key: str | None, api_key: str = KEY_A
) -> tuple[int, bytes, dict[str, str]]:
    headers = {"Authorization": f"Bearer {api_key}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    response = await client.post("/api/v1/batch/start", json=body, headers=headers)
    assert response.content_type == "application/json"
    return response.status, await response.read(), dict(response.headers)


async def runs(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM notion_batch_runs"))


async def test_a_retried_start_gets_the_first_answer_byte_for_byte(
    client: TestClient, pool: asyncpg.Pool
) -> None:
    key = str(uuid.uuid4())
    body = {"notion_page_id": PAGE, "interval_seconds": 5, "duration_seconds": 60}
    status, first, headers = await start(client, body, key)
    assert status == 200
    assert headers["Idempotent-Replayed"] == "false"
    for _ in range(2):
        status, again, headers = await start(client, body, key)
        assert status == 200
        assert again == first
        assert headers["Idempotent-Replayed"] == "true"
    assert await runs(pool) == 1
    # Without the key the same start is what it always was: a conflict.
    status, _, _ = await start(client, body, None)
    assert status == 409


async def test_the_same_start_said_differently_is_the_same_request(
    client: TestClient, pool: asyncpg.Pool
) -> None:
    key = "retry-42"
    status, first, _ = await start(client, {"notion_page_id": PAGE}, key)
    assert status == 200
    status, again, headers = await start(client, {"notion_page_id": f"  {PAGE_URL} "}, key)
    assert (status, again, headers["Idempotent-Replayed"]) == (200, first, "true")
    assert await runs(pool) == 1


@pytest.mark.parametrize(
    "other",
    [
        {"notion_page_id": str(uuid.uuid4())},
        {"notion_page_id": PAGE, "duration_seconds": 60},
        {"notion_page_id": PAGE, "interval_seconds": 60},  # even if 60 is the default
    ],
)
async def test_the_same_key_with_another_request_is_a_422(
    client: TestClient, pool: asyncpg.Pool, other: dict[str, Any]
) -> None:
    key = str(uuid.uuid4())
    status, _, _ = await start(client, {"notion_page_id": PAGE}, key)
    assert status == 200
    status, raw, _ = await start(client, other, key)
    assert status == 422
    assert b'"field": "Idempotency-Key"' in raw
    assert b"different request" in raw
    assert await runs(pool) == 1


async def test_a_first_answer_of_409_is_replayed_too(client: TestClient) -> None:
    await start(client, {"notion_page_id": PAGE}, None)
    key = str(uuid.uuid4())
    status, first, headers = await start(client, {"notion_page_id": PAGE}, key)
    assert status == 409 and headers["Idempotent-Replayed"] == "false"
    assert b"already running" in first
    # Stopped meanwhile: the retry still gets the first answer, not a new batch.
    response = await client.post(
        f"/api/v1/batch/stop/{PAGE}", headers={"Authorization": f"Bearer {KEY_A}"}
    )
    assert response.status == 200
    status, again, headers = await start(client, {"notion_page_id": PAGE}, key)
    assert (status, again, headers["Idempotent-Replayed"]) == (409, first, "true")


async def test_concurrent_retries_start_one_batch_and_all_get_its_answer(
    client: TestClient, pool: asyncpg.Pool
) -> None:
    key = str(uuid.uuid4())
    results = await asyncio.gather(
        *(start(client, {"notion_page_id": PAGE}, key) for _ in range(10))
    )
    assert {status for status, _, _ in results} == {200}
    assert len({raw for _, raw, _ in results}) == 1
    assert sorted(h["Idempotent-Replayed"] for _, _, h in results) == ["false"] + ["true"] * 9
    assert await runs(pool) == 1


async def test_keys_belong_to_the_api_key_that_sent_them(client: TestClient) -> None:
    key = "shared-name"
    status, _, _ = await start(client, {"notion_page_id": PAGE}, key, api_key=KEY_A)
    assert status == 200
    # Client b's "shared-name" is its own: a new request, which conflicts with a's batch.
    status, _, headers = await start(client, {"notion_page_id": PAGE}, key, api_key=KEY_B)
    assert status == 409 and headers["Idempotent-Replayed"] == "false"


async def test_an_expired_key_starts_afresh(client: TestClient, pool: asyncpg.Pool) -> None:
    key = str(uuid.uuid4())
    status, first, _ = await start(client, {"notion_page_id": PAGE}, key)
    assert status == 200
    await client.post(f"/api/v1/batch/stop/{PAGE}", headers={"Authorization": f"Bearer {KEY_A}"})
    await pool.execute("UPDATE api_idempotency_keys SET expires_at = now() - interval '1 second'")
    status, again, headers = await start(client, {"notion_page_id": PAGE}, key)
    assert status == 200 and headers["Idempotent-Replayed"] == "false"
    assert again != first
    assert await runs(pool) == 2


@pytest.mark.parametrize("value", ["x" * 256, "has space", "tab\tinside"])
async def test_a_malformed_key_is_a_400(client: TestClient, value: str) -> None:
    status, raw, _ = await start(client, {"notion_page_id": PAGE}, value)
    assert status == 400
    assert b'"field": "Idempotency-Key"' in raw


async def test_a_start_that_failed_for_an_outage_can_be_retried_with_its_key(
    database_url: str, amqp_url: str, amqp_namespace: str, pool: asyncpg.Pool
) -> None:
    parts = urlsplit(database_url)
    async with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        proxied = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
        app = create_app(settings(proxied, amqp_url, amqp_namespace))
        async with TestClient(TestServer(app)) as client:
            key = str(uuid.uuid4())
            proxy.cut()
            status, _, headers = await start(client, {"notion_page_id": PAGE}, key)
            assert status == 503 and headers["Retry-After"]
            proxy.restore()
            # Nothing was kept of the failed start: the retry starts the batch for real.
            status, _, headers = await start(client, {"notion_page_id": PAGE}, key)
            assert status == 200 and headers["Idempotent-Replayed"] == "false"
    assert await runs(pool) == 1
