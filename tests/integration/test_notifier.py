"""Batch-end notifications against real PostgreSQL, a real aiohttp receiver and a real SMTP
server: the outbox trigger, claiming, retries with backoff, giving up, and each channel."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import structlog
from prometheus_client import REGISTRY

from notion_batch.common.config import Env
from notion_batch.common.db.batches import BatchRepository, NewBatch, StoppedBatch
from notion_batch.common.db.notifications import NotificationRepository
from notion_batch.common.db.ticks import TickRepository
from notion_batch.scheduler.notifications import open_channels
from notion_batch.scheduler.notifier import Notifier
from notion_batch.scheduler.settings import NotifySettings
from tests.e2e.stack import free_port, wait_for
from tests.support.smtp_server import Certificate, make_certificate, smtp_server
from tests.support.webhook_receiver import Answer, webhook_receiver

SECRET = "hmac-secret-0123456789"
EMAIL = {"NOTIFY_EMAIL_FROM": "notion-batch <nb@example.com>", "NOTIFY_EMAIL_TO": "ops@example.com"}


@asynccontextmanager
async def notifier(pool: asyncpg.Pool, **env: str) -> AsyncIterator[Notifier]:
    """A notifier on this test's database; quick retries unless the test says otherwise."""
    settings = NotifySettings.from_env(
        Env({"NOTIFY_BACKOFF_SECONDS": "0.01", "NOTIFY_TIMEOUT_SECONDS": "2", **env})
    )
    async with open_channels(settings) as channels:
        # rng 1.0: the jitter's top, so retry delays are exact and tests can read them.
        yield Notifier(
            NotificationRepository(pool), channels, settings, poll_seconds=0.05, rng=lambda: 1.0
        )


async def until(
    notifiers: list[Notifier],
    done: Callable[[], Awaitable[bool]],
    *,
    timeout: float = 10,
    what: str,
) -> None:
    """Run notifier rounds until ``done``; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.gather(*(n.run_once() for n in notifiers))
        if await done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def stopped_run(pool: asyncpg.Pool) -> StoppedBatch:
    repo = BatchRepository(pool)
    page = str(uuid.uuid4())
    started = await repo.start(
        NewBatch(page, interval_seconds=60, duration_seconds=900, message="running")
    )
    assert started is not None
    stopped = await repo.stop(page, message="completed — stopped by request")
    assert stopped is not None
    return stopped


async def deliveries(pool: asyncpg.Pool, run_id: int) -> dict[str, asyncpg.Record]:
    rows = await pool.fetch(
        "SELECT * FROM notion_batch_notification_deliveries WHERE run_id = $1", run_id
    )
    return {r["channel"]: r for r in rows}


def finished(pool: asyncpg.Pool, run_id: int, count: int = 1) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        rows = (await deliveries(pool, run_id)).values()
        return len(rows) == count and all(r["status"] != "pending" for r in rows)

    return check


def counted(channel: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "notion_batch_notifications_total", {"channel": channel, "outcome": outcome}
    )
    return value or 0.0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("smtp-tls"))


async def test_every_end_of_a_run_owes_one_notification_in_its_transaction(
    pool: asyncpg.Pool,
) -> None:
    repo = BatchRepository(pool)
    pages = [str(uuid.uuid4()) for _ in range(4)]
    runs = []
    for page in pages:
        started = await repo.start(
            NewBatch(page, interval_seconds=60, duration_seconds=900, message="x")
        )
        assert started is not None
        runs.append(started.run_id)
    assert await pool.fetchval("SELECT count(*) FROM notion_batch_notifications") == 0

    await repo.stop(pages[0], message="stopped by request")  # the API
    await pool.execute(
        "UPDATE notion_batch_status SET end_time = now() - interval '1 second' "
        "WHERE notion_page_id = $1",
        pages[1],
    )
    assert [b.run_id for b in await repo.complete_expired(10)] == [runs[1]]  # the scheduler
    assert await TickRepository(pool).fail_batch(pages[2], runs[2], "page not shared")  # a worker

    async def stop_rolled_back() -> None:
        async with repo.stopping(pages[3], message="x") as stopped:
            assert stopped is not None
            raise RuntimeError("broker down")

    with pytest.raises(RuntimeError, match="broker down"):  # a stop rolled back owes nothing
        await stop_rolled_back()
    # Touching ended_at again does not owe a second one.
    await pool.execute("UPDATE notion_batch_runs SET ended_at = now() WHERE id = $1", runs[0])

    owed = await pool.fetch(
        "SELECT run_id, notion_page_id, end_reason, expanded_at FROM notion_batch_notifications "
        "ORDER BY run_id"
    )
    assert [(r["run_id"], str(r["notion_page_id"]), r["end_reason"]) for r in owed] == [
        (runs[0], pages[0], "stopped"),
        (runs[1], pages[1], "expired"),
        (runs[2], pages[2], "failed"),
    ]
    assert all(r["expanded_at"] is None for r in owed)


async def test_one_end_reaches_every_channel_exactly_once(pool: asyncpg.Pool) -> None:
    before = {c: counted(c, "delivered") for c in ("webhook", "slack", "email")}
    async with (
        webhook_receiver() as hook,
        webhook_receiver("/services/T0/B0/slack-token") as slack,
        smtp_server() as inbox,
        notifier(
            pool,
            NOTIFY_WEBHOOK_URL=hook.url,
            NOTIFY_WEBHOOK_SECRET=SECRET,
            NOTIFY_SLACK_WEBHOOK_URL=slack.url,
            NOTIFY_SMTP_HOST=inbox.host,
            NOTIFY_SMTP_PORT=str(inbox.port),
            NOTIFY_SMTP_TLS="none",
            **EMAIL,
        ) as n,
    ):
        stopped = await stopped_run(pool)
        await until([n], finished(pool, stopped.run_id, 3), what="three deliveries")
        for _ in range(3):
            await n.run_once()

        assert len(hook.received) == len(slack.received) == len(inbox.received) == 1
        headers, body = hook.received[0]
        assert body["event"] == "batch.ended" and body["v"] == 1
        assert (body["run_id"], body["notion_page_id"]) == (stopped.run_id, stopped.notion_page_id)
        assert (body["status"], body["end_reason"]) == ("completed", "stopped")
        assert body["message"] == "completed — stopped by request"
        assert body["todos"] == {"done": 0, "skipped": 0, "failed": 0, "pending": 0}
        expected = hmac.new(SECRET.encode(), hook.raw[0], hashlib.sha256).hexdigest()
        assert headers["X-Notion-Batch-Signature"] == f"sha256={expected}"
        assert headers["X-Notion-Batch-Delivery"] == str(stopped.run_id)
        _, message = slack.received[0]
        assert message["text"].startswith("Batch stopped")
        assert [b["type"] for b in message["blocks"]] == ["header", "section", "section"]
        mail = inbox.received[0]
        assert (mail.sender, mail.recipients) == ("nb@example.com", ["ops@example.com"])
        assert mail.message["Subject"].startswith("[notion-batch] Batch stopped")
        assert mail.message["Message-ID"] == f"<notion-batch.run-{stopped.run_id}@example.com>"

    rows = await deliveries(pool, stopped.run_id)
    assert {c: (r["status"], r["attempts"]) for c, r in rows.items()} == {
        "webhook": ("delivered", 1),
        "slack": ("delivered", 1),
        "email": ("delivered", 1),
    }
    for channel, value in before.items():
        assert counted(channel, "delivered") == value + 1


async def test_a_receiver_answering_500_then_200_gets_it_once(pool: asyncpg.Pool) -> None:
    failed_before = counted("webhook", "failed")
    async with webhook_receiver() as hook, notifier(pool, NOTIFY_WEBHOOK_URL=hook.url) as n:
        hook.script = [Answer(500, "upstream hiccup", "text/plain")]
        stopped = await stopped_run(pool)
        with structlog.testing.capture_logs() as logs:
            await until([n], finished(pool, stopped.run_id), what="the retried delivery")
            await n.run_once()
    assert len(hook.received) == 2
    assert {h["X-Notion-Batch-Delivery"] for h, _ in hook.received} == {str(stopped.run_id)}
    assert hook.raw[0] == hook.raw[1]  # the same summary, byte for byte
    row = (await deliveries(pool, stopped.run_id))["webhook"]
    assert (row["status"], row["attempts"], row["last_error"]) == ("delivered", 2, None)
    events = [e for e in logs if e["event"].startswith("notification_")]
    assert [(e["event"], e["attempt"]) for e in events if e["event"] != "notification_queued"] == [
        ("notification_failed", 1),
        ("notification_delivered", 2),
    ]
    failure = next(e for e in events if e["event"] == "notification_failed")
    assert failure["error"] == "HTTP 500: upstream hiccup"
    assert failure["retry_in_s"] == 0.01
    assert failure["batch_run_id"] == stopped.run_id
    assert counted("webhook", "failed") == failed_before + 1


async def test_a_failing_channel_never_resends_the_others_and_is_given_up(
    pool: asyncpg.Pool,
) -> None:
    abandoned_before = counted("webhook", "abandoned")
    async with (
        webhook_receiver() as hook,
        webhook_receiver() as slack,
        notifier(
            pool,
            NOTIFY_WEBHOOK_URL=hook.url,
            NOTIFY_SLACK_WEBHOOK_URL=slack.url,
            NOTIFY_MAX_ATTEMPTS="3",
        ) as n,
    ):
        hook.default = Answer(503, "down for maintenance", "text/plain")
        stopped = await stopped_run(pool)
        with structlog.testing.capture_logs() as logs:
            await until([n], finished(pool, stopped.run_id, 2), what="both channels to finish")
    assert (len(hook.received), len(slack.received)) == (3, 1)
    rows = await deliveries(pool, stopped.run_id)
    assert (rows["slack"]["status"], rows["slack"]["attempts"]) == ("delivered", 1)
    assert (rows["webhook"]["status"], rows["webhook"]["attempts"]) == ("abandoned", 3)
    assert rows["webhook"]["last_error"] == "HTTP 503: down for maintenance (attempt 3 of 3)"
    retries = [e["retry_in_s"] for e in logs if e["event"] == "notification_failed"]
    assert retries == [0.01, 0.02]  # doubled each time
    (gave_up,) = [e for e in logs if e["event"] == "notification_abandoned"]
    assert (gave_up["channel"], gave_up["attempt"], gave_up["log_level"]) == ("webhook", 3, "error")
    assert counted("webhook", "abandoned") == abandoned_before + 1


async def test_a_refusal_is_given_up_at_once(pool: asyncpg.Pool) -> None:
    async with webhook_receiver() as slack, notifier(pool, NOTIFY_SLACK_WEBHOOK_URL=slack.url) as n:
        slack.default = Answer(404, "no_service", "text/plain")
        stopped = await stopped_run(pool)
        await until([n], finished(pool, stopped.run_id), what="the refusal")
    row = (await deliveries(pool, stopped.run_id))["slack"]
    assert (row["status"], row["attempts"]) == ("abandoned", 1)
    assert row["last_error"] == "refused: HTTP 404: no_service"
    assert len(slack.received) == 1


async def test_a_dead_smtp_server_is_retried_with_backoff_until_it_comes_back(
    pool: asyncpg.Pool,
) -> None:
    port = free_port()  # nothing listens there yet
    async with notifier(
        pool,
        NOTIFY_SMTP_HOST="127.0.0.1",
        NOTIFY_SMTP_PORT=str(port),
        NOTIFY_SMTP_TLS="none",
        NOTIFY_BACKOFF_SECONDS="0.1",
        **EMAIL,
    ) as n:
        stopped = await stopped_run(pool)

        async def attempts(count: int) -> bool:
            row = (await deliveries(pool, stopped.run_id)).get("email")
            return row is not None and row["attempts"] >= count

        with structlog.testing.capture_logs() as logs:
            await until([n], lambda: attempts(3), what="three failed attempts")
        failures = [e for e in logs if e["event"] == "notification_failed"]
        assert [e["retry_in_s"] for e in failures] == [0.1, 0.2, 0.4]
        assert all("Connect" in e["error"] or "refused" in e["error"] for e in failures)
        row = (await deliveries(pool, stopped.run_id))["email"]
        assert row["status"] == "pending"
        assert row["next_attempt_at"] > row["updated_at"]

        async with smtp_server(port=port) as inbox:
            await until([n], finished(pool, stopped.run_id), what="delivery once it is back")
            for _ in range(3):
                await n.run_once()
            assert len(inbox.received) == 1
    row = (await deliveries(pool, stopped.run_id))["email"]
    assert (row["status"], row["attempts"]) == ("delivered", 4)


async def test_a_hanging_receiver_times_out_and_holds_no_connection(database_url: str) -> None:
    # A pool of one connection: if a send held it, the query below would wait for the send.
    small = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    assert small is not None
    try:
        async with (
            webhook_receiver() as hook,
            notifier(small, NOTIFY_WEBHOOK_URL=hook.url, NOTIFY_TIMEOUT_SECONDS="2") as n,
        ):
            hook.default = Answer(200, delay=5.0)
            stopped = await stopped_run(small)
            round_ = asyncio.create_task(n.run_once())
            await asyncio.sleep(0.3)  # the request is in flight now
            started = time.monotonic()
            assert await small.fetchval("SELECT 1") == 1
            assert time.monotonic() - started < 1.0  # not the ~1.7 s the send has left
            await round_
            row = (await deliveries(small, stopped.run_id))["webhook"]
    finally:
        await small.close()
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"] == "no answer within NOTIFY_TIMEOUT_SECONDS (2 s)"


async def test_notify_on_picks_the_reasons_and_no_channel_sends_nothing(
    pool: asyncpg.Pool,
) -> None:
    async with webhook_receiver() as hook:
        async with notifier(pool, NOTIFY_WEBHOOK_URL=hook.url, NOTIFY_ON="failed,expired") as n:
            stopped = await stopped_run(pool)
            await n.run_once()
        async with notifier(pool) as silent:  # no channel on
            other = await stopped_run(pool)
            await silent.run_once()
    assert hook.received == []
    for run in (stopped, other):
        expanded = await pool.fetchval(
            "SELECT expanded_at FROM notion_batch_notifications WHERE run_id = $1", run.run_id
        )
        assert expanded is not None  # handled, and never sent later
        assert await deliveries(pool, run.run_id) == {}


async def test_the_summary_waits_for_the_last_tick_and_counts_its_work(
    pool: asyncpg.Pool,
) -> None:
    repo = BatchRepository(pool)
    page = str(uuid.uuid4())
    started = await repo.start(
        NewBatch(page, interval_seconds=60, duration_seconds=900, message="x")
    )
    assert started is not None
    # A worker is mid-tick when the stop comes: it holds the page's lease.
    await pool.execute(
        "UPDATE notion_batch_status SET lease_owner = 'w1', "
        "lease_expires_at = now() + interval '30 seconds' WHERE notion_page_id = $1",
        page,
    )
    await repo.stop(page, message="stopped by request")
    async with webhook_receiver() as hook, notifier(pool, NOTIFY_WEBHOOK_URL=hook.url) as n:
        await n.run_once()
        assert hook.received == []
        assert await deliveries(pool, started.run_id) == {}
        # The tick finishes its to-do after the stop, then releases the lease.
        await pool.execute(
            "UPDATE notion_batch_runs SET todos_done = 1 WHERE id = $1", started.run_id
        )
        await pool.execute(
            "UPDATE notion_batch_status SET lease_owner = NULL, lease_expires_at = NULL "
            "WHERE notion_page_id = $1",
            page,
        )
        await until([n], finished(pool, started.run_id), what="the summary")
    assert hook.received[0][1]["todos"]["done"] == 1


async def test_two_notifiers_share_the_work_without_sending_twice(pool: asyncpg.Pool) -> None:
    async with (
        webhook_receiver() as hook,
        notifier(pool, NOTIFY_WEBHOOK_URL=hook.url) as first,
        notifier(pool, NOTIFY_WEBHOOK_URL=hook.url) as second,
    ):
        hook.default = Answer(200, delay=0.1)
        runs = [await stopped_run(pool) for _ in range(6)]

        async def all_done() -> bool:
            return all([await finished(pool, r.run_id)() for r in runs])

        await until([first, second], all_done, what="six deliveries")
    sent = sorted(payload["run_id"] for _, payload in hook.received)
    assert sent == sorted(r.run_id for r in runs)


async def test_a_summary_past_its_max_age_is_given_up_unsent(pool: asyncpg.Pool) -> None:
    async with (
        webhook_receiver() as hook,
        notifier(pool, NOTIFY_WEBHOOK_URL=hook.url, NOTIFY_MAX_AGE_SECONDS="60") as n,
    ):
        stopped = await stopped_run(pool)
        await pool.execute(  # the scheduler was down for an hour
            "UPDATE notion_batch_notifications SET created_at = now() - interval '1 hour' "
            "WHERE run_id = $1",
            stopped.run_id,
        )
        await until([n], finished(pool, stopped.run_id), what="the delivery to be given up")
    row = (await deliveries(pool, stopped.run_id))["webhook"]
    assert row["status"] == "abandoned"
    assert row["last_error"] == "not delivered within NOTIFY_MAX_AGE_SECONDS (60 s)"
    assert hook.received == []


@pytest.mark.parametrize("tls", ["starttls", "ssl"])
async def test_smtp_over_tls_with_a_login(
    pool: asyncpg.Pool, certificate: Certificate, tls: str
) -> None:
    async with (
        smtp_server(tls=tls, certificate=certificate, logins={"nb": "pw-0123456789"}) as inbox,  # type: ignore[arg-type]
        notifier(
            pool,
            NOTIFY_SMTP_HOST=inbox.host,
            NOTIFY_SMTP_PORT=str(inbox.port),
            NOTIFY_SMTP_TLS=tls,
            NOTIFY_SMTP_CA_FILE=str(certificate.cert),
            NOTIFY_SMTP_USERNAME="nb",
            NOTIFY_SMTP_PASSWORD="pw-0123456789",
            **EMAIL,
        ) as n,
    ):
        stopped = await stopped_run(pool)
        await until([n], finished(pool, stopped.run_id), what="the e-mail")
    (mail,) = inbox.received
    assert (mail.login, mail.tls) == ("nb", True)
    assert (await deliveries(pool, stopped.run_id))["email"]["status"] == "delivered"


async def test_a_refused_smtp_login_is_given_up_and_untrusted_tls_is_retried(
    pool: asyncpg.Pool, certificate: Certificate, tmp_path: Path
) -> None:
    async with smtp_server(
        tls="starttls", certificate=certificate, logins={"nb": "right"}
    ) as inbox:
        common: dict[str, Any] = {
            "NOTIFY_SMTP_HOST": inbox.host,
            "NOTIFY_SMTP_PORT": str(inbox.port),
            "NOTIFY_SMTP_USERNAME": "nb",
            "NOTIFY_SMTP_PASSWORD": "wrong-password",
            **EMAIL,
        }
        async with notifier(pool, NOTIFY_SMTP_CA_FILE=str(certificate.cert), **common) as n:
            refused = await stopped_run(pool)
            await until([n], finished(pool, refused.run_id), what="the refused login")
        # Without the CA file the server's certificate is not trusted: no login is sent.
        async with notifier(pool, **common) as n:
            untrusted = await stopped_run(pool)
            await n.run_once()
    row = (await deliveries(pool, refused.run_id))["email"]
    assert (row["status"], row["attempts"]) == ("abandoned", 1)
    assert row["last_error"].startswith("refused: SMTP 535")
    assert "wrong-password" not in row["last_error"]
    row = (await deliveries(pool, untrusted.run_id))["email"]
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "CERTIFICATE_VERIFY_FAILED" in row["last_error"]
    assert inbox.received == []


async def test_secrets_stay_out_of_errors_logs_and_the_database(pool: asyncpg.Pool) -> None:
    async with webhook_receiver("/hooks/tok-SECRET-0123") as hook:
        # A receiver that echoes the address it was called on, as some error pages do.
        hook.default = Answer(500, f"bad gateway for {hook.url}", "text/plain")
        async with notifier(pool, NOTIFY_WEBHOOK_URL=hook.url) as n:
            stopped = await stopped_run(pool)
            with structlog.testing.capture_logs() as logs:
                await n.run_once()
    row = (await deliveries(pool, stopped.run_id))["webhook"]
    assert row["last_error"] == "HTTP 500: bad gateway for [redacted]"
    assert "tok-SECRET" not in repr(logs)


async def test_the_notifier_task_delivers_until_cancelled(pool: asyncpg.Pool) -> None:
    async with webhook_receiver() as hook, notifier(pool, NOTIFY_WEBHOOK_URL=hook.url) as n:
        with structlog.testing.capture_logs() as logs:
            task = asyncio.create_task(n.run())
            try:
                stopped = await stopped_run(pool)

                async def sent() -> bool:
                    return bool(hook.received)

                await wait_for(sent, timeout=10, what="the summary")
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
    assert [body["run_id"] for _, body in hook.received] == [stopped.run_id]
    (started,) = [e for e in logs if e["event"] == "notifier_started"]
    assert (started["channels"], started["notify_on"]) == (
        ["webhook"],
        ["expired", "failed", "stopped"],
    )
