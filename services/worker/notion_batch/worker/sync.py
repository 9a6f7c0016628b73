"""Reading a page's to-dos from Notion into the to-do table, when the page may have changed
(the change rule, changes.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from notion_batch.common.db.ticks import FullRead, Holder, Lease, SyncedTodo, TickRepository
from notion_batch.common.db.warnings import NewWarning
from notion_batch.common.errors import (
    NotionAccessError,
    NotionRequestError,
    NotionUnavailable,
)
from notion_batch.common.metrics import get_metrics
from notion_batch.common.notion.gateway import NotionGateway
from notion_batch.common.notion.models import PageInfo
from notion_batch.worker.changes import ChangeRule
from notion_batch.worker.errors import PageGone

log = structlog.get_logger(__name__)

#: The batch's failure reason when the page is in Notion's trash.
PAGE_IN_TRASH = "page is in trash"
#: How often a full read at least retrieves the page to see whether it went to the trash: where
#: webhooks are the change signal (a page event says so sooner), and while the page's stamp is
#: too recent for a look to settle; otherwise every look sees it. The first tick of each run
#: always looks.
PAGE_CHECK_SECONDS = 60.0
#: Pages remembered at most; older looks are forgotten (they are then simply looked at again).
_MAX_REMEMBERED = 10_000


def utc_now() -> datetime:
    return datetime.now(UTC)


class TodoSync:
    def __init__(
        self,
        gateway: NotionGateway,
        db: TickRepository,
        rule: ChangeRule,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._gateway = gateway
        self._db = db
        self._rule = rule
        #: The wall clock the change rule compares Notion's stamps with (benchmarks simulate it).
        self._clock = clock
        self._metrics = get_metrics()
        #: (page, run) → when this worker last retrieved the page.
        self._page_checked: dict[tuple[str, int], datetime] = {}

    def _page_check_due(self, lease: Lease) -> bool:
        """Whether the page's trash was not looked at for ``PAGE_CHECK_SECONDS``; asking counts
        as looking now."""
        key = (lease.notion_page_id, lease.run_id)
        now = self._clock()
        last = self._page_checked.get(key)
        if last is not None and (now - last).total_seconds() < PAGE_CHECK_SECONDS:
            return False
        if len(self._page_checked) >= _MAX_REMEMBERED:
            self._page_checked.clear()
        self._page_checked[key] = now
        return True

    async def sync(self, lease: Lease) -> None:
        """Merge the page's current to-dos if it may have changed since its last full read
        (the change rule); else leave the to-do table as it is.

        Raises :class:`PageGone` when Notion answers about the page itself: retrieving it or
        listing its top level gives a 4xx, or it is in the trash. A block whose children
        Notion will not list costs its subtree only: the rest is read, and the block becomes
        a warning of the run (once per run and block). A Notion outage does not stop the
        tick: the to-dos already known are still processed, and their recording waits in the
        outbox.
        """
        page_id = lease.notion_page_id
        state = await self._db.read_state(page_id)
        started_at = self._clock()
        plan = self._rule.plan(state, lease.run_id, started_at)
        reason = plan.reason
        try:
            page: PageInfo | None = None
            if plan.look:
                self._page_check_due(lease)  # this look sees the trash too
                page = await self._look(page_id)
                reason = self._rule.changed(state, page.last_edited_time) or "unchanged"
            if not plan.read and reason in ("unchanged", "no_event"):
                self._metrics.page_reads.labels(outcome="skipped", reason=reason).inc()
                log.debug("page_unchanged", reason=reason)
                return
            # Our own log blocks hold no to-dos; not descending into them saves calls.
            skip = await self._db.log_block_ids(page_id)
            # A read that is due anyway lists first and looks after: of a fleet starting many
            # pages at once, each gets its to-dos read as soon as it can; none is worked
            # before the look says no trash. Either order proves the same (ChangeRule.settled
            # takes the time before both).
            read = await self._gateway.read_todos(page_id, skip_block_ids=skip)
            if page is None and (
                self._page_check_due(lease) or self._rule.wants_stamp(state, started_at)
            ):
                page = await self._look(page_id)
        except (NotionAccessError, NotionRequestError) as exc:
            raise PageGone(str(exc)) from exc
        except NotionUnavailable as exc:
            log.warning("notion_sync_failed", error=str(exc))
            return
        # Every to-do readable now; one under a block unreadable this time is not worked
        # (the merge skips it if it was pending): we cannot see whether it still exists.
        await self._db.merge_synced(
            page_id, [SyncedTodo(b.block_id, b.position, b.text, b.checked) for b in read.todos]
        )
        new = await self._db.record_warnings(
            lease.run_id,
            [
                NewWarning(u.block_id, u.block_type, u.status, u.code, u.describe())
                for u in read.unreadable
            ],
        )
        # Not looked at this time: the stamp seen last, unverified, so never settled (a look
        # that finds it moved makes a read, as it must).
        if page is not None:
            stamp = page.last_edited_time
        else:
            stamp = state.stamp if state.run_id == lease.run_id else None
        await self._db.record_read(
            Holder(page_id, lease.owner),
            FullRead(
                run_id=lease.run_id,
                started_at=started_at,
                stamp=stamp,
                settled=ChangeRule.settled(stamp, started_at),
                events=state.events,
                title=page.title if page is not None else None,
            ),
        )
        self._metrics.page_reads.labels(outcome="full", reason=reason).inc()
        log.info(
            "page_synced",
            todos=len(read.todos),
            unreadable=len(read.unreadable),
            new_warnings=new,
            reason=reason,
        )

    async def _look(self, page_id: str) -> PageInfo:
        """Retrieve the page: its stamp, and the one documented way to see the trash
        (``in_trash`` is on the page object; nothing documents that listing a trashed page's
        blocks fails)."""
        page = await self._gateway.retrieve_page(page_id)
        if page.archived:
            raise PageGone(PAGE_IN_TRASH)
        return page
