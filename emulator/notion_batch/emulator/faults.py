"""Injected failures: answer matching requests with an error status and/or after a delay."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

from notion_batch.emulator.errors import DEFAULT_CODES, ApiError, validation_error

FAULT_STATUSES = frozenset({200, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504, 529})


@dataclass
class Fault:
    """One rule. With neither ``count`` nor ``duration`` it holds until cleared.

    It answers the matching requests after the first ``skip`` ones, ``count`` of them at most.

    ``status=None`` with a ``latency`` only delays the real answer; with both, the error
    comes after the delay. ``raw_body`` sends that text (``text/html``) instead of Notion's
    error JSON, as a proxy in front of Notion would. ``status=200`` needs a ``raw_body``: a
    success whose body is not the JSON the client expects (a proxy's or a captive portal's
    page answered 200). notion-client 3.1.0's ``_parse_response`` (client.py) decodes a 2xx
    body with ``response.json()`` unguarded, so it raises ``JSONDecodeError``; Notion's edge
    is reported answering HTML in place of JSON in gh/ramnes/notion-sdk-py#119 (on a 502).

    ``drop`` applies the request, then closes the connection without an answer: the client
    sees the connection reset and cannot know the write landed. Reported against Notion's
    API as intermittent ``read ECONNRESET`` in gh/makenotion/notion-sdk-js#156.
    """

    status: int | None = None
    code: str | None = None
    message: str | None = None
    retry_after: int | None = None
    #: A 429's ``additional_data.rate_limit_reason``: which budget ran out. A workspace-wide
    #: limit may answer a ``Retry-After`` over 60 s (doc: developers.notion.com/reference/
    #: request-limits; FACTS.md "Rate limits"). 529 ``service_overload``, 502 ``bad_gateway``
    #: and 503 ``database_connection_unavailable`` are ``status``/``code`` of their own. The
    #: reason's values are not listed in any source found: tests use an illustrative one.
    rate_limit_reason: str | None = None
    latency: float = 0.0
    count: int | None = None
    duration: float | None = None
    method: str | None = None
    path_contains: str | None = None
    raw_body: str | None = None
    drop: bool = False
    #: Let this many matching requests through before the fault starts answering.
    skip: int = 0
    id: int = 0
    #: Monotonic deadline, set from ``duration`` when the fault is added.
    until: float | None = field(default=None, repr=False)
    hits: int = 0

    def matches(self, method: str, path: str, now: float) -> bool:
        if self.until is not None and now >= self.until:
            return False
        if self.count is not None and self.hits >= self.skip + self.count:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains is None or self.path_contains in path

    def expired(self, now: float) -> bool:
        return (self.until is not None and now >= self.until) or (
            self.count is not None and self.hits >= self.skip + self.count
        )

    def error(self) -> ApiError:
        assert self.status is not None
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        extra = {"rate_limit_reason": self.rate_limit_reason} if self.rate_limit_reason else None
        return ApiError(
            self.status, self.code, self.message, headers=headers, additional_data=extra
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("until")
        return data

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        """Build a fault from the control API's JSON, validating every field."""
        if not isinstance(data, dict):
            raise validation_error("fault should be an object")
        known = {
            "status", "code", "message", "retry_after", "rate_limit_reason", "latency", "count",
            "duration", "method", "path_contains", "raw_body", "skip", "drop",
        }  # fmt: skip
        unknown = set(data) - known
        if unknown:
            raise validation_error(f"unknown fault fields: {', '.join(sorted(unknown))}")
        fault = cls(**{k: data[k] for k in known if data.get(k) is not None})
        fault.validate()
        return fault

    def validate(self) -> None:
        if self.drop and self.status is not None:
            raise validation_error("a drop fault sends no answer: it takes no status")
        if self.status is None and not self.latency and not self.drop:
            raise validation_error("a fault needs a status, a latency, a drop or a mix")
        if self.status is not None and self.status not in FAULT_STATUSES:
            raise validation_error(
                f"fault status must be one of {sorted(FAULT_STATUSES)}, got {self.status}"
            )
        if self.status == 200 and self.raw_body is None:
            raise validation_error("a status 200 fault needs a raw_body (the answer to send)")
        if self.status is not None and self.status != 200 and self.code is None:
            self.code = DEFAULT_CODES[self.status]
        if self.latency < 0 or self.skip < 0 or (self.count is not None and self.count < 1):
            raise validation_error("latency and skip must be ≥ 0, count ≥ 1")
        if self.duration is not None and self.duration <= 0:
            raise validation_error("duration must be > 0")
        if self.retry_after is not None and self.retry_after < 0:
            raise validation_error("retry_after must be ≥ 0")


class FaultBook:
    """The active faults; the oldest matching one answers a request."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, fault: Fault, now: float) -> Fault:
        fault.validate()
        fault.id = next(self._ids)
        if fault.duration is not None:
            fault.until = now + fault.duration
        self._faults.append(fault)
        return fault

    def take(self, method: str, path: str, now: float) -> Fault | None:
        """The fault that answers this request, if any (faults still skipping count it too)."""
        self._faults = [f for f in self._faults if not f.expired(now)]
        for fault in self._faults:
            if fault.matches(method, path, now):
                fault.hits += 1
                if fault.hits > fault.skip:
                    return fault
        return None

    def list(self, now: float) -> list[Fault]:
        self._faults = [f for f in self._faults if not f.expired(now)]
        return list(self._faults)

    def remove(self, fault_id: int) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        self._faults.clear()
