"""Whether a tick must read its page's blocks in full, or may trust that nothing changed.

A full read of a page of 1,000 blocks costs 11 Notion calls; at Notion's 3 requests/s per
integration that, not our CPU, decides how many pages one deployment carries. So a tick reads
in full only when the page may have changed since its last full read:

- **Webhooks**, where set up (``NOTION_CHANGE_SIGNAL=webhook``), are the primary signal: a
  person's page event counted since the read (migration 0011, counted by the API) means read.
  With none, the tick makes no call at all. Delivery is at most once and may lag (usually under
  a minute; developers.notion.com/reference/webhooks-events-delivery), hence the periodic read.
- **The page's stamp** (``stamp``, the default) is a hint: one call (retrieve the page) and a
  read when its ``last_edited_time`` moved. Notion rounds the stamp down to the minute
  (developers.notion.com changelog, "last edited time is now rounded to the nearest minute";
  pollers that ignored it missed same-minute edits, gh/activepieces/activepieces#4671), so a
  look made within the stamp's minute cannot prove "unchanged": an edit later in that minute
  keeps the same stamp. Full reads go on until one begins after the minute passed
  (``settled``). Edits through the API were reported not to move the page's stamp
  (gh/dvanoni/notero#571) — to-dos another integration adds may not show — and whether a
  nested edit moves it is not documented (/work/shared/FACTS.md, "Timestamps").
- **The periodic full read** is the guarantee: at least every ``NOTION_FULL_READ_SECONDS``
  (600), whatever the signals say; 0 reads every tick.

Each run's first tick reads in full. Page events count in either mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from notion_batch.common.config import DEFAULT_FULL_READ_SECONDS, ChangeSignal
from notion_batch.common.db.ticks import ReadState

#: How long after a stamp's minute a look must come to count as after it: the stamp is Notion's
#: clock and the look's time ours, and the two may disagree by a little.
CLOCK_SKEW = timedelta(seconds=5)
_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Plan:
    """What the sync step does before reading: read in full (``read``), look at the stamp
    first (``look``: read only if it moved), or neither (the page is known unchanged)."""

    read: bool
    look: bool
    reason: str


@dataclass(frozen=True)
class ChangeRule:
    signal: ChangeSignal
    full_read_seconds: float

    def plan(self, state: ReadState, run_id: int, now: datetime) -> Plan:
        """What the tick of ``run_id`` must do, given the page's last full read."""
        if state.run_id != run_id or state.read_at is None:
            return Plan(read=True, look=False, reason="first")
        if now - state.read_at >= timedelta(seconds=self.full_read_seconds):
            return Plan(read=True, look=False, reason="periodic")
        if state.events != state.events_at_read:
            return Plan(read=True, look=False, reason="event")
        if self.signal == "webhook":
            return Plan(read=False, look=False, reason="no_event")
        if not state.settled:
            # The last read proves nothing yet: read again, whatever a look would show.
            return Plan(read=True, look=False, reason="unsettled")
        return Plan(read=False, look=True, reason="stamp")

    def wants_stamp(self, state: ReadState, started_at: datetime) -> bool:
        """Whether a full read beginning at ``started_at`` should look at the page's stamp
        (one call) for later ticks to compare with: with the stamp as signal, unless even the
        stamp seen last would still be within its minute — then no look now could settle."""
        if self.signal != "stamp":
            return False
        return state.stamp is None or self.settled(state.stamp, started_at)

    @staticmethod
    def changed(state: ReadState, stamp: datetime | None) -> str | None:
        """Why a settled page must be read after a look found ``stamp`` (``None``: it need
        not be)."""
        if stamp is None or state.stamp is None or stamp != state.stamp:
            return "stamp_moved"
        return None

    @staticmethod
    def settled(stamp: datetime | None, started_at: datetime) -> bool:
        """Whether a full read that began at ``started_at`` (before its look, and before its
        listing) and whose look found ``stamp`` can prove "unchanged" to later looks: the
        stamp's minute had passed when it began. Then any edit by a person after it began
        carries a later stamp — so a look before the listing leaves no edit unseen, and a look
        after it that still shows ``stamp`` proves no edit came during the listing."""
        return stamp is not None and started_at >= stamp + _MINUTE + CLOCK_SKEW


#: The rule of an integration configured with nothing else: the stamp as signal, a full read
#: every ``DEFAULT_FULL_READ_SECONDS``.
DEFAULT_CHANGE_RULE = ChangeRule("stamp", DEFAULT_FULL_READ_SECONDS)
