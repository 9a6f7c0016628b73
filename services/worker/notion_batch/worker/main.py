"""The worker service: consumes ticks until told to stop, then drains and hands back."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime

import asyncpg
import structlog

from notion_batch.common.config import NotionSettings
from notion_batch.common.db.crashes import CrashRepository
from notion_batch.common.db.notion_budget import SharedRateLimiter
from notion_batch.common.db.notion_calls import (
    NotionCallFlusher,
    NotionCallRepository,
    NotionCallTally,
)
from notion_batch.common.db.pool import pool_context
from notion_batch.common.db.ticks import TickRepository
from notion_batch.common.lifecycle import run_service
from notion_batch.common.messaging.broker import Broker
from notion_batch.common.metrics import get_metrics
from notion_batch.common.notion.gateway import NotionGateway
from notion_batch.common.notion.pacing import RateLimiter, TokenBucketLimiter
from notion_batch.common.ops_server import serve_ops
from notion_batch.common.readiness import ServiceReadiness
from notion_batch.worker.changes import DEFAULT_CHANGE_RULE, ChangeRule
from notion_batch.worker.consumer import TickConsumer
from notion_batch.worker.handlers import HandlerContext, Handlers, open_handlers
from notion_batch.worker.recorder import NotionRecorder
from notion_batch.worker.settings import RecordMode, WorkerSettings
from notion_batch.worker.sync import TodoSync, utc_now
from notion_batch.worker.tick import NotionPorts, TickPolicy, TickProcessor

log = structlog.get_logger(__name__)


def build_processor(
    db: TickRepository,
    notion: Mapping[str, NotionGateway],
    *,
    handlers: Handlers,
    policy: TickPolicy,
    record_mode: RecordMode,
    worker_id: str,
    reconcile_delay_seconds: float,
    change_rules: Mapping[str, ChangeRule] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> TickProcessor:
    """Wire a tick processor from its parts: its repository, a Notion gateway per integration
    (by name), the worker's open handlers, and each integration's change rule (by default
    the stamp as signal, a full read every 10 minutes); ``clock`` is the wall clock the rule
    compares Notion's stamps with."""
    rules = change_rules or {}
    return TickProcessor(
        worker_id=worker_id,
        db=db,
        notion={
            name: NotionPorts(
                sync=TodoSync(gateway, db, rules.get(name, DEFAULT_CHANGE_RULE), clock=clock),
                recorder=NotionRecorder(
                    gateway, db, record_mode, reconcile_delay_seconds=reconcile_delay_seconds
                ),
            )
            for name, gateway in notion.items()
        },
        handlers=handlers,
        policy=policy,
    )


async def serve(
    settings: WorkerSettings, stop: asyncio.Event, environ: Mapping[str, str] | None = None
) -> None:
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    readiness = ServiceReadiness(needs_consumers=True)
    ctx = HandlerContext(
        name=settings.handler, settings=settings, environ=os.environ if environ is None else environ
    )
    # Handlers open first (a default that cannot is a configuration error, exit 2), then the
    # ops port, so liveness answers while the worker waits for its backends; all close last.
    async with (
        open_handlers(ctx) as handlers,
        serve_ops(settings.ops.host, settings.ops.port, ready=readiness) as ops,
        pool_context(settings.database) as pool,
        _open_gateways(settings, pool) as notion,
    ):
        get_metrics().watch_pool(pool)
        readiness.pool = pool
        db = TickRepository(pool)
        processor = build_processor(
            db,
            notion,
            handlers=handlers,
            policy=TickPolicy(
                max_attempts=settings.max_attempts,
                handler_timeout_seconds=settings.handler_timeout_seconds,
                lease_seconds=settings.lease_seconds,
            ),
            record_mode=settings.record_mode,
            worker_id=worker_id,
            # A request we gave up on is over once Notion's own timeout has surely passed.
            reconcile_delay_seconds=2 * settings.notion.timeout_seconds,
            change_rules={
                name: ChangeRule(notion.change_signal, notion.full_read_seconds)
                for name, notion in settings.integrations.items()
            },
        )
        consumer = TickConsumer(
            processor,
            db=db,
            crashes=CrashRepository(pool),
            crash_limit=settings.crash_limit,
        )
        broker = Broker(settings.broker, service="worker", prefetch_count=settings.concurrency)
        readiness.broker = broker
        await broker.start()
        try:
            await broker.consume(broker.topology.ticks_queue, consumer.on_message)
            log.info("worker_started", worker_id=worker_id, concurrency=settings.concurrency)
            await stop.wait()
            # Shutdown, in order: not ready, take no new tick, finish or hand back, close.
            ops.set_draining()
            await broker.stop_consuming()
            processor.request_stop()
            if not await consumer.drain(settings.drain_seconds):
                log.warning("worker_drain_timeout", in_flight=consumer.in_flight)
                await consumer.cancel_in_flight()
        finally:
            await broker.close()


@asynccontextmanager
async def _open_gateways(
    settings: WorkerSettings, pool: asyncpg.Pool
) -> AsyncIterator[dict[str, NotionGateway]]:
    """One gateway per integration, each with its own token and its own rate limiter; their
    calls counted together and added to the fleet's per-minute counts every few seconds."""
    calls = NotionCallTally()
    async with AsyncExitStack() as stack:
        # Entered first, so it closes last: its final flush sees every gateway's last call.
        await stack.enter_async_context(NotionCallFlusher(calls, NotionCallRepository(pool)))
        yield {
            name: await stack.enter_async_context(
                NotionGateway(notion, limiter=_notion_limiter(settings, notion, pool), calls=calls)
            )
            for name, notion in settings.integrations.items()
        }


def _notion_limiter(
    settings: WorkerSettings, notion: NotionSettings, pool: asyncpg.Pool
) -> RateLimiter:
    if settings.notion_rate_limit_scope == "local":
        return TokenBucketLimiter(notion.rate_limit_per_second, notion.rate_limit_burst)
    return SharedRateLimiter(
        pool,
        token=notion.token,
        rate_per_second=notion.rate_limit_per_second,
        burst=notion.rate_limit_burst,
    )


def main() -> None:
    run_service(
        "worker",
        WorkerSettings.from_env,
        lambda s: s.log,
        serve,
        # A webhook URL may hold a token of its own (as Slack's do).
        secrets=lambda s: [*s.notion_tokens, *([s.webhook.url] if s.webhook.url else [])],
        description="Consumes ticks: leases the page, reads its open to-dos from Notion, runs "
        "the batch's handler on each and records the outcome on the page.",
    )
