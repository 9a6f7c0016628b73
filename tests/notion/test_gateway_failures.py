"""Retries, timeouts, ambiguous writes and error translation, against injected faults."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable

import pytest
import structlog

from notion_batch.common.notion import (
    NotionAccessError,
    NotionBlockRefused,
    NotionError,
    NotionGateway,
    NotionRequestError,
    NotionUnavailable,
)
from notion_batch.common.notion.gateway import canonical_id
from notion_batch.emulator import EmulatorConfig, Fault, RunningEmulator
from tests.notion.conftest import fast_policy, make_gateway, notion_settings

PARAGRAPH = {"type": "paragraph", "paragraph": {"rich_text": [{"text": {"content": "p"}}]}}


@pytest.mark.parametrize("status", [500, 502, 503, 504, 529, 409])
async def test_reads_retry_transient_statuses(
    emulator: RunningEmulator, gateway: NotionGateway, status: int
) -> None:
    created = emulator.state.create_page("Flaky")
    emulator.state.add_fault(Fault(status=status, count=2))

    page = await gateway.retrieve_page(created.page_id)

    assert page.id == created.page_id
    assert [r.status for r in emulator.state.requests.query()] == [status, status, 200]


async def test_check_todo_retries_a_5xx(emulator: RunningEmulator, gateway: NotionGateway) -> None:
    created = emulator.state.create_page("Flaky", [{"text": "a"}])
    emulator.state.add_fault(Fault(status=500, count=1, method="PATCH"))

    await gateway.check_todo(created.block_ids[0])

    assert emulator.state.todos(created.page_id)[0]["checked"] is True
    assert [r.status for r in emulator.state.requests.query()] == [500, 200]


async def test_429_retry_after_is_honoured(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page("Slow down")
    emulator.state.add_fault(Fault(status=429, retry_after=1, count=1))

    await gateway.retrieve_page(created.page_id)

    first, second = emulator.state.requests.query()
    assert (first.status, second.status) == (429, 200)
    assert second.monotonic - first.monotonic >= 1.0


async def test_retry_after_beyond_the_limit_fails_at_once(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page("Way too busy")
    emulator.state.add_fault(Fault(status=429, retry_after=60, count=1))

    with pytest.raises(NotionUnavailable) as caught:
        await gateway.retrieve_page(created.page_id)

    assert caught.value.retry_after == 60
    assert caught.value.status == 429
    assert caught.value.ambiguous is False
    assert len(emulator.state.requests.query()) == 1


async def test_retries_are_bounded(emulator: RunningEmulator, gateway: NotionGateway) -> None:
    created = emulator.state.create_page("Down")
    emulator.state.add_fault(Fault(status=503))

    with pytest.raises(NotionUnavailable) as caught:
        await gateway.retrieve_page(created.page_id)

    assert caught.value.status == 503
    assert caught.value.code == "service_unavailable"
    assert caught.value.attempts == 4
    assert "after 4 attempts" in str(caught.value)
    assert len(emulator.state.requests.query()) == 4


async def test_timeouts_are_retried(emulator: RunningEmulator) -> None:
    created = emulator.state.create_page("Slow")
    emulator.state.add_fault(Fault(latency=1.0, count=1))

    async with make_gateway(emulator, timeout_seconds=0.2) as gateway:
        page = await gateway.retrieve_page(created.page_id)

    assert page.id == created.page_id
    # The timed-out request is logged when its delayed answer goes out.
    await _wait_for(lambda: len(emulator.state.requests.query()) == 2)


async def test_append_is_not_retried_after_a_5xx(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page("Append")
    emulator.state.add_fault(Fault(status=500, count=1, method="PATCH"))

    with pytest.raises(NotionUnavailable) as caught:
        await gateway.append_blocks(created.page_id, [PARAGRAPH])

    assert caught.value.ambiguous is True
    assert caught.value.status == 500
    assert "may have been applied" in str(caught.value)
    assert len(emulator.state.requests.query(operation="append_children")) == 1


async def test_append_timeout_is_ambiguous(emulator: RunningEmulator) -> None:
    created = emulator.state.create_page("Append")
    emulator.state.add_fault(Fault(latency=0.6, count=1, method="PATCH"))

    async with make_gateway(emulator, timeout_seconds=0.2) as gateway:
        with pytest.raises(NotionUnavailable) as caught:
            await gateway.append_blocks(created.page_id, [PARAGRAPH])

    assert caught.value.ambiguous is True
    assert caught.value.code == "timeout"
    # It did land, late: exactly why the caller must reconcile instead of appending again.
    await _wait_for(lambda: len(emulator.state.tree(created.page_id)["blocks"]) == 1)


async def test_ambiguous_failure_reports_the_chunks_that_landed(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page("Append")
    emulator.state.add_fault(Fault(status=502, skip=1, count=1, path_contains="/children"))

    with pytest.raises(NotionUnavailable) as caught:
        await gateway.append_blocks(created.page_id, [PARAGRAPH] * 150)

    landed = [b["id"] for b in emulator.state.tree(created.page_id)["blocks"]]
    assert caught.value.ambiguous is True
    assert list(caught.value.appended_ids) == landed
    assert len(landed) == 100


@pytest.mark.parametrize("status", [429, 529])
async def test_append_is_retried_when_refused(
    emulator: RunningEmulator, gateway: NotionGateway, status: int
) -> None:
    created = emulator.state.create_page("Append")
    emulator.state.add_fault(Fault(status=status, count=1, method="PATCH"))

    ids = await gateway.append_blocks(created.page_id, [PARAGRAPH])

    assert len(ids) == 1
    assert len(emulator.state.tree(created.page_id)["blocks"]) == 1
    assert len(emulator.state.requests.query(operation="append_children")) == 2


async def test_connection_refused_is_retried_then_unavailable(
    emulator: RunningEmulator,
) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = notion_settings(emulator, base_url=f"http://127.0.0.1:{port}", max_attempts=3)
    async with NotionGateway(settings, retry_policy=fast_policy(settings)) as gateway:
        page_id = emulator.state.create_page("x").page_id
        with structlog.testing.capture_logs() as logs, pytest.raises(NotionUnavailable) as caught:
            await gateway.append_blocks(page_id, [PARAGRAPH])

    # Nothing was sent, so even the append may be retried; and it is not ambiguous.
    assert caught.value.ambiguous is False
    assert caught.value.code == "connection"
    assert [e["event"] for e in logs] == [
        "notion_request_retry",
        "notion_request_retry",
        "notion_request_failed",
    ]


async def test_unknown_page_is_an_access_error(gateway: NotionGateway) -> None:
    missing = "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b"

    with pytest.raises(NotionAccessError) as caught:
        await gateway.list_todos(missing.replace("-", ""))

    assert caught.value.status == 404
    assert caught.value.code == "object_not_found"
    assert str(caught.value) == (
        f"Notion page {missing} was not found or is not shared with the integration"
    )


async def test_unshared_page_is_an_access_error(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page("Private", [{"text": "a"}])
    emulator.state.set_shared(created.page_id, False)

    with pytest.raises(NotionAccessError, match="not shared with the integration"):
        await gateway.retrieve_page(created.page_id)
    # An edit refused for one block is about that block only (issue 12, point 1).
    with pytest.raises(NotionBlockRefused, match=f"Notion block {created.block_ids[0]}"):
        await gateway.check_todo(created.block_ids[0])
    assert len(emulator.state.requests.query()) == 2  # never retried


async def test_restricted_resource(emulator: RunningEmulator, gateway: NotionGateway) -> None:
    created = emulator.state.create_page("Read only", [{"text": "a"}])
    emulator.state.add_fault(Fault(status=403, count=1))

    with pytest.raises(NotionBlockRefused, match="capabilities") as caught:
        await gateway.check_todo(created.block_ids[0])

    assert caught.value.code == "restricted_resource"


async def test_validation_error_is_a_request_error(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page("P", [{"type": "paragraph", "text": "not a to-do"}])

    # A 400 on editing one block (here: a person turned the to-do into a paragraph) is about
    # that block: refused for it, with Notion's answer, and not retried (issue 12, point 1).
    with pytest.raises(NotionBlockRefused) as caught:
        await gateway.check_todo(created.block_ids[0])

    assert caught.value.status == 400
    assert caught.value.code == "validation_error"
    assert not caught.value.trashed
    assert caught.value.answer.startswith("400 validation_error: body.to_do:")
    assert len(emulator.state.requests.query()) == 1


async def test_missing_version_is_a_request_error(emulator: RunningEmulator) -> None:
    # The SDK does not know this code; the gateway still reports Notion's.
    created = emulator.state.create_page("P")
    emulator.state.add_fault(Fault(status=400, code="missing_version", count=1))

    async with make_gateway(emulator) as gateway:
        with pytest.raises(NotionRequestError) as caught:
            await gateway.retrieve_page(created.page_id)

    assert caught.value.code == "missing_version"


async def test_invalid_ids_are_refused_before_any_call(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    with pytest.raises(NotionRequestError):
        await gateway.check_todo("../../pages")
    assert (
        canonical_id("0B0B0B0B0B0B4B0B8B0B0B0B0B0B0B0B") == "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b"
    )
    assert emulator.state.requests.query() == []


@pytest.mark.parametrize(
    "emulator_config",
    [EmulatorConfig(tokens=frozenset({"secret_the_real_one_123456"}), rate_limit=None)],
)
async def test_the_token_never_leaks(
    emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    created = emulator.state.create_page("P", [{"text": "a"}])
    wrong = "secret_wrong_token_7890abcdef"
    errors: list[Exception] = []
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as logs:
        async with make_gateway(emulator, max_attempts=2) as gateway:
            emulator.state.add_fault(Fault(status=429, retry_after=0, count=1))
            emulator.state.add_fault(Fault(status=503, count=2, skip=1))
            await gateway.retrieve_page(created.page_id)  # 429, then 200
            for call in (
                gateway.retrieve_page(created.page_id),  # 503 twice: unavailable
                gateway.retrieve_page("0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b0b"),  # 404
            ):
                try:
                    await call
                except NotionError as error:
                    errors.append(error)
        async with make_gateway(emulator, token=wrong) as bad:
            with pytest.raises(NotionAccessError) as unauthorized:
                await bad.retrieve_page(created.page_id)
            errors.append(unauthorized.value)

    assert len(errors) == 3
    assert "NOTION_TOKEN" in str(unauthorized.value)
    assert {e["event"] for e in logs} >= {"notion_request_retry", "notion_request_failed"}
    retry = next(e for e in logs if e["event"] == "notion_request_retry")
    assert {"operation", "status", "code", "attempt", "delay_s"} <= retry.keys()
    everything = repr(logs) + repr([(str(e), repr(e), vars(e)) for e in errors]) + caplog.text
    for token in (emulator.token, wrong):
        assert token not in everything


async def _wait_for(condition: Callable[[], bool], within: float = 3.0) -> None:
    """Poll briefly for something the emulator does after the gateway returned."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
