"""How the CLI shows things to people: tables, times, durations and the progress bar.

Pure functions of their inputs (``now`` is passed in), so they are tested without a terminal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(text: str) -> int:
    """Seconds from ``90``, ``90s``, ``15m``, ``1h30m`` or ``2d``; raises ``ValueError``."""
    value = text.strip().lower()
    if value.isdigit():
        seconds = int(value)
    else:
        match = _DURATION.fullmatch(value)
        if not value or match is None:
            raise ValueError(f"not a duration: {text!r} (try 90, 90s, 15m, 1h30m or 2d)")
        days, hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {text!r}")
    return seconds


def human_duration(seconds: float) -> str:
    """``4m 10s``, ``2h 5m``, ``3d 4h``: the two largest units, for people."""
    total = max(0, round(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return " ".join(shown) or "0s"


def parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def local_time(value: str | None, now: datetime) -> str:
    """A time in the local zone: ``14:05:09`` today, ``2026-11-20 14:05`` otherwise."""
    moment = parse_time(value)
    if moment is None:
        return "—"
    local = moment.astimezone()
    if local.date() == now.astimezone().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M")


def relative(value: str | None, now: datetime) -> str:
    """``in 4m 10s`` or ``3m ago``."""
    moment = parse_time(value)
    if moment is None:
        return "—"
    delta = (moment - now).total_seconds()
    return f"in {human_duration(delta)}" if delta >= 0 else f"{human_duration(-delta)} ago"


def shorten(text: str | None, width: int) -> str:
    """One line of at most ``width`` characters."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain, left-aligned table (numbers right-aligned), columns two spaces apart."""
    cells = [[str(c) for c in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [
        all(isinstance(r[i], int) and not isinstance(r[i], bool) for r in rows) and bool(rows)
        for i in range(len(headers))
    ]
    lines = []
    for row in cells:
        padded = [
            cell.rjust(widths[i]) if numeric[i] else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, Any]]) -> str:
    """``label   value`` lines, labels aligned."""
    width = max(len(label) for label, _ in pairs)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in pairs)


def progress_line(status: dict[str, Any], now: datetime, *, width: int = 24, ascii: bool) -> str:
    """``[████████░░░░]  12/16 to-dos (75%) · 4m 10s left · running`` from a status answer."""
    todos = status.get("todos") or {}
    finished = int(todos.get("done", 0)) + int(todos.get("skipped", 0))
    total = finished + int(todos.get("pending", 0))
    fraction = finished / total if total else 0.0
    filled = round(fraction * width)
    full, empty = ("#", "-") if ascii else ("█", "░")
    bar = "[" + full * filled + empty * (width - filled) + "]"
    count = f"{finished}/{total} to-dos ({fraction:.0%})" if total else "no to-dos yet"
    parts = [bar, count]
    end = parse_time(status.get("end_time"))
    if status.get("is_running") and end is not None:
        parts.append(f"{human_duration(max(0.0, (end - now).total_seconds()))} left")
    parts.append(str(status.get("db_status", "?")))
    return "  ".join(parts[:2]) + "  · " + " · ".join(parts[2:])


def status_line(status: str, message: str) -> str:
    """The status and its message, the status said once: the message of a batch usually
    begins with it (``running — 12 of 12 to-dos processed (…)``, ``completed — stopped by
    request``), and is shown without it after the status."""
    rest = message_after_status(status, message)
    return f"{status} — {rest}" if rest else status


def message_after_status(status: str, message: str) -> str:
    """A batch's (or run's) message without the status it begins with, for a line or a row
    that says the status already."""
    text = message.strip()
    if text.startswith(status):
        after = text[len(status) :]
        stripped = after.lstrip(" —–-:")
        if stripped != after or not after:
            return stripped
    return text
