"""The API's Prometheus metrics: requests by route template, batches started and stopped."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from tests.integration.conftest import ApiClientFactory

PAGE = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
KEY = "metrics-writer-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def client(make_api_client: ApiClientFactory, registry: CollectorRegistry) -> TestClient:
    return await make_api_client({"API_KEYS": f"ops:write:{KEY}"}, registry=registry)


async def test_requests_and_batches_are_counted_by_route_template_never_by_path(
    client: TestClient, registry: CollectorRegistry
) -> None:
    assert (
        await client.post("/api/v1/batch/start", json={"notion_page_id": PAGE}, headers=AUTH)
    ).status == 200
    assert (
        await client.post("/api/v1/batch/start", json={"notion_page_id": PAGE}, headers=AUTH)
    ).status == 409
    assert (await client.post(f"/api/v1/batch/stop/{PAGE}", headers=AUTH)).status == 200
    assert (await client.get(f"/api/v1/batch/status/{PAGE}")).status == 401
    assert (await client.get("/no/such/path/secret_abcdefgh12345")).status == 404

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(f"notion_batch_{name}", labels)

    assert sample("batches_started_total") == 1
    assert sample("batches_ended_total", reason="stopped") == 1
    start = {"route": "/api/v1/batch/start", "method": "POST"}
    assert sample("http_requests_total", **start, status="200") == 1
    assert sample("http_requests_total", **start, status="409") == 1
    status = {"route": "/api/v1/batch/status/{notion_page_id}", "method": "GET", "status": "401"}
    assert sample("http_requests_total", **status) == 1
    assert sample("http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert sample("http_request_duration_seconds_count", **start) == 2

    exposition = await (await client.get("/metrics")).text()
    assert "notion_batch_db_pool_connections_max" in exposition
    assert PAGE not in exposition and "secret_" not in exposition
