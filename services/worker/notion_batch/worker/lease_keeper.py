"""Keeps a page lease alive while a tick works, and says when the tick must stop."""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from notion_batch.common.db.ticks import Lease, TickRepository
from notion_batch.common.errors import UnavailableError

log = structlog.get_logger(__name__)


class LeaseKeeper:
    """Renews the lease every third of its length in the background.

    ``may_continue`` turns false when the lease is lost (expired and taken by another worker)
    or the batch ended (stopped, expired): the tick then starts no new to-do.
    """

    def __init__(self, db: TickRepository, lease: Lease, lease_seconds: float) -> None:
        self._db = db
        self._lease = lease
        self._lease_seconds = lease_seconds
        self._lost = False
        self._batch_ended = False
        self._last_renewed = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    @property
    def may_continue(self) -> bool:
        if time.monotonic() - self._last_renewed >= self._lease_seconds:
            self._lost = True  # could not renew in time: another worker may own it now
        return not (self._lost or self._batch_ended)

    @property
    def lost(self) -> bool:
        return self._lost

    async def __aenter__(self) -> LeaseKeeper:
        self._task = asyncio.create_task(self._renew_forever(), name="lease-renewal")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _renew_forever(self) -> None:
        interval = self._lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                state = await self._db.renew_lease(self._lease, self._lease_seconds)
            except UnavailableError as exc:
                log.warning("lease_renew_failed", error=str(exc))
                continue
            if state is None:
                self._lost = True
                log.warning("lease_lost", notion_page_id=self._lease.notion_page_id)
                return
            self._last_renewed = time.monotonic()
            if not state:
                self._batch_ended = True
