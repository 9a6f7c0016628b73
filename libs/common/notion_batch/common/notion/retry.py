"""When to try a Notion call again, and how long to wait first. Pure: no I/O, no sleeping.

``classify`` turns what the SDK or httpx raised into a :class:`Failure`; ``RetryPolicy.decide``
turns a failure into a :class:`Decision`. The gateway does the waiting and the logging.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum

import httpx
from notion_client.errors import HTTPResponseError, NotionClientErrorBase, RequestTimeoutError

from notion_batch.common.config import NotionSettings

DEFAULT_BASE_DELAY_S = 0.5
DEFAULT_MAX_DELAY_S = 30.0


class FailureKind(StrEnum):
    #: 429 rate_limited or 529 service_overload: refused before doing anything.
    RATE_LIMITED = "rate_limited"
    #: 409 conflict_error: Notion aborted the transaction, nothing was saved.
    CONFLICT = "conflict"
    #: 5xx: the request may or may not have been carried out.
    SERVER = "server"
    #: No answer in time: the request may or may not have been carried out.
    TIMEOUT = "timeout"
    #: The connection could not be made: nothing reached Notion.
    NOT_SENT = "not_sent"
    #: The connection broke during the exchange: the request may have been carried out.
    TRANSPORT = "transport"
    #: 401, 403, 404.
    ACCESS = "access"
    #: Any other 4xx: the request itself is wrong.
    REJECTED = "rejected"


#: 5xx answers that say Notion as a whole is overloaded, not that this request went wrong
#: (doc: developers.notion.com/reference/request-limits, status codes; FACTS.md "Rate limits"):
#: every caller of the integration backs off, as for a 429. They stay SERVER failures: a write
#: answered this way may still have been applied, so it is not retried blindly.
OVERLOAD_CODES = frozenset(
    {"bad_gateway", "database_connection_unavailable", "service_unavailable"}
)

_MAYBE_APPLIED = frozenset({FailureKind.SERVER, FailureKind.TIMEOUT, FailureKind.TRANSPORT})
_PERMANENT = frozenset({FailureKind.ACCESS, FailureKind.REJECTED})
#: httpx errors raised before any byte of the request was written.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    status: int | None
    code: str
    message: str
    retry_after: float | None = None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP date), else None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _notion_error_fields(error: HTTPResponseError) -> tuple[str, str]:
    """Notion's own code and message, also those the SDK does not know (529, missing_version)."""
    code, message = str(getattr(error.code, "value", error.code)), str(error)
    try:
        body = json.loads(error.body)
    except (TypeError, ValueError):
        return code, message
    if isinstance(body, Mapping):
        code = str(body.get("code") or code)
        message = str(body.get("message") or message)
    return code, message


def _kind_for_status(status: int) -> FailureKind:
    if status in (429, 529):
        return FailureKind.RATE_LIMITED
    if status == 409:
        return FailureKind.CONFLICT
    if status >= 500:
        return FailureKind.SERVER
    if status in (401, 403, 404):
        return FailureKind.ACCESS
    return FailureKind.REJECTED


def classify(error: BaseException) -> Failure | None:
    """The failure an SDK or httpx exception stands for; None for anything else (a bug)."""
    if isinstance(error, HTTPResponseError):
        code, message = _notion_error_fields(error)
        return Failure(
            kind=_kind_for_status(error.status),
            status=error.status,
            code=code,
            message=message,
            retry_after=parse_retry_after(error.headers.get("retry-after")),
        )
    if isinstance(error, RequestTimeoutError):
        # The SDK turns every httpx timeout into this one error; the original tells whether
        # the request left at all.
        cause = error.__context__
        if isinstance(cause, _NOT_SENT_ERRORS):
            return _transport_failure(cause)
        return Failure(FailureKind.TIMEOUT, None, "timeout", "no answer in time")
    if isinstance(error, httpx.TransportError):
        return _transport_failure(error)
    if isinstance(error, NotionClientErrorBase):
        return Failure(FailureKind.REJECTED, None, str(error.code), str(error))
    return None


def _transport_failure(error: httpx.TransportError) -> Failure:
    if isinstance(error, _NOT_SENT_ERRORS):
        return Failure(FailureKind.NOT_SENT, None, "connection", f"{type(error).__name__}: {error}")
    if isinstance(error, httpx.TimeoutException):
        return Failure(FailureKind.TIMEOUT, None, "timeout", "no answer in time")
    return Failure(FailureKind.TRANSPORT, None, "connection", f"{type(error).__name__}: {error}")


@dataclass(frozen=True)
class Decision:
    retry: bool
    #: Seconds to wait before the next attempt.
    delay: float = 0.0
    #: Pause every caller sharing the rate limiter, not only this one (Notion said slow down).
    pause_all: bool = False
    #: Giving up on a write that may have been applied.
    ambiguous: bool = False
    #: Why we stop: permanent, exhausted, retry_after_too_long, not_idempotent.
    reason: str = ""


class RetryPolicy:
    """Attempts, backoff (exponential, full jitter) and ``Retry-After`` handling."""

    def __init__(
        self,
        *,
        max_attempts: int,
        max_retry_after: float,
        base_delay: float = DEFAULT_BASE_DELAY_S,
        max_delay: float = DEFAULT_MAX_DELAY_S,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._rand = rand

    @classmethod
    def from_settings(
        cls,
        settings: NotionSettings,
        *,
        base_delay: float = DEFAULT_BASE_DELAY_S,
        max_delay: float = DEFAULT_MAX_DELAY_S,
        rand: Callable[[], float] = random.random,
    ) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
            max_retry_after=settings.max_retry_after_seconds,
            base_delay=base_delay,
            max_delay=max_delay,
            rand=rand,
        )

    def backoff(self, attempt: int) -> float:
        """Full jitter after failed attempt n (1-based): uniform in [0, min(cap, base·2ⁿ⁻¹)]."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** max(0, attempt - 1))
        return self._rand() * ceiling

    def decide(self, failure: Failure, *, attempt: int, idempotent: bool) -> Decision:
        """Whether to make attempt ``attempt + 1`` after ``failure`` ended attempt ``attempt``."""
        if failure.kind in _PERMANENT:
            return Decision(retry=False, reason="permanent")
        if not idempotent and failure.kind in _MAYBE_APPLIED:
            # A write that failed this way may still have landed: retrying could write twice.
            return Decision(retry=False, ambiguous=True, reason="not_idempotent")
        waited = failure.retry_after
        pause_all = failure.kind is FailureKind.RATE_LIMITED or (
            failure.kind is FailureKind.SERVER and failure.code in OVERLOAD_CODES
        )
        if waited is not None and waited > self.max_retry_after:
            # Longer than this call may wait (a workspace-wide limit can ask for minutes): the
            # call gives up, but the pause still holds for every caller of the integration
            # (``pause_all`` with ``delay``), so nothing is sent before Notion's time is up.
            return Decision(
                retry=False, delay=waited, pause_all=pause_all, reason="retry_after_too_long"
            )
        if attempt >= self.max_attempts:
            return Decision(retry=False, reason="exhausted")
        delay = waited if waited is not None else self.backoff(attempt)
        return Decision(retry=True, delay=delay, pause_all=pause_all)
