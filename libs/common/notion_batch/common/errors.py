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


class NotionError(NotionBatchError):
    """Root of the Notion port's errors (:mod:`notion_batch.common.notion`): the SDK's and
    httpx's exceptions never leave the gateway.

    ``str(error)`` is written for a person (it becomes a batch's failure reason); it never
    holds the integration token.
    """

    def __init__(
        self, message: str, *, status: int | None, code: str, detail: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        #: Notion's own message, as it answered it (``None`` when no answer came).
        self.detail = detail
        #: HTTP status Notion answered, ``None`` when no answer came (timeout, connection).
        self.status = status
        #: Notion's error code (``object_not_found``…) or ours (``timeout``, ``connection``).
        self.code = code
        #: Notion's own ``message`` when it answered one (``message`` above is ours).
        self.notion_message: str | None = None


class NotionAccessError(NotionError):
    """401, 403 or 404: permanent for that page or block until a person fixes access."""


class NotionRequestError(NotionError):
    """Notion refused the request itself (``validation_error``…): a bug, never retried."""


class NotionBlockRefused(NotionError):
    """Notion refused to edit one block (400, 403 or 404): about that block only, permanent.

    The caller gives up on that block and goes on with the others; ``trashed`` says Notion
    refused because the block, or one of its ancestors, is in the trash.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        code: str,
        detail: str | None,
        block_id: str,
        trashed: bool,
    ) -> None:
        super().__init__(message, status=status, code=code, detail=detail)
        self.block_id = block_id
        self.trashed = trashed

    @property
    def answer(self) -> str:
        """``<status> <code>: <Notion's message>``, what the to-do keeps as its last error."""
        return f"{self.status} {self.code}: {self.detail or self.message}"


class NotionUnavailable(NotionError):
    """A transient failure outlived the retry policy, or retrying could duplicate a write."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        code: str,
        retry_after: float | None = None,
        ambiguous: bool = False,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, status=status, code=code)
        #: Seconds Notion asked us to wait, when it said.
        self.retry_after = retry_after
        #: True when a write may have been applied although it failed (a 5xx or a timeout on
        #: an append): reconcile with what is on the page before writing again.
        self.ambiguous = ambiguous
        self.attempts = attempts
        #: Ids of blocks appended by earlier chunks of the same ``append_blocks`` call.
        self.appended_ids: tuple[str, ...] = ()


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
