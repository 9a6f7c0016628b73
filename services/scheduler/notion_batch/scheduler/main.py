"""The scheduler service: emits ticks and ends expired batches until told to stop."""

from __future__ import annotations

import asyncio

import structlog

from notion_batch.common.db.batches import BatchRepository
from notion_batch.common.db.notifications import NotificationRepository
from notion_batch.common.db.pool import pool_context
from notion_batch.common.db.stalls import StallRepository
from notion_batch.common.lifecycle import keep_running, run_service
from notion_batch.common.messaging.broker import Broker
from notion_batch.common.metrics import get_metrics
from notion_batch.common.ops_server import serve_ops
from notion_batch.common.readiness import ServiceReadiness
from notion_batch.scheduler.commands import CommandConsumer
from notion_batch.scheduler.emitter import TickEmitter
from notion_batch.scheduler.notifications import open_channels
from notion_batch.scheduler.notifier import Notifier
from notion_batch.scheduler.settings import SchedulerSettings
from notion_batch.scheduler.stall_watch import StallWatch

log = structlog.get_logger(__name__)

#: How often the stall watch looks; stalls are minutes long, a look is one query.
STALL_WATCH_SECONDS = 10.0


async def serve(settings: SchedulerSettings, stop: asyncio.Event) -> None:
    readiness = ServiceReadiness(needs_consumers=True)
    # The ops port comes first, so liveness answers while the scheduler waits for backends.
    async with (
        serve_ops(settings.ops.host, settings.ops.port, ready=readiness) as ops,
        pool_context(settings.database) as pool,
        open_channels(settings.notify) as channels,
    ):
        get_metrics().watch_pool(pool)
        readiness.pool = pool
        broker = Broker(settings.broker, service="scheduler", prefetch_count=32)
        readiness.broker = broker
        await broker.start()
        try:
            emitter = TickEmitter(
                BatchRepository(pool),
                broker,
                poll_seconds=settings.poll_seconds,
                claim_batch_size=settings.claim_batch_size,
            )
            await broker.consume(
                broker.topology.commands_queue, CommandConsumer(emitter).on_message
            )
            ops.watch_liveness(emitter.stuck)
            log.info("scheduler_started", poll_seconds=settings.poll_seconds)
            notifier = Notifier(
                NotificationRepository(pool),
                channels,
                settings.notify,
                poll_seconds=settings.poll_seconds,
            )
            stall_watch = StallWatch(
                StallRepository(pool, bound_seconds=settings.batch.stall_seconds),
                every_seconds=STALL_WATCH_SECONDS,
            )
            loops = [
                asyncio.create_task(keep_running(name, loop), name=name)
                for name, loop in (
                    ("tick-emitter", emitter.run),
                    ("gauges", emitter.measure_forever),
                    # Its own task: a slow or dead receiver never delays a tick.
                    ("notifier", notifier.run),
                    ("stall-watch", stall_watch.run),
                )
            ]
            await stop.wait()
            ops.set_draining()
            await broker.stop_consuming()
            # A round in progress commits or rolls back as a whole, so cancelling is safe.
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
        finally:
            await broker.close()


def main() -> None:
    run_service(
        "scheduler",
        SchedulerSettings.from_env,
        lambda s: s.log,
        serve,
        # Webhook URLs hold tokens (Slack's always do); and the SMTP password, the HMAC key.
        secrets=lambda s: s.notify.secrets,
        description="Emits a tick per running batch every interval until it expires, ends "
        "expired and stalled batches, and sends their summaries.",
    )
