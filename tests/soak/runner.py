"""The soak: one long-lived stack, rounds of batches, one drawn fault per round, invariants.

A round makes two or three new emulator pages (some to-dos nested), starts a batch on each
(a tick a second), injects its fault at its drawn moment, waits until every to-do is
recorded and every batch has reached its final state, lets the queues settle, and then
checks what :mod:`tests.soak.invariants` says must hold. The stack is shared by the rounds,
and each fault leaves it as it found it (the same number of live workers and schedulers).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import asyncpg

from tests.e2e.stack import plan_stack, serving
from tests.faults.harness import FaultStack
from tests.soak.invariants import (
    RoundPage,
    check_final_state,
    check_notion_against_database,
    check_page,
    queue_breaches,
    queue_depths,
)
from tests.soak.matrix import (
    KINDS,
    NOTION_TIMEOUT_SECONDS,
    OUTAGE_KINDS,
    REPEATS_ALLOWED,
    Services,
    draw,
)

#: A batch lives this long; every to-do must be recorded before it expires.
BATCH_SECONDS = 25
#: How long after its expiry (or its stop) a batch may take to read ``completed``.
FINAL_STATE_BOUND_SECONDS = 30.0
#: How long the queues may take to empty once every batch is final.
SETTLE_SECONDS = 30.0
#: Seconds each to-do's handler takes: a page of 6 to 16 (and a few nested) is worked over
#: about 2 to 5 s, so a fault drawn in the first FAULT_WINDOW seconds lands while work is
#: under way on most of a round's pages.
HANDLER_SECONDS = 0.3
FAULT_WINDOW = (0.2, 2.4)
#: A stop is sent only this long before expiry at the latest; later, the batch just expires.
STOP_MARGIN_SECONDS = 5.0
#: What the stack runs between rounds.
WORKERS, SCHEDULERS = 2, 1


@dataclass(frozen=True)
class SoakPlan:
    rounds: int
    #: Round ``i`` runs with seed ``seed + i``.
    seed: int
    #: The kinds a fault is drawn from (uniformly).
    kinds: tuple[str, ...] = KINDS
    #: Round ``i`` takes kind ``kinds[i % len(kinds)]`` instead of drawing one (the smoke's
    #: way to cover a chosen few in few rounds).
    cycle: bool = False

    @staticmethod
    def kinds_for(*, outages: bool) -> tuple[str, ...]:
        return KINDS if outages else tuple(k for k in KINDS if k not in OUTAGE_KINDS)

    def round_kinds(self, index: int) -> tuple[str, ...]:
        return (self.kinds[index % len(self.kinds)],) if self.cycle else self.kinds

    def rerun(self, result: RoundResult) -> str:
        """The arguments of ``python -m tests.soak`` that run this round again."""
        kinds = self.round_kinds(result.index)
        # The same kinds, in the same order, draw the same fault from the same seed.
        outages = "on" if set(kinds) & set(OUTAGE_KINDS) else "off"
        chosen = (
            ""
            if kinds == self.kinds_for(outages=outages == "on")
            else f" --kinds '{','.join(kinds)}'"
        )
        return f"--seed {result.seed} --rounds 1 --outages {outages}{chosen}"


@dataclass
class RoundResult:
    index: int
    seed: int
    #: The fault drawn, what exactly it did, and when (seconds after the batches started).
    kind: str = "?"
    detail: str = ""
    moment: float = 0.0
    todos: int = 0
    #: Seconds from the fault's start until every to-do of the round was recorded.
    recovery: float | None = None
    repeated_checks: int = 0
    breaches: list[str] = field(default_factory=list)
    pages: list[RoundPage] = field(default_factory=list)


def stack_overrides() -> dict[str, str]:
    """The services' environment for the soak, over the e2e stack's own."""
    return {
        "API_AUTH": "disabled",
        "API_WRITE_RATE_PER_MINUTE": "0",
        "OPS_PORT": "0",
        # Quick recoveries: a lost worker's lease lapses in 3 s.
        "WORKER_LEASE_SECONDS": "3",
        "TEST_HANDLER_DELAY": str(HANDLER_SECONDS),
        # Under the harness's 10 s before a SIGTERM becomes a SIGKILL: a drain stays a drain.
        "WORKER_DRAIN_SECONDS": "5",
        "NOTION_TIMEOUT_SECONDS": str(NOTION_TIMEOUT_SECONDS),
    }


@contextlib.asynccontextmanager
async def soak_stack(
    database_url: str, amqp_url: str, namespace: str, log_dir: Path
) -> AsyncIterator[FaultStack]:
    """Emulator, API, one scheduler and two workers as processes, for the whole soak."""
    plan = plan_stack(database_url, amqp_url, namespace, **stack_overrides())
    # serving() prints the services' logs at the end when this says the run failed.
    outcome = SimpleNamespace(rep_call_failed=False)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        stack = FaultStack(
            plan.env, log_dir, plan.api_url, plan.notion_url, http, amqp_url=amqp_url,
            namespace=namespace,
        )  # fmt: skip
        async with serving(
            stack, outcome, emulator_port=plan.emulator_port, stop_timeout=5
        ) as running:
            yield running


async def run_soak(
    stack: FaultStack,
    plan: SoakPlan,
    database_url: str,
    report: Callable[[RoundResult], None] = lambda result: None,
) -> list[RoundResult]:
    """Every round of ``plan`` on ``stack``, then one last look at every round's pages (a
    late duplicate line or check shows there); ``report`` hears of each round as it ends."""
    names = Services()
    results = []
    for index in range(plan.rounds):
        result = RoundResult(index, plan.seed + index)
        try:
            await run_round(stack, result, plan.round_kinds(index), names, database_url)
        except Exception as exc:  # the harness failed: the round is a breach, the soak goes on
            result.breaches.append(f"the round itself failed: {exc!r}")
        result.breaches.extend(await _restore_shape(stack, names))
        report(result)
        results.append(result)
    await _last_look(stack, database_url, results)
    return results


async def run_round(
    stack: FaultStack,
    result: RoundResult,
    kinds: tuple[str, ...],
    names: Services,
    database_url: str,
) -> None:
    """One round, everything drawn from ``result.seed``; breaches go into ``result``."""
    rng = random.Random(result.seed)
    fault = draw(rng, names, kinds)
    result.kind, result.detail = fault.kind, fault.detail
    pages = [await _new_page(stack, rng) for _ in range(rng.randint(2, 3))]
    result.moment = round(rng.uniform(*FAULT_WINDOW), 2)
    stopped = pages[0] if rng.random() < 0.25 else None
    result.pages, result.todos = pages, sum(len(p.todo_ids) for p in pages)
    for page in pages:
        page.repeats_allowed = fault.kind in REPEATS_ALLOWED
        page.active_seconds = BATCH_SECONDS
    await stack.notion("DELETE", "/_emulator/requests")

    for page in pages:
        await stack.start_batch(page.page_id, interval_seconds=1, duration_seconds=BATCH_SECONDS)
    started = time.monotonic()
    expiry = started + BATCH_SECONDS
    # The fault's moment is the thing drawn: it is waited out on purpose.
    await asyncio.sleep(result.moment)
    injected = time.monotonic()
    try:
        await fault.inject(stack)
    except Exception as exc:  # the fault itself failed: say so, the round still checks
        result.breaches.append(f"the fault could not be injected: {exc!r}")

    recorded_at = await _wait(lambda: _all_recorded(database_url, pages), until=expiry, every=0.25)
    if recorded_at is None:
        result.breaches.append("not every to-do was recorded before the batches expired")
    else:
        result.recovery = round(recorded_at - injected, 2)
    if stopped is not None and expiry - time.monotonic() >= STOP_MARGIN_SECONDS:
        stopped.end_reason = "stopped"
        stopped.active_seconds = time.monotonic() - started
        await _stop(stack, stopped, result)
    final_at = await _wait(
        lambda: _all_final(stack, pages), until=expiry + FINAL_STATE_BOUND_SECONDS
    )
    if final_at is None:
        result.breaches.append(
            f"not every batch was completed {FINAL_STATE_BOUND_SECONDS:.0f}s after expiry"
        )
    settled_at = await _wait(lambda: _queues_empty(stack), until=time.monotonic() + SETTLE_SECONDS)
    if settled_at is None:
        depths = await queue_depths(stack.namespace)
        result.breaches.extend(_queue_breaches(stack, depths))
    for message in await stack.take_dead_letters():
        result.breaches.append(f"dead-lettered: {message.type} {message.body[:120]!r}")
    await stack.notion("DELETE", "/_emulator/faults")

    db = await asyncpg.connect(database_url)
    try:
        for page in pages:
            await check_page(stack, db, page)
            await check_final_state(stack, page)
            result.repeated_checks += page.repeated_checks
            result.breaches.extend(page.breaches)
    finally:
        await db.close()


async def _restore_shape(stack: FaultStack, names: Services) -> list[str]:
    """Back to WORKERS workers and SCHEDULERS schedulers; a breach for each one missing."""
    breaches = []
    for prefix, wanted in (("worker", WORKERS), ("scheduler", SCHEDULERS)):
        live = [
            s for s in stack.services if s.name.startswith(prefix) and s.process.returncode is None
        ]
        for gone in [s for s in stack.services if s.name.startswith(prefix)]:
            if gone.process.returncode is None:
                continue
            # Stopped by a fault (0 after a drain, or the signal's own code) or not: either way
            # it is done with; its log stays on disk.
            if gone.process.returncode not in (0, -signal.SIGKILL, -signal.SIGTERM):
                breaches.append(f"{gone.name} exited with {gone.process.returncode}")
            stack.services.remove(gone)
        if len(live) < wanted:
            breaches.append(f"{len(live)} {prefix}(s) live after the round, not {wanted}")
        for _ in range(wanted - len(live)):
            spawn = stack.spawn_worker if prefix == "worker" else stack.spawn_scheduler
            await spawn(names.next_name(prefix))
        for extra in live[wanted:]:
            breaches.append(f"{extra.name} still live after the round")
            await stack.kill(extra, signal.SIGTERM)
    return breaches


async def _last_look(stack: FaultStack, database_url: str, results: list[RoundResult]) -> None:
    """Every round's pages once more, after all rounds: what came late is a breach too."""
    db = await asyncpg.connect(database_url)
    try:
        for result in results:
            for page in result.pages:
                seen, page.breaches = set(page.breaches), []
                await check_notion_against_database(stack, db, page)
                # What the round already told stays told once; only what is new is added.
                result.breaches.extend(
                    f"at the end of the soak: {b}" for b in page.breaches if b not in seen
                )
    finally:
        await db.close()


async def _new_page(stack: FaultStack, rng: random.Random) -> RoundPage:
    children: list[dict[str, Any]] = []
    for i in range(rng.randint(6, 16)):
        todo: dict[str, Any] = {"type": "to_do", "text": f"soak task {i:02d}"}
        if rng.random() < 0.2:
            todo["children"] = [{"type": "to_do", "text": f"soak task {i:02d}.1"}]
        children.append(todo)
    created = await stack.notion(
        "POST",
        "/_emulator/pages",
        json={"title": f"soak {uuid.uuid4().hex[:6]}", "children": children},
    )
    page_id = str(created["page_id"])
    listed = await stack.notion("GET", f"/_emulator/pages/{page_id}/todos")
    return RoundPage(page_id, [str(t["id"]) for t in listed["todos"]])


async def _stop(stack: FaultStack, page: RoundPage, result: RoundResult) -> None:
    async def stop_answered() -> bool:
        status, body = await stack.api("POST", f"/api/v1/batch/stop/{page.page_id}")
        return status == 200 and bool(body.get("success"))

    if await _wait(stop_answered, until=time.monotonic() + 30, every=0.5) is None:
        result.breaches.append(f"page {page.page_id[:8]}: the stop was never accepted")


async def _wait(check: Callable[[], Any], *, until: float, every: float = 0.5) -> float | None:
    """When ``check`` first held (monotonic), or None if it did not by ``until``."""
    while True:
        with contextlib.suppress(
            OSError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            aiohttp.ClientError,
            subprocess.SubprocessError,
        ):
            if await check():
                return time.monotonic()
        if time.monotonic() >= until:
            return None
        await asyncio.sleep(every)


async def _all_recorded(database_url: str, pages: list[RoundPage]) -> bool:
    db = await asyncpg.connect(database_url, timeout=2)
    try:
        row = await db.fetchrow(
            """SELECT count(*) FILTER (WHERE status = 'done') AS done,
                      count(*) FILTER (WHERE check_pending OR log_pending) AS outbox
                 FROM notion_todos WHERE notion_page_id = ANY($1::uuid[])""",
            [p.page_id for p in pages],
        )
    finally:
        await db.close()
    assert row is not None
    return bool(row["done"] == sum(len(p.todo_ids) for p in pages) and row["outbox"] == 0)


async def _all_final(stack: FaultStack, pages: list[RoundPage]) -> bool:
    for page in pages:
        status, body = await stack.api("GET", f"/api/v1/batch/status/{page.page_id}")
        if status != 200 or body["db_status"] != "completed":
            return False
    return True


def _queue_breaches(stack: FaultStack, depths: list[Any]) -> list[str]:
    topology = stack.topology
    return queue_breaches(depths, topology.all_queues(), topology.dead_queue)


async def _queues_empty(stack: FaultStack) -> bool:
    return not _queue_breaches(stack, await queue_depths(stack.namespace))


def table(results: list[RoundResult]) -> str:
    """Every round, then the totals: faults by kind, breaches, slowest recovery."""
    lines = [
        f"{'round':>5} {'seed':>6}  {'fault':<19} {'at s':>5} {'recov s':>8} {'to-dos':>6}"
        f" {'rechecks':>8} {'breaches':>8}  detail"
    ]
    for r in results:
        recovery = f"{r.recovery:.2f}" if r.recovery is not None else "-"
        lines.append(
            f"{r.index:>5} {r.seed:>6}  {r.kind:<19} {r.moment:>5.2f} {recovery:>8}"
            f" {r.todos:>6} {r.repeated_checks:>8} {len(r.breaches):>8}  {r.detail}"
        )
        lines.extend(f"{'':>14}! {b}" for b in r.breaches)
    kinds = Counter(r.kind for r in results)
    breaches = sum(len(r.breaches) for r in results)
    held = sum(1 for r in results if not r.breaches)
    timed = [r for r in results if r.recovery is not None]
    slowest = max(timed, key=lambda r: r.recovery or 0.0, default=None)
    lines += [
        "",
        f"rounds: {len(results)}, held: {held}/{len(results)}, invariant breaches: {breaches}",
        "faults: " + ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())),
        f"to-dos: {sum(r.todos for r in results)},"
        f" repeated checks: {sum(r.repeated_checks for r in results)}",
    ]
    if slowest is not None:
        lines.append(
            f"slowest recovery: {slowest.recovery:.2f}s (round {slowest.index},"
            f" seed {slowest.seed}, {slowest.kind})"
        )
    return "\n".join(lines)
