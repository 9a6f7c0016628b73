"""The change rule: when a tick must read its page in full, and when one look (or none) proves
the page unchanged since the last full read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notion_batch.common.db.ticks import ReadState
from notion_batch.worker.changes import CLOCK_SKEW, ChangeRule, Plan

RUN = 7
#: A stamp as Notion gives it: rounded down to the minute.
STAMP = datetime(2026, 12, 4, 10, 15, tzinfo=UTC)
#: A look a few minutes after the stamp's minute ended.
LATER = STAMP + timedelta(minutes=5)


def read(
    *,
    run_id: int | None = RUN,
    read_at: datetime | None = LATER,
    stamp: datetime | None = STAMP,
    settled: bool = True,
    events_at_read: int = 3,
    events: int = 3,
) -> ReadState:
    return ReadState(run_id, read_at, stamp, settled, events_at_read, events)


STAMP_RULE = ChangeRule("stamp", 600)
WEBHOOK_RULE = ChangeRule("webhook", 600)


@pytest.mark.parametrize("rule", [STAMP_RULE, WEBHOOK_RULE])
@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (read(run_id=None, read_at=None), "first"),
        (read(run_id=RUN - 1), "first"),  # another run's read proves nothing to this run
        (read(read_at=LATER - timedelta(seconds=600)), "periodic"),
        (read(events=4), "event"),
    ],
)
def test_a_full_read_is_due(rule: ChangeRule, state: ReadState, reason: str) -> None:
    assert rule.plan(state, RUN, LATER) == Plan(read=True, look=False, reason=reason)


def test_with_the_stamp_as_signal_a_quiet_page_costs_one_look() -> None:
    plan = STAMP_RULE.plan(read(), RUN, LATER + timedelta(seconds=599))
    assert plan == Plan(read=False, look=True, reason="stamp")
    assert ChangeRule.changed(read(), STAMP) is None


def test_with_webhooks_as_signal_a_quiet_page_costs_nothing() -> None:
    plan = WEBHOOK_RULE.plan(read(), RUN, LATER + timedelta(seconds=599))
    assert plan == Plan(read=False, look=False, reason="no_event")


def test_a_zero_period_reads_every_tick() -> None:
    assert ChangeRule("stamp", 0).plan(read(), RUN, LATER).reason == "periodic"


def test_a_moved_or_missing_stamp_means_read() -> None:
    assert ChangeRule.changed(read(), STAMP + timedelta(minutes=1)) == "stamp_moved"
    assert ChangeRule.changed(read(), None) == "stamp_moved"
    assert ChangeRule.changed(read(stamp=None), STAMP) == "stamp_moved"


def test_a_read_within_the_stamps_minute_proves_nothing() -> None:
    # A person's edit later in that minute keeps the same stamp: read until a read begins
    # after it, without a look first (it could not spare the read).
    plan = STAMP_RULE.plan(read(settled=False), RUN, LATER)
    assert plan == Plan(read=True, look=False, reason="unsettled")


def test_a_read_looks_at_the_stamp_only_when_the_look_could_settle() -> None:
    early = STAMP + timedelta(seconds=30)
    assert STAMP_RULE.wants_stamp(read(settled=False), early) is False
    assert STAMP_RULE.wants_stamp(read(settled=False), LATER) is True
    assert STAMP_RULE.wants_stamp(read(stamp=None), early) is True
    assert WEBHOOK_RULE.wants_stamp(read(stamp=None), LATER) is False


@pytest.mark.parametrize(
    ("started_at", "settled"),
    [
        (STAMP + timedelta(seconds=30), False),
        (STAMP + timedelta(minutes=1), False),  # our clock may run ahead of Notion's
        (STAMP + timedelta(minutes=1) + CLOCK_SKEW - timedelta(milliseconds=1), False),
        (STAMP + timedelta(minutes=1) + CLOCK_SKEW, True),
        (LATER, True),
    ],
)
def test_a_read_settles_if_it_began_once_the_stamps_minute_had_surely_passed(
    started_at: datetime, settled: bool
) -> None:
    assert ChangeRule.settled(STAMP, started_at) is settled


def test_no_stamp_never_settles() -> None:
    assert ChangeRule.settled(None, LATER) is False
