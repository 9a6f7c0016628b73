"""The scheduler's and worker's small HTTP port: ``/metrics``, ``/healthz``, ``/readyz``.

The API serves the same paths on its own port; the scheduler and worker have no HTTP server
of their own, so they open this one::

    ops = OpsSettings.from_env(default_port=WORKER_OPS_PORT)
    async with serve_ops(ops.host, ops.port, ready=readiness) as server:
        ...                      # consume until told to stop
        server.set_draining()    # first thing on shutdown: readiness goes false
        ...                      # stop consuming, drain, close

- ``/healthz`` answers 200 while the process runs, draining included: Kubernetes restarts a
  container whose liveness fails, and a database or broker outage is no reason to restart us
  (so dependencies are checked in readiness only). What does make it 503 is a loop of the
  service's own that has stopped moving (:meth:`OpsServer.watch_liveness`): a restart is
  then the cure.
- ``/readyz`` answers 200 only when every check of the service's ``ready`` callback is true
  (database and broker reachable, consumers attached), 503 otherwise, and 503 at once after
  :meth:`OpsServer.set_draining`. A check that raises or outlasts ``check_timeout`` counts as
  not ready: a probe must answer within its own timeout.
- ``/metrics`` is the Prometheus exposition of ``registry`` (the process's default one).

Readiness is computed per request; a change between ready and not ready is logged once
(``readiness_changed``), not at every probe.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final

import structlog
from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

from notion_batch.common.command_line import port_in_use_is_config_error

log = structlog.get_logger(__name__)

#: Longest a readiness callback may take; below the probes' 3 s timeout in deploy/k8s.
DEFAULT_CHECK_TIMEOUT_SECONDS: Final = 2.0

#: The service's readiness: named checks (``{"database": True, "broker": False}``) or a bool.
ReadinessCheck = Callable[[], Awaitable[Mapping[str, bool] | bool]]


class OpsServer:
    """The handlers and state of one ops port; built and served by :func:`serve_ops`."""

    def __init__(
        self,
        ready: ReadinessCheck,
        *,
        registry: CollectorRegistry = REGISTRY,
        check_timeout: float = DEFAULT_CHECK_TIMEOUT_SECONDS,
    ) -> None:
        self._ready = ready
        self._registry = registry
        self._check_timeout = check_timeout
        self._draining = False
        self._last_ready: bool | None = None
        self._liveness: list[Callable[[], str | None]] = []
        self._port: int | None = None
        self._host = ""

    @property
    def draining(self) -> bool:
        return self._draining

    @property
    def port(self) -> int:
        """The port actually bound (useful with port ``0``)."""
        if self._port is None:
            raise RuntimeError("the ops server is not listening")
        return self._port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
        return f"http://{host}:{self.port}"

    def watch_liveness(self, check: Callable[[], str | None]) -> None:
        """Make ``/healthz`` answer 503 while ``check()`` returns a reason (``None``: alive)."""
        self._liveness.append(check)

    def set_draining(self) -> None:
        """From now on ``/readyz`` answers 503: the service is shutting down."""
        if not self._draining:
            self._draining = True
            self._note(False, {}, "draining")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", make_aiohttp_handler(self._registry))
        return app

    async def _healthz(self, _: web.Request) -> web.Response:
        reasons = [reason for check in self._liveness if (reason := check()) is not None]
        if reasons:
            return web.json_response({"status": "stuck", "reasons": reasons}, status=503)
        return web.json_response({"status": "ok"})

    async def _readyz(self, _: web.Request) -> web.Response:
        ready, checks, reason = (False, {}, "") if self._draining else await self._evaluate()
        # Draining may have begun before or while the checks ran.
        if self._draining:
            return web.json_response({"status": "draining", "checks": checks}, status=503)
        self._note(ready, checks, reason)
        body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
        if reason:
            body["reason"] = reason
        return web.json_response(body, status=200 if ready else 503)

    async def _evaluate(self) -> tuple[bool, dict[str, bool], str]:
        """Run the service's checks: (ready, named checks, why not ready)."""
        try:
            async with asyncio.timeout(self._check_timeout):
                result = await self._ready()
        except TimeoutError:
            return False, {}, f"checks took over {self._check_timeout:g} s"
        except Exception as exc:  # a broken check means "not ready", never a 500 or a crash
            return False, {}, f"checks failed: {type(exc).__name__}: {exc}"
        checks = dict(result) if isinstance(result, Mapping) else {"service": bool(result)}
        failing = [name for name, ok in checks.items() if not ok]
        return not failing, checks, ("failing: " + ", ".join(failing)) if failing else ""

    def _note(self, ready: bool, checks: Mapping[str, bool], reason: str) -> None:
        if ready != self._last_ready:
            self._last_ready = ready
            log.info("readiness_changed", ready=ready, checks=dict(checks), reason=reason)

    def _bound(self, host: str, port: int) -> None:
        self._host, self._port = host, port


@asynccontextmanager
async def serve_ops(
    host: str,
    port: int,
    *,
    ready: ReadinessCheck,
    registry: CollectorRegistry = REGISTRY,
    check_timeout: float = DEFAULT_CHECK_TIMEOUT_SECONDS,
) -> AsyncIterator[OpsServer]:
    """Serve the ops port on ``host:port`` for the duration of the ``async with``.

    Start it before connecting to the database and broker, so that liveness answers while
    the service waits for them (readiness says it is not ready yet). On exit readiness goes
    false first, then the port closes.
    """
    server = OpsServer(ready, registry=registry, check_timeout=check_timeout)
    # No access log: probes hit these paths every few seconds.
    # A probe or a scrape in progress is not worth waiting for at shutdown.
    runner = web.AppRunner(server.app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        with port_in_use_is_config_error("OPS_HOST", "OPS_PORT"):
            await site.start()
        bound_port = int(runner.addresses[0][1])
        server._bound(host, bound_port)
        log.info("ops_server_started", host=host, port=bound_port)
        yield server
    finally:
        server.set_draining()
        await runner.cleanup()
