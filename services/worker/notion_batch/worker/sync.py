"""Reading a page's to-dos from Notion into the to-do table, once per tick."""

from __future__ import annotations

import structlog

from notion_batch.common.db.leases import Lease
from notion_batch.common.db.todos import SyncedTodo, TodoRepository
from notion_batch.common.errors import NotionBatchError
from notion_batch.common.notion.errors import NotionAccessError, NotionUnavailable
from notion_batch.common.notion.gateway import NotionGateway

log = structlog.get_logger(__name__)


class PageGone(NotionBatchError):
    """The page no longer exists or is not shared with the integration: the batch fails."""


class TodoSync:
    def __init__(self, gateway: NotionGateway, todos: TodoRepository) -> None:
        self._gateway = gateway
        self._todos = todos

    async def sync(self, lease: Lease) -> bool:
        """Merge the page's current to-dos; ``False`` if Notion could not be read this time.

        A Notion outage does not stop the tick: the to-dos already known are still processed,
        and their recording waits in the outbox.
        """
        page_id = lease.notion_page_id
        # Our own log blocks hold no to-dos; not descending into them saves calls every tick.
        skip = await self._todos.log_block_ids(page_id)
        try:
            blocks = await self._gateway.list_todos(page_id, skip_block_ids=skip)
        except NotionAccessError as exc:
            raise PageGone(str(exc)) from exc
        except NotionUnavailable as exc:
            log.warning("notion_sync_failed", error=str(exc))
            return False
        await self._todos.merge_synced(
            page_id,
            [SyncedTodo(b.block_id, b.position, b.text, b.checked) for b in blocks],
            complete=True,
        )
        log.info("page_synced", todos=len(blocks))
        return True
