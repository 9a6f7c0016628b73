"""Errors the API answers with a status of their own, beyond the domain errors of ``common``.

Each carries its HTTP status, the headers that go with it and extra body fields; the error
middleware turns any of them into ``{"success": false, "message": …, **extra}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from notion_batch.common.errors import NotionBatchError


class ApiError(NotionBatchError):
    """A request the API refuses, with the status and headers of the refusal."""

    status: ClassVar[int] = 400

    def __init__(
        self, message: str, *, headers: Mapping[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.headers = dict(headers or {})
        self.extra = extra


class Unauthorized(ApiError):
    """No API key, or one that is not ours (401, with ``WWW-Authenticate``)."""

    status = 401


class Forbidden(ApiError):
    """A known API key without the scope the operation needs (403)."""

    status = 403


class NotFound(ApiError):
    """Nothing of the kind asked for exists (yet) (404)."""

    status = 404


class PayloadTooLarge(ApiError):
    status = 413


class RateLimited(ApiError):
    """The key made more writes than its rate allows (429, with ``Retry-After``)."""

    status = 429
