"""The worker's settings (``WORKER_*``, ``TODO_*``, with the shared database, broker, Notion,
ops and log settings), read from the environment once, at the entry point.

A bad value raises :class:`ConfigError` naming the variable. The variables are documented in
the README's configuration table — keep the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from notion_batch.common.config import (
    DEFAULT_INTEGRATION,
    BrokerSettings,
    DatabaseSettings,
    Env,
    LogSettings,
    NotionSettings,
    OpsSettings,
    integration_names,
)
from notion_batch.common.errors import ConfigError
from notion_batch.common.handlers import DEFAULT_HANDLER
from notion_batch.worker.handlers import resolve

#: How outcomes are written to Notion (``NOTION_RECORD_MODE``).
RecordMode = Literal["page_log", "todo_children"]
#: How long a stopping worker lets its ticks finish by default (``WORKER_DRAIN_SECONDS``).
DEFAULT_WORKER_DRAIN_SECONDS = 20.0
#: Crashes in a row of a batch's ticks that fail it by default (``WORKER_CRASH_LIMIT``): fewer
#: than the queue's delivery limit (5), so the first crashing tick settles it.
DEFAULT_WORKER_CRASH_LIMIT = 3
#: The worker's default ops port (metrics and probes); the scheduler's is 9100, so the two can
#: share a host.
WORKER_OPS_PORT = 9101


@dataclass(frozen=True)
class WebhookSettings:
    """The built-in ``webhook`` handler: where it POSTs each to-do, and how long it waits."""

    #: ``None``: not configured, so batches choosing ``webhook`` fail their to-dos (retried).
    url: str | None
    timeout_seconds: float

    @classmethod
    def from_env(cls, env: Env, *, required: bool) -> WebhookSettings:
        url = env.http_url("TODO_WEBHOOK_URL")
        if url is None and required:
            raise ConfigError("TODO_WEBHOOK_URL", "is required when TODO_HANDLER is webhook")
        timeout = env.number("TODO_WEBHOOK_TIMEOUT_SECONDS", 10.0, minimum=0.1, maximum=600.0)
        return cls(url=url, timeout_seconds=timeout)


@dataclass(frozen=True)
class WorkerSettings:
    #: The default handler of this worker's batches: an installed handler's name (``complete``,
    #: ``webhook``, a plugin's) or ``module:function``. A batch may choose another by name.
    handler: str
    max_attempts: int
    handler_timeout_seconds: float
    #: Ticks (pages) one worker process works on at once.
    concurrency: int
    #: How long a page stays leased to a worker without a heartbeat.
    lease_seconds: float
    #: How long a stopping worker lets ticks in flight finish before handing them back;
    #: Kubernetes' terminationGracePeriodSeconds must be larger.
    drain_seconds: float
    #: Crashes in a row of one batch's ticks (our code raised, not an outage) that fail the
    #: batch, so a tick that can never be worked does not come back until the batch expires.
    crash_limit: int
    record_mode: RecordMode
    webhook: WebhookSettings
    #: ``shared``: one Notion rate limit for the fleet (in PostgreSQL); ``local``: per process.
    notion_rate_limit_scope: Literal["shared", "local"]
    database: DatabaseSettings
    broker: BrokerSettings
    #: The default integration's settings (``NOTION_TOKEN``).
    notion: NotionSettings
    ops: OpsSettings
    log: LogSettings
    #: Every integration this worker serves, by name, the default included.
    integrations: Mapping[str, NotionSettings] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if DEFAULT_INTEGRATION not in self.integrations:
            object.__setattr__(
                self, "integrations", {DEFAULT_INTEGRATION: self.notion, **self.integrations}
            )

    @property
    def notion_tokens(self) -> list[str]:
        """Every integration's token: secrets, for the log redactor."""
        return [n.token for n in self.integrations.values()]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerSettings:
        env = Env(environ)
        concurrency = env.integer("WORKER_CONCURRENCY", 4, minimum=1, maximum=256)
        handler = env.string("TODO_HANDLER", DEFAULT_HANDLER)
        resolve(handler, variable="TODO_HANDLER")
        mode = env.choice("NOTION_RECORD_MODE", "page_log", ("page_log", "todo_children"))
        integrations = {name: NotionSettings.from_env(env, name) for name in integration_names(env)}
        return cls(
            handler=handler,
            max_attempts=env.integer("TODO_MAX_ATTEMPTS", 3, minimum=1, maximum=100),
            handler_timeout_seconds=env.number(
                "TODO_HANDLER_TIMEOUT_SECONDS", 60.0, minimum=0.1, maximum=3600.0
            ),
            concurrency=concurrency,
            lease_seconds=env.number("WORKER_LEASE_SECONDS", 30.0, minimum=1.0, maximum=3600.0),
            drain_seconds=env.number(
                "WORKER_DRAIN_SECONDS", DEFAULT_WORKER_DRAIN_SECONDS, minimum=0.0, maximum=3600.0
            ),
            crash_limit=env.integer(
                "WORKER_CRASH_LIMIT", DEFAULT_WORKER_CRASH_LIMIT, minimum=1, maximum=100
            ),
            record_mode="todo_children" if mode == "todo_children" else "page_log",
            webhook=WebhookSettings.from_env(env, required=handler == "webhook"),
            notion_rate_limit_scope=(
                "local"
                if env.choice("NOTION_RATE_LIMIT_SCOPE", "shared", ("shared", "local")) == "local"
                else "shared"
            ),
            # Each page in work holds at most one connection at a time, plus heartbeats.
            database=DatabaseSettings.from_env(env, default_pool_max=concurrency + 4),
            broker=BrokerSettings.from_env(env),
            notion=integrations[DEFAULT_INTEGRATION],
            ops=OpsSettings.from_env(environ, default_port=WORKER_OPS_PORT),
            log=LogSettings.from_env(env),
            integrations=integrations,
        )
