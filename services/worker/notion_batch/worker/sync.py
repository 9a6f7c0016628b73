"""Reading a page's to-dos from Notion into the to-do table, once per tick."""

from __future__ import annotations

import time

import structlog

from notion_batch.common.db.ticks import Lease, SyncedTodo, TickRepository
from notion_batch.common.db.warnings import NewWarning
from notion_batch.common.errors import (
    NotionAccessError,
    NotionRequestError,
    NotionUnavailable,
)
from notion_batch.common.notion.gateway import NotionGateway
from notion_batch.worker.errors import PageGone

log = structlog.get_logger(__name__)

#: The batch's failure reason when the page is in Notion's trash.
PAGE_IN_TRASH = "page is in trash"
#: How often a worker retrieves a page to see whether it went to the trash. Every tick would
#: cost a call a tick, which at Notion's 3 requests/s starves busy fleets (a short tick spends
#: its time waiting for its reads); the first tick of each run always looks.
PAGE_CHECK_SECONDS = 60.0
#: Pages remembered at most; older looks are forgotten (they are then simply looked at again).
_MAX_REMEMBERED = 10_000


class TodoSync:
    def __init__(self, gateway: NotionGateway, db: TickRepository) -> None:
        self._gateway = gateway
        self._db = db
        #: (page, run) → when this worker last retrieved the page.
        self._page_checked: dict[tuple[str, int], float] = {}

    def _page_check_due(self, lease: Lease) -> bool:
        key = (lease.notion_page_id, lease.run_id)
        now = time.monotonic()
        last = self._page_checked.get(key)
        if last is not None and now - last < PAGE_CHECK_SECONDS:
            return False
        if len(self._page_checked) >= _MAX_REMEMBERED:
            self._page_checked.clear()
        self._page_checked[key] = now
        return True

    async def sync(self, lease: Lease) -> None:
        """Merge the page's current to-dos (none when Notion cannot be read this time).

        Raises :class:`PageGone` when Notion answers about the page itself: retrieving it or
        listing its top level gives a 4xx, or it is in the trash. A block whose children
        Notion will not list costs its subtree only: the rest is read, and the block becomes
        a warning of the run (once per run and block). A Notion outage does not stop the
        tick: the to-dos already known are still processed, and their recording waits in the
        outbox.
        """
        page_id = lease.notion_page_id
        # Our own log blocks hold no to-dos; not descending into them saves calls every tick.
        skip = await self._db.log_block_ids(page_id)
        try:
            # The one documented way to see the trash: ``in_trash`` is on the page object;
            # nothing documents that listing a trashed page's blocks fails.
            # Listed first, looked at after: of a fleet starting many pages at once, each gets
            # its to-dos read as soon as it can; none is worked before the look says no trash.
            read = await self._gateway.read_todos(page_id, skip_block_ids=skip)
            if self._page_check_due(lease):
                page = await self._gateway.retrieve_page(page_id)
                if page.archived:
                    raise PageGone(PAGE_IN_TRASH)
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
        log.info(
            "page_synced", todos=len(read.todos), unreadable=len(read.unreadable), new_warnings=new
        )
