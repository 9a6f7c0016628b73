"""Every Prometheus metric of notion-batch, defined in this one module.

Each process is one service, so the metrics live on prometheus_client's default registry,
which is what ``/metrics`` serves (the API's route, the scheduler's and worker's ops port):
:func:`get_metrics` builds them there once per process. Tests build ``Metrics(registry)`` on a
``CollectorRegistry()`` of their own, so nothing leaks between tests.

Every label takes its values from a small closed set, named below, because each distinct
label value is a time series kept by Prometheus for weeks. Never put a page id, a run id, a
URL path or an error text in a label: those belong in the logs, whose events carry
``notion_page_id`` and friends (``docs/operations.md``). The ``*_label`` helpers fold
open-ended values (HTTP methods, Notion statuses) into such sets.

Which service feeds which metric, and what each means, is in ``docs/operations.md``
("Metrics"); the Grafana dashboard in ``deploy/grafana/`` queries these names, and a test
fails if it names one that is not defined here.
"""

from __future__ import annotations

import functools
from typing import Final, Literal, Protocol, get_args

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from notion_batch.common.config import DEFAULT_INTEGRATION

#: Every metric name starts with this (``<PREFIX>_…``).
PREFIX: Final = "notion_batch"

#: What became of a tick a worker took: ``worked`` (it held the page's lease and worked the
#: to-dos), ``busy`` (another worker held the page: coalesced into that work), ``stale`` (the
#: batch was stopped, expired or restarted since the tick was emitted), ``failed`` (the batch
#: failed: Notion says the page is gone or not shared), ``recorded`` (a record-only tick after
#: the batch ended wrote outcomes Notion had not taken yet).
TickOutcome = Literal["worked", "busy", "stale", "failed", "recorded"]
#: Why a tick went back to the queue instead of being acked: the worker was ``shutdown``
#: mid-tick, a dependency was ``unavailable``, our code ``crashed`` (requeued), the message
#: was ``rejected`` as malformed (dead-lettered), or its batch's ticks crashed
#: ``WORKER_CRASH_LIMIT`` times in a row (``crash_loop``: dead-lettered, the batch failed).
TickReturnReason = Literal["shutdown", "unavailable", "crashed", "rejected", "crash_loop"]
#: One handler run's result: ``done``, ``skipped`` (by the handler, or after the last failed
#: attempt), ``failed`` (raised or timed out; retried on a later tick).
TodoOutcome = Literal["done", "skipped", "failed"]
#: Why a batch ended: ``stopped`` by request (api), ``expired`` (scheduler), ``failed`` (worker).
BatchEndReason = Literal["stopped", "expired", "failed"]
#: The work queues by role; the namespace prefix (``AMQP_NAMESPACE``) is left out on purpose,
#: the Prometheus target labels already tell deployments apart.
QueueRole = Literal["ticks", "commands", "dead"]
#: The Notion calls the gateway makes (``common/notion/gateway.py``).
NotionOperation = Literal["retrieve_page", "list_children", "check_todo", "append_blocks"]
#: Where a batch-end summary goes (``NOTIFY_*``; ``scheduler.settings.NOTIFY_CHANNELS``).
NotificationChannel = Literal["webhook", "slack", "email"]
#: What became of one delivery attempt of a summary: ``delivered``, ``failed`` (retried
#: later, with backoff) or ``abandoned`` (given up: attempts or age used up, or refused for good).
NotificationOutcome = Literal["delivered", "failed", "abandoned"]

TICK_OUTCOMES: Final[tuple[str, ...]] = get_args(TickOutcome)
TICK_RETURN_REASONS: Final[tuple[str, ...]] = get_args(TickReturnReason)
TODO_OUTCOMES: Final[tuple[str, ...]] = get_args(TodoOutcome)
BATCH_END_REASONS: Final[tuple[str, ...]] = get_args(BatchEndReason)
QUEUE_ROLES: Final[tuple[str, ...]] = get_args(QueueRole)
NOTION_OPERATIONS: Final[tuple[str, ...]] = get_args(NotionOperation)
NOTIFICATION_CHANNELS: Final[tuple[str, ...]] = get_args(NotificationChannel)
NOTIFICATION_OUTCOMES: Final[tuple[str, ...]] = get_args(NotificationOutcome)

#: Notion answers worth a series of their own; any other becomes its class (``4xx``…).
_NOTION_STATUSES: Final = frozenset({200, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504, 529})
#: Notion's documented error codes (developers.notion.com/reference/status-codes); any other
#: code (ours, such as ``timeout``, or one Notion adds later) is ``other``.
NOTION_ERROR_CODES: Final = frozenset(
    {
        "invalid_json", "invalid_request_url", "invalid_request", "invalid_grant",
        "validation_error", "missing_version", "unauthorized", "restricted_resource",
        "object_not_found", "conflict_error", "rate_limited", "internal_server_error",
        "bad_gateway", "service_unavailable", "database_connection_unavailable",
        "gateway_timeout", "service_overload",
    }
)  # fmt: skip
#: HTTP methods a client may send us; anything else is ``other`` (methods are free-form tokens).
_HTTP_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Bucket bounds, in seconds. Ticks start within milliseconds while workers keep up and
# minutes late when the queue backs up; handlers are user code (a few ms to the 60 s default
# timeout and beyond); the limiter paces ~3 requests/s for the fleet, so waits of seconds mean
# a backlog of calls and longer ones a Retry-After penalty; the API answers in milliseconds.
TICK_LAG_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
HANDLER_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
LIMITER_WAIT_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
HTTP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def notion_status_label(status: int | None) -> str:
    """The ``status`` label of a Notion request: its HTTP status, its class, or ``no_response``.

    ``None`` (a timeout, a refused or reset connection) is ``no_response``.
    """
    if status is None:
        return "no_response"
    if status in _NOTION_STATUSES:
        return str(status)
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


def notion_error_code_label(code: str) -> str:
    """The ``code`` label of a Notion error: a documented Notion code, else ``other``."""
    return code if code in NOTION_ERROR_CODES else "other"


def http_method_label(method: str) -> str:
    """The ``method`` label of an API request: a standard method, else ``other``."""
    upper = method.upper()
    return upper if upper in _HTTP_METHODS else "other"


def http_status_label(status: int) -> str:
    """The ``status`` label of an API answer; out-of-range numbers become ``other``."""
    return str(status) if 100 <= status <= 599 else "other"


class PoolLike(Protocol):
    """What :meth:`Metrics.watch_pool` reads from an ``asyncpg.Pool``."""

    def get_size(self) -> int: ...

    def get_idle_size(self) -> int: ...

    def get_max_size(self) -> int: ...


class Metrics:
    """The metric families of notion-batch, registered on ``registry``.

    Label values are the closed sets above (``TICK_OUTCOMES``…); series of those sets are
    created up front at zero, so ``rate()`` and alerts see a 0 instead of no data before the
    first event. A service exports every family, including ones only another service feeds
    (they stay at zero there): dashboards sum or ``max()`` across targets, so the zeros are
    harmless and each process stays one simple object.
    """

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(f"{PREFIX}_{name}", doc, labels, registry=registry)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(f"{PREFIX}_{name}", doc, labels, registry=registry)

        def histogram(
            name: str, doc: str, buckets: tuple[float, ...], labels: tuple[str, ...] = ()
        ) -> Histogram:
            return Histogram(f"{PREFIX}_{name}", doc, labels, registry=registry, buckets=buckets)

        # -- scheduler ---------------------------------------------------------------------
        self.ticks_emitted = counter(
            "ticks_emitted",
            "Ticks the scheduler published (one per running page per interval).",
        )
        self.ticks_coalesced = counter(
            "ticks_coalesced",
            "Missed ticks folded into an emitted one instead of being replayed "
            "(the sum of the ticks' `coalesced` counts).",
        )
        self.active_batches = gauge(
            "active_batches",
            "Batches running now, as the scheduler last counted them in the database.",
        )
        self.stalled_batches = gauge(
            "stalled_batches",
            "Running batches with no progress for longer than BATCH_STALL_SECONDS while their "
            "ticks fall due, as the scheduler's stall watch last counted them.",
        )
        self.batches_stalled_total = counter(
            "batches_stalled",
            "Times a running batch was seen stalled (and set going again) by the stall watch.",
        )
        self.queue_depth = gauge(
            "queue_depth",
            "Messages ready in a work queue, as the scheduler last measured it.",
            ("queue",),
        )
        # -- worker ------------------------------------------------------------------------
        self.ticks_processed = counter(
            "ticks_processed",
            "Ticks a worker finished and acked, by outcome (worked|busy|stale|failed|recorded).",
            ("outcome",),
        )
        self.ticks_returned = counter(
            "ticks_returned",
            "Ticks a worker did not ack: requeued (shutdown|unavailable|crashed) "
            "or dead-lettered (rejected|crash_loop).",
            ("reason",),
        )
        self.tick_lag_seconds = histogram(
            "tick_lag_seconds",
            "Time from a tick's scheduled time to a worker starting it.",
            TICK_LAG_BUCKETS,
        )
        self.batches_crash_looped = counter(
            "batches_crash_looped",
            "Batches failed because their ticks crashed the worker WORKER_CRASH_LIMIT times "
            "in a row (also counted in batches_ended{reason=failed}).",
        )
        self.page_reads = counter(
            "page_reads",
            "Sync steps of ticks by outcome (full: the blocks read; skipped) and why (first|"
            "periodic|event|stamp_moved|unsettled|unchanged|no_event): skipped cost ≤ 1 call.",
            ("outcome", "reason"),
        )
        self.todos_processed = counter(
            "todos_processed",
            "Handler runs by outcome (done|skipped|failed).",
            ("outcome",),
        )
        self.handler_duration_seconds = histogram(
            "handler_duration_seconds",
            "Duration of one handler run, by outcome (done|skipped|failed).",
            HANDLER_BUCKETS,
            ("outcome",),
        )
        # -- Notion gateway (worker) -------------------------------------------------------
        self.notion_requests = counter(
            "notion_requests",
            "Notion API requests sent (each attempt), by integration, operation and answer "
            "status (a listed code, its class such as 4xx, or no_response).",
            ("integration", "operation", "status"),
        )
        self.notion_rate_limited = counter(
            "notion_rate_limited",
            "Notion answers 429 rate_limited, by integration and operation.",
            ("integration", "operation"),
        )
        self.notion_errors = counter(
            "notion_errors",
            "Notion 4xx answers the gateway gave up on (not retried), by Notion's error code "
            "(validation_error, object_not_found, restricted_resource…; other codes: other). "
            "An unreadable block skipped while reading a page counts here once per reading.",
            ("code",),
        )
        self.notion_limiter_wait_seconds = histogram(
            "notion_limiter_wait_seconds",
            "Time a Notion request waited for the rate limiter (fleet-wide or per process) "
            "before being sent.",
            LIMITER_WAIT_BUCKETS,
        )
        # -- every process with a database pool --------------------------------------------
        self.db_pool_connections_in_use = gauge(
            "db_pool_connections_in_use",
            "PostgreSQL connections of this process's pool checked out right now.",
        )
        self.db_pool_connections_max = gauge(
            "db_pool_connections_max",
            "Largest size of this process's PostgreSQL pool (DB_POOL_MAX_SIZE).",
        )
        # -- api ---------------------------------------------------------------------------
        self.http_requests = counter(
            "http_requests",
            "API requests answered, by route template (or `unmatched`), method and status.",
            ("route", "method", "status"),
        )
        self.http_request_duration_seconds = histogram(
            "http_request_duration_seconds",
            "API request latency, by route template (or `unmatched`) and method.",
            HTTP_BUCKETS,
            ("route", "method"),
        )
        # -- batch lifecycle (api, scheduler, worker) --------------------------------------
        self.batches_started = counter("batches_started", "Batches started through the API.")
        self.batches_ended = counter(
            "batches_ended",
            "Batches ended, by reason (stopped by request|expired|failed).",
            ("reason",),
        )
        # -- scheduler: batch-end notifications --------------------------------------------
        self.notifications = counter(
            "notifications",
            "Batch-end summary deliveries by channel (webhook|slack|email) and outcome "
            "(delivered|failed: retried later|abandoned: given up).",
            ("channel", "outcome"),
        )

        for outcome in TICK_OUTCOMES:
            self.ticks_processed.labels(outcome=outcome)
        for reason in TICK_RETURN_REASONS:
            self.ticks_returned.labels(reason=reason)
        for outcome in TODO_OUTCOMES:
            self.todos_processed.labels(outcome=outcome)
            self.handler_duration_seconds.labels(outcome=outcome)
        for operation in NOTION_OPERATIONS:
            self.notion_rate_limited.labels(integration=DEFAULT_INTEGRATION, operation=operation)
        for reason in BATCH_END_REASONS:
            self.batches_ended.labels(reason=reason)
        for channel in NOTIFICATION_CHANNELS:
            for notification_outcome in NOTIFICATION_OUTCOMES:
                self.notifications.labels(channel=channel, outcome=notification_outcome)

    def watch_pool(self, pool: PoolLike) -> None:
        """Read the pool gauges from ``pool`` at each scrape (one pool per process)."""
        self.db_pool_connections_in_use.set_function(lambda: pool.get_size() - pool.get_idle_size())
        self.db_pool_connections_max.set_function(pool.get_max_size)


@functools.cache
def get_metrics() -> Metrics:
    """This process's metrics, on the default registry; built on first use, then shared."""
    return Metrics(REGISTRY)
