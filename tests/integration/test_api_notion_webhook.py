"""Notion's webhook requests through the API in-process, real PostgreSQL and RabbitMQ: who is
refused (401, nothing done), the verification request kept for write keys only, and what a
page event does to a running batch (due now, once; or a re-read for its busy worker)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import datetime
from typing import Any

import aio_pika
import asyncpg
import pytest
import structlog
from aiohttp.test_utils import TestClient

from notion_batch.common.messaging.messages import PageChanged, StartBatch, decode
from notion_batch.common.messaging.topology import Topology
from tests.integration.conftest import ApiClientFactory

WRITE_KEY = "webhook-writer-0123456789abc"
READ_KEY = "webhook-reader-0123456789abc"
WRITE = {"Authorization": f"Bearer {WRITE_KEY}"}
READ = {"Authorization": f"Bearer {READ_KEY}"}
TOKEN = "secret_defaultverificationtoken0123456789"
TEAM_A_TOKEN = "secret_teamaverificationtoken0123456789"
HOOK = "/api/v1/notion/webhook"
VERIFICATION = "/api/v1/notion/webhook-verification"
PERSON = {"id": "6e5d4c3b-2a19-4f8e-7d6c-5b4a39281706", "type": "person"}
BOT = {"id": "5e1f0b7a-2c3d-4e5f-8a9b-0c1d2e3f4a5b", "type": "bot"}


def sign(token: str, body: bytes) -> str:
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def event(page: str, **changes: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "timestamp": "2026-01-02T03:04:05.678Z",
        "workspace_id": "3f6e2b1a-9c8d-4e7f-a6b5-c4d3e2f1a0b9",
        "workspace_name": "Acme",
        "subscription_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        "integration_id": "9f8e7d6c-5b4a-4c3d-2e1f-0a9b8c7d6e5f",
        "type": "page.content_updated",
        "authors": [PERSON],
        "attempt_number": 1,
        "entity": {"id": page, "type": "page"},
        "data": {"parent": {"id": "x", "type": "space"}, "updated_blocks": []},
        **changes,
    }


async def post(
    client: TestClient, body: dict[str, Any], *, token: str | None = TOKEN, path: str = HOOK
) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-Notion-Signature"] = sign(token, raw)
    response = await client.post(path, data=raw, headers=headers)
    return response.status, await response.json()


@pytest.fixture
async def client(make_api_client: ApiClientFactory) -> TestClient:
    return await make_api_client(
        {
            "API_KEYS": f"writer:write:{WRITE_KEY},reader:read:{READ_KEY}",
            "NOTION_INTEGRATIONS": "team-a,team-b",
            "NOTION_WEBHOOK_VERIFICATION_TOKEN": TOKEN,
            "NOTION_WEBHOOK_VERIFICATION_TOKEN_TEAM_A": TEAM_A_TOKEN,
        }
    )


async def start(client: TestClient, **body: Any) -> str:
    page = str(uuid.uuid4())
    response = await client.post(
        "/api/v1/batch/start",
        json={"notion_page_id": page, "interval_seconds": 300, **body},
        headers=WRITE,
    )
    assert response.status == 200, await response.text()
    return page


async def schedule_later(pool: asyncpg.Pool, page: str) -> None:
    """As after the first tick: the next one is due an interval from now."""
    await pool.execute(
        "UPDATE notion_batch_status SET next_tick_at = now() + interval '300 seconds'"
        " WHERE notion_page_id = $1",
        page,
    )


async def next_tick(pool: asyncpg.Pool, page: str) -> tuple[datetime, datetime, bool]:
    row = await pool.fetchrow(
        "SELECT next_tick_at, now() AS now, resync_requested FROM notion_batch_status"
        " WHERE notion_page_id = $1",
        page,
    )
    assert row is not None
    return row["next_tick_at"], row["now"], row["resync_requested"]


async def due_now(pool: asyncpg.Pool, page: str) -> bool:
    at, now, _ = await next_tick(pool, page)
    return bool(at <= now)


async def commands(amqp_url: str, namespace: str) -> list[Any]:
    found = []
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        queue = await channel.get_queue(Topology(namespace).commands_queue)
        while (message := await queue.get(fail=False, timeout=5)) is not None:
            found.append(decode(message.type, message.body))
            await message.ack()
    return found


# -- refused: 401, nothing done ----------------------------------------------------------------


async def test_unsigned_badly_signed_unknown_or_unconfigured_requests_are_refused(
    client: TestClient, pool: asyncpg.Pool
) -> None:
    page = await start(client)
    await schedule_later(pool, page)
    with structlog.testing.capture_logs() as logs:
        refused = [
            await post(client, event(page), token=None),
            await post(client, event(page), token="secret_notthetoken0123456789"),
            await post(client, event(page), token=TOKEN, path=f"{HOOK}/team-z"),
            # team-b has no verification token configured: nothing of it is accepted.
            await post(client, event(page), token=TOKEN, path=f"{HOOK}/team-b"),
            # The default's token does not sign team A's events.
            await post(client, event(page), token=TOKEN, path=f"{HOOK}/team-a"),
        ]
        response = await client.post(HOOK, data=b"not json", headers={"X-Notion-Signature": "x"})
        refused.append((response.status, await response.json()))
    for status, body in refused:
        assert status == 401
        assert body["success"] is False and "signed" in body["message"]
        assert "team" not in body["message"]  # the answer does not say what is configured
    assert not await due_now(pool, page)
    reasons = [e["reason"] for e in logs if e["event"] == "notion_webhook_rejected"]
    assert reasons == [
        "no signature",
        "bad signature",
        "unknown integration",
        "no verification token configured (NOTION_WEBHOOK_VERIFICATION_TOKEN_TEAM_B)",
        "bad signature",
        "bad signature",
    ]
    assert TOKEN not in repr(logs) and TEAM_A_TOKEN not in repr(logs)


async def test_a_signed_body_that_is_no_event_is_a_400(client: TestClient) -> None:
    response = await client.post(
        HOOK, data=b"[1, 2]", headers={"X-Notion-Signature": sign(TOKEN, b"[1, 2]")}
    )
    assert response.status == 400
    status, body = await post(client, {"id": "x", "type": "page.content_updated"})
    assert status == 400 and body["field"] == "entity"


# -- the verification request ------------------------------------------------------------------


async def test_a_verification_request_is_kept_for_write_keys_to_read(client: TestClient) -> None:
    missing = await client.get(VERIFICATION, headers=WRITE)
    assert missing.status == 404
    sent = "secret_sentbynotion0123456789abcdefghijklmnopq"
    status, body = await post(client, {"verification_token": sent}, token=None)
    assert status == 200 and body["success"] is True
    assert sent not in json.dumps(body)

    assert (await client.get(VERIFICATION)).status == 401
    assert (await client.get(VERIFICATION, headers=READ)).status == 403
    response = await client.get(VERIFICATION, headers=WRITE)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    answer = await response.json()
    assert answer["integration"] == "default"
    assert answer["variable"] == "NOTION_WEBHOOK_VERIFICATION_TOKEN"
    assert answer["verification_token"] == sent
    assert answer["token_configured"] is True
    assert [v["configured"] for v in answer["verifications"]] == [False]
    assert answer["verifications"][0]["remote_address"] == "127.0.0.1"

    # Per integration; an unknown one is a 400.
    team = await client.get(VERIFICATION, params={"integration": "team-b"}, headers=WRITE)
    assert team.status == 404
    status, _ = await post(
        client, {"verification_token": sent + "B"}, token=None, path=f"{HOOK}/team-b"
    )
    assert status == 200
    team = await client.get(VERIFICATION, params={"integration": "team-b"}, headers=WRITE)
    answer = await team.json()
    assert answer["verification_token"] == sent + "B"
    assert answer["variable"] == "NOTION_WEBHOOK_VERIFICATION_TOKEN_TEAM_B"
    assert answer["token_configured"] is False
    bad = await client.get(VERIFICATION, params={"integration": "team-z"}, headers=WRITE)
    assert bad.status == 400 and (await bad.json())["field"] == "integration"


async def test_a_verification_request_proves_nothing_and_cannot_hide_the_real_one(
    client: TestClient, pool: asyncpg.Pool
) -> None:
    page = await start(client)
    await schedule_later(pool, page)
    await post(client, {"verification_token": TOKEN}, token=None)
    forged = [f"secret_forged{i}0123456789abcdefghij" for i in range(7)]
    for token in forged:
        status, _ = await post(client, {"verification_token": token}, token=None)
        assert status == 200
    # A token sent in a verification request does not sign events: only the configured one.
    status, _ = await post(client, event(page), token=forged[-1])
    assert status == 401
    assert not await due_now(pool, page)
    answer = await (await client.get(VERIFICATION, headers=WRITE)).json()
    assert [v["verification_token"] for v in answer["verifications"]] == forged[::-1][:5]


# -- page events --------------------------------------------------------------------------------


async def test_a_persons_change_to_a_running_page_makes_its_tick_due_once(
    client: TestClient, pool: asyncpg.Pool, amqp_url: str, amqp_namespace: str
) -> None:
    page = await start(client)
    await schedule_later(pool, page)
    change = event(page.replace("-", ""))
    with structlog.testing.capture_logs() as logs:
        status, body = await post(client, change)
    assert status == 200
    assert body == {
        "success": True,
        "event_id": change["id"],
        "action": "triggered",
        "message": body["message"],
    }
    assert await due_now(pool, page)
    (line,) = [e for e in logs if e["event"] == "notion_webhook_received"]
    assert line["notion_page_id"] == page and line["action"] == "triggered"
    assert line["integration"] == "default" and line["attempt_number"] == 1
    sent = await commands(amqp_url, amqp_namespace)
    assert [type(c) for c in sent] == [StartBatch, PageChanged]
    assert sent[1].notion_page_id == page and sent[1].run_id == sent[0].run_id

    # Notion delivers the same event again: nothing more happens.
    await schedule_later(pool, page)
    status, body = await post(client, {**change, "attempt_number": 2})
    assert (status, body["action"]) == (200, "duplicate")
    assert not await due_now(pool, page)
    assert await commands(amqp_url, amqp_namespace) == []


async def test_events_about_pages_not_running_on_the_integration_are_ignored(
    client: TestClient, pool: asyncpg.Pool
) -> None:
    stopped = await start(client)
    await client.post(f"/api/v1/batch/stop/{stopped}", headers=WRITE)
    team_page = await start(client, integration="team-a")
    await schedule_later(pool, team_page)
    for page, path in (
        (stopped, HOOK),
        (str(uuid.uuid4()), HOOK),
        (team_page, HOOK),  # runs, but through team A's integration
    ):
        status, body = await post(client, event(page), path=path)
        assert (status, body["action"]) == (200, "ignored"), body
    assert not await due_now(pool, team_page)
    status, body = await post(client, event(team_page), token=TEAM_A_TOKEN, path=f"{HOOK}/team-a")
    assert (status, body["action"]) == (200, "triggered")
    assert await due_now(pool, team_page)


@pytest.mark.parametrize(
    "changes",
    [
        {"authors": [BOT]},
        {"authors": [BOT, {**BOT, "id": "another-integration"}]},
        {"type": "page.properties_updated"},
        {"type": "comment.created"},
        {"entity": {"id": "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", "type": "database"}},
    ],
)
async def test_integrations_own_writes_and_other_events_do_nothing(
    client: TestClient, pool: asyncpg.Pool, changes: dict[str, Any]
) -> None:
    page = await start(client)
    await schedule_later(pool, page)
    status, body = await post(client, {**event(page), **changes})
    assert (status, body["action"]) == (200, "ignored")
    assert not await due_now(pool, page)


@pytest.mark.parametrize("kind", ["page.deleted", "page.undeleted"])
async def test_a_page_trashed_or_restored_is_worked_at_once(
    client: TestClient, pool: asyncpg.Pool, kind: str
) -> None:
    page = await start(client)
    await schedule_later(pool, page)
    status, body = await post(client, event(page, type=kind, authors=[BOT, PERSON]))
    assert (status, body["action"]) == (200, "triggered")
    assert await due_now(pool, page)


async def test_a_change_while_a_worker_holds_the_page_asks_it_to_read_again(
    client: TestClient, pool: asyncpg.Pool, amqp_url: str, amqp_namespace: str
) -> None:
    page = await start(client)
    await schedule_later(pool, page)
    await pool.execute(
        "UPDATE notion_batch_status SET lease_owner = 'w1/x',"
        " lease_expires_at = now() + interval '30 seconds' WHERE notion_page_id = $1",
        page,
    )
    status, body = await post(client, event(page))
    assert (status, body["action"]) == (200, "resync_requested")
    at, now, resync = await next_tick(pool, page)
    # No tick now: it would find the page busy; the worker on it reads it again instead.
    assert resync is True and at > now
    assert [type(c) for c in await commands(amqp_url, amqp_namespace)] == [StartBatch]
