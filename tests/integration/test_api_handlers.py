"""A batch's handler chosen in the start request: validated against the installed ones,
stored on the run, answered by start and status. In-process, real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from notion_batch.common.handlers import handler_names
from tests.integration.conftest import ApiClientFactory

PAGE = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


@pytest.fixture
async def client(make_api_client: ApiClientFactory) -> TestClient:
    return await make_api_client({"API_AUTH": "disabled"})


async def test_a_chosen_handler_is_stored_and_answered(client: TestClient) -> None:
    response = await client.post(
        "/api/v1/batch/start", json={"notion_page_id": PAGE, "handler": "webhook"}
    )
    assert response.status == 200
    assert (await response.json())["handler"] == "webhook"
    status = await (await client.get(f"/api/v1/batch/status/{PAGE}")).json()
    assert status["handler"] == "webhook"


@pytest.mark.parametrize("body", [{}, {"handler": None}])
async def test_no_handler_means_the_workers_default(client: TestClient, body: dict) -> None:
    response = await client.post("/api/v1/batch/start", json={"notion_page_id": PAGE, **body})
    assert response.status == 200
    assert (await response.json())["handler"] is None
    status = await (await client.get(f"/api/v1/batch/status/{PAGE}")).json()
    assert status["handler"] is None


async def test_a_plugins_handler_may_be_chosen(client: TestClient) -> None:
    # The example plugin is installed with the project (make install), entry point and all.
    assert "triage" in handler_names()
    response = await client.post(
        "/api/v1/batch/start", json={"notion_page_id": PAGE, "handler": "triage"}
    )
    assert response.status == 200
    assert (await response.json())["handler"] == "triage"


@pytest.mark.parametrize("handler", ["shred", "", "notion_batch.worker.handlers:complete", 7, []])
async def test_an_unknown_handler_is_a_400_naming_the_field_and_the_valid_names(
    client: TestClient, handler: object
) -> None:
    response = await client.post(
        "/api/v1/batch/start", json={"notion_page_id": PAGE, "handler": handler}
    )
    assert response.status == 400
    answer = await response.json()
    assert answer["field"] == "handler"
    for name in handler_names():
        assert name in answer["message"]
    # Nothing was started.
    assert (await client.get(f"/api/v1/batch/status/{PAGE}")).status == 404


async def test_the_handler_is_part_of_what_an_idempotency_key_means(client: TestClient) -> None:
    headers = {"Idempotency-Key": "handler-key-1"}
    first = await client.post(
        "/api/v1/batch/start",
        json={"notion_page_id": PAGE, "handler": "webhook"},
        headers=headers,
    )
    assert first.status == 200
    again = await client.post(
        "/api/v1/batch/start",
        json={"notion_page_id": PAGE, "handler": "webhook"},
        headers=headers,
    )
    assert again.status == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await again.json())["handler"] == "webhook"
    other = await client.post(
        "/api/v1/batch/start",
        json={"notion_page_id": PAGE, "handler": "complete"},
        headers=headers,
    )
    assert other.status == 422


async def test_the_openapi_document_lists_the_installed_handlers(client: TestClient) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    handler = document["components"]["schemas"]["StartRequest"]["properties"]["handler"]
    assert handler["oneOf"][0]["enum"] == list(handler_names())
