"""Ours against a peer: the same job done the usual way, Celery (bench/peers/celery_peer).

Per shape (1 page x 5,000 to-dos and 200 pages x 10; quick: 1 x 300 and 20 x 10), the peer
and ours each work the same pages from the same start, in turns (``ROUNDS`` each, the one
going first alternating) so that the machine's noise falls on both alike. Both run on the
same stack: the Notion emulator as a process of its own with its rate limit off, the
machine's PostgreSQL (a fresh database per run) and RabbitMQ (a queue namespace per run).

- The peer: ``celery … worker -c 2`` (prefork), sync notion-client, psycopg and a
  ``FOR UPDATE NOWAIT`` row lock, one task per tick (the module's docstring tells the rest).
- Ours: 2 ``notion-batch-worker`` processes as :mod:`bench.worker` runs them (the product's
  defaults), the Notion limit lifted as far as the settings allow
  (``NOTION_RATE_LIMIT_PER_SECOND`` 1,000, ``NOTION_RATE_LIMIT_BURST`` 100).

Throughput counts from the ticks' publication until every to-do is done and recorded (ours:
also checked and logged in Notion and the leases released; the peer does all of it before
its commit). Notion calls are what the emulator served, divided by the to-dos done. The
ratio is ours / peer of the median to-dos/s; each round's own ratio is kept too.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import statistics
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import aiohttp
import asyncpg

from bench.common import (
    ADMIN_URL,
    AMQP_URL,
    NOTION_TOKEN,
    ROOT,
    Result,
    Sampler,
    Service,
    free_port,
    fresh_database,
    postgres_cpu,
    proc_cpu_seconds,
    proc_rss_mib,
    spawn,
    stop_all,
)
from bench.stack import (
    SCENARIO_TIMEOUT,
    Request,
    Run,
    Scenario,
    emulator_requests,
    run_scenario,
    wait_http,
)

PEER_APP = "bench.peers.celery_peer.app"
SCHEMA = ROOT / "bench" / "peers" / "celery_peer" / "schema.sql"
#: ``celery worker`` options: the issue's ``-c 2`` prefork pool. Gossip, mingle and the
#: broker heartbeat only talk to other workers (there are none) and slow the start.
CELERY_WORKER = ("-c", "2", "-P", "prefork", "--loglevel", "INFO")
CELERY_QUIET = ("--without-gossip", "--without-mingle", "--without-heartbeat")
#: Ours as the issue asks: 2 worker processes, Notion's limit lifted as the settings allow.
OURS_WORKERS = 2
OURS_RATE = 10_000.0
OURS_ENV = (("NOTION_RATE_LIMIT_BURST", "100"),)
TARGET_RATIO = 1.5
ROUNDS = 3


@dataclass(frozen=True)
class Shape:
    pages: int
    todos_per_page: int

    @property
    def label(self) -> str:
        return f"{self.pages:,} page{'s' if self.pages > 1 else ''} x {self.todos_per_page:,}"

    @property
    def todos(self) -> int:
        return self.pages * self.todos_per_page


def shapes(quick: bool) -> list[Shape]:
    if quick:
        return [Shape(1, 300), Shape(20, 10)]
    return [Shape(1, 5_000), Shape(200, 10)]


class ProcessTree(Service):
    """A service whose work is done by its child processes (Celery's prefork pool): CPU and
    RSS are of the main process and its live children."""

    def _pids(self) -> list[int]:
        pids = [self.pid]
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == self.pid:
                pids.append(int(entry))
        return pids

    def cpu_seconds(self) -> float:
        return sum(proc_cpu_seconds(pid) for pid in self._pids())

    def rss_mib(self) -> float:
        return sum(proc_rss_mib(pid) for pid in self._pids())


@dataclass
class PeerRun:
    seconds: float
    done: int
    requests: list[Request]
    worker_cpu: float
    emulator_cpu: float
    noise: dict[str, float]
    ticks: int
    postgres_cpu: float


# -- the peer's run ------------------------------------------------------------------------------


async def _peer_schema(url: str) -> None:
    """A new, empty database holding the peer's own schema only."""
    name = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SCHEMA.read_text())
    finally:
        await conn.close()


async def run_peer(shape: Shape) -> PeerRun:
    queue = f"nbpeer.{uuid.uuid4().hex[:6]}"
    async with fresh_database(_peer_schema, prefix="nb_peer") as url:
        with tempfile.TemporaryDirectory(prefix="nb-peer-") as tmp:
            try:
                return await asyncio.wait_for(
                    _run_peer(shape, url, queue, Path(tmp)), SCENARIO_TIMEOUT
                )
            finally:
                await _drop_queue(queue)


async def _run_peer(shape: Shape, url: str, queue: str, log_dir: Path) -> PeerRun:
    port = free_port()
    notion_url = f"http://127.0.0.1:{port}"
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    emulator_env = {
        **keep,
        "PYTHONUNBUFFERED": "1",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "info",
        "NOTION_EMULATOR_TOKENS": NOTION_TOKEN,
        "NOTION_EMULATOR_PORT": str(port),
        "NOTION_EMULATOR_RATE_LIMIT": "off",
    }
    peer_env = {
        **keep,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
        "PEER_AMQP_URL": AMQP_URL,
        "PEER_QUEUE": queue,
        "PEER_DATABASE_URL": url,
        "PEER_NOTION_BASE_URL": notion_url,
        "PEER_NOTION_TOKEN": NOTION_TOKEN,
    }
    services: list[Service] = []
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    assert pool is not None
    try:
        async with aiohttp.ClientSession() as http:
            emulator = await spawn("emulator", "notion-batch-emulator", emulator_env, log_dir)
            services.append(emulator)
            await wait_http(http, f"{notion_url}/_emulator/health", emulator)
            pages = await _create_pages(http, notion_url, pool, shape)
            started = await spawn(
                "celery-peer",
                "celery",
                peer_env,
                log_dir,
                "-A",
                PEER_APP,
                "worker",
                *CELERY_WORKER,
                *CELERY_QUIET,
                "-n",
                f"{queue}@%h",
            )
            worker = ProcessTree(started.name, started.process, started.log_path)
            services.append(worker)
            await _wait_ready(worker)
            client = _celery_client()
            database = url.rsplit("/", 1)[1]
            try:
                pg0 = postgres_cpu(database)
                async with Sampler(services) as sampler:
                    t0 = time.monotonic()
                    await asyncio.to_thread(_send_ticks, client, queue, pages)
                    await _until_done(pool, shape.todos)
                    seconds = time.monotonic() - t0
                pg_cpu = postgres_cpu(database) - pg0
            finally:
                client.close()
            requests = await emulator_requests(http, notion_url)
            await stop_all(services)
            done = await pool.fetchval("SELECT count(*) FROM peer_todos WHERE status = 'done'")
            ticks = await pool.fetchval("SELECT coalesce(sum(ticks), 0) FROM peer_pages")
    finally:
        await stop_all(services)
        await pool.close()
    return PeerRun(
        seconds=seconds,
        done=int(done),
        requests=requests,
        worker_cpu=sampler.cpu_used(worker.name),
        emulator_cpu=sampler.cpu_used(emulator.name),
        noise=sampler.noise(),
        ticks=int(ticks),
        postgres_cpu=pg_cpu,
    )


async def _create_pages(
    http: aiohttp.ClientSession, notion_url: str, pool: asyncpg.Pool, shape: Shape
) -> list[str]:
    """The same pages as :func:`bench.stack._create_pages` makes for ours."""
    pages = []
    for p in range(shape.pages):
        children = [
            {"type": "to_do", "text": f"p{p} task {i}"} for i in range(shape.todos_per_page)
        ]
        async with http.post(
            f"{notion_url}/_emulator/pages", json={"title": f"bench {p}", "children": children}
        ) as response:
            assert response.status == 201, await response.text()
            pages.append(str((await response.json())["page_id"]))
    await pool.executemany("INSERT INTO peer_pages (page_id) VALUES ($1)", [(p,) for p in pages])
    return pages


async def _wait_ready(worker: Service, timeout: float = 60) -> None:
    """Celery says ``celery@… ready.`` once its pool's processes are up and it consumes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.log_path.exists() and " ready." in worker.log_path.read_text(errors="replace"):
            return
        if worker.process.returncode is not None:
            break
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the Celery peer did not start:\n{worker.tail()}")


def _celery_client() -> Any:
    # Imported when the benchmark runs: Celery is the benchmark's extra (make bench-install),
    # and `make lint` type-checks without it.
    celery = importlib.import_module("celery")
    return celery.Celery("celery_peer_client", broker=AMQP_URL)


def _send_ticks(client: Any, queue: str, pages: list[str]) -> None:
    """One task per tick, published as a Celery client would (by name, one connection)."""
    with client.producer_or_acquire() as producer:
        for page in pages:
            client.send_task("peer.tick", args=[page], queue=queue, producer=producer)


async def _until_done(pool: asyncpg.Pool, todos: int) -> None:
    # Polled as bench.stack polls ours (every 0.2 s), so both carry the same error.
    while True:
        if await pool.fetchval("SELECT count(*) FROM peer_todos") >= todos:
            return
        await asyncio.sleep(0.2)


async def _drop_queue(queue: str) -> None:
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)
        with contextlib.suppress(aio_pika.exceptions.ChannelClosed):
            await channel.exchange_delete(queue)


# -- the comparison ------------------------------------------------------------------------------


def _summary(run: PeerRun | Run) -> dict[str, Any]:
    """One side's figures, the same for both (ours adds its database transactions)."""
    done = max(run.done, 1)
    summary: dict[str, Any] = {
        "done": run.done,
        "seconds": round(run.seconds, 2),
        "todos_per_second": round(run.done / run.seconds, 1),
        "notion_calls": len(run.requests),
        "notion_calls_per_todo": round(len(run.requests) / done, 4),
        "notion_calls_by_operation": dict(Counter(r.operation for r in run.requests)),
        "worker_cpu_ms_per_todo": round(run.worker_cpu * 1000 / done, 2),
        "worker_cpu_cores": round(run.worker_cpu / run.seconds, 2),
        "emulator_cpu_ms_per_todo": round(run.emulator_cpu * 1000 / done, 2),
        "postgres_cpu_ms_per_todo": round(run.postgres_cpu * 1000 / done, 2),
    }
    if isinstance(run, Run):
        summary["db_transactions_per_todo"] = round(run.db_transactions / done, 2)
        summary["ticks"] = run.ticks_worked
    else:
        summary["ticks"] = run.ticks
    summary["noise"] = run.noise
    return summary


async def _run_ours(shape: Shape) -> dict[str, Any]:
    scenario = Scenario(
        f"{shape.label}, {OURS_WORKERS} workers",
        shape.pages,
        shape.todos_per_page,
        OURS_WORKERS,
        worker_rate=OURS_RATE,
        worker_env=OURS_ENV,
    )
    return _summary(await run_scenario(scenario))


async def _run_peer_summary(shape: Shape) -> dict[str, Any]:
    return _summary(await run_peer(shape))


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(r[key] for r in runs)), 4)


async def compare(shape: Shape, rounds: int) -> dict[str, Any]:
    peer: list[dict[str, Any]] = []
    ours: list[dict[str, Any]] = []
    for n in range(rounds):
        # Alternate who goes first, so that a drift of the machine's load favours neither.
        order = ("peer", "ours") if n % 2 == 0 else ("ours", "peer")
        for who in order:
            if who == "peer":
                peer.append(await _run_peer_summary(shape))
            else:
                ours.append(await _run_ours(shape))
            last = (peer if who == "peer" else ours)[-1]
            print(
                f"  peer {shape.label}, round {n + 1}, {who}: "
                f"{last['todos_per_second']} to-dos/s, "
                f"{last['notion_calls_per_todo']} calls/to-do, "
                f"CPU ms/to-do worker {last['worker_cpu_ms_per_todo']}, "
                f"PostgreSQL {last['postgres_cpu_ms_per_todo']}, noise={last['noise']}",
                flush=True,
            )
    peer_rate = _median(peer, "todos_per_second")
    ours_rate = _median(ours, "todos_per_second")
    return {
        "label": shape.label,
        "pages": shape.pages,
        "todos_per_page": shape.todos_per_page,
        "rounds": rounds,
        "peer_todos_per_second": peer_rate,
        "ours_todos_per_second": ours_rate,
        "ratio": round(ours_rate / peer_rate, 3),
        "round_ratios": [
            round(o["todos_per_second"] / p["todos_per_second"], 3)
            for o, p in zip(ours, peer, strict=True)
        ],
        "peer_notion_calls_per_todo": _median(peer, "notion_calls_per_todo"),
        "ours_notion_calls_per_todo": _median(ours, "notion_calls_per_todo"),
        "peer_worker_cpu_ms_per_todo": _median(peer, "worker_cpu_ms_per_todo"),
        "ours_worker_cpu_ms_per_todo": _median(ours, "worker_cpu_ms_per_todo"),
        "peer_postgres_cpu_ms_per_todo": _median(peer, "postgres_cpu_ms_per_todo"),
        "ours_postgres_cpu_ms_per_todo": _median(ours, "postgres_cpu_ms_per_todo"),
        "peer": peer,
        "ours": ours,
    }


async def bench_peer(quick: bool) -> Result:
    rounds = 1 if quick else ROUNDS
    cases = []
    for shape in shapes(quick):
        case = await compare(shape, rounds)
        cases.append(case)
        print(
            f"  peer {case['label']}: ours {case['ours_todos_per_second']} vs peer "
            f"{case['peer_todos_per_second']} to-dos/s = x{case['ratio']} "
            f"(rounds {case['round_ratios']}); calls/to-do ours "
            f"{case['ours_notion_calls_per_todo']}, peer {case['peer_notion_calls_per_todo']}",
            flush=True,
        )
    return Result(
        "peer",
        {},
        {
            "peer": f"celery -A {PEER_APP} worker {' '.join(CELERY_WORKER)}",
            "ours": f"{OURS_WORKERS} notion-batch-worker processes",
            "NOTION_RATE_LIMIT_PER_SECOND": OURS_RATE,
            **dict(OURS_ENV),
            "emulator_rate_limit": "off",
            "rounds": rounds,
            "target_ratio": TARGET_RATIO,
        },
        series={"cases": cases},
    )
