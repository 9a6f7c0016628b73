"""What the fault tests need on top of the end-to-end stack: eyes on every side of a fault.

A :class:`FaultStack` is the e2e :class:`~tests.e2e.stack.Stack` (real processes, real HTTP)
plus what a fault test asserts on: the rows in PostgreSQL, the calls the Notion emulator
received, each service's JSON log as events, and a raw line to RabbitMQ for publishing
messages no service of ours would send (duplicates, stale ticks, poison).
"""

from __future__ import annotations

import json
import signal
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractIncomingMessage

from notion_batch.common.messaging.messages import Tick, encode
from notion_batch.common.messaging.topology import ROUTING_TICK, Topology
from tests.e2e.stack import Service, Stack, wait_for

#: How long a freshly spawned service may take to say it is serving (2 cores, cold imports).
SERVICE_START_TIMEOUT = 30.0


def parse_events(text: str) -> list[dict[str, Any]]:
    """The JSON events of a service log, in order (other lines, e.g. tracebacks, are skipped)."""
    events = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and "event" in event:
            events.append(event)
    return events


def pick(events: Iterable[dict[str, Any]], name: str, **match: Any) -> list[dict[str, Any]]:
    return [
        e for e in events if e["event"] == name and all(e.get(k) == v for k, v in match.items())
    ]


def after(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The events logged after the first ``name`` event (empty if there is none)."""
    for i, event in enumerate(events):
        if event["event"] == name:
            return events[i + 1 :]
    return []


def block_id_of(path: str) -> str:
    """``/v1/blocks/<id>`` (dashed or not) → the dashed block id."""
    return str(uuid.UUID(path.rstrip("/").split("/")[3]))


@dataclass
class FaultStack(Stack):
    db: asyncpg.Pool | None = None
    amqp_url: str = ""
    namespace: str = ""

    # -- services ----------------------------------------------------------------------------

    def service(self, name: str) -> Service:
        (found,) = [s for s in self.services if s.name == name]
        return found

    def by_pid(self, pid: int) -> Service:
        (found,) = [s for s in self.services if s.pid == pid]
        return found

    def events(self, name: str, event: str | None = None, **match: Any) -> list[dict[str, Any]]:
        found = parse_events(self.service(name).log())
        return found if event is None else pick(found, event, **match)

    def worker_events(self, event: str, **match: Any) -> list[dict[str, Any]]:
        """``event`` from every worker's log (killed ones included), worker by worker."""
        return [
            e
            for s in self.services
            if s.name.startswith("worker")
            for e in pick(parse_events(s.log()), event, **match)
        ]

    async def wait_event(
        self, name: str, event: str, *, timeout: float, count: int = 1, **match: Any
    ) -> list[dict[str, Any]]:
        async def seen() -> list[dict[str, Any]] | None:
            found = self.events(name, event, **match)
            return found if len(found) >= count else None

        return await wait_for(
            seen, timeout=timeout, what=f"{count} × {event} {match or ''} in the {name} log"
        )

    async def spawn_scheduler(self, name: str, **env: str) -> Service:
        # At debug the scheduler logs each tick it emits (`tick_emitted`), which tests read.
        service = await self.spawn(name, "notion-batch-scheduler", **{"LOG_LEVEL": "debug", **env})
        await self.wait_event(name, "scheduler_started", timeout=SERVICE_START_TIMEOUT)
        return service

    async def spawn_worker(self, name: str, **env: str) -> Service:
        service = await self.spawn(name, "notion-batch-worker", **env)
        await self.wait_event(name, "worker_started", timeout=SERVICE_START_TIMEOUT)
        return service

    async def kill(self, service: Service, sig: signal.Signals = signal.SIGKILL) -> int:
        return await service.stop(sig, timeout=10)

    # -- the API -----------------------------------------------------------------------------

    async def stop_batch(self, page_id: str) -> dict[str, Any]:
        status, answer = await self.api("POST", f"/api/v1/batch/stop/{page_id}")
        assert status == 200, answer
        return dict(answer)

    async def status_is(self, page_id: str, wanted: str) -> dict[str, Any] | None:
        status = await self.status(page_id)
        return status if status["db_status"] == wanted else None

    # -- the database ------------------------------------------------------------------------

    @property
    def pool(self) -> asyncpg.Pool:
        assert self.db is not None
        return self.db

    async def todos(self, page_id: str) -> list[asyncpg.Record]:
        return list(
            await self.pool.fetch(
                "SELECT * FROM notion_todos WHERE notion_page_id = $1 ORDER BY position", page_id
            )
        )

    async def count_todos(self, page_id: str, status: str) -> int:
        return int(
            await self.pool.fetchval(
                "SELECT count(*) FROM notion_todos WHERE notion_page_id = $1 AND status = $2",
                page_id,
                status,
            )
        )

    async def run(self, run_id: int) -> asyncpg.Record:
        row = await self.pool.fetchrow("SELECT * FROM notion_batch_runs WHERE id = $1", run_id)
        assert row is not None, f"no run {run_id}"
        return row

    async def page_row(self, page_id: str) -> asyncpg.Record:
        row = await self.pool.fetchrow(
            "SELECT *, now() AS db_now FROM notion_batch_status WHERE notion_page_id = $1", page_id
        )
        assert row is not None, f"no batch row for {page_id}"
        return row

    async def all_recorded(self, page_id: str, done: int) -> bool:
        """``done`` to-dos done and nothing left in the outbox towards Notion."""
        row = await self.pool.fetchrow(
            """SELECT count(*) FILTER (WHERE status = 'done') AS done,
                      count(*) FILTER (WHERE check_pending OR log_pending) AS outbox
                 FROM notion_todos WHERE notion_page_id = $1""",
            page_id,
        )
        assert row is not None
        return bool(row["done"] == done and row["outbox"] == 0)

    # -- the emulator ------------------------------------------------------------------------

    async def create_page(self, texts: list[str]) -> tuple[str, dict[str, str]]:
        """A page with one to-do per text; returns the page id and block id by text."""
        created = await self.notion(
            "POST",
            "/_emulator/pages",
            json={
                "title": f"faults {uuid.uuid4().hex[:6]}",
                "children": [{"type": "to_do", "text": t} for t in texts],
            },
        )
        ids = {b["text"]: b["id"] for b in created["blocks"]}
        return str(created["page_id"]), ids

    async def requests(self, **query: str) -> list[dict[str, Any]]:
        answer = await self.notion("GET", "/_emulator/requests", params=query)
        return list(answer["requests"])

    async def check_calls(self, block_ids: Iterable[str]) -> Counter[str]:
        """Successful ``PATCH /v1/blocks/<id>`` calls per to-do of ``block_ids``."""
        wanted = set(block_ids)
        calls: Counter[str] = Counter()
        for r in await self.requests(operation="update_block"):
            block = block_id_of(r["path"])
            if block in wanted and r["status"] == 200:
                calls[block] += 1
        return calls

    async def checked(self, page_id: str) -> dict[str, bool]:
        answer = await self.notion("GET", f"/_emulator/pages/{page_id}/todos")
        return {str(t["id"]): bool(t["checked"]) for t in answer["todos"]}

    async def log_lines(self, page_id: str) -> Counter[str]:
        """Lines of the page's notion-batch log toggles, counted by the to-do each links to."""
        tree = await self.notion("GET", f"/_emulator/pages/{page_id}")
        lines: Counter[str] = Counter()
        for block in tree["blocks"]:
            if block["type"] != "toggle" or not block["text"].startswith("notion-batch log"):
                continue
            for line in block["children"]:
                links = [i["href"] for i in line.get("rich_text", []) if i.get("href")]
                assert len(links) == 1, f"a log line links to exactly one to-do: {line}"
                lines[str(uuid.UUID(links[0].rsplit("#", 1)[1]))] += 1
        return lines

    async def page_requests(self, page_id: str) -> list[dict[str, Any]]:
        """Every Notion call whose path names the page (dashed or not)."""
        compact = page_id.replace("-", "")
        return [r for r in await self.requests() if page_id in r["path"] or compact in r["path"]]

    # -- the broker --------------------------------------------------------------------------

    @property
    def topology(self) -> Topology:
        return Topology(self.namespace)

    async def publish_raw(
        self,
        body: bytes,
        *,
        kind: str | None,
        message_id: str,
        routing_key: str = ROUTING_TICK,
    ) -> None:
        """Publish as the scheduler does (persistent, confirmed, mandatory), whatever the body."""
        connection = await aio_pika.connect(self.amqp_url)
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await channel.get_exchange(self.topology.exchange)
            await exchange.publish(
                aio_pika.Message(
                    body,
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=message_id,
                    type=kind,
                    app_id="notion-batch-fault-test",
                ),
                routing_key=routing_key,
                mandatory=True,
            )
        finally:
            await connection.close()

    async def publish_tick(self, tick: Tick) -> None:
        await self.publish_raw(encode(tick), kind=tick.kind, message_id=tick.message_id)

    async def dead_letter_count(self) -> int:
        connection = await aio_pika.connect(self.amqp_url)
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(self.topology.dead_queue, passive=True)
            return int(queue.declaration_result.message_count or 0)
        finally:
            await connection.close()

    async def take_dead_letters(self) -> list[AbstractIncomingMessage]:
        """Everything in ``<ns>.dead``, taken off the queue."""
        taken: list[AbstractIncomingMessage] = []
        connection = await aio_pika.connect(self.amqp_url)
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(self.topology.dead_queue, passive=True)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                taken.append(message)
        finally:
            await connection.close()
        return taken


def death_reason(message: AbstractIncomingMessage) -> str:
    """Why RabbitMQ dead-lettered ``message`` (its latest ``x-death`` entry)."""
    deaths: Any = message.headers["x-death"]
    return str(deaths[0]["reason"])


def worker_pid(lease_owner: str) -> int:
    """A lease owner is ``<host>:<pid>/<tick>``: the pid of the worker holding the page."""
    return int(lease_owner.split("/", 1)[0].rsplit(":", 1)[1])
