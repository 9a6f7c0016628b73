"""Reading a page's to-dos from Notion into the to-do table, once per tick."""

from __future__ import annotations

import structlog

from notion_batch.common.db.leases import Lease
from notion_batch.common.db.todos import SyncedTodo, TodoRepository
from notion_batch.common.db.warnings import NewWarning, WarningRepository
from notion_batch.common.errors import NotionBatchError
from notion_batch.common.notion.errors import (
    NotionAccessError,
    NotionRequestError,
    NotionUnavailable,
)
from notion_batch.common.notion.gateway import NotionGateway

log = structlog.get_logger(__name__)

#: The batch's failure reason when the page is in Notion's trash.
PAGE_IN_TRASH = "page is in trash"


class PageGone(NotionBatchError):
    """Notion's answer about the page itself (not found or not shared, not allowed, in the
    trash, or the request refused): the batch fails with this reason."""


class TodoSync:
    def __init__(
        self, gateway: NotionGateway, todos: TodoRepository, warnings: WarningRepository
    ) -> None:
        self._gateway = gateway
        self._todos = todos
        self._warnings = warnings

    async def sync(self, lease: Lease) -> bool:
        """Merge the page's current to-dos; ``False`` if Notion could not be read this time.

        Raises :class:`PageGone` when Notion answers about the page itself: retrieving it or
        listing its top level gives a 4xx, or it is in the trash. A block whose children
        Notion will not list costs its subtree only: the rest is read, and the block becomes
        a warning of the run (once per run and block). A Notion outage does not stop the
        tick: the to-dos already known are still processed, and their recording waits in the
        outbox.
        """
        page_id = lease.notion_page_id
        # Our own log blocks hold no to-dos; not descending into them saves calls every tick.
        skip = await self._todos.log_block_ids(page_id)
        try:
            # One call a tick, but the one documented way to see the trash: ``in_trash`` is on
            # the page object; nothing documents that listing a trashed page's blocks fails.
            page = await self._gateway.retrieve_page(page_id)
            if page.archived:
                raise PageGone(PAGE_IN_TRASH)
            read = await self._gateway.read_todos(page_id, skip_block_ids=skip)
        except (NotionAccessError, NotionRequestError) as exc:
            raise PageGone(str(exc)) from exc
        except NotionUnavailable as exc:
            log.warning("notion_sync_failed", error=str(exc))
            return False
        # Every to-do readable now; one under a block unreadable this time is not worked
        # (complete=True skips it if it was pending): we cannot see whether it still exists.
        await self._todos.merge_synced(
            page_id,
            [SyncedTodo(b.block_id, b.position, b.text, b.checked) for b in read.todos],
            complete=True,
        )
        new = await self._warnings.record(
            lease.run_id,
            [
                NewWarning(u.block_id, u.block_type, u.status, u.code, u.describe())
                for u in read.unreadable
            ],
        )
        log.info(
            "page_synced", todos=len(read.todos), unreadable=len(read.unreadable), new_warnings=new
        )
        return True
