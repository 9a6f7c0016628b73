"""The whole product as real processes: emulator, API, scheduler and workers.

Each service runs from its installed console script with its own environment, against this
test's database and broker namespace; logs go to files under the test's tmp_path, and are
printed when a test fails so the story of a failure is readable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "secret_e2etoken0123456789"
#: The suite's API key (write scope); every request of Stack.api carries it.
API_KEY = "e2e-write-key-0123456789abcdef"
T = TypeVar("T")
S = TypeVar("S", bound="Stack")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    async def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        assert self.process.returncode is not None
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Stack:
    env: dict[str, str]
    log_dir: Path
    api_url: str
    notion_url: str
    http: aiohttp.ClientSession
    services: list[Service] = field(default_factory=list)

    async def spawn(self, name: str, command: str, *args: str, **env: str) -> Service:
        log_path = self.log_dir / f"{name}.log"
        handle = log_path.open("ab")
        process = await asyncio.create_subprocess_exec(
            str(BIN / command),
            *args,
            cwd=ROOT,
            env={**self.env, **env},
            stdout=handle,
            stderr=asyncio.subprocess.STDOUT,
        )
        handle.close()
        service = Service(name, process, log_path)
        self.services.append(service)
        return service

    async def spawn_scheduler(self, name: str, **env: str) -> Service:
        # At debug the scheduler logs each tick it emits (`tick_emitted`): the page's story
        # and the load test's accounting read them.
        return await self.spawn(name, "notion-batch-scheduler", **{"LOG_LEVEL": "debug", **env})

    async def spawn_worker(self, name: str, **env: str) -> Service:
        return await self.spawn(name, "notion-batch-worker", **env)

    async def stop_all(self, timeout: float = 30) -> None:
        """Stop every service (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        # Notion (the emulator) goes last, so draining workers can still finish their calls.
        others = [s for s in self.services if s.name != "emulator"]
        await asyncio.gather(*(s.stop(timeout=timeout) for s in others))
        await asyncio.gather(
            *(s.stop(timeout=timeout) for s in self.services if s.name == "emulator")
        )

    def logs(self) -> str:
        return "\n".join(f"===== {s.name} =====\n{s.log()[-20000:]}" for s in self.services)

    # -- the API -----------------------------------------------------------------------------

    async def api(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {API_KEY}", **kwargs.pop("headers", {})}
        async with self.http.request(
            method, self.api_url + path, headers=headers, **kwargs
        ) as response:
            return response.status, await response.json()

    async def start_batch(self, page_id: str, **body: Any) -> dict[str, Any]:
        status, answer = await self.api(
            "POST", "/api/v1/batch/start", json={"notion_page_id": page_id, **body}
        )
        assert status == 200, answer
        return dict(answer)

    async def status(self, page_id: str) -> dict[str, Any]:
        status, answer = await self.api("GET", f"/api/v1/batch/status/{page_id}")
        assert status == 200, answer
        return dict(answer)

    # -- the emulator ------------------------------------------------------------------------

    async def notion(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.http.request(method, self.notion_url + path, **kwargs) as response:
            assert response.status < 300, await response.text()
            return await response.json()


async def wait_for(
    check: Callable[[], Awaitable[T | None]], *, timeout: float, what: str, every: float = 0.2
) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen: {last!r}")


async def wait_http_ok(http: aiohttp.ClientSession, url: str, *, timeout: float, what: str) -> None:
    async def ok() -> bool:
        try:
            async with http.get(url) as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    await wait_for(ok, timeout=timeout, what=what)


@dataclass(frozen=True)
class StackPlan:
    """Where a new stack will listen, and the environment its services start with."""

    env: dict[str, str]
    emulator_port: int
    api_port: int

    @property
    def notion_url(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


def plan_stack(database_url: str, amqp_url: str, namespace: str, **env: str) -> StackPlan:
    """Free ports and the environment (``base_env`` + the API's address + ``env``)."""
    emulator_port, api_port = free_port(), free_port()
    full = base_env(database_url, amqp_url, namespace, f"http://127.0.0.1:{emulator_port}")
    full |= {"API_HOST": "127.0.0.1", "API_PORT": str(api_port), **env}
    return StackPlan(full, emulator_port, api_port)


@contextlib.asynccontextmanager
async def serving(
    stack: S,
    node: Any,
    *,
    emulator_port: int,
    schedulers: Sequence[str] = ("scheduler",),
    workers: Sequence[str] = ("worker-1", "worker-2"),
    stop_timeout: float = 30,
) -> AsyncIterator[S]:
    """Start the product on ``stack`` — emulator, API, schedulers and workers, until the API is
    ready — and stop it all afterwards; the services' logs are printed if the test failed
    (or never got to run)."""
    try:
        await stack.spawn(
            "emulator",
            "notion-batch-emulator",
            NOTION_EMULATOR_PORT=str(emulator_port),
            # Notion's rate limit is the subject of its own tests; off unless a test asks.
            NOTION_EMULATOR_RATE_LIMIT=stack.env.get("NOTION_EMULATOR_RATE_LIMIT", "off"),
        )
        await wait_http_ok(
            stack.http, f"{stack.notion_url}/_emulator/health", timeout=20, what="emulator"
        )
        await stack.spawn("api", "notion-batch-api")
        await asyncio.gather(
            *(stack.spawn_scheduler(name) for name in schedulers),
            *(stack.spawn_worker(name) for name in workers),
        )
        await wait_http_ok(stack.http, f"{stack.api_url}/readyz", timeout=30, what="API ready")
        yield stack
    finally:
        await stack.stop_all(stop_timeout)
        # Set by the root conftest's report hook; absent when setup itself failed.
        if getattr(node, "rep_call_failed", True):
            print(stack.logs())


def base_env(database_url: str, amqp_url: str, namespace: str, notion_url: str) -> dict[str, str]:
    keep: Mapping[str, str] = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return {
        **keep,
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url,
        "AMQP_URL": amqp_url,
        "AMQP_NAMESPACE": namespace,
        "NOTION_TOKEN": TOKEN,
        "NOTION_BASE_URL": notion_url,
        "NOTION_EMULATOR_TOKENS": TOKEN,
        "API_KEYS": f"e2e:write:{API_KEY}",
        # The suites start many batches in a burst; the per-key write limit is tested elsewhere.
        "API_WRITE_RATE_PER_MINUTE": "100000",
        "API_WRITE_BURST": "10000",
        # The emulator's own limit is off unless a test turns it on; so is ours.
        "NOTION_RATE_LIMIT_PER_SECOND": "1000",
        "LOG_FORMAT": "json",
        # Each scheduler and worker gets a free ops port (metrics and probes); it is logged.
        "OPS_PORT": "0",
        "LOG_LEVEL": "info",
        "SCHEDULER_POLL_SECONDS": "0.2",
        "WORKER_LEASE_SECONDS": "5",
        "TODO_HANDLER": "tests.e2e.handlers:scripted",
        "TODO_MAX_ATTEMPTS": "2",
    }
