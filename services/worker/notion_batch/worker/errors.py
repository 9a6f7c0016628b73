"""The worker's errors: why a to-do's handler could not run or did not get through (both
fail the to-do this time, retried on later ticks up to ``TODO_MAX_ATTEMPTS``, with the message
kept as its error), and why a page's batch fails.
"""

from __future__ import annotations

from notion_batch.common.errors import NotionBatchError


class HandlerUnavailable(NotionBatchError):
    """A batch chose a handler this worker does not have open."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"handler {name!r} is not available on this worker: {reason}")
        self.name = name
        self.reason = reason


class WebhookFailed(NotionBatchError):
    """The ``webhook`` handler's receiver could not take the to-do this time (5xx, timeout,
    unreachable)."""


class PageGone(NotionBatchError):
    """Notion's answer about the page itself (not found or not shared, not allowed, in the
    trash, or the request refused): the batch fails with this reason."""
