"""Reading pages as real workspaces hold them (issue 12): one unreadable block costs its subtree
only, synced content is read once, templates and trash are not work, and Notion-Version
2026-03-11 shapes (no ``archived``) are read."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from notion_batch.common.notion import NotionAccessError, NotionGateway
from notion_batch.emulator import RunningEmulator
from notion_batch.emulator.realistic import create_realistic_page
from tests.notion.conftest import make_gateway


def _errors(code: str) -> float:
    return REGISTRY.get_sample_value("notion_batch_notion_errors_total", {"code": code}) or 0.0


@pytest.mark.parametrize("version", ["2025-09-03", "2026-03-11"])
async def test_realistic_page_reads_every_live_todo_once(
    emulator: RunningEmulator, version: str
) -> None:
    page = create_realistic_page(emulator.state)
    before_400, before_404 = _errors("validation_error"), _errors("object_not_found")

    async with make_gateway(emulator, version=version) as gateway:
        read = await gateway.read_todos(page.page_id)

    assert [t.text for t in read.todos] == list(page.live_todos)
    assert [t.position for t in read.todos] == list(range(len(page.live_todos)))
    assert len({t.block_id for t in read.todos}) == len(read.todos)
    by_id = {u.block_id: u for u in read.unreadable}
    assert set(by_id) == set(page.unreadable_ids)
    unsupported, copy = (by_id[i] for i in page.unreadable_ids)
    assert (unsupported.block_type, unsupported.status, unsupported.code) == (
        "unsupported",
        400,
        "validation_error",
    )
    assert unsupported.message == (
        "Block type ai_block is not supported via the API for your bot type."
    )
    assert (copy.block_type, copy.status, copy.code) == ("synced_block", 404, "object_not_found")
    assert copy.listed_id != copy.block_id  # the original's id was listed, not the copy's
    assert "Make sure the relevant pages and databases are shared" in copy.message
    assert copy.block_id in copy.describe() and "404 object_not_found" in copy.describe()
    assert _errors("validation_error") == before_400 + 1
    assert _errors("object_not_found") == before_404 + 1


async def test_synced_content_is_listed_once(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    page = create_realistic_page(emulator.state)

    await gateway.read_todos(page.page_id)

    listed = [
        r.path.rsplit("/", 2)[1] for r in emulator.state.requests.query(operation="list_children")
    ]
    assert listed.count(page.synced_original_id) == 1
    assert page.synced_copy_id not in listed  # read through the original, already listed


async def test_copy_first_reads_the_original_through_the_copy(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    elsewhere = emulator.state.create_page(
        "Source", [{"type": "synced_block", "children": [{"text": "shared"}]}]
    )
    original = elsewhere.block_ids[0]
    created = emulator.state.create_page(
        "Copies",
        [
            {"type": "synced_block", "synced_from": original},
            {"type": "synced_block", "synced_from": original},
        ],
    )

    read = await gateway.read_todos(created.page_id)

    assert [(t.text, t.block_id) for t in read.todos] == [("shared", elsewhere.block_ids[1])]
    assert read.unreadable == ()


async def test_template_child_pages_and_databases_are_not_listed(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page(
        "T",
        [
            {"type": "template", "text": "New task", "children": [{"text": "no"}]},
            {"type": "child_page", "title": "Sub", "children": [{"text": "no"}]},
            {"type": "child_database", "title": "DB"},
            {"text": "yes"},
        ],
    )

    read = await gateway.read_todos(created.page_id)

    assert [t.text for t in read.todos] == ["yes"]
    assert len(emulator.state.requests.query(operation="list_children")) == 1


async def test_a_page_of_only_unreadable_blocks_reads_as_empty_with_warnings(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page(
        "Only unreadable",
        [
            {"type": "unsupported", "block_type": "ai_block", "children": [{"text": "a"}]},
            {
                "type": "unsupported",
                "block_type": "external_object_instance_page",
                "children": [{"text": "b"}],
            },
        ],
    )

    read = await gateway.read_todos(created.page_id)

    assert read.todos == ()
    assert [u.message for u in read.unreadable] == [
        "Block type ai_block is not supported via the API for your bot type.",
        "Block type external_object_instance_page is not supported via the API.",
    ]


async def test_the_page_itself_unshared_still_raises(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page("Gone", [{"text": "x"}])
    emulator.state.set_shared(created.page_id, False)

    with pytest.raises(NotionAccessError) as raised:
        await gateway.read_todos(created.page_id)

    assert raised.value.status == 404


@pytest.mark.parametrize("version", ["2025-09-03", "2026-03-11"])
async def test_page_in_trash_is_seen_in_either_version(
    emulator: RunningEmulator, version: str
) -> None:
    created = emulator.state.create_page("Binned", [{"text": "x"}])
    async with make_gateway(emulator, version=version) as gateway:
        assert (await gateway.retrieve_page(created.page_id)).archived is False
        emulator.state.set_in_trash(created.page_id, True)
        assert (await gateway.retrieve_page(created.page_id)).archived is True
