"""The Notion port: every Notion call notion-batch makes goes through :class:`NotionGateway`."""

from notion_batch.common.errors import (
    NotionAccessError,
    NotionBlockRefused,
    NotionError,
    NotionRequestError,
    NotionUnavailable,
)
from notion_batch.common.notion.blocks import (
    LOG_MARKER,
    is_log_container,
    is_result_block,
    log_container,
    log_line_block,
    logged_todo_ids,
    todo_result_block,
    truncate,
)
from notion_batch.common.notion.gateway import NotionGateway
from notion_batch.common.notion.models import (
    LogLine,
    PageInfo,
    PageRead,
    TodoBlock,
    UnreadableBlock,
)
from notion_batch.common.notion.pacing import (
    PausableRateLimiter,
    RateLimiter,
    TokenBucketLimiter,
)
from notion_batch.common.notion.retry import RetryPolicy

__all__ = [
    "LOG_MARKER",
    "LogLine",
    "NotionAccessError",
    "NotionBlockRefused",
    "NotionError",
    "NotionGateway",
    "NotionRequestError",
    "NotionUnavailable",
    "PageInfo",
    "PageRead",
    "PausableRateLimiter",
    "RateLimiter",
    "RetryPolicy",
    "TodoBlock",
    "TokenBucketLimiter",
    "UnreadableBlock",
    "is_log_container",
    "is_result_block",
    "log_container",
    "log_line_block",
    "logged_todo_ids",
    "todo_result_block",
    "truncate",
]
