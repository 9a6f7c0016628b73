"""What must hold after every round, read from Notion (the emulator), PostgreSQL and RabbitMQ.

Each check returns the breaches it found as sentences; an empty list is a round that held.
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass, field

import asyncpg

from tests.faults.harness import FaultStack


@dataclass
class RoundPage:
    """A page a round started a batch on, and what it should end as."""

    page_id: str
    todo_ids: list[str]
    #: Why its run ends (``completed`` either way, as the user's guide has it): ``expired``,
    #: or ``stopped`` when the round stops it.
    end_reason: str = "expired"
    #: Whether the round's fault may leave a check applied but unanswered (a killed worker,
    #: a timeout, the database gone between check and record): only then may it be repeated.
    repeats_allowed: bool = False
    #: Seconds the batch ran (to its expiry or its stop): ticks due over that time.
    active_seconds: float = 0.0
    #: Successful check calls beyond the first, summed over the to-dos.
    repeated_checks: int = 0
    breaches: list[str] = field(default_factory=list)


#: Ticks a batch may miss, over a fault and its recovery, and still have kept ticking.
MISSED_TICKS_ALLOWED = 5


async def check_page(stack: FaultStack, db: asyncpg.Connection, page: RoundPage) -> None:
    """Notion and the database agree, each to-do was checked and logged exactly once."""
    short = page.page_id[:8]
    calls = await stack.check_calls(page.todo_ids)
    for todo in page.todo_ids:
        repeats = max(0, calls[todo] - 1)
        page.repeated_checks += repeats
        if repeats and not page.repeats_allowed:
            page.breaches.append(f"page {short} to-do {todo[:8]}: checked {calls[todo]} times")
        if calls[todo] == 0:
            page.breaches.append(f"page {short} to-do {todo[:8]}: no check call of ours")
    await check_notion_against_database(stack, db, page)


async def check_notion_against_database(
    stack: FaultStack, db: asyncpg.Connection, page: RoundPage
) -> None:
    """Every to-do done and checked, one log line each, one log toggle for the run, the one
    the database names: what the page shows now (the soak's last sweep repeats this)."""
    short = page.page_id[:8]
    checked = await stack.checked(page.page_id)
    lines = await stack.log_lines(page.page_id)
    await _check_log_toggles(stack, db, page)
    rows = {
        str(r["block_id"]): r
        for r in await db.fetch(
            "SELECT block_id, status, check_pending, log_pending, last_error"
            " FROM notion_todos WHERE notion_page_id = $1::uuid",
            page.page_id,
        )
    }
    for todo in page.todo_ids:
        row = rows.get(todo)
        where = f"page {short} to-do {todo[:8]}"
        if row is None:
            page.breaches.append(f"{where}: no row in notion_todos")
            continue
        if row["status"] != "done":
            page.breaches.append(f"{where}: {row['status']} ({row['last_error']})")
        if row["check_pending"] or row["log_pending"]:
            page.breaches.append(f"{where}: still in the outbox towards Notion")
        if not checked.get(todo):
            page.breaches.append(f"{where}: not checked in Notion")
        if lines[todo] != 1:
            page.breaches.append(f"{where}: {lines[todo]} log lines, not 1")
    strays = set(lines) - set(page.todo_ids)
    if strays:
        page.breaches.append(f"page {short}: log lines for unknown blocks {sorted(strays)}")
    extra = set(rows) - set(page.todo_ids)
    if extra:
        page.breaches.append(f"page {short}: rows for blocks not on the page {sorted(extra)}")


async def _check_log_toggles(stack: FaultStack, db: asyncpg.Connection, page: RoundPage) -> None:
    tree = await stack.notion("GET", f"/_emulator/pages/{page.page_id}")
    toggles = [
        str(b["id"])
        for b in tree["blocks"]
        if b["type"] == "toggle" and b["text"].startswith("notion-batch log")
    ]
    named = [
        str(r["log_block_id"])
        for r in await db.fetch(
            "SELECT log_block_id FROM notion_batch_runs WHERE notion_page_id = $1::uuid",
            page.page_id,
        )
    ]
    if toggles != named:
        page.breaches.append(
            f"page {page.page_id[:8]}: log toggles {toggles} on the page, the runs name {named}"
        )


async def check_final_state(stack: FaultStack, page: RoundPage) -> None:
    """The batch is ``completed``, for the right reason, in one run, and not stalled."""
    short = page.page_id[:8]
    status = await stack.status(page.page_id)
    if status["db_status"] != "completed":
        page.breaches.append(
            f"page {short}: {status['db_status']}, not completed ({status.get('db_message')})"
        )
    if status.get("stalled"):
        page.breaches.append(f"page {short}: still marked stalled")
    code, history = await stack.api("GET", f"/api/v1/batch/history/{page.page_id}")
    runs = history.get("runs", []) if code == 200 else []
    ends = [(r["status"], r["end_reason"]) for r in runs]
    if ends != [("completed", page.end_reason)]:
        page.breaches.append(f"page {short}: runs ended {ends}, not completed/{page.end_reason}")
    # The scheduler counts each tick it emits and each interval it had to skip: a page whose
    # ticking stopped for good (the emitter hung) falls short of the intervals it ran for.
    due = int(page.active_seconds) - MISSED_TICKS_ALLOWED
    for run in runs:
        if run["ticks"] + run["ticks_coalesced"] < due:
            page.breaches.append(
                f"page {short}: {run['ticks']} ticks + {run['ticks_coalesced']} coalesced"
                f" over {page.active_seconds:.0f}s of ticks every second"
            )


@dataclass(frozen=True)
class QueueDepth:
    name: str
    ready: int
    unacked: int


async def queue_depths(namespace: str) -> list[QueueDepth]:
    """Every queue of ``namespace``, as RabbitMQ counts it (ready and unacknowledged)."""
    listed = await asyncio.to_thread(
        subprocess.run,
        [
            "rabbitmqctl",
            "list_queues",
            "-q",
            "--no-table-headers",
            "name",
            "messages_ready",
            "messages_unacknowledged",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    depths = []
    for line in listed.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(f"{namespace}."):
            depths.append(QueueDepth(parts[0], int(parts[1]), int(parts[2])))
    return depths


def queue_breaches(depths: list[QueueDepth], queues: tuple[str, ...], dead_queue: str) -> list[str]:
    """Messages left behind on the work queues (dead letters are taken and told apart), or
    queues not there at all (nothing to count is no proof of nothing left)."""
    found = {d.name for d in depths}
    missing = [f"{q}: not listed by rabbitmqctl" for q in queues if q not in found]
    return missing + [
        f"{d.name}: {d.ready} ready, {d.unacked} unacked"
        for d in depths
        if d.name != dead_queue and (d.ready or d.unacked)
    ]
