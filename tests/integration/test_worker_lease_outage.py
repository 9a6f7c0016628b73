"""The database goes away exactly between a tick's work and its lease release (#13).

What CI once saw: the worker could not release its lease (``lease_release_failed``) and handed
the tick back; the redelivered tick went to another worker, which refused it as ``busy``. The
page must not stay blocked past the lease's own expiry, and the next tick works it.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import structlog

from notion_batch.common.config import DatabaseSettings
from notion_batch.common.db.pool import create_pool
from notion_batch.common.db.ticks import Lease, TickRepository
from notion_batch.common.errors import DatabaseUnavailable
from notion_batch.common.notion.gateway import NotionGateway
from notion_batch.emulator import RunningEmulator
from notion_batch.worker.tick import TickPolicy
from tests.integration.test_worker_tick import calls, log_lines, processor, start_page, tick
from tests.support.tcp_proxy import TcpProxy

LEASE_SECONDS = 2.0


class _OutageAtRelease(TickRepository):
    """The real statements, on a connection whose server goes away just before the tick's
    summary and release are written: the outage lands exactly after the work."""

    def __init__(self, pool: asyncpg.Pool, proxy: TcpProxy) -> None:
        super().__init__(pool)
        self._proxy = proxy

    async def finish_tick(self, lease: Lease, message: str) -> None:
        self._proxy.cut()
        await super().finish_tick(lease, message)


async def test_an_outage_between_work_and_release_blocks_the_page_only_until_the_lease_expires(
    pool: asyncpg.Pool, database_url: str, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    texts = [f"task {i}" for i in range(5)]
    started = await start_page(pool, emulator, texts)
    parts = urlsplit(database_url)
    async with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        proxied = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
        lease_pool = await create_pool(DatabaseSettings(proxied, pool_min_size=1, pool_max_size=2))
        try:
            first = processor(pool, notion)
            first._policy = TickPolicy(
                max_attempts=2, handler_timeout_seconds=5, lease_seconds=LEASE_SECONDS
            )
            first._db = _OutageAtRelease(lease_pool, proxy)
            with structlog.testing.capture_logs() as logs, pytest.raises(DatabaseUnavailable):
                await first.process(tick(started))
        finally:
            lease_pool.terminate()
    assert [e["event"] for e in logs if e["event"] == "lease_release_failed"] == [
        "lease_release_failed"
    ]
    # The work itself is done and recorded; only the lease was left behind.
    row = await pool.fetchrow(
        "SELECT lease_owner, lease_expires_at > now() AS live FROM notion_batch_status"
    )
    assert row is not None and row["lease_owner"] is not None and row["live"]
    assert len(calls(emulator, "update_block")) == len(texts)

    # The tick comes back (requeued) to another worker: the page is still leased, so busy.
    other = processor(pool, notion)
    assert (await other.process(tick(started))).outcome == "busy"

    # Later ticks work the page as soon as the forgotten lease expires, not later.
    deadline = time.monotonic() + LEASE_SECONDS + 10
    while (report := await other.process(tick(started))).outcome == "busy":
        assert time.monotonic() < deadline, "the stale lease blocked the page past its expiry"
        await asyncio.sleep(0.1)
    assert report.outcome == "worked" and report.processed == 0
    row = await pool.fetchrow(
        "SELECT lease_owner, last_run_at, lease_expires_at FROM notion_batch_status"
    )
    assert row is not None and row["lease_owner"] is None and row["last_run_at"] is not None
    # Nothing was done twice: one check per to-do, one log line per to-do.
    assert len(calls(emulator, "update_block")) == len(texts)
    assert sorted(log_lines(emulator, started.notion_page_id)) == sorted(
        f"✅ {t} — completed by notion-batch" for t in texts
    )
