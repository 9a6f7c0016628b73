"""Notion's webhook events in the database: the verification requests Notion sends when a
subscription is created, page events acted on (once per event id), and the re-read a busy page
owes.

The API writes all of it; the worker holding a page's lease takes the re-read flag
(``TickRepository.take_resync``, db/ticks.py) — and ``finish_tick`` turns a flag still set
when the tick ends into a tick due now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from notion_batch.common.db.pool import translate_errors
from notion_batch.common.db.sql import sql

#: Verification requests kept per integration: a few forged ones cannot push out the real one.
VERIFICATIONS_KEPT = 5


@dataclass(frozen=True)
class Verification:
    """A verification request as received: anyone may send one, so it proves nothing alone."""

    verification_token: str
    remote_address: str | None
    received_at: datetime

    def __repr__(self) -> str:  # the token is a secret: keep it out of tracebacks and logs
        return f"Verification(received_at={self.received_at!r})"


@dataclass(frozen=True)
class PageEventResult:
    """What a page event did to a running batch."""

    run_id: int
    #: A worker held the page's lease: it was asked to read the page again before letting go.
    busy: bool
    #: ``False``: this event id was acted on before (a repeated delivery); nothing changed.
    fresh: bool


class NotionEventRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def store_verification(
        self, integration: str, token: str, remote_address: str | None
    ) -> datetime:
        """Keep a verification request (the newest ``VERIFICATIONS_KEPT`` per integration)."""
        with translate_errors():
            row = await self._pool.fetchrow(
                sql("notion_verification_store"),
                integration,
                token,
                remote_address,
                VERIFICATIONS_KEPT,
            )
        assert row is not None
        received: datetime = row["received_at"]
        return received

    async def verifications(self, integration: str) -> list[Verification]:
        """The integration's kept verification requests, newest first."""
        with translate_errors():
            rows = await self._pool.fetch(
                sql("notion_verifications"), integration, VERIFICATIONS_KEPT
            )
        return [
            Verification(r["verification_token"], r["remote_address"], r["received_at"])
            for r in rows
        ]

    async def page_event(
        self, notion_page_id: str, integration: str, event_id: str
    ) -> PageEventResult | None:
        """Make the page's tick due now (or ask its busy worker to re-read it), once per event
        id; ``None`` when no batch runs on the page through ``integration``."""
        with translate_errors():
            row = await self._pool.fetchrow(
                sql("notion_page_event"), notion_page_id, integration, event_id
            )
        if row is None:
            return None
        return PageEventResult(run_id=row["run_id"], busy=row["busy"], fresh=row["fresh"])
