"""The emulator's clock: real UTC time plus an offset tests can set, so that nobody waits a
real minute to see a stamp move.

Every stamp the emulator writes comes from here: ``created_time``/``last_edited_time`` of
pages and blocks (whole minutes, :meth:`Clock.stamp`) and webhook event timestamps
(milliseconds, :meth:`Clock.iso`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

#: How far a test may move the clock either way (ten years): far enough for any test, near
#: enough that a stamp stays a four-digit year.
MAX_OFFSET_SECONDS = 10 * 366 * 24 * 3600


class Clock:
    """Real UTC time shifted by ``offset_seconds`` (0 at start and after :meth:`reset`)."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self.offset_seconds = 0.0
        self.set_offset(offset_seconds)

    def set_offset(self, offset_seconds: float) -> None:
        """Shift the emulator's time from real time (negative: into the past)."""
        if not -MAX_OFFSET_SECONDS <= offset_seconds <= MAX_OFFSET_SECONDS:
            raise ValueError(f"offset_seconds must be within ±{MAX_OFFSET_SECONDS}")
        self.offset_seconds = float(offset_seconds)

    def reset(self) -> None:
        self.offset_seconds = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset_seconds)

    def iso(self) -> str:
        """The emulator's now in Notion's format: ISO 8601, UTC, milliseconds (as webhook
        events' ``timestamp``, D/reference/webhooks-events-delivery)."""
        return format_ms(self.now())

    def stamp(self) -> str:
        """A page's or block's ``created_time``/``last_edited_time``: now rounded down to the
        minute, as Notion's are (D/changelog "last edited time is now rounded to the nearest
        minute"; seen truncated in gh/activepieces/activepieces#4671; FACTS.md "Timestamps")."""
        return format_ms(self.now().replace(second=0, microsecond=0))


def format_ms(moment: datetime) -> str:
    """``2026-01-02T03:04:05.678Z`` for a UTC datetime."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
