"""Batch-end notifications: the outbox the run-end trigger fills, and its deliveries.

A run that ends (stop, expiry, failure) gets a row in ``notion_batch_notifications`` in the
same transaction, by a trigger (migration 0005). The scheduler's notifier then writes the
run's :class:`BatchSummary` on it once the run's last tick is over, opens one delivery per
channel, and claims due deliveries one attempt at a time. Every method is one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import asyncpg

from notion_batch.common.config import DEFAULT_INTEGRATION
from notion_batch.common.db.pool import transaction, translate_errors
from notion_batch.common.db.sql import sql

#: Where a page lives on notion.so: its id without dashes is enough.
NOTION_PAGE_URL = "https://www.notion.so/{}"


@dataclass(frozen=True)
class BatchSummary:
    """What a batch-end notification tells: one run of a page's batch, as it ended."""

    notion_page_id: str
    run_id: int
    #: ``completed`` or ``failed``.
    status: str
    #: ``stopped``, ``expired`` or ``failed``.
    end_reason: str
    #: The run's message: "stopped by request", the expiry summary, or why it failed.
    message: str
    started_at: datetime
    #: When the run was planned to end (``end_time`` of the batch).
    scheduled_end_at: datetime
    ended_at: datetime
    interval_seconds: int
    #: The handler the run chose; ``None``: the workers' default (``TODO_HANDLER``).
    handler: str | None
    ticks: int
    ticks_coalesced: int
    todos_done: int
    todos_skipped: int
    #: To-dos whose handler failed in this run and that were not done (retried, or skipped
    #: after the last attempt: those are in ``todos_skipped`` too).
    todos_failed: int
    #: To-dos still open on the page when the run ended.
    todos_pending: int
    #: The Notion integration the run worked through (a default: summaries stored before
    #: runs had one read back as ``default``).
    integration: str = DEFAULT_INTEGRATION

    @property
    def notion_url(self) -> str:
        return NOTION_PAGE_URL.format(self.notion_page_id.replace("-", ""))

    @property
    def duration_seconds(self) -> float:
        return max(0.0, (self.ended_at - self.started_at).total_seconds())

    def to_json(self) -> str:
        """The summary as stored with the notification (times in ISO 8601)."""
        fields: dict[str, Any] = asdict(self)
        for name in ("started_at", "scheduled_end_at", "ended_at"):
            fields[name] = getattr(self, name).isoformat()
        return json.dumps(fields, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BatchSummary:
        fields: dict[str, Any] = json.loads(text)
        for name in ("started_at", "scheduled_end_at", "ended_at"):
            fields[name] = datetime.fromisoformat(fields[name])
        return cls(**fields)

    @classmethod
    def from_record(cls, row: asyncpg.Record) -> BatchSummary:
        return cls(
            notion_page_id=str(row["notion_page_id"]),
            run_id=row["run_id"],
            status=row["status"],
            end_reason=row["end_reason"],
            message=row["message"],
            started_at=row["started_at"],
            scheduled_end_at=row["ends_at"],
            # Set whenever end_reason is (the trigger fires on it); ends_at is the plan.
            ended_at=row["ended_at"] or row["ends_at"],
            interval_seconds=row["interval_seconds"],
            handler=row["handler"],
            ticks=row["ticks"],
            ticks_coalesced=row["ticks_coalesced"],
            todos_done=row["todos_done"],
            todos_skipped=row["todos_skipped"],
            todos_failed=row["todos_failed"],
            todos_pending=row["todos_pending"],
            integration=row["integration"],
        )


@dataclass(frozen=True)
class Delivery:
    """One claimed attempt to send a run's summary on one channel."""

    run_id: int
    channel: str
    #: This attempt's number, the first is 1.
    attempt: int
    summary: BatchSummary
    #: Seconds since the run ended (since the notification was owed).
    age_seconds: float


#: Which channels a summary goes to, given its end reason (empty: none).
ChannelsFor = Callable[[str], Sequence[str]]


class NotificationRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def expand_new(
        self, *, limit: int, settle_seconds: float, channels_for: ChannelsFor
    ) -> list[tuple[BatchSummary, list[str]]]:
        """Write the summaries of up to ``limit`` newly ended runs and open their deliveries.

        Returns each summary with the channels it will be sent on.
        """
        expanded: list[tuple[BatchSummary, list[str]]] = []
        async with transaction(self._pool) as conn:
            rows = await conn.fetch(sql("notification_take_new"), limit, settle_seconds)
            for row in rows:
                summary = BatchSummary.from_record(row)
                channels = list(channels_for(summary.end_reason))
                await conn.execute(
                    sql("notification_expand"), summary.run_id, summary.to_json(), channels
                )
                expanded.append((summary, channels))
        return expanded

    async def claim_due(
        self, *, limit: int, channels: Sequence[str], lease_seconds: float
    ) -> list[Delivery]:
        """Claim up to ``limit`` due deliveries on ``channels``, one attempt each."""
        with translate_errors():
            rows = await self._pool.fetch(
                sql("notification_claim_due"), limit, list(channels), lease_seconds
            )
        return [
            Delivery(
                run_id=r["run_id"],
                channel=r["channel"],
                attempt=r["attempts"],
                summary=BatchSummary.from_json(r["summary"]),
                age_seconds=r["age_seconds"],
            )
            for r in rows
        ]

    async def delivered(self, delivery: Delivery) -> bool:
        """Mark the attempt delivered; ``False`` if the delivery was taken over meanwhile."""
        return await self._outcome("notification_delivered", delivery)

    async def retry_later(self, delivery: Delivery, *, delay_seconds: float, error: str) -> bool:
        return await self._outcome("notification_retry", delivery, delay_seconds, error)

    async def abandon(self, delivery: Delivery, *, error: str) -> bool:
        return await self._outcome("notification_abandon", delivery, error)

    async def _outcome(self, query: str, delivery: Delivery, *args: object) -> bool:
        with translate_errors():
            row = await self._pool.fetchrow(
                sql(query), delivery.run_id, delivery.channel, delivery.attempt, *args
            )
        return row is not None
