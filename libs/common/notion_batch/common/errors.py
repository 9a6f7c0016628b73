"""The exception tree of notion-batch.

Everything we raise on purpose derives from :class:`NotionBatchError`, so a caller can tell
our errors (which carry data and map to a clear answer) from bugs. HTTP mapping lives in
one place: ``notion_batch.api.middlewares``.
"""

from __future__ import annotations


class NotionBatchError(Exception):
    """Root of every error notion-batch raises on purpose."""


class ConfigError(NotionBatchError):
    """An environment variable is missing or invalid."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class InvalidPageId(NotionBatchError, ValueError):
    """A string is neither a Notion page id, a dashed UUID nor a Notion page URL."""


class UnavailableError(NotionBatchError):
    """A backing service (database, broker) cannot be reached right now; retry later."""

    service = "backend"


class DatabaseUnavailable(UnavailableError):
    service = "database"


class BrokerUnavailable(UnavailableError):
    service = "broker"


class BatchConflict(NotionBatchError):
    """The request does not fit the batch's current state (already running, not running)."""

    def __init__(self, message: str, *, notion_page_id: str) -> None:
        super().__init__(message)
        self.notion_page_id = notion_page_id


class BatchNotFound(NotionBatchError):
    """No batch has ever been started for this page."""

    def __init__(self, notion_page_id: str) -> None:
        super().__init__(f"no batch is known for page {notion_page_id}")
        self.notion_page_id = notion_page_id


class MessageError(NotionBatchError):
    """A broker message could not be decoded into one of our message types."""


class IdempotencyKeyReused(NotionBatchError):
    """An ``Idempotency-Key`` came back with a different request than the one it was used for."""

    def __init__(self, key: str) -> None:
        super().__init__(
            "this Idempotency-Key was already used for a different request; "
            "send a new key for a new request"
        )
        self.key = key


class BatchTooLong(NotionBatchError):
    """Extending the batch would make it last longer than the longest batch allowed."""

    def __init__(self, *, total_seconds: int, max_seconds: int) -> None:
        super().__init__(
            f"the batch would last {total_seconds} seconds in all, "
            f"more than the maximum of {max_seconds}"
        )
        self.total_seconds = total_seconds
        self.max_seconds = max_seconds
