"""What every benchmark shares: the machine, a fresh database, service processes and sampling.

Services run as the real console scripts (``notion-batch-worker`` …) in processes of their
own, so CPU and memory are read per service from ``/proc`` and the benchmark's own work (set
up, polling, load generation) is not counted as theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg

from notion_batch.common.db.migrate import migrate
from notion_batch.common.messaging.topology import Topology

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent
ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
#: The emulator's token and the API key the benchmarks use (≥ 16 characters).
NOTION_TOKEN = "secret_bench0123456789abcdef"
API_KEY = "bench-key-0123456789abcdef"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

Figure = float | int | str | None


@dataclass
class Result:
    """One benchmark's outcome: headline figures, parameters, and series for the plots."""

    name: str
    figures: dict[str, Figure]
    params: dict[str, Any]
    #: Rows of the summary table: (measurement, value, target or "").
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    series: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Other files this benchmark wrote into bench/results/ (flame graph, plots).
    files: list[str] = field(default_factory=list)


def machine(argv: Sequence[str]) -> dict[str, Any]:
    memory_kb = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    ).stdout.strip()
    # Product code that differs from the commit (uncommitted work in this tree) is named, so
    # that a figure can be traced to what was measured.
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "libs", "services", "emulator"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    ).stdout.split("\n")
    dirty_files = sorted(line[3:] for line in dirty if line.strip())
    return {
        "commit": (commit or "unknown") + ("+dirty" if dirty_files else ""),
        "uncommitted_product_files": dirty_files,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgresql": _server_version(),
        "command": shlex.join([_interpreter(), *argv]),
    }


def _interpreter() -> str:
    """The Python that runs the benchmarks, relative to the repository when it is the venv's."""
    path = Path(sys.executable)
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _server_version() -> str:
    try:
        out = subprocess.run(
            ["psql", ADMIN_URL, "-Atc", "SHOW server_version"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- isolation: a database and a broker namespace per benchmark ---------------------------------


@asynccontextmanager
async def fresh_database(
    prepare: Callable[[str], Awaitable[Any]] = migrate, *, prefix: str = "nb_bench"
) -> AsyncIterator[str]:
    """A database of its own, made ready by ``prepare`` (the product's migrations unless told
    otherwise) and dropped afterwards (other suites share the server)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))
    await prepare(url)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def new_namespace() -> str:
    return f"nbbench.{uuid.uuid4().hex[:6]}"


async def drop_namespace(namespace: str) -> None:
    topology = Topology(namespace)
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        for queue in topology.all_queues():
            await channel.queue_delete(queue)
        for exchange in topology.all_exchanges():
            await channel.exchange_delete(exchange)


def service_env(database_url: str, namespace: str, **extra: str) -> dict[str, str]:
    """The environment of a service process: production defaults unless a benchmark says."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return {
        **keep,
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url,
        "AMQP_URL": AMQP_URL,
        "AMQP_NAMESPACE": namespace,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "info",
        "OPS_PORT": "0",
        **extra,
    }


# -- processes -----------------------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * PAGE_SIZE / 2**20
    except OSError:
        return 0.0


def self_cpu_seconds() -> float:
    return proc_cpu_seconds(os.getpid())


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as stat:
        parts = [int(x) for x in stat.readline().split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return float(total - idle), float(total)


def load_average() -> float:
    return os.getloadavg()[0]


@dataclass
class Service:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def rss_mib(self) -> float:
        return proc_rss_mib(self.pid)

    async def stop(self, timeout: float = 30) -> int:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode or 0

    def log_lines(self) -> Iterable[dict[str, Any]]:
        """The service's JSON log events (non-JSON lines are skipped)."""
        with self.log_path.open(errors="replace") as handle:
            for line in handle:
                if line.startswith("{"):
                    with contextlib.suppress(json.JSONDecodeError):
                        yield json.loads(line)

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


async def spawn(
    name: str, command: str, env: Mapping[str, str], log_dir: Path, *args: str
) -> Service:
    """Start a console script of the product (or any executable in the venv)."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as handle:
        process = await asyncio.create_subprocess_exec(
            str(BIN / command),
            *args,
            cwd=ROOT,
            env=dict(env),
            stdout=handle,
            stderr=asyncio.subprocess.STDOUT,
        )
    return Service(name, process, log_path)


async def wait_for_log(service: Service, event: str, timeout: float = 30) -> dict[str, Any]:
    """Wait until the service logs ``event`` (e.g. worker_started); fail with its log tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in service.log_lines():
            if line.get("event") == event:
                return line
        if service.process.returncode is not None:
            break
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{service.name} did not log {event!r}:\n{service.tail()}")


async def stop_all(services: Iterable[Service]) -> None:
    await asyncio.gather(*(s.stop() for s in services))


def processes_cpu(matches: Callable[[bytes], bool]) -> float:
    """CPU seconds so far of every process of this machine whose command line ``matches``."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                title = cmdline.read()
        except OSError:
            continue
        if matches(title):
            total += proc_cpu_seconds(int(pid))
    return total


def postgres_cpu(database: str) -> float:
    """CPU seconds so far of the PostgreSQL backends serving ``database``."""
    needle = f" {database} ".encode()
    return processes_cpu(lambda title: title.startswith(b"postgres:") and needle in title)


def broker_cpu() -> float:
    """CPU seconds so far of the RabbitMQ server (its Erlang VM), 0 if it is not found here.

    The broker is the machine's shared one: other users' queues count too."""
    return processes_cpu(lambda title: b"beam.smp" in title and b"rabbit" in title)


class Sampler:
    """Samples CPU and RSS of some services (and the machine's CPU) at a fixed period.

    ``machine_busy_cores`` tells how much of the machine was busy in all; what our services
    did not use of it is somebody else's (another suite, PostgreSQL, RabbitMQ, the benchmark).
    """

    def __init__(self, services: Sequence[Service], every: float = 0.5) -> None:
        self.services = list(services)
        self.every = every
        self.t: list[float] = []
        self.rss: dict[str, list[float]] = {s.name: [] for s in services}
        self.cpu: dict[str, list[float]] = {s.name: [] for s in services}
        self.machine_busy: list[float] = []
        self.loadavg: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._t0 = 0.0

    def sample(self) -> None:
        self.t.append(time.monotonic() - self._t0)
        for s in self.services:
            self.rss[s.name].append(s.rss_mib())
            self.cpu[s.name].append(s.cpu_seconds())
        busy, _ = machine_cpu()
        self.machine_busy.append(busy / CLK_TCK)
        self.loadavg.append(load_average())

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every)

    async def __aenter__(self) -> Sampler:
        self._t0 = time.monotonic()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.sample()

    def cpu_used(self, name: str) -> float:
        values = self.cpu[name]
        return values[-1] - values[0] if values else 0.0

    def elapsed(self) -> float:
        return self.t[-1] - self.t[0] if self.t else 0.0

    def rss_summary(self, name: str) -> dict[str, float]:
        """Start, peak and end RSS, and the growth over the second half of the run."""
        values = self.rss[name]
        if not values:
            return {}
        half = len(values) // 2
        return {
            "start": round(values[0], 1),
            "peak": round(max(values), 1),
            "end": round(values[-1], 1),
            "second_half_growth": round(values[-1] - values[half], 1),
        }

    def noise(self) -> dict[str, float]:
        """How busy the machine was beyond our services, in cores, and the load average."""
        elapsed = self.elapsed()
        if elapsed <= 0:
            return {}
        busy = (self.machine_busy[-1] - self.machine_busy[0]) / elapsed
        ours = sum(self.cpu_used(s.name) for s in self.services) / elapsed
        return {
            "machine_busy_cores": round(busy, 2),
            "our_services_cores": round(ours, 2),
            "other_cores": round(busy - ours, 2),
            "loadavg_max": round(max(self.loadavg), 2),
        }


# -- profiling -------------------------------------------------------------------------------


async def start_profiler(pid: int, out: Path) -> asyncio.subprocess.Process:
    """py-spy the process into a collapsed-stacks file (see flame.py) until stop_profiler."""
    # py-spy pauses the process for each sample (100 a second) to read a consistent stack;
    # --nonblocking would not, but then a third of the stacks come out torn. Either way the
    # profiler costs CPU, which is why profiles are runs of their own.
    process = await asyncio.create_subprocess_exec(
        str(BIN / "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--rate",
        "100",
        "--full-filenames",
        "--format",
        "raw",
        "--output",
        str(out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    await asyncio.sleep(1.0)  # let it attach before the work starts
    return process


async def stop_profiler(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(2)  # SIGINT: py-spy writes its output and exits
    try:
        await asyncio.wait_for(process.wait(), 30)
    except TimeoutError:
        process.kill()
