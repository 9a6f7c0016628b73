"""The batch endpoints: start, stop, extend, status; plus health probes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web

from notion_batch.api.auth import PRINCIPAL
from notion_batch.api.context import (
    BATCHES,
    BROKER,
    DEFAULTS,
    HANDLER_NAMES,
    IDEMPOTENT_STARTS,
    INTEGRATIONS,
    METRICS,
    READINESS,
)
from notion_batch.api.middlewares import error_body
from notion_batch.api.requests import (
    MAX_DURATION_SECONDS,
    StartRequest,
    idempotency_key,
    json_object,
    page_id_from_path,
    parse_extend,
    parse_running_query,
    parse_start,
    running_cursor,
)
from notion_batch.common.db.batches import BatchStatus, StartedBatch, StoppedBatch
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


#: How long the answer to a start with an ``Idempotency-Key`` is kept for its retries.
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
_STARTING_MESSAGE = "running — waiting for the first tick"


def start_request(request: web.Request, body: dict[str, Any]) -> StartRequest:
    """``body`` (the fields of ``POST /api/v1/batch/start``) checked as a start."""
    handlers: tuple[str, ...] = request.app[HANDLER_NAMES]
    integrations: tuple[str, ...] = request.app[INTEGRATIONS]
    return parse_start(body, request.app[DEFAULTS], handlers, integrations)


async def start_batch(request: web.Request) -> web.Response:
    key = idempotency_key(request)
    start = start_request(request, await json_object(request))
    if key is not None:
        return await _start_once(request, start, key)
    return web.json_response(await perform_start(request, start))


async def perform_start(request: web.Request, start: StartRequest) -> dict[str, Any]:
    """Start the batch (no idempotency key): the answer's body; :class:`BatchConflict` when
    one is already running. The REST endpoint and the console both start through here."""
    async with request.app[BATCHES].starting(start.batch(_STARTING_MESSAGE)) as started:
        if started is None:
            raise _already_running(start.notion_page_id)
        # Inside the start's transaction: if the broker refuses the command, the start rolls
        # back and the answer is 503, nothing half-started.
        await _publish_start(request, started)
    _record_started(request, started)
    return _started_body(started, start.duration_seconds)


async def _start_once(
    request: web.Request,
    start: StartRequest,
    key: str,
) -> web.Response:
    """A start under an ``Idempotency-Key``: the first answer for this key, whatever happens."""
    claimed = request.app[IDEMPOTENT_STARTS].claim(
        client=request[PRINCIPAL].client,
        key=key,
        request_hash=start.fingerprint,
        ttl_seconds=IDEMPOTENCY_TTL_SECONDS,
        batch=start.batch(_STARTING_MESSAGE),
    )
    async with claimed as claim:
        answer = claim.replayed
        if answer is None:
            if claim.started is not None:
                # Inside the claim's transaction: if the broker refuses the command, the
                # start and the claim roll back together and a retry with the key runs again.
                await _publish_start(request, claim.started)
            answer = await claim.keep(*_first_answer(start, claim.started))
    if claim.started is not None:
        _record_started(request, claim.started)
    elif claim.replayed is not None:
        log.info("batch_start_replayed", notion_page_id=start.notion_page_id, status=answer.status)
    return web.Response(
        text=answer.body,
        status=answer.status,
        content_type="application/json",
        headers={"Idempotent-Replayed": "true" if claim.replayed is not None else "false"},
    )


async def _publish_start(request: web.Request, started: StartedBatch) -> None:
    await request.app[BROKER].publish(StartBatch(started.notion_page_id, started.run_id))


def _first_answer(start: StartRequest, started: StartedBatch | None) -> tuple[int, str]:
    """The status and JSON body of a start's first answer, kept for its retries."""
    if started is None:
        conflict = _already_running(start.notion_page_id)
        return 409, json.dumps(error_body(str(conflict), notion_page_id=conflict.notion_page_id))
    return 200, json.dumps(_started_body(started, start.duration_seconds))


def _already_running(page_id: str) -> BatchConflict:
    return BatchConflict(f"a batch is already running for page {page_id}", notion_page_id=page_id)


def _record_started(request: web.Request, started: StartedBatch) -> None:
    request.app[METRICS].batches_started.inc()
    log.info(
        "batch_started",
        notion_page_id=started.notion_page_id,
        batch_run_id=started.run_id,
        interval_seconds=started.interval_seconds,
        end_time=iso(started.end_time),
        handler=started.handler,
        integration=started.integration,
    )


def _started_body(started: StartedBatch, duration_seconds: int) -> dict[str, Any]:
    return {
        "success": True,
        "message": (
            f"Batch started: it runs every {_minutes(started.interval_seconds)} "
            f"and ends automatically after {_minutes(duration_seconds)}."
        ),
        "notion_page_id": started.notion_page_id,
        "start_time": iso(started.start_time),
        "end_time": iso(started.end_time),
        "run_id": started.run_id,
        "interval_seconds": started.interval_seconds,
        "duration_seconds": duration_seconds,
        "handler": started.handler,
        "integration": started.integration,
    }


async def stop_batch(request: web.Request) -> web.Response:
    return web.json_response(await perform_stop(request, page_id_from_path(request)))


async def perform_stop(request: web.Request, page_id: str) -> dict[str, Any]:
    """Stop the page's batch: the answer's body; :class:`BatchConflict` when none runs."""
    stopped = await request.app[BATCHES].stop(page_id, message="completed — stopped by request")
    if stopped is None:
        raise BatchConflict(f"no batch is running for page {page_id}", notion_page_id=page_id)
    log.info("batch_stopped", notion_page_id=page_id, batch_run_id=stopped.run_id)
    request.app[METRICS].batches_ended.labels(reason="stopped").inc()
    await _announce_stop(request, stopped)
    return {
        "success": True,
        "message": "Batch stopped.",
        "notion_page_id": stopped.notion_page_id,
        "end_time": iso(stopped.end_time),
        "run_id": stopped.run_id,
    }


async def _announce_stop(request: web.Request, stopped: StoppedBatch) -> None:
    # The database already says "stopped" and workers check it before every to-do, so the
    # command only speeds things up: a broker outage must not keep a user from stopping.
    try:
        await request.app[BROKER].publish(StopBatch(stopped.notion_page_id, stopped.run_id))
    except UnavailableError as exc:
        log.warning(
            "stop_command_not_published", notion_page_id=stopped.notion_page_id, error=str(exc)
        )


async def extend_batch(request: web.Request) -> web.Response:
    page_id = page_id_from_path(request)
    seconds = parse_extend(await json_object(request))
    return web.json_response(await perform_extend(request, page_id, seconds))


async def perform_extend(request: web.Request, page_id: str, seconds: int) -> dict[str, Any]:
    """Extend the page's running batch by ``seconds``: the answer's body;
    :class:`BatchConflict` when none runs."""
    extended = await request.app[BATCHES].extend(
        page_id, seconds, max_total_seconds=MAX_DURATION_SECONDS
    )
    if extended is None:
        raise BatchConflict(
            f"no batch is running for page {page_id}; only a running batch can be extended",
            notion_page_id=page_id,
        )
    log.info(
        "batch_extended",
        notion_page_id=page_id,
        batch_run_id=extended.run_id,
        added_seconds=seconds,
        end_time=iso(extended.end_time),
    )
    total = round((extended.end_time - extended.start_time).total_seconds())
    return {
        "success": True,
        "message": f"Batch extended by {_minutes(seconds)}.",
        "notion_page_id": extended.notion_page_id,
        "run_id": extended.run_id,
        "start_time": iso(extended.start_time),
        "previous_end_time": iso(extended.previous_end_time),
        "end_time": iso(extended.end_time),
        "duration_seconds": total,
        "interval_seconds": extended.interval_seconds,
    }


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
            "stalled": status.stalled_since is not None,
            "stalled_since": iso(status.stalled_since),
            "is_running": status.is_running,
            "running_info": _running_info(status),
            "run_id": status.run_id,
            "start_time": iso(status.start_time),
            "end_time": iso(status.end_time),
            "interval_seconds": status.interval_seconds,
            "handler": status.handler,
            "integration": status.integration,
            "ticks": status.ticks,
            "todos": {
                "done": status.todos_done,
                "skipped": status.todos_skipped,
                "pending": status.todos_pending,
            },
        }
    )


async def all_status(request: web.Request) -> web.Response:
    query = parse_running_query(request)
    batches = request.app[BATCHES]
    # One row more than asked tells whether another page follows.
    running = await batches.running(after=query.after, limit=query.limit + 1)
    more = len(running) > query.limit
    running = running[: query.limit]
    # The guide's count is of every running batch, not of this page's.
    count = len(running) if query.after is None and not more else await batches.running_count()
    return web.json_response(
        {
            "success": True,
            "running_batches": [b.notion_page_id for b in running],
            "running_count": count,
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
            "has_more": more,
            "next_cursor": running_cursor(running[-1].cursor) if more else None,
        }
    )


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks = await request.app[READINESS]()
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )
