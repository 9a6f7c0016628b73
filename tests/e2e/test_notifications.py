"""Batch-end notifications end to end: batches started and stopped through the real API, the
services as processes, and the summaries received by a JSON webhook receiver, a Slack-format
receiver and an SMTP server running in this test."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from tests.e2e.conftest import unique_title
from tests.e2e.stack import Stack, free_port, wait_for
from tests.support.smtp_server import Inbox, smtp_server
from tests.support.webhook_receiver import Answer, Receiver, webhook_receiver

SECRET = "e2e-hmac-secret-0123456789"
#: Longer than a few notifier rounds (SCHEDULER_POLL_SECONDS is 0.2 s in the stack): a second
#: summary, if one were sent, would have arrived by then.
SETTLE_SECONDS = 2.0


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with webhook_receiver("/notion-batch/events") as receiver:
        yield receiver


@pytest.fixture
async def slack() -> AsyncIterator[Receiver]:
    async with webhook_receiver("/services/T0E2E/B0E2E/slacktoken0123") as receiver:
        receiver.default = Answer(200, "ok", "text/plain")  # as Slack answers
        yield receiver


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    async with smtp_server() as server:
        yield server


@pytest.fixture
def smtp_up(request: pytest.FixtureRequest) -> bool:
    """Whether the SMTP server the scheduler is given answers (parametrize it indirectly)."""
    return bool(getattr(request, "param", True))


@pytest.fixture
def stack_env(hook: Receiver, slack: Receiver, inbox: Inbox, smtp_up: bool) -> dict[str, str]:
    return {
        "NOTIFY_WEBHOOK_URL": hook.url,
        "NOTIFY_WEBHOOK_SECRET": SECRET,
        "NOTIFY_SLACK_WEBHOOK_URL": slack.url,
        "NOTIFY_SMTP_HOST": inbox.host,
        # A port nobody listens on stands for a dead mail server.
        "NOTIFY_SMTP_PORT": str(inbox.port if smtp_up else free_port()),
        "NOTIFY_SMTP_TLS": "none",
        "NOTIFY_EMAIL_FROM": "notion-batch <nb@example.com>",
        "NOTIFY_EMAIL_TO": "ops@example.com, lead@example.com",
        "NOTIFY_BACKOFF_SECONDS": "0.5",
        "NOTIFY_TIMEOUT_SECONDS": "3",
    }


async def create_page(stack: Stack, todos: int, *, shared: bool = True) -> str:
    children = [{"type": "to_do", "text": f"task {i}"} for i in range(todos)]
    created = await stack.notion(
        "POST",
        "/_emulator/pages",
        json={"title": unique_title(), "children": children, "shared": shared},
    )
    return str(created["page_id"])


def summaries(hook: Receiver, page_id: str) -> list[dict[str, Any]]:
    return [body for _, body in hook.received if body["notion_page_id"] == page_id]


async def received_everywhere(
    hook: Receiver, slack: Receiver, inbox: Inbox | None, count: int
) -> bool:
    """Each receiver (``inbox``: unless ``None``) got at least ``count`` summaries."""
    got = [len(hook.received), len(slack.received)]
    if inbox is not None:
        got.append(len(inbox.received))
    return min(got) >= count


async def test_a_batch_stopped_through_the_api_is_summarised_once_on_every_channel(
    stack: Stack, hook: Receiver, slack: Receiver, inbox: Inbox
) -> None:
    page_id = await create_page(stack, 3)
    started = await stack.start_batch(page_id, interval_seconds=1, duration_seconds=300)

    async def all_done() -> dict[str, Any] | None:
        status = await stack.status(page_id)
        return status if status["todos"]["done"] == 3 else None

    await wait_for(all_done, timeout=30, what="the three to-dos to be done")
    code, stopped = await stack.api("POST", f"/api/v1/batch/stop/{page_id}")
    assert code == 200, stopped

    await wait_for(
        lambda: received_everywhere(hook, slack, inbox, 1), timeout=30, what="three summaries"
    )
    await asyncio.sleep(SETTLE_SECONDS)
    assert (len(hook.received), len(slack.received), len(inbox.received)) == (1, 1, 1)

    headers, body = hook.received[0]
    assert body["event"] == "batch.ended" and body["v"] == 1
    assert (body["notion_page_id"], body["run_id"]) == (page_id, started["run_id"])
    assert (body["status"], body["end_reason"]) == ("completed", "stopped")
    assert body["todos"]["done"] == 3
    assert body["ticks"] >= 1
    assert body["notion_url"] == "https://www.notion.so/" + page_id.replace("-", "")
    signed = hmac.new(SECRET.encode(), hook.raw[0], hashlib.sha256).hexdigest()
    assert headers["X-Notion-Batch-Signature"] == f"sha256={signed}"

    _, message = slack.received[0]
    assert message["text"].startswith("Batch stopped: 3 done")
    assert page_id in message["blocks"][1]["text"]["text"]

    mail = inbox.received[0]
    assert mail.recipients == ["ops@example.com", "lead@example.com"]
    assert mail.message["Subject"] == "[notion-batch] Batch stopped: 3 done, 0 skipped"
    plain = mail.message.get_body(("plain",))
    assert plain is not None
    assert page_id.replace("-", "") in plain.get_content()


async def test_expired_and_failed_batches_are_summarised_with_their_reason(
    stack: Stack, hook: Receiver, slack: Receiver, inbox: Inbox
) -> None:
    expiring = await create_page(stack, 2)
    failing = await create_page(stack, 0, shared=False)
    await stack.start_batch(expiring, interval_seconds=1, duration_seconds=3)
    await stack.start_batch(failing, interval_seconds=1, duration_seconds=300)

    await wait_for(
        lambda: received_everywhere(hook, slack, inbox, 2), timeout=40, what="two summaries each"
    )
    await asyncio.sleep(SETTLE_SECONDS)
    assert (len(hook.received), len(slack.received), len(inbox.received)) == (2, 2, 2)
    (expired,) = summaries(hook, expiring)
    assert (expired["status"], expired["end_reason"]) == ("completed", "expired")
    assert expired["todos"]["done"] == 2
    assert expired["message"].startswith("completed — batch expired")
    (failed,) = summaries(hook, failing)
    assert (failed["status"], failed["end_reason"]) == ("failed", "failed")
    assert "not shared" in failed["message"] or "not found" in failed["message"]
    subjects = sorted(str(m.message["Subject"]) for m in inbox.received)
    assert subjects[0].startswith("[notion-batch] Batch completed")
    assert subjects[1].startswith("[notion-batch] Batch failed")
    assert sorted(m["blocks"][0]["text"]["text"].split(":")[0] for _, m in slack.received) == [
        "Batch completed",
        "Batch failed",
    ]


@pytest.mark.parametrize("smtp_up", [False], indirect=True)
async def test_a_dead_mail_server_delays_no_batch_and_no_other_channel(
    stack: Stack, hook: Receiver, slack: Receiver, inbox: Inbox, database_url: str
) -> None:
    page_id = await create_page(stack, 3)
    await stack.start_batch(page_id, interval_seconds=1, duration_seconds=4)

    async def completed() -> dict[str, Any] | None:
        status = await stack.status(page_id)
        return status if status["db_status"] == "completed" else None

    done = await wait_for(completed, timeout=30, what="the batch to complete on time")
    assert done["todos"]["done"] == 3
    await wait_for(
        lambda: received_everywhere(hook, slack, None, 1),
        timeout=30,
        what="the webhook and Slack summaries",
    )
    conn = await asyncpg.connect(database_url)
    try:

        async def retried() -> asyncpg.Record | None:
            row = await conn.fetchrow(
                "SELECT status, attempts, last_error FROM notion_batch_notification_deliveries "
                "WHERE channel = 'email'"
            )
            return row if row is not None and row["attempts"] >= 2 else None

        email = await wait_for(retried, timeout=30, what="the e-mail to be retried")
        states = {
            r[0]: r[1]
            for r in await conn.fetch(
                "SELECT channel, status FROM notion_batch_notification_deliveries"
            )
        }
    finally:
        await conn.close()
    assert email["status"] == "pending"
    assert "refused" in email["last_error"] or "Connect" in email["last_error"]
    assert states == {"webhook": "delivered", "slack": "delivered", "email": "pending"}
    assert inbox.received == []
    assert (len(hook.received), len(slack.received)) == (1, 1)
