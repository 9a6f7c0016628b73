"""A preview of the Grafana dashboard with real data: ``docs/grafana-dashboard.png``.

Run from the repository's root: ``.venv/bin/python -m scripts.dashboard_preview [--seconds 150]``.

Grafana cannot run on this project's machines (it is in no registry they reach), so this is
not a Grafana screenshot. What is real: the product (``tests/e2e/stack.py``: emulator, API,
scheduler, two workers, as processes) runs a demo workload — batches started, stopped and
expiring, to-dos a person keeps adding (some fail, some are skipped, some are slow), Notion
429s and 409s injected through the emulator's ``/_emulator/faults`` — while a real Prometheus
(Debian's ``prometheus`` package: ``apt-get install prometheus``; ``PROMETHEUS`` may name
another binary) scrapes every service's ``/metrics`` each second under the job names of
``deploy/prometheus/prometheus.yml``. Then every target of every Prometheus panel of
``deploy/grafana/dashboards/notion-batch.json`` is sent, as written, to Prometheus's
``/api/v1/query_range`` — with Grafana's ``$__rate_interval`` (max(step + scrape interval,
4 × scrape interval)) and ``$__interval`` filled in as Grafana would for a datasource whose
scrape interval is set to Prometheus's — and the answers are drawn with matplotlib at the
panels' ``gridPos``, with their titles, units, legend formats and panel types (stat:
last value and sparkline; timeseries: lines). Loki's panels are drawn as empty frames that
say why (no Loki here); ``NOT_DRAWN`` names them. Needs PostgreSQL and RabbitMQ as
``scripts/screenshots.py`` does; its database and namespace are removed afterwards.
``--data FILE`` keeps the answers and ``--redraw FILE`` draws them again without a run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import matplotlib
from aiohttp import web

# Files only, no display: chosen before pyplot picks a backend.
matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from notion_batch.common.db.migrate import migrate
from notion_batch.emulator.demo import DEMO_PAGE_ID
from scripts.servers import add_server_arguments
from tests.e2e.stack import ROOT, Stack, free_port, plan_stack, serving, wait_for
from tests.support.isolation import delete_namespace, drop_database, with_database

DASHBOARD = ROOT / "deploy/grafana/dashboards/notion-batch.json"
PICTURE = "grafana-dashboard.png"
#: Prometheus's scrape interval in the preview (the compose stack's is 15 s; a short run needs
#: finer samples). Grafana's ``$__rate_interval`` follows from it.
SCRAPE_SECONDS = 1
#: The same job names as deploy/prometheus/prometheus.yml, so ``job`` labels read the same.
JOBS = {
    "api": "notion-batch-api",
    "scheduler": "notion-batch-scheduler",
    "worker-1": "notion-batch-worker",
    "worker-2": "notion-batch-worker",
}
#: The panels this preview cannot draw, and why; every other panel is a Prometheus one.
NOT_DRAWN_REASON = "Loki panel: no Loki runs here (the services' JSON logs are on stdout)"

# Grafana's dark theme (its "classic" palette and panel colours).
BACKGROUND = "#111217"
PANEL = "#181b1f"
BORDER = "#2c3235"
TEXT = "#ccccdc"
DIM = "#8e8e9e"
GRID = "#2a2d32"
PALETTE = (
    "#73BF69",
    "#F2CC0C",
    "#8AB8FF",
    "#FF780A",
    "#F2495C",
    "#5794F2",
    "#B877D9",
    "#705DA0",
    "#37872D",
    "#FADE2A",
    "#447EBC",
    "#C15C17",
)
GREEN, RED = "#73BF69", "#F2495C"

# Grafana's grid: 24 columns; a height unit is 30 px with 8 px between panels.
WIDTH_PX = 1800
CELL_PX = 30
GAP_PX = 8
HEADER_PX = 100
DPI = 100


# -- the dashboard's panels ---------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One query of a panel, as the dashboard writes it."""

    ref_id: str
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    """A panel of the dashboard: where it sits, what it shows, and whether it is drawn."""

    id: int
    type: str
    title: str
    grid: tuple[int, int, int, int]  # x, y, w, h in grid units
    unit: str
    targets: tuple[Target, ...]
    not_drawn: str | None  # why not, for panels this preview cannot draw


def panels(dashboard: dict[str, Any]) -> list[Panel]:
    """Every panel of ``dashboard`` (rows' nested panels too), in the JSON's order."""
    found: list[Panel] = []
    for raw in dashboard["panels"]:
        for item in (raw, *raw.get("panels", [])):
            grid = item["gridPos"]
            datasource = (item.get("datasource") or {}).get("type", "")
            not_drawn = None
            if item["type"] != "row" and (
                datasource != "prometheus" or item["type"] not in ("stat", "timeseries")
            ):
                not_drawn = NOT_DRAWN_REASON if datasource == "loki" else "not a Prometheus panel"
            found.append(
                Panel(
                    id=int(item["id"]),
                    type=item["type"],
                    title=item.get("title", ""),
                    grid=(grid["x"], grid["y"], grid["w"], grid["h"]),
                    unit=item.get("fieldConfig", {}).get("defaults", {}).get("unit", "short"),
                    targets=tuple(
                        Target(t["refId"], t["expr"], t.get("legendFormat", ""))
                        for t in item.get("targets", [])
                    ),
                    not_drawn=not_drawn,
                )
            )
    return found


def rate_interval(step: float, scrape: float) -> float:
    """Grafana's ``$__rate_interval``: max($__interval + scrape interval, 4 × scrape interval)."""
    return max(step + scrape, 4 * scrape)


def promql(expr: str, *, step: float, scrape: float) -> str:
    """``expr`` with Grafana's interval variables filled in, as Grafana sends it."""
    return expr.replace("$__rate_interval", f"{rate_interval(step, scrape):g}s").replace(
        "$__interval", f"{step:g}s"
    )


def legend(template: str, labels: dict[str, str], expr: str) -> str:
    """Grafana's legend: ``{{label}}`` filled in; without a format, the series' labels."""
    if not template:
        shown = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        return f"{{{shown}}}" if labels else expr
    text = template
    for key, value in labels.items():
        text = text.replace(f"{{{{{key}}}}}", value)
    # A label the series lacks reads as empty in Grafana too.
    while "{{" in text and "}}" in text:
        start = text.index("{{")
        text = text[:start] + text[text.index("}}", start) + 2 :]
    return " ".join(text.split())


# -- units, as Grafana writes them ---------------------------------------------------------------


def _short(value: float) -> str:
    size = abs(value)
    for limit, suffix in ((1e9, " Bil"), (1e6, " Mil"), (1e3, " K")):
        if size >= limit:
            return f"{value / limit:.3g}{suffix}"
    if size == 0:
        return "0"
    if size < 0.01:
        return f"{value:.2g}"
    return f"{value:.3g}"


def fmt(value: float, unit: str) -> str:
    """``value`` in Grafana's notation for ``unit`` (the few units the dashboard uses)."""
    if math.isnan(value):
        return "NaN"
    if unit == "s":
        if 0 < abs(value) < 1:
            return f"{_short(value * 1000)} ms"
        return f"{_short(value)} s" if abs(value) < 60 else f"{_short(value / 60)} min"
    if unit == "percentunit":
        return f"{_short(value * 100)}%"
    return _short(value) + {"ops": " ops/s", "reqps": " req/s"}.get(unit, "")


# -- running the product and Prometheus ----------------------------------------------------------


@dataclass
class Series:
    """One series of a query's answer."""

    name: str
    times: list[float]
    values: list[float]


#: The answers: (panel id, ref id) → series.
Results = dict[tuple[int, str], list[Series]]


def _ops_port(stack: Stack, service: str) -> int | None:
    path = stack.log_dir / f"{service}.log"
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        if '"event": "ops_server_started"' in line:
            return int(json.loads(line)["port"])
    return None


def prometheus_config(targets: dict[str, list[str]], scrape: float) -> str:
    """A Prometheus configuration scraping ``targets`` (job → host:port) every ``scrape`` s."""
    jobs = [
        {
            "job_name": job,
            "metrics_path": "/metrics",
            "scrape_interval": f"{scrape:g}s",
            "static_configs": [{"targets": sorted(hosts)}],
        }
        for job, hosts in sorted(targets.items())
    ]
    # JSON is YAML: no YAML writer needed.
    return json.dumps({"global": {"scrape_interval": f"{scrape:g}s"}, "scrape_configs": jobs})


@contextlib.asynccontextmanager
async def prometheus(
    binary: str, config: str, folder: Path, http: aiohttp.ClientSession
) -> AsyncIterator[str]:
    """A Prometheus server on a free port with ``config``; yields its URL."""
    (folder / "prometheus.yml").write_text(config)
    port = free_port()
    log = (folder / "prometheus.log").open("ab")
    process = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:

        async def ready() -> bool:
            if process.returncode is not None:
                raise RuntimeError((folder / "prometheus.log").read_text()[-4000:])
            try:
                async with http.get(f"{url}/-/ready") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(ready, timeout=30, what="Prometheus ready")
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _query(http: aiohttp.ClientSession, url: str, path: str, **params: str) -> Any:
    async with http.get(f"{url}/api/v1/{path}", params=params) as response:
        answer = await response.json()
    if answer.get("status") != "success":
        raise RuntimeError(f"Prometheus refused {params}: {answer}")
    return answer["data"]


async def query_panels(
    http: aiohttp.ClientSession,
    url: str,
    board: Sequence[Panel],
    *,
    start: float,
    end: float,
    step: float,
    scrape: float,
) -> Results:
    """Every target of every drawn panel over [start, end], as Grafana would ask for it."""
    results: Results = {}
    for panel in board:
        if panel.not_drawn or panel.type == "row":
            continue
        for target in panel.targets:
            data = await _query(
                http,
                url,
                "query_range",
                query=promql(target.expr, step=step, scrape=scrape),
                start=f"{start:.3f}",
                end=f"{end:.3f}",
                step=f"{step:g}",
            )
            results[(panel.id, target.ref_id)] = [
                Series(
                    legend(target.legend, item["metric"], target.expr),
                    [float(t) for t, _ in item["values"]],
                    [float(v) for _, v in item["values"]],
                )
                for item in data["result"]
            ]
    return results


async def _scraped_thrice(http: aiohttp.ClientSession, url: str, targets: int) -> bool:
    # Counters need samples before the workload for rate() and increase() to see its start.
    data = await _query(http, url, "query", query="count_over_time(up[1m]) >= 3")
    return len(data["result"]) == targets


async def _scraped_up_to(http: aiohttp.ClientSession, url: str, moment: float) -> bool:
    data = await _query(http, url, "query", query="min(timestamp(up))")
    return bool(data["result"]) and float(data["result"][0]["value"][1]) >= moment


# -- the demo workload ---------------------------------------------------------------------------

_MARKS = ("", "", "", "", "", " [fail]", " [skip]", " [slow]")


async def _page(stack: Stack, title: str, todos: Sequence[str]) -> str:
    created = await stack.notion(
        "POST",
        "/_emulator/pages",
        json={"title": title, "children": [{"type": "to_do", "text": t} for t in todos]},
    )
    return str(created["page_id"])


async def workload(stack: Stack, seconds: float, demo_page: str) -> None:
    """Batches started, stopped and expiring; to-dos added by a person all along (some failing,
    skipped or slow); Notion 429s and 409s injected; status reads on the API."""
    rng = random.Random(16)
    await stack.notion(
        "POST",
        f"/_emulator/blocks/{demo_page}/children",
        json={"children": [{"text": "call the supplier [fail]"}, {"text": "file it [slow]"}]},
    )
    pages = [demo_page]
    for name in ("invoices", "onboarding", "release checklist"):
        todos = [f"{name} step {i}{rng.choice(_MARKS)}" for i in range(8)]
        pages.append(await _page(stack, f"demo: {name}", todos))
    await stack.start_batch(pages[0], interval_seconds=2, duration_seconds=int(seconds) + 30)
    await stack.start_batch(pages[1], interval_seconds=2, duration_seconds=int(seconds * 0.4))
    await stack.start_batch(pages[2], interval_seconds=3, duration_seconds=int(seconds) + 30)
    await stack.start_batch(pages[3], interval_seconds=2, duration_seconds=int(seconds) + 30)
    # A page nobody shared with the integration: Notion's 404, given up on, the batch fails.
    hidden = await stack.notion(
        "POST", "/_emulator/pages", json={"title": "demo: not shared", "shared": False}
    )
    events = {
        # A burst of 429s (Notion's rate limit answer, with Retry-After), twice.
        0.2: {"status": 429, "code": "rate_limited", "retry_after": 1, "count": 25},
        0.65: {"status": 429, "code": "rate_limited", "retry_after": 1, "count": 15},
        # A few 409s on writes (Notion's conflict_error on concurrent edits).
        0.45: {"status": 409, "code": "conflict_error", "method": "PATCH", "count": 4},
    }
    started = time.monotonic()
    step = 0
    while (elapsed := time.monotonic() - started) < seconds:
        for at in [at for at in events if elapsed >= at * seconds]:
            await stack.notion("POST", "/_emulator/faults", json=events.pop(at))
        if step == int(seconds * 0.3):
            await stack.start_batch(hidden["page_id"], interval_seconds=2, duration_seconds=60)
        if step == int(seconds * 0.5):
            status, answer = await stack.api("POST", f"/api/v1/batch/stop/{pages[2]}")
            assert status == 200, answer
        if step == int(seconds * 0.6):
            await stack.start_batch(pages[1], interval_seconds=2, duration_seconds=int(seconds))
        if step % 3 == 0:
            page = rng.choice(pages)
            texts = [f"added at {step}s{rng.choice(_MARKS)}" for _ in range(rng.randint(1, 3))]
            await stack.notion(
                "POST",
                f"/_emulator/blocks/{page}/children",
                json={"children": [{"text": t} for t in texts]},
            )
        for page in pages:
            await stack.status(page)
        if step % 10 == 0:  # an operator mistyping a page id: the API's 404s
            await stack.api("GET", f"/api/v1/batch/status/{uuid.uuid4()}")
        step += 1
        await asyncio.sleep(max(0.0, started + step - time.monotonic()))


@contextlib.asynccontextmanager
async def _webhook_receiver(port: int) -> AsyncIterator[None]:
    """Where the scheduler's batch-end summaries go (``NOTIFY_WEBHOOK_URL``): accepted."""

    async def accept(_: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


async def record(
    args: argparse.Namespace, folder: Path
) -> tuple[list[Panel], Results, float, float]:
    """Run the product and Prometheus through the workload; the panels' answers and the window."""
    binary = args.prometheus or shutil.which("prometheus")
    if not binary:
        raise SystemExit("no prometheus binary: apt-get install prometheus (or set PROMETHEUS)")
    board = panels(json.loads(DASHBOARD.read_text()))
    name = f"nb_preview_{uuid.uuid4().hex[:10]}"
    namespace = f"nbpreview.{uuid.uuid4().hex[:10]}"
    database_url = with_database(args.database_url, name)
    await migrate(database_url)
    hook_port = free_port()
    plan = plan_stack(
        database_url,
        args.amqp_url,
        namespace,
        NOTION_EMULATOR_DEMO="1",
        # Our own limit, low enough that the limiter's wait shows.
        NOTION_RATE_LIMIT_PER_SECOND="8",
        TEST_HANDLER_DELAY="0.05",
        TEST_SLOW_SECONDS="1.5",
        NOTIFY_WEBHOOK_URL=f"http://127.0.0.1:{hook_port}/",
    )
    outcome = SimpleNamespace(rep_call_failed=True)  # serving() prints logs unless it went well
    try:
        timeout = aiohttp.ClientTimeout(total=30)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            _webhook_receiver(hook_port),
        ):
            stack = Stack(plan.env, folder, plan.api_url, plan.notion_url, http)
            async with serving(stack, outcome, emulator_port=plan.emulator_port):

                async def ports() -> dict[str, list[str]] | None:
                    found: dict[str, list[str]] = {}
                    for service, job in JOBS.items():
                        port = plan.api_port if service == "api" else _ops_port(stack, service)
                        if port is None:
                            return None
                        found.setdefault(job, []).append(f"127.0.0.1:{port}")
                    return found

                targets = await wait_for(ports, timeout=30, what="every ops port logged")
                config = prometheus_config(targets, SCRAPE_SECONDS)
                async with prometheus(binary, config, folder, http) as url:
                    await wait_for(
                        lambda: _scraped_thrice(http, url, len(JOBS)),
                        timeout=30,
                        what="Prometheus to scrape every service three times",
                    )
                    start = time.time()
                    await workload(stack, args.seconds, DEMO_PAGE_ID)
                    end = time.time()
                    await wait_for(
                        lambda: _scraped_up_to(http, url, end),
                        timeout=30,
                        what="Prometheus to scrape past the run's end",
                    )
                    results = await query_panels(
                        http,
                        url,
                        board,
                        start=start,
                        end=end,
                        step=SCRAPE_SECONDS,
                        scrape=SCRAPE_SECONDS,
                    )
                outcome.rep_call_failed = False
    finally:
        await drop_database(args.database_url, name)
        await delete_namespace(args.amqp_url, namespace)
    return board, results, start, end


# -- drawing -------------------------------------------------------------------------------------


def _rect(x: int, y: int, w: int, h: int, height_px: float) -> tuple[float, float, float, float]:
    """A grid position as a figure rectangle (left, bottom, width, height in 0..1)."""
    column = (WIDTH_PX - GAP_PX) / 24
    left = GAP_PX + x * column
    top = HEADER_PX + y * (CELL_PX + GAP_PX)
    width = w * column - GAP_PX
    height = h * CELL_PX + (h - 1) * GAP_PX
    return (
        left / WIDTH_PX,
        1 - (top + height) / height_px,
        width / WIDTH_PX,
        height / height_px,
    )


def _frame(fig: Figure, rect: tuple[float, float, float, float], title: str) -> None:
    left, bottom, width, height = rect
    fig.patches.append(
        FancyBboxPatch(
            (left, bottom),
            width,
            height,
            boxstyle="round,pad=0,rounding_size=0.002",
            transform=fig.transFigure,
            facecolor=PANEL,
            edgecolor=BORDER,
            linewidth=1,
            zorder=-10,  # under the panel's axes
        )
    )
    fig.text(
        left + 8 / WIDTH_PX,
        bottom + height - 8 / (fig.get_figheight() * DPI),
        title,
        color=TEXT,
        fontsize=10.5,
        fontweight="bold",  # DejaVu Sans has no semibold
        va="top",
        ha="left",
    )


def _day(epoch: float) -> float:
    """A Unix time as matplotlib's date number (days since its 1970 epoch)."""
    return epoch / 86_400


def _style(ax: Axes, unit: str, start: float, end: float) -> None:
    ax.set_facecolor(PANEL)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(colors=DIM, labelsize=8, length=0)
    ax.grid(True, color=GRID, linewidth=0.8)
    ax.set_xlim(_day(start), _day(end))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=UTC))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(MaxNLocator(6))
    ax.yaxis.set_major_locator(MaxNLocator(4, min_n_ticks=3))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v, unit)))


#: Legend rows shown at most (Grafana scrolls the rest), and each row's height in pixels.
LEGEND_ROWS = 3
LEGEND_ROW_PX = 16


def _legend_layout(names: Sequence[str], width_px: float) -> list[tuple[int, float]]:
    """Each shown name's (row, x in pixels): Grafana's list legend flows names in rows."""
    placed: list[tuple[int, float]] = []
    x, row = 8.0, 0
    for name in names:
        need = 36 + 6.9 * len(name)  # the dash, the gaps and the text (8.5 pt DejaVu Sans)
        if x + need > width_px and x > 8:
            x, row = 8.0, row + 1
        if row >= LEGEND_ROWS:
            break
        placed.append((row, x))
        x += need
    return placed


def _legend(fig: Figure, rect: tuple[float, float, float, float], names: Sequence[str]) -> None:
    """Grafana's list legend under the graph: a coloured dash and the name."""
    left, bottom, width, _ = rect
    height_px = fig.get_figheight() * DPI
    placed = _legend_layout(names, width * WIDTH_PX)
    rows = max(row for row, _ in placed) + 1
    for index, (row, x) in enumerate(placed):
        y = bottom + (18 + LEGEND_ROW_PX * (rows - 1 - row)) / height_px
        fx = left + x / WIDTH_PX
        fig.lines.append(
            Line2D(
                [fx, fx + 14 / WIDTH_PX],
                [y, y],
                transform=fig.transFigure,
                color=PALETTE[index % len(PALETTE)],
                linewidth=3,
            )
        )
        fig.text(fx + 19 / WIDTH_PX, y, names[index], color=TEXT, fontsize=8.5, va="center")


def _no_data(ax: Axes, text: str = "No data") -> None:
    ax.text(
        0.5, 0.5, text, color=DIM, fontsize=11, ha="center", va="center", transform=ax.transAxes
    )


def _timeseries(
    fig: Figure,
    panel: Panel,
    results: Results,
    rect: tuple[float, float, float, float],
    *,
    start: float,
    end: float,
) -> None:
    series = [s for t in panel.targets for s in results.get((panel.id, t.ref_id), [])]
    left, bottom, width, height = rect
    height_px = fig.get_figheight() * DPI
    names = [s.name for s in series]
    rows = max(row for row, _ in _legend_layout(names, width * WIDTH_PX)) + 1 if series else 0
    legend_px = 12 + LEGEND_ROW_PX * rows
    ax = fig.add_axes(
        (
            left + 64 / WIDTH_PX,
            bottom + (legend_px + 22) / height_px,
            width - 76 / WIDTH_PX,
            height - (legend_px + 22 + 34) / height_px,
        )
    )
    _style(ax, panel.unit, start, end)
    if not series:
        ax.set_ylim(0, 1)
        _no_data(ax)
        return
    for index, item in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        times = [_day(t) for t in item.times]
        values = [v if math.isfinite(v) else math.nan for v in item.values]
        ax.plot(times, values, color=color, linewidth=1.2)
        ax.fill_between(times, values, color=color, alpha=0.1, linewidth=0)
    low, high = ax.get_ylim()
    ax.set_ylim(min(0.0, low), high if high > 0 else 1)
    _legend(fig, rect, names)


def _stat(
    fig: Figure, panel: Panel, results: Results, rect: tuple[float, float, float, float]
) -> None:
    series = [s for t in panel.targets for s in results.get((panel.id, t.ref_id), [])]
    left, bottom, width, height = rect
    height_px = fig.get_figheight() * DPI
    ax = fig.add_axes((left, bottom, width, height - 30 / height_px))
    ax.set_axis_off()
    finite = [(t, v) for s in series[:1] for t, v in zip(s.times, s.values, strict=True)]
    finite = [(t, v) for t, v in finite if math.isfinite(v)]
    if not finite:
        _no_data(ax)
        return
    last = finite[-1][1]
    # Grafana's default thresholds: green, red from 80.
    color = RED if last >= 80 else GREEN
    times, values = zip(*finite, strict=True)
    ax.fill_between(times, values, color=color, alpha=0.18, linewidth=0)
    ax.plot(times, values, color=color, linewidth=1.2, alpha=0.8)
    top = max(values) or 1.0
    ax.set_ylim(0, top * 2.4)
    ax.set_xlim(times[0], times[-1])
    ax.text(
        0.5,
        0.5,
        fmt(last, panel.unit),
        color=color,
        fontsize=30,
        fontweight="bold",
        ha="center",
        va="center",
        transform=ax.transAxes,
    )


def render(
    board: Sequence[Panel],
    results: Results,
    *,
    start: float,
    end: float,
    out: Path,
    variables: str = "",
) -> Path:
    """Draw the dashboard's layout with ``results`` into the PNG ``out``."""
    bottom_units = max(p.grid[1] + p.grid[3] for p in board)
    height_px = HEADER_PX + bottom_units * (CELL_PX + GAP_PX) + GAP_PX + 28
    fig = plt.figure(figsize=(WIDTH_PX / DPI, height_px / DPI), dpi=DPI, facecolor=BACKGROUND)
    when = (
        f"{datetime.fromtimestamp(start, UTC):%Y-%m-%d %H:%M:%S} to "
        f"{datetime.fromtimestamp(end, UTC):%H:%M:%S} UTC"
    )
    fig.text(
        12 / WIDTH_PX,
        1 - 14 / height_px,
        "notion-batch",
        color=TEXT,
        fontsize=16,
        fontweight="bold",
        va="top",
    )
    fig.text(
        12 / WIDTH_PX,
        1 - 42 / height_px,
        "PREVIEW, not a Grafana screenshot: drawn by scripts/dashboard_preview.py from "
        "deploy/grafana/dashboards/notion-batch.json (layout, titles, units, queries) and the "
        "answers of a real Prometheus",
        color="#FF9830",
        fontsize=10,
        va="top",
    )
    fig.text(
        12 / WIDTH_PX,
        1 - 58 / height_px,
        "that scraped the product's own /metrics (API, scheduler, two workers) while it ran a "
        "demo workload with failing to-dos and injected Notion 429s",
        color="#FF9830",
        fontsize=10,
        va="top",
    )
    fig.text(12 / WIDTH_PX, 1 - 76 / height_px, variables, color=DIM, fontsize=9.5, va="top")
    fig.text(
        1 - 12 / WIDTH_PX, 1 - 16 / height_px, when, color=TEXT, fontsize=10.5, va="top", ha="right"
    )
    for panel in board:
        rect = _rect(*panel.grid, height_px)
        if panel.type == "row":
            title = panel.title.replace("$notion_page_id", DEMO_PAGE_ID)
            fig.text(
                rect[0],
                rect[1] + rect[3] / 2,
                f"\u25be  {title}",
                color=TEXT,
                fontsize=12,
                fontweight="bold",
                va="center",
            )
            continue
        _frame(fig, rect, panel.title)
        if panel.not_drawn:
            ax = fig.add_axes(rect)
            ax.set_axis_off()
            _no_data(ax, f"not drawn in this preview\n{panel.not_drawn}")
        elif panel.type == "stat":
            _stat(fig, panel, results, rect)
        else:
            _timeseries(fig, panel, results, rect, start=start, end=end)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, facecolor=BACKGROUND)
    plt.close(fig)
    return out


def save(path: Path, results: Results, start: float, end: float) -> None:
    """Keep the answers, to draw them again without a run (``--redraw``)."""
    answers = [
        {"panel": panel, "ref_id": ref, "series": [vars(s) for s in series]}
        for (panel, ref), series in results.items()
    ]
    path.write_text(json.dumps({"start": start, "end": end, "answers": answers}))


def load(path: Path) -> tuple[Results, float, float]:
    """Answers kept by ``save``."""
    data = json.loads(path.read_text())
    results: Results = {
        (a["panel"], a["ref_id"]): [Series(**s) for s in a["series"]] for a in data["answers"]
    }
    return results, float(data["start"]), float(data["end"])


# -- the command ---------------------------------------------------------------------------------


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.dashboard_preview",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder of the PNG")
    parser.add_argument("--seconds", type=float, default=150, help="length of the demo run")
    parser.add_argument("--prometheus", default=os.environ.get("PROMETHEUS"))
    parser.add_argument(
        "--data", type=Path, help="also save the queries' answers to this JSON file"
    )
    parser.add_argument(
        "--redraw", type=Path, help="draw from answers saved with --data; run nothing"
    )
    add_server_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the demo, query Prometheus, draw the PNG; print where it is and what was not drawn."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    if args.redraw:
        board = panels(json.loads(DASHBOARD.read_text()))
        results, start, end = load(args.redraw)
    else:
        with tempfile.TemporaryDirectory(prefix="nb-dashboard-preview-") as folder:
            board, results, start, end = asyncio.run(record(args, Path(folder)))
        if args.data:
            save(args.data, results, start, end)
    variables = (
        "datasource = Prometheus (2.42, scrape every "
        f"{SCRAPE_SECONDS} s; $__rate_interval = "
        f"{rate_interval(SCRAPE_SECONDS, SCRAPE_SECONDS):g}s)    loki = (not run)    "
        f"notion_page_id = {DEMO_PAGE_ID} (the demo page)"
    )
    picture = render(
        board, results, start=start, end=end, out=args.out / PICTURE, variables=variables
    )
    for panel in board:
        if panel.not_drawn:
            print(f"not drawn: {panel.title!r}: {panel.not_drawn}")
    print(f"saved {picture}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
