"""The worker's tick processor as the in-process tests build it: the service's own wiring
(``build_processor``), with one Notion gateway (the default integration's), its change rule,
and either one handler for every batch, whatever it chose, or the handlers a worker opens."""

from __future__ import annotations

import asyncpg

from notion_batch.common.config import DEFAULT_INTEGRATION
from notion_batch.common.db.ticks import TickRepository
from notion_batch.common.notion.gateway import NotionGateway
from notion_batch.worker.changes import DEFAULT_CHANGE_RULE, ChangeRule
from notion_batch.worker.handlers import Handler, Handlers
from notion_batch.worker.main import build_processor
from notion_batch.worker.settings import RecordMode
from notion_batch.worker.tick import TickPolicy, TickProcessor


def tick_processor(
    pool: asyncpg.Pool,
    notion: NotionGateway,
    *,
    policy: TickPolicy,
    handler: Handler | None = None,
    handlers: Handlers | None = None,
    record_mode: RecordMode = "page_log",
    reconcile_delay_seconds: float = 2.0,
    change_rule: ChangeRule = DEFAULT_CHANGE_RULE,
) -> TickProcessor:
    if handlers is None:
        if handler is None:
            raise TypeError("give a handler, or the worker's handlers")
        handlers = Handlers(handler)
    elif handler is not None:
        raise TypeError("give a handler or the worker's handlers, not both")
    return build_processor(
        TickRepository(pool),
        {DEFAULT_INTEGRATION: notion},
        handlers=handlers,
        policy=policy,
        record_mode=record_mode,
        worker_id="test",
        reconcile_delay_seconds=reconcile_delay_seconds,
        change_rules={DEFAULT_INTEGRATION: change_rule},
    )
