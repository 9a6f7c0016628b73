"""The REST API in-process, against real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import pytest
from aiohttp.test_utils import TestClient, TestServer

from notion_batch.api.main import create_app
from notion_batch.api.settings import ApiSettings
from notion_batch.common.messaging.messages import StartBatch, StopBatch, decode
from notion_batch.common.messaging.topology import Topology
from tests.integration.conftest import ApiClientFactory
from tests.support.tcp_proxy import TcpProxy

PAGE_HEX = "0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f"
PAGE = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


@pytest.fixture
async def client(make_api_client: ApiClientFactory) -> TestClient:
    # Authentication has tests of its own (test_api_auth.py); here it is explicitly off.
    return await make_api_client({"API_AUTH": "disabled"})


async def start(client: TestClient, body: object) -> tuple[int, dict]:
    response = await client.post("/api/v1/batch/start", json=body)
    return response.status, await response.json()


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), value
    return parsed


async def test_start_answers_the_guides_fields(client: TestClient) -> None:
    status, body = await start(client, {"notion_page_id": PAGE_HEX})
    assert status == 200
    assert body["success"] is True
    assert body["notion_page_id"] == PAGE
    assert isinstance(body["message"], str) and body["message"]
    start_time, end_time = parse_time(body["start_time"]), parse_time(body["end_time"])
    assert end_time - start_time == timedelta(seconds=900)


async def test_start_accepts_a_notion_url_and_custom_timing(client: TestClient) -> None:
    url = f"https://www.notion.so/acme/Groceries-{PAGE_HEX}?pvs=4"
    status, body = await start(
        client, {"notion_page_id": url, "interval_seconds": 5, "duration_seconds": 30}
    )
    assert status == 200
    assert body["notion_page_id"] == PAGE
    assert parse_time(body["end_time"]) - parse_time(body["start_time"]) == timedelta(seconds=30)
    assert body["interval_seconds"] == 5


async def test_start_accepts_the_link_notion_copies_today(client: TestClient) -> None:
    """The issue's user: the 2026 app's "Copy link" (gh/dvanoni/notero#825)."""
    url = f" https://app.notion.com/p/Groceries-{PAGE_HEX}?source=copy_link "
    status, body = await start(client, {"notion_page_id": url})
    assert status == 200, body
    assert body["notion_page_id"] == PAGE
    # The same link in the path (URL-encoded) names the same batch.
    response = await client.get(f"/api/v1/batch/status/{quote(url.strip(), safe='')}")
    assert response.status == 200
    assert (await response.json())["notion_page_id"] == PAGE


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("https://acme.notion.site/my-custom-slug", "holds no page id"),
        ("https://example.com/Groceries-" + PAGE_HEX, "must be one of"),
    ],
)
async def test_a_page_id_refusal_names_the_accepted_forms(
    client: TestClient, given: str, says: str
) -> None:
    status, answer = await start(client, {"notion_page_id": given})
    assert status == 400
    assert set(answer) == {"success", "message", "field", "accepted_forms"}
    assert answer["success"] is False
    assert answer["field"] == "notion_page_id"
    assert says in answer["message"]
    assert '"Copy link"' in answer["message"]
    assert "https://app.notion.com/p/<Title>-<id>" in answer["accepted_forms"]
    assert len(answer["accepted_forms"]) == 7
    response = await client.get(f"/api/v1/batch/status/{quote(given, safe='')}")
    assert response.status == 400
    assert (await response.json())["accepted_forms"] == answer["accepted_forms"]


async def test_the_running_list_comes_in_pages_that_miss_and_repeat_nothing(
    client: TestClient,
) -> None:
    pages = sorted(str(uuid.uuid4()) for _ in range(7))
    for page in pages:
        assert (await start(client, {"notion_page_id": page}))[0] == 200
    await client.post(f"/api/v1/batch/stop/{pages[3]}")
    running = [p for p in pages if p != pages[3]]

    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = "?limit=4" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(f"/api/v1/batch/status{query}")
        assert response.status == 200
        body = await response.json()
        assert body["running_count"] == len(running)  # all of them, on every page
        assert len(body["running_batches"]) <= 4
        assert [b["notion_page_id"] for b in body["batches"]] == body["running_batches"]
        assert body["scheduler_jobs"] == [f"batch_{p}" for p in body["running_batches"]]
        seen += body["running_batches"]
        assert body["has_more"] is (body["next_cursor"] is not None)
        if not body["has_more"]:
            break
        cursor = body["next_cursor"]
    # Oldest start first: the order they were started in.
    assert seen == running


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=1001",
        "limit=x",
        "cursor=12",
        f"cursor=x:{PAGE}",
        f"cursor=605545255400273361:{PAGE}",  # past what a datetime holds
        "page=2",
    ],
)
async def test_a_bad_running_list_query_is_400_naming_it(client: TestClient, query: str) -> None:
    response = await client.get(f"/api/v1/batch/status?{query}")
    assert response.status == 400
    body = await response.json()
    assert body["success"] is False
    assert body["field"] == query.partition("=")[0]


async def test_status_reads_its_writes(client: TestClient) -> None:
    await start(client, {"notion_page_id": PAGE})
    response = await client.get(f"/api/v1/batch/status/{PAGE_HEX}")
    assert response.status == 200
    body = await response.json()
    assert body["success"] is True
    assert body["db_status"] == "running"
    assert body["is_running"] is True
    assert set(body) >= {"db_message", "db_last_run_at", "running_info"}
    assert body["running_info"]["notion_page_id"] == PAGE
    assert body["running_info"]["status"] == "running"
    everything = await (await client.get("/api/v1/batch/status")).json()
    assert everything == {
        "success": True,
        "running_batches": [PAGE],
        "running_count": 1,
        "scheduler_jobs": [f"batch_{PAGE}"],
        "batches": everything["batches"],
        "has_more": False,
        "next_cursor": None,
    }

    response = await client.post(f"/api/v1/batch/stop/{PAGE}")
    assert response.status == 200
    stopped = await response.json()
    assert stopped["success"] is True and stopped["notion_page_id"] == PAGE
    parse_time(stopped["end_time"])
    body = await (await client.get(f"/api/v1/batch/status/{PAGE}")).json()
    assert body["db_status"] == "completed"
    assert "stopped" in body["db_message"]
    assert body["is_running"] is False and body["running_info"] is None
    assert (await (await client.get("/api/v1/batch/status")).json())["running_count"] == 0


async def test_start_publishes_a_persistent_command(
    client: TestClient, amqp_url: str, amqp_namespace: str
) -> None:
    await start(client, {"notion_page_id": PAGE})
    await client.post(f"/api/v1/batch/stop/{PAGE}")
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(Topology(amqp_namespace).commands_queue)
        received = []
        for _ in range(2):
            message = await queue.get(timeout=5)
            assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            received.append(decode(message.type, message.body))
            await message.ack()
    assert isinstance(received[0], StartBatch) and received[0].notion_page_id == PAGE
    assert isinstance(received[1], StopBatch) and received[1].run_id == received[0].run_id


async def test_second_start_is_a_conflict(client: TestClient) -> None:
    await start(client, {"notion_page_id": PAGE})
    status, body = await start(client, {"notion_page_id": PAGE_HEX})
    assert status == 409
    assert body["success"] is False
    assert body["notion_page_id"] == PAGE
    assert "already running" in body["message"]


async def test_concurrent_starts_give_exactly_one_success(client: TestClient) -> None:
    results = await asyncio.gather(*(start(client, {"notion_page_id": PAGE}) for _ in range(10)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * 9


async def test_stop_when_not_running_is_a_conflict(client: TestClient) -> None:
    response = await client.post(f"/api/v1/batch/stop/{PAGE}")
    assert response.status == 409
    body = await response.json()
    assert body["success"] is False and body["notion_page_id"] == PAGE


async def test_unknown_page_status_is_not_found(client: TestClient) -> None:
    response = await client.get(f"/api/v1/batch/status/{uuid.uuid4()}")
    assert response.status == 404
    assert (await response.json())["success"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "notion_page_id"),
        ({"notion_page_id": 42}, "notion_page_id"),
        ({"notion_page_id": "not-a-page"}, "notion_page_id"),
        ({"notion_page_id": PAGE, "interval_seconds": 0}, "interval_seconds"),
        ({"notion_page_id": PAGE, "interval_seconds": "60"}, "interval_seconds"),
        ({"notion_page_id": PAGE, "interval_seconds": True}, "interval_seconds"),
        ({"notion_page_id": PAGE, "duration_seconds": -1}, "duration_seconds"),
        ({"notion_page_id": PAGE, "duration_seconds": 10**12}, "duration_seconds"),
        ({"notion_page_id": PAGE, "durration_seconds": 60}, "durration_seconds"),
    ],
)
async def test_invalid_start_bodies_name_the_field(
    client: TestClient, body: dict, field: str
) -> None:
    status, answer = await start(client, body)
    assert status == 400
    assert answer["success"] is False
    assert answer["field"] == field
    assert field in answer["message"]


@pytest.mark.parametrize("raw", [b"", b"{", b"[1, 2]", b'"page"', b"\xff\xfe"])
async def test_malformed_json_is_a_400(client: TestClient, raw: bytes) -> None:
    response = await client.post(
        "/api/v1/batch/start", data=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert response.content_type == "application/json"
    assert (await response.json())["success"] is False


async def test_bad_page_id_in_the_path_is_a_400(client: TestClient) -> None:
    for method, path in [("GET", "/api/v1/batch/status/nope"), ("POST", "/api/v1/batch/stop/nope")]:
        response = await client.request(method, path)
        assert response.status == 400
        assert (await response.json())["field"] == "notion_page_id"


async def test_unknown_routes_and_methods_answer_json(client: TestClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status == 404 and response.content_type == "application/json"
    response = await client.get("/api/v1/batch/start")
    assert response.status == 405 and response.content_type == "application/json"
    assert (await response.json())["success"] is False


async def test_oversized_body_is_a_413(client: TestClient) -> None:
    response = await client.post(
        "/api/v1/batch/start", data=b"x" * (65 * 1024), headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
    assert (await response.json())["success"] is False


async def test_database_outage_is_a_503_and_recovers(
    database_url: str, amqp_url: str, amqp_namespace: str
) -> None:
    parts = urlsplit(database_url)
    async with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        proxied = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
        settings = ApiSettings.from_env(
            {
                "DATABASE_URL": proxied,
                "AMQP_URL": amqp_url,
                "AMQP_NAMESPACE": amqp_namespace,
                "API_AUTH": "disabled",
            }
        )
        async with TestClient(TestServer(create_app(settings))) as client:
            assert (await client.get(f"/api/v1/batch/status/{PAGE}")).status == 404
            proxy.cut()
            for path in (f"/api/v1/batch/status/{PAGE}", "/api/v1/batch/status"):
                response = await client.get(path)
                assert response.status == 503
                assert response.headers["Retry-After"]
                assert "database" in (await response.json())["message"]
            status, body = await start(client, {"notion_page_id": PAGE})
            assert status == 503 and body["success"] is False
            ready = await client.get("/readyz")
            assert ready.status == 503
            assert (await ready.json())["checks"]["database"] is False
            proxy.restore()
            # Recovers without a restart: the pool reconnects on its own. A pooled connection
            # cut during the outage may still answer one more 503 (asyncpg notices a dead
            # socket on use), so allow a few seconds — but every answer meanwhile is a 503.
            for _ in range(50):
                status, body = await start(client, {"notion_page_id": PAGE})
                if status != 503:
                    break
                await asyncio.sleep(0.1)
            assert status == 200, body


async def test_health_and_readiness(client: TestClient) -> None:
    assert (await client.get("/healthz")).status == 200
    for _ in range(50):
        ready = await client.get("/readyz")
        if ready.status == 200:
            break
        await asyncio.sleep(0.1)
    assert ready.status == 200
    assert (await ready.json())["checks"] == {"database": True, "broker": True}
