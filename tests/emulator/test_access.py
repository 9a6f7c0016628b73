"""Authentication, versioning, malformed requests and pages not shared with the integration."""

from __future__ import annotations

import json

import httpx
import pytest
from notion_client import AsyncClient
from notion_client.errors import APIErrorCode, APIResponseError

from notion_batch.emulator import RunningEmulator
from tests.emulator.conftest import NOTION_VERSION, sdk


def assert_error_body(body: dict[str, object], status: int, code: str) -> None:
    assert body.keys() == {"object", "status", "code", "message", "request_id"}
    assert body["object"] == "error"
    assert body["status"] == status
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]


async def test_unknown_token_is_unauthorized(emulator: RunningEmulator) -> None:
    created = emulator.state.create_page("P")
    client = sdk(emulator, token="secret_not_a_real_token")
    try:
        with pytest.raises(APIResponseError) as caught:
            await client.pages.retrieve(created.page_id)
    finally:
        await client.aclose()

    assert caught.value.status == 401
    assert caught.value.code == APIErrorCode.Unauthorized
    assert str(caught.value) == "API token is invalid."
    assert_error_body(json.loads(caught.value.body), 401, "unauthorized")


async def test_missing_notion_version(emulator: RunningEmulator, http: httpx.AsyncClient) -> None:
    created = emulator.state.create_page("P")

    answer = await http.get(
        f"/v1/pages/{created.page_id}", headers={"Authorization": f"Bearer {emulator.token}"}
    )

    assert answer.status_code == 400
    assert_error_body(answer.json(), 400, "missing_version")


async def test_missing_authorization(emulator: RunningEmulator, http: httpx.AsyncClient) -> None:
    answer = await http.get("/v1/pages/x", headers={"Notion-Version": NOTION_VERSION})

    assert answer.status_code == 401
    assert_error_body(answer.json(), 401, "unauthorized")


async def test_invalid_json_body(emulator: RunningEmulator, http: httpx.AsyncClient) -> None:
    created = emulator.state.create_page("P")

    answer = await http.patch(
        f"/v1/blocks/{created.page_id}/children",
        content=b"{not json",
        headers={
            "Authorization": f"Bearer {emulator.token}",
            "Notion-Version": NOTION_VERSION,
            "Content-Type": "application/json",
        },
    )

    assert answer.status_code == 400
    assert_error_body(answer.json(), 400, "invalid_json")


async def test_unknown_route(emulator: RunningEmulator, http: httpx.AsyncClient) -> None:
    answer = await http.get(
        "/v1/nothing/here",
        headers={"Authorization": f"Bearer {emulator.token}", "Notion-Version": NOTION_VERSION},
    )

    assert answer.status_code == 400
    assert_error_body(answer.json(), 400, "invalid_request_url")


async def test_malformed_id(notion: AsyncClient) -> None:
    with pytest.raises(APIResponseError) as caught:
        await notion.blocks.retrieve("not-an-id")

    assert caught.value.status == 400
    assert caught.value.code == APIErrorCode.ValidationError


async def test_unknown_ids_are_not_found(notion: AsyncClient) -> None:
    missing = "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b"

    with pytest.raises(APIResponseError) as block:
        await notion.blocks.children.list(missing)
    with pytest.raises(APIResponseError) as page:
        await notion.pages.retrieve(missing)

    assert block.value.status == 404
    assert block.value.code == APIErrorCode.ObjectNotFound
    assert str(block.value) == (
        f"Could not find block with ID: {missing}. "
        "Make sure the relevant pages and databases are shared with your integration."
    )
    assert str(page.value).startswith(f"Could not find page with ID: {missing}.")


async def test_unshared_page_is_not_found_until_shared_again(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    created = emulator.state.create_page("Private", [{"text": "secret to-do"}])
    emulator.state.set_shared(created.page_id, False)

    for call in (
        notion.pages.retrieve(created.page_id),
        notion.blocks.children.list(created.page_id),
        notion.blocks.retrieve(created.block_ids[0]),
        notion.blocks.update(created.block_ids[0], to_do={"checked": True}),
    ):
        with pytest.raises(APIResponseError) as caught:
            await call
        assert caught.value.status == 404
        assert caught.value.code == APIErrorCode.ObjectNotFound

    emulator.state.set_shared(created.page_id, True)
    assert (await notion.pages.retrieve(created.page_id))["id"] == created.page_id


async def test_a_page_shared_with_one_integration_is_not_found_by_another(
    emulator: RunningEmulator, http: httpx.AsyncClient
) -> None:
    other = "secret_other_integration"
    object.__setattr__(emulator.state.config, "tokens", frozenset({emulator.token, other}))
    created = emulator.state.create_page("Team A", [{"text": "a"}], shared_with=[other])
    assert emulator.state.tree(created.page_id)["shared_with"] == [other]

    async with sdk(emulator, token=other) as theirs, sdk(emulator) as ours:
        assert (await theirs.pages.retrieve(created.page_id))["id"] == created.page_id
        listed = await theirs.blocks.children.list(created.page_id)
        assert [b["id"] for b in listed["results"]] == [created.block_ids[0]]
        for call in (
            ours.pages.retrieve(created.page_id),
            ours.blocks.children.list(created.page_id),
            ours.blocks.update(created.block_ids[0], to_do={"checked": True}),
        ):
            with pytest.raises(APIResponseError) as caught:
                await call
            assert caught.value.status == 404

    body = {"title": "x", "shared_with": "not-a-list"}
    answer = await http.post("/_emulator/pages", json=body)
    assert answer.status_code == 400
