"""What an operator sees of a batch: metrics moving on every service, probes, one story in logs."""

from __future__ import annotations

import json
import re
from collections import defaultdict

import pytest

from tests.e2e.conftest import unique_title
from tests.e2e.stack import API_KEY, TOKEN, Stack, wait_for

_SAMPLE = re.compile(r"^(notion_batch_\w+?)(?:\{([^}]*)\})? ([0-9.e+-]+)$")


def ops_port(stack: Stack, service: str) -> int:
    for line in (stack.log_dir / f"{service}.log").read_text().splitlines():
        if '"event": "ops_server_started"' in line:
            return int(json.loads(line)["port"])
    raise AssertionError(f"{service} logged no ops_server_started")


async def scrape(stack: Stack, url: str) -> dict[str, float]:
    """Metric samples as {'name{labels}': value}."""
    async with stack.http.get(url) as response:
        assert response.status == 200
        text = await response.text()
    samples: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if match := _SAMPLE.match(line):
            name, labels, value = match.groups()
            samples[f"{name}{{{labels or ''}}}"] += float(value)
    return samples


def total(samples: list[dict[str, float]], key: str) -> float:
    return sum(s.get(key, 0.0) for s in samples)


@pytest.mark.stack_env(SCHEDULER_POLL_SECONDS="0.2")
async def test_metrics_probes_and_the_story_of_one_page(stack: Stack) -> None:
    created = await stack.notion(
        "POST",
        "/_emulator/pages",
        json={
            "title": unique_title(),
            "children": [{"type": "to_do", "text": f"task {i}"} for i in range(5)],
        },
    )
    page = created["page_id"]
    await stack.start_batch(page, interval_seconds=1, duration_seconds=3)

    async def completed() -> bool:
        db_status: str = (await stack.status(page))["db_status"]
        return db_status == "completed"

    await wait_for(completed, timeout=30, what="the batch to complete")

    ports = {name: ops_port(stack, name) for name in ("scheduler", "worker-1", "worker-2")}
    for name, port in ports.items():
        for probe in ("healthz", "readyz"):
            async with stack.http.get(f"http://127.0.0.1:{port}/{probe}") as response:
                assert response.status == 200, f"{name} /{probe}: {await response.text()}"

    async def counted() -> list[dict[str, float]] | None:
        samples = [await scrape(stack, f"http://127.0.0.1:{p}/metrics") for p in ports.values()]
        done = total(samples, 'notion_batch_todos_processed_total{outcome="done"}')
        return samples if done == 5 else None

    samples = await wait_for(counted, timeout=10, what="the workers to count 5 done to-dos")
    scheduler, *workers = samples
    assert scheduler["notion_batch_ticks_emitted_total{}"] >= 3
    assert scheduler['notion_batch_batches_ended_total{reason="expired"}'] == 1
    assert total(workers, 'notion_batch_ticks_processed_total{outcome="worked"}') >= 1
    assert (
        total(
            workers,
            "notion_batch_notion_requests_total"
            '{integration="default",operation="check_todo",status="200"}',
        )
        == 5
    )
    assert total(workers, "notion_batch_tick_lag_seconds_count{}") >= 3
    assert total(workers, "notion_batch_db_pool_connections_max{}") > 0

    # The whole story of the page, across services, by filtering on its id.
    story: dict[str, set[str]] = defaultdict(set)
    for service in stack.services:
        for line in service.log().splitlines():
            if line.startswith("{") and page in line:
                event = json.loads(line)
                if event.get("notion_page_id") == page:
                    story[service.name.split("-")[0]].add(event["event"])
    assert {"batch_started"} <= story["api"]
    assert {"tick_emitted", "batch_completed"} <= story["scheduler"]
    # At info the scheduler says what it emitted once per claim, not once per tick.
    summaries = [
        json.loads(line)
        for line in (stack.log_dir / "scheduler.log").read_text().splitlines()
        if '"event": "ticks_emitted"' in line
    ]
    assert summaries and all(s["level"] == "info" and s["count"] >= 1 for s in summaries)
    assert sum(s["count"] for s in summaries) >= scheduler["notion_batch_ticks_emitted_total{}"]
    assert {"tick_received", "page_synced", "todo_processed", "tick_processed"} <= story["worker"]


async def test_no_secret_in_any_log_line_error_body_or_metric(stack: Stack) -> None:
    # A run with failures too: a page Notion refuses (404), and a request with a wrong key.
    hidden = await stack.notion(
        "POST", "/_emulator/pages", json={"title": unique_title(), "children": [], "shared": False}
    )
    await stack.start_batch(hidden["page_id"], interval_seconds=1, duration_seconds=30)

    async def failed() -> dict[str, object] | None:
        status = await stack.status(hidden["page_id"])
        return status if status["db_status"] == "failed" else None

    answer = await wait_for(failed, timeout=30, what="the batch on the hidden page to fail")
    bodies = [json.dumps(answer)]
    async with stack.http.get(
        f"{stack.api_url}/api/v1/batch/status", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as response:
        assert response.status == 401
        bodies.append(await response.text())
    metrics = [
        await (await stack.http.get(f"http://127.0.0.1:{ops_port(stack, name)}/metrics")).text()
        for name in ("scheduler", "worker-1", "worker-2")
    ]
    async with stack.http.get(f"{stack.api_url}/metrics") as response:
        assert response.status == 200
        metrics.append(await response.text())
    await stack.stop_all()  # flush every log
    everything = "\n".join([*(s.log() for s in stack.services), *bodies, *metrics])
    assert "notion_request_failed" in everything  # the failures were logged…
    for secret in (TOKEN, API_KEY):
        assert secret not in everything  # …without the secrets
