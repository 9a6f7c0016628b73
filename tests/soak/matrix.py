"""The fault matrix: each kind breaks one thing, then puts the stack back as it was.

A fault is drawn, with its moment and its parameters, from the round's own
:class:`random.Random`, so a round's seed says everything about what was done to it.
Process faults replace what they stopped with a new process of a new name (each service's
log stays whole); outages stop and start the machine's own PostgreSQL and RabbitMQ.
"""

from __future__ import annotations

import asyncio
import random
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tests.faults.harness import FaultStack
from tests.outages.conftest import start_postgres, start_rabbitmq, stop_postgres, stop_rabbitmq

#: What the soak sets for the services it starts: the Notion timeout the timeout fault outlasts.
NOTION_TIMEOUT_SECONDS = 2.0


@dataclass
class Fault:
    """One drawn fault: its kind, what exactly it does, and how to do it."""

    kind: str
    detail: str
    inject: Callable[[FaultStack], Awaitable[None]]


class Services:
    """Names for replacement processes, so that every process keeps a log of its own."""

    def __init__(self) -> None:
        self._serial = 0

    def next_name(self, kind: str) -> str:
        self._serial += 1
        return f"{kind}-r{self._serial}"


def _live(stack: FaultStack, prefix: str) -> list[Any]:
    return [s for s in stack.services if s.name.startswith(prefix) and s.process.returncode is None]


def worker_signal(rng: random.Random, names: Services, sig: signal.Signals) -> Fault:
    pause = round(rng.uniform(0.0, 3.0), 2)
    pick = rng.random()

    async def inject(stack: FaultStack) -> None:
        workers = _live(stack, "worker")
        victim = workers[int(pick * len(workers))]
        await stack.kill(victim, sig)
        await asyncio.sleep(pause)
        await stack.spawn_worker(names.next_name("worker"))

    return Fault(f"worker {sig.name}", f"a worker, replaced {pause}s later", inject)


def scheduler_restart(rng: random.Random, names: Services) -> Fault:
    sig = rng.choice([signal.SIGTERM, signal.SIGKILL])
    pause = round(rng.uniform(0.0, 2.0), 2)

    async def inject(stack: FaultStack) -> None:
        for scheduler in _live(stack, "scheduler"):
            await stack.kill(scheduler, sig)
        await asyncio.sleep(pause)
        await stack.spawn_scheduler(names.next_name("scheduler"))

    return Fault("scheduler restart", f"{sig.name}, back {pause}s later", inject)


def two_schedulers(rng: random.Random, names: Services) -> Fault:
    held = round(rng.uniform(3.0, 8.0), 2)

    async def inject(stack: FaultStack) -> None:
        second = await stack.spawn_scheduler(names.next_name("scheduler"))
        await asyncio.sleep(held)
        # The one that was there first goes: the newcomer carries on alone.
        first = next(s for s in _live(stack, "scheduler") if s is not second)
        await stack.kill(first, signal.SIGTERM)

    return Fault("two schedulers", f"a second one for {held}s, then the first stops", inject)


def _outage(
    kind: str, rng: random.Random, stop: Callable[[], None], start: Callable[[], None]
) -> Fault:
    down = round(rng.uniform(0.5, 4.0), 2)

    async def inject(stack: FaultStack) -> None:
        await asyncio.to_thread(stop)
        try:
            await asyncio.sleep(down)
        finally:
            await asyncio.to_thread(start)

    return Fault(kind, f"down {down}s", inject)


def rabbitmq_restart(rng: random.Random) -> Fault:
    return _outage("rabbitmq restart", rng, stop_rabbitmq, start_rabbitmq)


def postgres_restart(rng: random.Random) -> Fault:
    return _outage("postgresql restart", rng, stop_postgres, start_postgres)


def _emulator_fault(kind: str, detail: str, rule: dict[str, Any]) -> Fault:
    async def inject(stack: FaultStack) -> None:
        await stack.notion("POST", "/_emulator/faults", json=rule)

    return Fault(kind, detail, inject)


def notion_429_burst(rng: random.Random) -> Fault:
    count, retry_after = rng.randint(3, 15), rng.randint(1, 3)
    rule = {"status": 429, "retry_after": retry_after, "count": count}
    return _emulator_fault("notion 429 burst", f"{count} × 429, Retry-After {retry_after}", rule)


def notion_5xx_burst(rng: random.Random) -> Fault:
    status, count = rng.choice([500, 502, 503, 504, 529]), rng.randint(2, 10)
    return _emulator_fault(
        "notion 5xx burst", f"{count} × {status}", {"status": status, "count": count}
    )


def notion_timeouts(rng: random.Random) -> Fault:
    # Longer than the services' Notion timeout: the call is given up, the write still lands.
    count = rng.randint(1, 4)
    rule = {"latency": NOTION_TIMEOUT_SECONDS + 1.0, "count": count}
    return _emulator_fault("notion timeouts", f"{count} calls answered too late", rule)


def dropped_append(rng: random.Random) -> Fault:
    count, skip = rng.randint(1, 2), rng.randint(0, 2)
    rule = {"drop": True, "method": "PATCH", "path_contains": "/children", "count": count,
            "skip": skip}  # fmt: skip
    return _emulator_fault(
        "dropped append", f"{count} appends applied, connection reset (after {skip})", rule
    )


#: Kinds that stop the machine's own servers: only where outages are allowed.
OUTAGE_KINDS = ("rabbitmq restart", "postgresql restart")

#: Every kind, and how to draw its details.
MAKERS: dict[str, Callable[[random.Random, Services], Fault]] = {
    "worker SIGKILL": lambda rng, names: worker_signal(rng, names, signal.SIGKILL),
    "worker SIGTERM": lambda rng, names: worker_signal(rng, names, signal.SIGTERM),
    "scheduler restart": scheduler_restart,
    "two schedulers": two_schedulers,
    "notion 429 burst": lambda rng, names: notion_429_burst(rng),
    "notion 5xx burst": lambda rng, names: notion_5xx_burst(rng),
    "notion timeouts": lambda rng, names: notion_timeouts(rng),
    "dropped append": lambda rng, names: dropped_append(rng),
    "rabbitmq restart": lambda rng, names: rabbitmq_restart(rng),
    "postgresql restart": lambda rng, names: postgres_restart(rng),
}
KINDS = tuple(MAKERS)

#: Kinds after which a check may rightly be sent twice: it may have landed unseen (a worker
#: killed, or handed its tick back, between the check and its record; a check given up as
#: timed out that landed; the database gone before the check was recorded).
REPEATS_ALLOWED = frozenset({"worker SIGKILL", "worker SIGTERM", "notion timeouts",
                             "postgresql restart"})  # fmt: skip


def draw(rng: random.Random, names: Services, kinds: tuple[str, ...]) -> Fault:
    """One fault of ``kinds`` (uniformly; with one kind, no draw), its details drawn."""
    kind = kinds[0] if len(kinds) == 1 else rng.choice(kinds)
    return MAKERS[kind](rng, names)
