"""Words shared by the summaries people read (Slack and e-mail): titles, counts, times."""

from __future__ import annotations

from datetime import UTC, datetime

from notion_batch.common.db.notifications import BatchSummary

#: How each end reason reads in a sentence: "The batch … ".
REASONS = {
    "stopped": "was stopped by request",
    "expired": "reached its end time",
    "failed": "failed",
}


def title(summary: BatchSummary) -> str:
    """``Batch stopped: 12 done, 1 skipped`` — short enough for a subject or a header."""
    word = {"stopped": "stopped", "expired": "completed", "failed": "failed"}
    return f"Batch {word.get(summary.end_reason, summary.end_reason)}: {counts(summary)}"


def sentence(summary: BatchSummary) -> str:
    reason = REASONS.get(summary.end_reason, f"ended ({summary.end_reason})")
    return f"The batch on Notion page {summary.notion_page_id} {reason}."


def counts(summary: BatchSummary) -> str:
    parts = [f"{summary.todos_done} done", f"{summary.todos_skipped} skipped"]
    if summary.todos_failed:
        parts.append(f"{summary.todos_failed} failed")
    if summary.todos_pending:
        parts.append(f"{summary.todos_pending} still pending")
    return ", ".join(parts)


def ticks(summary: BatchSummary) -> str:
    coalesced = f" ({summary.ticks_coalesced} coalesced)" if summary.ticks_coalesced else ""
    return f"{summary.ticks}{coalesced}, every {duration(summary.interval_seconds)}"


def handler(summary: BatchSummary) -> str:
    return summary.handler or "the workers' default"


def moment(when: datetime) -> str:
    """``2025-01-31 17:04:05 UTC``."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float) -> str:
    """``45 s``, ``5 min 3 s``, ``2 h 5 min``, ``3 d 4 h``."""
    total = round(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    shown = [(n, u) for n, u in units if n]
    if not shown:
        return "0 s"
    first = units.index(shown[0])
    return " ".join(f"{n} {u}" for n, u in units[first : first + 2] if n)


def rows(summary: BatchSummary) -> list[tuple[str, str]]:
    """The summary as label/value rows, in reading order."""
    return [
        ("Notion page", summary.notion_url),
        ("Run", str(summary.run_id)),
        ("Status", f"{summary.status} ({summary.end_reason})"),
        ("Message", summary.message or "—"),
        ("Started", moment(summary.started_at)),
        ("Ended", f"{moment(summary.ended_at)} (after {duration(summary.duration_seconds)})"),
        ("To-dos", counts(summary)),
        ("Ticks", ticks(summary)),
        ("Handler", handler(summary)),
        ("Integration", summary.integration),
    ]
