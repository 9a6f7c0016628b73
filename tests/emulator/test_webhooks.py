"""Webhook subscriptions of the emulator, over its control API, as Notion's behave: the
verification request, signed and aggregated events naming their authors, sharing, retries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web
from notion_client import AsyncClient

from notion_batch.emulator import EmulatorConfig, RunningEmulator, run_emulator

OTHER_TOKEN = "secret_other_integration_token"


@dataclass
class Hook:
    """A receiving endpoint keeping each request's raw body; answers ``statuses`` in turn
    (then 200)."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes, float]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read(), time.monotonic()))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.json_response({}, status=status)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body, _ in self.received]

    def events(self) -> list[dict[str, Any]]:
        return [b for b in self.bodies() if "verification_token" not in b]

    async def wait(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} of {count} requests came"
            await asyncio.sleep(0.02)


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    receiver = Hook()
    app = web.Application()
    app.router.add_post("/notion", receiver.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/notion"
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def subscribe(
    http: httpx.AsyncClient, hook: Hook, *, verify: bool = True, **options: Any
) -> tuple[str, str]:
    """A subscription to ``hook``; returns (its id, the verification token it sent)."""
    created = await http.post("/_emulator/webhooks", json={"url": hook.url, **options})
    assert created.status_code == 201, created.text
    subscription = created.json()
    assert subscription["status"] == "pending_verification"
    assert "verification_token" not in json.dumps(subscription)
    await hook.wait(1)
    headers, body, _ = hook.received[0]
    token = json.loads(body)["verification_token"]
    assert "X-Notion-Signature" not in headers
    if verify:
        answer = await http.post(
            f"/_emulator/webhooks/{subscription['id']}/verify", json={"verification_token": token}
        )
        assert answer.json()["status"] == "verified"
    return subscription["id"], token


def signature(token: str, body: bytes) -> str:
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


async def new_page(http: httpx.AsyncClient, **options: Any) -> tuple[str, list[str]]:
    created = (
        await http.post(
            "/_emulator/pages", json={"title": "hooked", "children": [{"text": "a"}], **options}
        )
    ).json()
    return created["page_id"], created["block_ids"]


async def test_a_subscription_is_verified_with_the_token_it_sent_only(
    http: httpx.AsyncClient, hook: Hook
) -> None:
    subscription, token = await subscribe(http, hook, verify=False)
    assert token.startswith("secret_") and len(token) == 50
    wrong = await http.post(
        f"/_emulator/webhooks/{subscription}/verify", json={"verification_token": "secret_x"}
    )
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "validation_error"
    # Unverified: a change sends nothing.
    page, _ = await new_page(http)
    await http.post(f"/_emulator/blocks/{page}/children", json={"children": [{"text": "b"}]})
    await asyncio.sleep(0.3)
    assert hook.events() == []

    right = await http.post(
        f"/_emulator/webhooks/{subscription}/verify", json={"verification_token": token}
    )
    assert right.status_code == 200 and right.json()["status"] == "verified"
    deliveries = (await http.get(f"/_emulator/webhooks/{subscription}")).json()["deliveries"]
    assert [(d["kind"], d["status"]) for d in deliveries] == [("verification", 200)]


async def test_a_persons_changes_make_one_signed_event_per_window(
    http: httpx.AsyncClient, hook: Hook
) -> None:
    subscription, token = await subscribe(http, hook, aggregation_seconds=0.3)
    page, blocks = await new_page(http)
    added = await http.post(
        f"/_emulator/blocks/{page}/children", json={"children": [{"text": "new"}]}
    )
    new_block = added.json()["blocks"][0]["id"]
    await http.patch(f"/_emulator/blocks/{blocks[0]}", json={"checked": True})
    await hook.wait(2)
    await asyncio.sleep(0.4)  # nothing more comes: both changes were one event
    assert len(hook.received) == 2
    headers, body, _ = hook.received[1]
    assert headers["X-Notion-Signature"] == signature(token, body)
    assert headers["Content-Type"] == "application/json"
    event = json.loads(body)
    assert event["type"] == "page.content_updated"
    assert event["entity"] == {"id": page, "type": "page"}
    assert event["subscription_id"] == subscription
    assert event["authors"] == [{"id": event["authors"][0]["id"], "type": "person"}]
    assert event["attempt_number"] == 1
    assert {b["id"] for b in event["data"]["updated_blocks"]} == {new_block, blocks[0]}
    for key in ("id", "timestamp", "workspace_id", "workspace_name", "integration_id"):
        assert event[key]


async def test_an_integrations_writes_are_events_by_a_bot(
    http: httpx.AsyncClient, hook: Hook, notion: AsyncClient
) -> None:
    await subscribe(http, hook, aggregation_seconds=0.1)
    page, blocks = await new_page(http)
    await notion.blocks.update(block_id=blocks[0], to_do={"checked": True})
    await hook.wait(2)
    (event,) = hook.events()
    assert [a["type"] for a in event["authors"]] == ["bot"]
    assert event["entity"]["id"] == page


async def test_an_events_timestamp_is_the_emulators_clock_in_milliseconds(
    http: httpx.AsyncClient, hook: Hook
) -> None:
    await subscribe(http, hook, aggregation_seconds=0.1)
    page, _ = await new_page(http)
    await http.post("/_emulator/clock", json={"offset_seconds": -3 * 86_400})
    await http.post(f"/_emulator/blocks/{page}/children", json={"children": [{"text": "b"}]})
    await hook.wait(2)

    (event,) = hook.events()
    # Milliseconds, as Notion's events (unlike page and block stamps, whole minutes).
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["timestamp"])
    sent = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - timedelta(days=3) - sent) < timedelta(seconds=10)


async def test_only_pages_shared_with_the_subscriptions_integration_send_events(
    emulator: RunningEmulator, hook: Hook
) -> None:
    # An emulator accepting a second integration's token.
    config = EmulatorConfig(tokens=frozenset({emulator.token, OTHER_TOKEN}), rate_limit=None)
    async with (
        run_emulator(config) as emu,
        httpx.AsyncClient(base_url=emu.url, timeout=5.0) as http,
    ):
        await subscribe(http, hook, integration_token=OTHER_TOKEN, aggregation_seconds=0.1)
        mine, _ = await new_page(http, shared_with=[OTHER_TOKEN])
        theirs, _ = await new_page(http, shared_with=[emu.token])
        for page in (theirs, mine):
            await http.post(
                f"/_emulator/blocks/{page}/children", json={"children": [{"text": "x"}]}
            )
        await hook.wait(2)
        await asyncio.sleep(0.3)
        assert [e["entity"]["id"] for e in hook.events()] == [mine]


async def test_a_failed_delivery_is_retried_with_the_same_id_and_backoff(
    http: httpx.AsyncClient, hook: Hook
) -> None:
    subscription, _ = await subscribe(http, hook, aggregation_seconds=0, retry_seconds=0.2)
    hook.statuses = [500, 503]
    page, _ = await new_page(http)
    await http.post(f"/_emulator/blocks/{page}/children", json={"children": [{"text": "x"}]})
    await hook.wait(4)
    events = hook.events()
    assert [e["attempt_number"] for e in events] == [1, 2, 3]
    assert len({e["id"] for e in events}) == 1
    arrivals = [at for _, _, at in hook.received[1:]]
    assert arrivals[1] - arrivals[0] >= 0.18 and arrivals[2] - arrivals[1] >= 0.38
    deliveries = (await http.get(f"/_emulator/webhooks/{subscription}")).json()["deliveries"]
    assert [d["status"] for d in deliveries if d["kind"] == "event"] == [500, 503, 200]


async def test_an_unreachable_url_is_recorded_and_given_up_after_max_attempts(
    http: httpx.AsyncClient,
) -> None:
    created = await http.post(
        "/_emulator/webhooks",
        json={"url": "http://127.0.0.1:9/nothing", "retry_seconds": 0, "max_attempts": 2},
    )
    subscription = created.json()["id"]
    deadline = time.monotonic() + 5
    while True:
        answer = (await http.get(f"/_emulator/webhooks/{subscription}")).json()
        if len(answer["deliveries"]) == 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert [(d["status"], d["attempt_number"]) for d in answer["deliveries"]] == [
        (None, 1),
        (None, 2),
    ]
    assert all(d["error"] for d in answer["deliveries"])


async def test_a_demo_subscription_may_send_a_fixed_token(
    http: httpx.AsyncClient, hook: Hook
) -> None:
    fixed = "secret_demowebhooktoken0123456789"
    _, token = await subscribe(http, hook, verification_token=fixed)
    assert token == fixed


async def test_bad_subscriptions_are_refused_and_reset_forgets_them(
    http: httpx.AsyncClient, hook: Hook
) -> None:
    for body in (
        {"url": "ftp://x"},
        {"url": hook.url, "integration_token": "secret_unknown"},
        {"url": hook.url, "max_attempts": 0},
        {"url": hook.url, "aggregation_seconds": -1},
        {"url": hook.url, "verification_token": "with blank"},
    ):
        answer = await http.post("/_emulator/webhooks", json=body)
        assert answer.status_code == 400, body
    subscription, _ = await subscribe(http, hook)
    assert len((await http.get("/_emulator/webhooks")).json()["subscriptions"]) == 1
    await http.post("/_emulator/reset")
    assert (await http.get("/_emulator/webhooks")).json()["subscriptions"] == []
    assert (await http.get(f"/_emulator/webhooks/{subscription}")).status_code == 404
