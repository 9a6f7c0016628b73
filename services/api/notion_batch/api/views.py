"""The REST endpoints of the original guide, plus health probes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web

from notion_batch.api.context import BATCHES, BROKER, DEFAULTS, POOL
from notion_batch.api.requests import json_object, page_id_from_path, parse_start
from notion_batch.common.db.batches import BatchStatus, StartedBatch, StoppedBatch
from notion_batch.common.db.pool import translate_errors
from notion_batch.common.errors import BatchConflict, BatchNotFound, UnavailableError
from notion_batch.common.messaging.messages import StartBatch, StopBatch

log = structlog.get_logger(__name__)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with its offset, as every time in our answers."""
    return None if value is None else value.astimezone(UTC).isoformat()


def _minutes(seconds: int) -> str:
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} seconds"


async def start_batch(request: web.Request) -> web.Response:
    start = parse_start(await json_object(request), request.app[DEFAULTS])
    broker = request.app[BROKER]

    async def publish(started: StartedBatch) -> None:
        await broker.publish(StartBatch(started.notion_page_id, started.run_id))

    started = await request.app[BATCHES].start(
        start.notion_page_id,
        interval_seconds=start.interval_seconds,
        duration_seconds=start.duration_seconds,
        message="running — waiting for the first tick",
        before_commit=publish,
    )
    if started is None:
        raise BatchConflict(
            f"a batch is already running for page {start.notion_page_id}",
            notion_page_id=start.notion_page_id,
        )
    log.info(
        "batch_started",
        notion_page_id=started.notion_page_id,
        batch_run_id=started.run_id,
        interval_seconds=started.interval_seconds,
        end_time=iso(started.end_time),
    )
    return web.json_response(
        {
            "success": True,
            "message": (
                f"Batch started: it runs every {_minutes(started.interval_seconds)} "
                f"and ends automatically after {_minutes(start.duration_seconds)}."
            ),
            "notion_page_id": started.notion_page_id,
            "start_time": iso(started.start_time),
            "end_time": iso(started.end_time),
            "run_id": started.run_id,
            "interval_seconds": started.interval_seconds,
            "duration_seconds": start.duration_seconds,
        }
    )


async def stop_batch(request: web.Request) -> web.Response:
    page_id = page_id_from_path(request)
    stopped = await request.app[BATCHES].stop(page_id, message="completed — stopped by request")
    if stopped is None:
        raise BatchConflict(f"no batch is running for page {page_id}", notion_page_id=page_id)
    log.info("batch_stopped", notion_page_id=page_id, batch_run_id=stopped.run_id)
    await _announce_stop(request, stopped)
    return web.json_response(
        {
            "success": True,
            "message": "Batch stopped.",
            "notion_page_id": stopped.notion_page_id,
            "end_time": iso(stopped.end_time),
            "run_id": stopped.run_id,
        }
    )


async def _announce_stop(request: web.Request, stopped: StoppedBatch) -> None:
    # The database already says "stopped" and workers check it before every to-do, so the
    # command only speeds things up: a broker outage must not keep a user from stopping.
    try:
        await request.app[BROKER].publish(StopBatch(stopped.notion_page_id, stopped.run_id))
    except UnavailableError as exc:
        log.warning(
            "stop_command_not_published", notion_page_id=stopped.notion_page_id, error=str(exc)
        )


def _running_info(status: BatchStatus) -> dict[str, Any] | None:
    if not status.is_running:
        return None
    return {
        "notion_page_id": status.notion_page_id,
        "start_time": iso(status.start_time),
        "end_time": iso(status.end_time),
        "status": status.status,
    }


async def batch_status(request: web.Request) -> web.Response:
    page_id = page_id_from_path(request)
    status = await request.app[BATCHES].status(page_id)
    if status is None:
        raise BatchNotFound(page_id)
    return web.json_response(
        {
            "success": True,
            "notion_page_id": status.notion_page_id,
            "db_status": status.status,
            "db_message": status.message,
            "db_last_run_at": iso(status.last_run_at),
            "is_running": status.is_running,
            "running_info": _running_info(status),
            "run_id": status.run_id,
            "start_time": iso(status.start_time),
            "end_time": iso(status.end_time),
            "interval_seconds": status.interval_seconds,
            "ticks": status.ticks,
            "todos": {
                "done": status.todos_done,
                "skipped": status.todos_skipped,
                "pending": status.todos_pending,
            },
        }
    )


async def all_status(request: web.Request) -> web.Response:
    running = await request.app[BATCHES].running()
    return web.json_response(
        {
            "success": True,
            "running_batches": [b.notion_page_id for b in running],
            "running_count": len(running),
            "scheduler_jobs": [f"batch_{b.notion_page_id}" for b in running],
            "batches": [
                {
                    "notion_page_id": b.notion_page_id,
                    "start_time": iso(b.start_time),
                    "end_time": iso(b.end_time),
                    "status": b.status,
                }
                for b in running
            ],
        }
    )


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, bool] = {"database": False, "broker": request.app[BROKER].is_connected}
    try:
        with translate_errors():
            await request.app[POOL].fetchval("SELECT 1", timeout=2)
        checks["database"] = True
    except UnavailableError:
        pass
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )
