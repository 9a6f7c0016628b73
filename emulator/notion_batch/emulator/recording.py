"""The log of every ``/v1`` request, for tests that count calls and measure request rates."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

#: Requests kept by default: enough for every test and benchmark (a 10,000 to-do page costs
#: about 10,200), while a long ``make run`` demo no longer grows without bound (~2 KiB each).
DEFAULT_REQUEST_LOG_LIMIT = 100_000


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    #: Route name: retrieve_page, retrieve_block, list_children, append_children, update_block,
    #: delete_block, or "unknown".
    operation: str
    status: int
    #: ``time.monotonic()`` when the request arrived (the clock to measure rates with).
    monotonic: float
    #: Wall-clock arrival, seconds since the epoch.
    wall: float
    duration_s: float
    token: str | None
    request_id: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """The last ``limit`` requests; older ones are dropped (and counted)."""

    def __init__(self, limit: int = DEFAULT_REQUEST_LOG_LIMIT) -> None:
        self._entries: deque[RecordedRequest] = deque(maxlen=limit)
        #: Requests dropped to keep within the limit since the last clear.
        self.dropped = 0

    def append(self, entry: RecordedRequest) -> None:
        if len(self._entries) == self._entries.maxlen:
            self.dropped += 1
        self._entries.append(entry)

    def clear(self) -> None:
        self._entries.clear()
        self.dropped = 0

    def query(
        self,
        *,
        method: str | None = None,
        operation: str | None = None,
        path_contains: str | None = None,
        status: int | None = None,
        token: str | None = None,
    ) -> list[RecordedRequest]:
        """Recorded requests in arrival order, narrowed by every filter given."""
        # Entries are appended as answers go out; a delayed answer must still sort by arrival.
        return [
            e
            for e in sorted(self._entries, key=lambda e: e.monotonic)
            if (method is None or e.method == method.upper())
            and (operation is None or e.operation == operation)
            and (path_contains is None or path_contains in e.path)
            and (status is None or e.status == status)
            and (token is None or e.token == token)
        ]
