"""What the CLI shows, as pure functions: durations, tables, times and the progress bar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notion_batch.cli.render import (
    human_duration,
    message_after_status,
    parse_duration,
    progress_line,
    relative,
    shorten,
    status_line,
    table,
)

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("1h30m", 5400), ("2d", 172_800), (" 1H ", 3600)],
)
def test_durations_read_as_people_write_them(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0", "0m", "-5", "1.5h", "m", "5 m"])
def test_other_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (59, "59s"), (61, "1m 1s"), (3600, "1h"), (3725, "1h 2m"), (90_061, "1d 1h")],
)
def test_durations_show_their_two_largest_units(seconds: int, shown: str) -> None:
    assert human_duration(seconds) == shown


def test_relative_times() -> None:
    assert relative((NOW + timedelta(seconds=250)).isoformat(), NOW) == "in 4m 10s"
    assert relative((NOW - timedelta(minutes=3)).isoformat(), NOW) == "3m ago"
    assert relative(None, NOW) == "—"


def test_tables_align_text_left_and_numbers_right() -> None:
    shown = table(["RUN", "HOW"], [[7, "stopped"], [12, None]])
    assert shown.splitlines() == ["RUN  HOW", "  7  stopped", " 12"]


def test_text_is_cut_to_one_line() -> None:
    assert shorten("a\nb   c", 10) == "a b c"
    assert shorten("x" * 20, 10) == "x" * 9 + "…"
    assert shorten(None, 5) == ""


def status(done: int, skipped: int, pending: int, *, running: bool = True) -> dict:
    return {
        "db_status": "running" if running else "completed",
        "is_running": running,
        "end_time": (NOW + timedelta(seconds=250)).isoformat(),
        "todos": {"done": done, "skipped": skipped, "pending": pending},
    }


def test_the_progress_bar_counts_finished_todos_and_time_left() -> None:
    line = progress_line(status(9, 3, 4), NOW, width=8, ascii=False)
    assert line == "[██████░░]  12/16 to-dos (75%)  · 4m 10s left · running"
    line = progress_line(status(16, 0, 0, running=False), NOW, width=8, ascii=True)
    assert line == "[########]  16/16 to-dos (100%)  · completed"
    line = progress_line(status(0, 0, 0), NOW, width=4, ascii=True)
    assert line == "[----]  no to-dos yet  · 4m 10s left · running"


@pytest.mark.parametrize(
    ("status", "message", "shown"),
    [
        (
            "running",
            "running — 12 of 12 to-dos processed (11 done, 1 skipped), 0 pending",
            "running — 12 of 12 to-dos processed (11 done, 1 skipped), 0 pending",
        ),
        ("completed", "completed — stopped by request", "completed — stopped by request"),
        ("failed", "page is in trash", "failed — page is in trash"),
        ("running", "running", "running"),
        ("running", "running: waiting", "running — waiting"),
    ],
)
def test_thestatus_line_says_the_status_once(status: str, message: str, shown: str) -> None:
    assert status_line(status, message) == shown
    assert f"{status} — {status}" not in status_line(status, message)


def test_a_row_that_says_the_status_shows_the_message_without_it() -> None:
    expired = "completed — batch expired after 3 ticks: 6 to-dos done, 0 skipped"
    assert message_after_status("completed", expired) == (
        "batch expired after 3 ticks: 6 to-dos done, 0 skipped"
    )
    assert message_after_status("failed", "page is in trash") == "page is in trash"
