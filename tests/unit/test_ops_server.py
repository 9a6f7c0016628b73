"""The ops port over real HTTP on 127.0.0.1: probes, draining, metrics, settings."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest
import structlog
from prometheus_client import CollectorRegistry

from notion_batch.common.config import OpsSettings
from notion_batch.common.errors import ConfigError
from notion_batch.common.metrics import Metrics
from notion_batch.common.ops_server import OpsServer, serve_ops
from notion_batch.scheduler.settings import SCHEDULER_OPS_PORT
from notion_batch.worker.settings import WORKER_OPS_PORT

pytestmark = pytest.mark.timeout(10)


class Checks:
    """A readiness callback whose answer a test sets, counting its calls."""

    def __init__(self, **checks: bool) -> None:
        self.checks = dict(checks)
        self.calls = 0
        self.error: Exception | None = None
        self.delay = 0.0

    async def __call__(self) -> Mapping[str, bool]:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.checks


async def get(server: OpsServer, path: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(server.url + path) as response,
    ):
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def test_healthz_answers_while_the_process_runs() -> None:
    async with serve_ops("127.0.0.1", 0, ready=Checks(database=False)) as server:
        assert server.port > 0
        assert await get(server, "/healthz") == (200, {"status": "ok"})


async def test_healthz_fails_while_a_watched_loop_is_stuck() -> None:
    stuck: list[str] = []
    async with serve_ops("127.0.0.1", 0, ready=Checks(database=True)) as server:
        server.watch_liveness(lambda: stuck[0] if stuck else None)
        assert await get(server, "/healthz") == (200, {"status": "ok"})
        stuck.append("the tick emitter has not ended a round for 300 s")
        assert await get(server, "/healthz") == (
            503,
            {"status": "stuck", "reasons": ["the tick emitter has not ended a round for 300 s"]},
        )
        stuck.clear()
        assert (await get(server, "/healthz"))[0] == 200


async def test_readyz_is_ready_when_every_check_passes() -> None:
    checks = Checks(database=True, broker=True, consumers=True)
    async with serve_ops("127.0.0.1", 0, ready=checks) as server:
        status, body = await get(server, "/readyz")
    assert status == 200
    assert body == {
        "status": "ready",
        "checks": {"database": True, "broker": True, "consumers": True},
    }
    assert checks.calls == 1


async def test_readyz_names_the_failing_checks() -> None:
    checks = Checks(database=True, broker=False, consumers=False)
    async with serve_ops("127.0.0.1", 0, ready=checks) as server:
        status, body = await get(server, "/readyz")
        assert status == 503
        assert body["status"] == "not ready"
        assert body["checks"] == {"database": True, "broker": False, "consumers": False}
        assert body["reason"] == "failing: broker, consumers"
        # Readiness is computed per probe: it recovers as soon as the checks do.
        checks.checks.update(broker=True, consumers=True)
        assert (await get(server, "/readyz"))[0] == 200


async def test_a_boolean_callback_is_one_check() -> None:
    async def ready() -> bool:
        return False

    async with serve_ops("127.0.0.1", 0, ready=ready) as server:
        status, body = await get(server, "/readyz")
    assert status == 503
    assert body["checks"] == {"service": False}


async def test_a_check_that_raises_means_not_ready_and_the_server_survives() -> None:
    checks = Checks(database=True)
    checks.error = RuntimeError("pool closed")
    async with serve_ops("127.0.0.1", 0, ready=checks) as server:
        status, body = await get(server, "/readyz")
        assert status == 503
        assert body["reason"] == "checks failed: RuntimeError: pool closed"
        checks.error = None
        assert (await get(server, "/readyz"))[0] == 200
        assert (await get(server, "/healthz"))[0] == 200


async def test_a_slow_check_times_out_as_not_ready() -> None:
    checks = Checks(database=True)
    checks.delay = 5.0
    async with serve_ops("127.0.0.1", 0, ready=checks, check_timeout=0.05) as server:
        status, body = await asyncio.wait_for(get(server, "/readyz"), timeout=2)
    assert status == 503
    assert body["reason"] == "checks took over 0.05 s"


async def test_draining_fails_readiness_at_once_but_not_liveness() -> None:
    checks = Checks(database=True, broker=True)
    async with serve_ops("127.0.0.1", 0, ready=checks) as server:
        assert (await get(server, "/readyz"))[0] == 200
        server.set_draining()
        assert server.draining
        status, body = await get(server, "/readyz")
        assert status == 503
        assert body["status"] == "draining"
        # While draining the dependencies are not even asked: the answer cannot change.
        assert checks.calls == 1
        assert await get(server, "/healthz") == (200, {"status": "ok"})


async def test_draining_that_begins_during_the_checks_wins() -> None:
    checks = Checks(database=True)
    checks.delay = 0.2
    async with serve_ops("127.0.0.1", 0, ready=checks) as server:
        probe = asyncio.create_task(get(server, "/readyz"))
        await asyncio.sleep(0.05)
        server.set_draining()
        status, body = await probe
    assert status == 503
    assert body["status"] == "draining"


async def test_metrics_serves_the_given_registry() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.ticks_emitted.inc(3)
    metrics.todos_processed.labels(outcome="done").inc()
    async with (
        serve_ops("127.0.0.1", 0, ready=Checks(), registry=registry) as server,
        aiohttp.ClientSession() as http,
        http.get(server.url + "/metrics") as resp,
    ):
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        text = await resp.text()
    assert "notion_batch_ticks_emitted_total 3.0" in text
    assert 'notion_batch_todos_processed_total{outcome="done"} 1.0' in text
    # Closed label sets exist at zero before their first event.
    assert 'notion_batch_todos_processed_total{outcome="skipped"} 0.0' in text


async def test_unknown_paths_are_404() -> None:
    async with serve_ops("127.0.0.1", 0, ready=Checks()) as server:
        assert (await get(server, "/api/v1/batch/status"))[0] == 404


async def test_readiness_changes_are_logged_once_each() -> None:
    checks = Checks(database=True)
    with structlog.testing.capture_logs() as logs:
        async with serve_ops("127.0.0.1", 0, ready=checks) as server:
            for _ in range(3):
                await get(server, "/readyz")
            checks.checks["database"] = False
            for _ in range(2):
                await get(server, "/readyz")
            port = server.port
    events = [(e["event"], e.get("ready")) for e in logs]
    assert events == [
        ("ops_server_started", None),
        ("readiness_changed", True),
        ("readiness_changed", False),
    ]
    assert logs[0]["port"] == port
    assert logs[2]["checks"] == {"database": False}
    assert logs[2]["reason"] == "failing: database"


async def test_leaving_the_context_closes_the_port() -> None:
    async with serve_ops("127.0.0.1", 0, ready=Checks()) as server:
        url = server.url
        assert server.url.startswith("http://127.0.0.1:")
    assert server.draining
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with http.get(url + "/healthz"):
                pass


async def test_a_taken_port_fails_loudly_naming_the_variable() -> None:
    async with serve_ops("127.0.0.1", 0, ready=Checks()) as first:
        with pytest.raises(ConfigError, match=r"(?i)address already in use") as caught:
            async with serve_ops("127.0.0.1", first.port, ready=Checks()):
                pass
    assert caught.value.variable == "OPS_PORT"


def test_port_is_unknown_before_listening() -> None:
    with pytest.raises(RuntimeError, match="not listening"):
        _ = OpsServer(Checks()).port


def test_settings_default_to_loopback_and_the_service_port() -> None:
    assert OpsSettings.from_env({}, default_port=SCHEDULER_OPS_PORT) == OpsSettings(
        "127.0.0.1", 9100
    )
    assert OpsSettings.from_env({}, default_port=WORKER_OPS_PORT).port == 9101
    assert OpsSettings.from_env(
        {"OPS_HOST": "0.0.0.0", "OPS_PORT": "0"}, default_port=WORKER_OPS_PORT
    ) == OpsSettings("0.0.0.0", 0)


@pytest.mark.parametrize("value", ["ninety", "70000", "-1"])
def test_a_bad_port_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        OpsSettings.from_env({"OPS_PORT": value}, default_port=WORKER_OPS_PORT)
    assert caught.value.variable == "OPS_PORT"
