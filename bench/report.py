"""Results: one JSON file per benchmark, the summary table, and the plots (matplotlib, Agg)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display (CI, servers)
import matplotlib.pyplot as plt

from bench.common import RESULTS, Result

TARGET_LAG_MS = 1_000
TARGET_TODOS_PER_S = 1_000
TARGET_CALLS_PER_TODO = 1.05
TARGET_RATE_SHARE = 0.95
#: Ours with 2 workers against the Celery peer (issue 15): to-dos/s ours / peer.
TARGET_PEER_RATIO = 1.5
TARGET_STATUS_P99_MS = 10.0
MAX_POINTS = 240


def write_json(result: Result, about: dict[str, Any], quick: bool) -> Path:
    suffix = "-quick" if quick else ""
    record = {
        "benchmark": result.name,
        "quick": quick,
        **about,
        "params": result.params,
        "results": _jsonable(result.series),
        "files": result.files,
    }
    path = RESULTS / f"{result.name}{suffix}.json"
    path.write_text(json.dumps(record, indent=1, default=str) + "\n")
    return path


def _jsonable(value: Any) -> Any:
    """Drop private keys (raw points kept only for plots) and thin long series."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list | tuple):
        items = list(value)
        if len(items) > MAX_POINTS and all(
            isinstance(i, list | tuple | int | float) for i in items
        ):
            step = math.ceil(len(items) / MAX_POINTS)
            items = items[::step]
        return [_jsonable(i) for i in items]
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    return value


def load_previous(name: str, quick: bool) -> tuple[Result, dict[str, Any]] | None:
    """A benchmark's result as an earlier run wrote it (for a summary after ``--only``)."""
    path = RESULTS / f"{name}{'-quick' if quick else ''}.json"
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    result = Result(
        name,
        {},
        record.get("params", {}),
        series=record.get("results", {}),
        files=record.get("files", []),
    )
    return result, record


def noise_line(result: Result) -> str:
    """How busy the machine was beyond the measured services while ``result`` ran."""
    found: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "other_cores" in value:
                found.append(value)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(result.series)
    if not found:
        return f"{result.name}: not sampled"
    others = [f["other_cores"] for f in found]
    loads = [f["loadavg_max"] for f in found]
    return (
        f"{result.name}: {min(others):.2f}–{max(others):.2f} cores busy outside the measured "
        f"services (PostgreSQL, RabbitMQ, the load generator and other users), load average "
        f"up to {max(loads):.1f}"
    )


# -- the summary table -------------------------------------------------------------------------


Row = tuple[str, str, str, str, str]


def _status(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**missed**")


def _row(area: str, what: str, value: str, target: str = "—", ok: bool | None = None) -> Row:
    return (area, what, value, target, _status(ok))


def rows(results: dict[str, Result]) -> list[Row]:
    """(area, measurement, value, target, status) for every headline figure."""
    out: list[Row] = []
    if "scheduler" in results:
        out += _scheduler_rows(results["scheduler"].series)
    if "worker" in results:
        out += _worker_rows(results["worker"].series)
    if "notion" in results:
        out += _notion_rows(results["notion"].series, results.get("worker"))
    if "peer" in results:
        out += _peer_rows(results["peer"].series)
    if "changes" in results:
        out += _changes_rows(results["changes"].series)
    if "api" in results:
        out += _api_rows(results["api"].series)
    if "design" in results:
        out += _design_rows(results["design"].series["findings"])
    if "profile" in results:
        out += _profile_rows(results["profile"].series)
    return out


#: Issue 15: a quiet page's tick costs at most one Notion call (stamp as change signal).
TARGET_QUIET_CALLS = 1.0


def _changes_rows(series: dict[str, Any]) -> list[Row]:
    out = []
    for case in series["cases"]:
        what = f"Notion calls/tick, {case['blocks']:,}-block page, {case['page']}, {case['mode']}"
        pages = case["pages_per_integration"]
        value = f"{case['calls_per_tick']} → {pages if pages else 'unbounded'} pages/integration"
        out.append(_row("changes", what, value))
        if case["page"] == "quiet" and case["mode"] != "before":
            worst = case["unread_tick_calls_max"]
            out.append(
                _row(
                    "changes",
                    f"calls of a quiet tick between full reads, {case['blocks']:,} blocks, "
                    f"{case['mode']} ({case['unread_ticks']} of {case['ticks']} ticks)",
                    "—" if worst is None else f"at most {worst}",
                    f"≤ {TARGET_QUIET_CALLS:g}",
                    worst is not None and worst <= TARGET_QUIET_CALLS,
                )
            )
    return out


def _scheduler_rows(series: dict[str, Any]) -> list[Row]:
    out = []
    for run in series["runs"]:
        n = f"{run['pages']:,}"
        lags = f"{run['lag_p50_ms']:,.0f} / {run['lag_p99_ms']:,.0f} / {run['lag_max_ms']:,.0f} ms"
        ticks = f"{run['ticks_emitted_in_window']:,} ticks, {run['ticks_due_in_window']:,} due"
        what = (
            f"tick lag p50 / p99 / max, {n} active batches (60 s interval, {run['window_s']:g} s)"
        )
        ok = run["lag_p99_ms"] <= TARGET_LAG_MS
        out.append(_row("scheduler", what, f"{lags} ({ticks})", "p99 ≤ 1,000 ms", ok))
        cpu = (
            f"{run['scheduler_cpu_cores']:.3f} cores ({run['scheduler_cpu_us_per_tick']:,.0f} "
            f"µs/tick); PostgreSQL {run['postgres_cpu_cores']:.3f} cores"
        )
        ok = run["scheduler_cpu_cores"] < 1
        out.append(_row("scheduler", f"scheduler CPU, {n} active batches", cpu, "< 1 core", ok))
    for burst in [series["burst"]]:
        n = f"{burst['pages']:,}"
        pace = burst["ticks_per_second"] or 0
        done = "" if burst["all_emitted"] else f", {burst['emitted']:,} emitted in the time limit"
        value = (
            f"{pace:,} ticks/s = {pace * 60:,} batches per 60 s interval; "
            f"{burst['scheduler_cpu_us_per_tick']:,.0f} µs CPU/tick{done}"
        )
        what = f"capacity: {n} batches due at once (claims of {burst['claim_batch_size']})"
        out.append(_row("scheduler", what, value, "16,667 ticks/s (1M a minute)", pace >= 16_667))
        cores = burst["scheduler_cpu_us_per_tick"] * 16_667 / 1e6
        what = "one scheduler's CPU for 1M batches a minute, at that cost per tick"
        out.append(_row("scheduler", what, f"{cores:.2f} cores", "< 1 core", cores < 1))
        what = f"one claim of 500 due pages among {n} rows (EXPLAIN ANALYZE)"
        out.append(_row("scheduler", what, f"{burst['claim_query_ms']} ms", "O(log n)"))
    largest = series["burst"]
    rss = largest["scheduler_rss_mib"]
    value = f"{rss['start']} → peak {rss['peak']} → end {rss['end']} MiB"
    what = f"scheduler RSS, {largest['pages']:,} active batches"
    out.append(_row("memory", what, value, "bounded", rss["second_half_growth"] < 5))
    if "hold" in series:
        out += _scheduler_hold_rows(series["hold"])
    return out


def _scheduler_ms(value: float | None) -> str:
    return "∞" if value is None or value == float("inf") else f"{value:,.0f}"


def _scheduler_hold_rows(hold: dict[str, Any]) -> list[Row]:
    """The held steady state (issue 15): lag over all and per period, CPU, memory."""
    n, periods, interval = f"{hold['pages']:,}", hold["periods"], hold["interval_s"]
    held = f"{n} active batches at {interval} s, held {periods} periods"

    def lag(figures: dict[str, Any]) -> str:
        missing = figures["ticks_due"] - figures["ticks_received"]
        late = f", {missing:,} not arrived" if missing > 0 else ""
        return (
            f"{_scheduler_ms(figures['lag_p50_ms'])} / {_scheduler_ms(figures['lag_p99_ms'])} / "
            f"{_scheduler_ms(figures['lag_max_ms'])} ms ({figures['ticks_received']:,} of "
            f"{figures['ticks_due']:,} ticks{late})"
        )

    ok = hold["lag_p99_ms"] is not None and hold["lag_p99_ms"] <= TARGET_LAG_MS
    out = [_row("scheduler", f"tick lag p50 / p99 / max, {held}", lag(hold), "p99 ≤ 1,000 ms", ok)]
    each = "; ".join(f"{p['period']}: {_scheduler_ms(p['lag_p99_ms'])}" for p in hold["per_period"])
    worst = max((p["lag_p99_ms"] or float("inf")) for p in hold["per_period"])
    out.append(
        _row(
            "scheduler",
            f"tick lag p99 per period (ms), {held}",
            each,
            "each ≤ 1,000 ms",
            worst <= TARGET_LAG_MS,
        )
    )
    value = (
        f"{hold['claim_lag_p50_ms']:,.0f} / {hold['claim_lag_p99_ms']:,.0f} / "
        f"{hold['claim_lag_max_ms']:,.0f} ms over {hold['claims']:,} claims "
        f"(up to {hold['ticks_per_claim_max']:,} ticks each)"
    )
    what = f"a claim's lag at its commit (the scheduler's part), p50 / p99 / max, {held}"
    out.append(_row("scheduler", what, value))
    value = (
        f"scheduler {hold['scheduler_cpu_cores']:.2f} cores "
        f"({hold['scheduler_cpu_us_per_tick']:,.1f} µs/tick); PostgreSQL "
        f"{hold['postgres_cpu_cores']:.2f}; RabbitMQ {hold['broker_cpu_cores']:.2f} (the whole "
        f"shared server); the bench's drain {hold['drain_cpu_cores']:.2f}"
    )
    ok = hold["scheduler_cpu_cores"] < 1
    out.append(_row("scheduler", f"CPU (cores), {held}", value, "scheduler < 1 core", ok))
    rss = hold["scheduler_rss_mib"]
    value = (
        f"{rss['start']} → peak {rss['peak']} → end {rss['end']} MiB "
        f"({rss['second_half_growth']:+} over the second half)"
    )
    out.append(
        _row("memory", f"scheduler RSS, {held}", value, "bounded", rss["second_half_growth"] < 5)
    )
    return out


def _worker_rows(series: dict[str, Any]) -> list[Row]:
    out = []
    for case in series["cases"]:
        value = (
            f"{case['todos_per_second']:,} to-dos/s; CPU/to-do: worker "
            f"{case['worker_cpu_ms_per_todo']} ms, PostgreSQL {case['postgres_cpu_ms_per_todo']} "
            f"ms, emulator {case['emulator_cpu_ms_per_todo']} ms"
        )
        ok = case["todos_per_second"] >= TARGET_TODOS_PER_S
        out.append(_row("worker", f"throughput, {case['label']}", value, "≥ 1,000 to-dos/s", ok))
    big = series["cases"][0]
    value = f"{big['notion_calls_per_todo']} ({_ops(big['notion_calls_by_operation'])})"
    what = f"Notion calls per processed to-do, 1 page of {big['todos_per_page']:,} to-dos"
    ok = big["notion_calls_per_todo"] <= TARGET_CALLS_PER_TODO
    out.append(_row("notion", what, value, "≤ 1.05", ok))
    small = series["cases"][-1]
    value = f"{small['notion_calls_per_todo']} ({_ops(small['notion_calls_by_operation'])})"
    what = (
        f"Notion calls per processed to-do, {small['pages']:,} pages of "
        f"{small['todos_per_page']} to-dos (listing and log toggle per page)"
    )
    out.append(_row("notion", what, value, "— (small pages)"))
    for case in series["cases"]:
        parts = [
            f"{name} {rss['start']} → {rss['peak']} → {rss['end']} ({rss['second_half_growth']:+})"
            for name, rss in case["rss_mib"].items()
        ]
        # The emulator keeps every request it served (for counting them): it grows by design.
        growth = max(
            rss["second_half_growth"]
            for name, rss in case["rss_mib"].items()
            if name.startswith("worker")
        )
        what = f"RSS start → peak → end MiB (growth over the second half), {case['label']}"
        target = "workers: no unbounded growth"
        out.append(_row("memory", what, "; ".join(parts), target, growth < 5))
    return out


def _ops(by_operation: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(by_operation.items()))


def _notion_rows(series: dict[str, Any], worker: Result | None) -> list[Row]:
    single, *fleet = series["cases"]
    what = f"sustained request rate at 3 req/s, {single['label']}, {single['window_s']:g} s"
    value = f"{single['requests_per_second']} req/s ({single['share_of_limit']:.1%} of the limit)"
    out = [
        _row("notion", what, value, "≥ 95%", single["share_of_limit"] >= TARGET_RATE_SHARE),
        _row(
            "notion",
            "HTTP 429 answers in that run",
            str(single["http_429"]),
            "0",
            single["http_429"] == 0,
        ),
    ]
    implied = ""
    if worker is not None:
        calls = worker.series["cases"][0]["notion_calls_per_todo"]
        implied = f"; steady state 3 × 60 / {calls} = {180 / calls:,.0f}"
    value = (
        f"{single['todos_per_minute_measured']:,} measured in the window (its listing calls "
        f"included){implied}"
    )
    out.append(_row("notion", "to-dos per minute per integration", value))
    for case in fleet:
        value = (
            f"{case['requests_per_second']} req/s sent, {case['http_429']} × 429, "
            f"{case['successful_per_second']} successful req/s"
        )
        what = f"{case['label']}, {case['window_s']:g} s"
        out.append(_row("notion", what, value, "0 × 429", case["http_429"] == 0))
    return out


_API_PHASES = {
    "status_closed": "GET status, closed loop, 16 connections (aiohttp client)",
    "status_closed_wrk": "GET status, closed loop, 16 connections (wrk)",
    "status_open_500rps": "GET status, open loop at 500 req/s",
    "status_open_1000rps": "GET status, open loop at 1,000 req/s",
    "start_closed": "POST start, closed loop, 16 connections",
    "stop_closed": "POST stop, closed loop, 16 connections",
}


def _peer_rows(series: dict[str, Any]) -> list[Row]:
    out = []
    for case in series["cases"]:
        rounds = case["rounds"]
        each = ", ".join(f"×{r}" for r in case["round_ratios"])
        value = (
            f"ours {case['ours_todos_per_second']:,} vs peer {case['peer_todos_per_second']:,} "
            f"to-dos/s = ×{case['ratio']}"
            + (f" (medians of {rounds} rounds; each round {each})" if rounds > 1 else "")
            + f"; CPU/to-do ours: worker {case['ours_worker_cpu_ms_per_todo']} ms, PostgreSQL "
            f"{case.get('ours_postgres_cpu_ms_per_todo', '?')} ms; peer: worker "
            f"{case['peer_worker_cpu_ms_per_todo']} ms, PostgreSQL "
            f"{case.get('peer_postgres_cpu_ms_per_todo', '?')} ms"
        )
        what = f"ours (2 workers) vs the usual Celery way (-c 2), {case['label']}"
        ok = case["ratio"] >= TARGET_PEER_RATIO
        out.append(_row("peer", what, value, f"≥ ×{TARGET_PEER_RATIO}", ok))
        value = (
            f"ours {case['ours_notion_calls_per_todo']} "
            f"({_ops(case['ours'][0]['notion_calls_by_operation'])}), "
            f"peer {case['peer_notion_calls_per_todo']} "
            f"({_ops(case['peer'][0]['notion_calls_by_operation'])})"
        )
        what = f"Notion calls per to-do, ours vs the peer, {case['label']}"
        # As for the worker rows: the target is of a large page; a page of 10 pays its
        # listing and its log toggle over 10 to-dos.
        if case["todos_per_page"] >= 1_000:
            ok = case["ours_notion_calls_per_todo"] <= TARGET_CALLS_PER_TODO
            out.append(_row("peer", what, value, f"ours ≤ {TARGET_CALLS_PER_TODO}", ok))
        else:
            out.append(_row("peer", what, value, "— (small pages)"))
    return out


def _api_rows(series: dict[str, Any]) -> list[Row]:
    out = []
    for key, name in _API_PHASES.items():
        phase = series["phases"].get(key)
        if phase is None:
            continue
        what, target, ok = name, "—", None
        if key == "status_open_1000rps":
            target, ok = "p99 ≤ 10 ms", phase["p99_ms"] <= TARGET_STATUS_P99_MS
            if phase.get("repeats", 1) > 1:
                each = ", ".join(str(p) for p in phase["p99_ms_each"])
                what += f" ({phase['repeats']} runs, the median shown; p99 of each: {each} ms)"
        bad = {k: v for k, v in phase.get("statuses", {}).items() if k != "200"}
        errors = f", non-200: {bad}" if bad else ""
        if phase.get("non_2xx"):
            errors = f", non-2xx: {phase['non_2xx']}"
        cpu = ""
        if "api_cpu_cores" in phase:
            per_request = phase["api_cpu_cores"] / phase["requests_per_second"] * 1000
            cpu = f", API {phase['api_cpu_cores']} cores = {per_request:.2f} ms CPU/request"
        value = (
            f"{phase['requests_per_second']:,.0f} req/s, p50 {phase['p50_ms']} ms, "
            f"p99 {phase['p99_ms']} ms{cpu}{errors}"
        )
        out.append(_row("api", what, value, target, ok))
    rss = series["rss"]
    value = f"{rss['start']} → peak {rss['peak']} → end {rss['end']} MiB"
    out.append(
        _row(
            "memory",
            "API RSS over the API benchmark",
            value,
            "bounded",
            rss["second_half_growth"] < 5,
        )
    )
    return out


def _design_rows(findings: dict[str, Any]) -> list[Row]:
    claim = findings["claim_batch_500_vs_1"]
    appends = findings["batched_appends"]
    per_minute = appends["todos_per_minute_at_3rps"]
    reset = findings["pool_reset"]
    return [
        _row(
            "design",
            f"set-based claims: batch 500 vs 1 ({claim['pages']:,} due at once)",
            f"{claim['batch_500']['ticks_per_second']:,} vs "
            f"{claim['batch_1']['ticks_per_second']:,} ticks/s = ×{claim['speedup']}",
        ),
        _row(
            "design",
            "batched appends: page_log (1 append / 100) vs todo_children (1 / to-do)",
            f"{appends['page_log']['notion_calls_per_todo']} vs "
            f"{appends['todo_children']['notion_calls_per_todo']} calls/to-do "
            f"(×{appends['calls_ratio']}); at 3 req/s {per_minute['page_log']:,} vs "
            f"{per_minute['todo_children']:,} to-dos/min",
        ),
        *_worker_choice_rows(findings),
        _row(
            "design",
            "asyncpg pool reset on release: default vs none (the services' pools)",
            f"{reset['default_reset']['us_per_call']} vs {reset['no_reset']['us_per_call']} µs "
            f"per pooled query, {reset['default_reset']['statements_per_call']:g} vs "
            f"{reset['no_reset']['statements_per_call']:g} statements (×{reset['speedup']})",
        ),
        *_code_choice_rows(findings),
    ]


def _code_choice_rows(findings: dict[str, Any]) -> list[Row]:
    out = []
    transport = findings.get("notion_transport")
    if transport:
        httpx_cpu = transport["httpx_transport"]["client_cpu_us_per_call"]
        aiohttp_cpu = transport["aiohttp_transport"]["client_cpu_us_per_call"]
        out.append(
            _row(
                "design",
                "Notion SDK transport: httpx's own vs aiohttp (client CPU per check)",
                f"{httpx_cpu} vs {aiohttp_cpu} µs per call (×{transport['cpu_ratio']})",
            )
        )
    publish = findings.get("tick_publish")
    if publish:
        before = publish["message_per_tick"]["cpu_us_per_tick"]
        after = publish["publish_many"]["cpu_us_per_tick"]
        out.append(
            _row(
                "design",
                "publishing ticks: an aio-pika Message each vs one write per batch of 500",
                f"{before} vs {after} µs CPU per tick (×{publish['cpu_ratio']})",
            )
        )
    return out


def _median_of(one: dict[str, Any], other: dict[str, Any]) -> str:
    """'a vs b to-dos/s' with every run's figure when the comparison was repeated."""
    text = f"{one['todos_per_second']} vs {other['todos_per_second']} to-dos/s"
    if len(one.get("todos_per_second_each") or []) > 1:
        runs = [", ".join(str(v) for v in side["todos_per_second_each"]) for side in (one, other)]
        text += f" (medians of 3 runs: {runs[0]} vs {runs[1]})"
    return text


def _worker_choice_rows(findings: dict[str, Any]) -> list[Row]:
    if "prefetch_4_vs_1" not in findings:  # the smoke run leaves these out
        return []
    prefetch = findings["prefetch_4_vs_1"]
    pool = findings["pool_8_vs_16"]
    limiter = findings["limiter_shared_vs_local"]
    return [
        _row(
            "design",
            "prefetch: WORKER_CONCURRENCY 4 vs 1 (many pages × 10)",
            f"{_median_of(prefetch['concurrency_4'], prefetch['concurrency_1'])}; "
            f"×{prefetch['speedup']}",
        ),
        _row(
            "design",
            "pool size: DB_POOL_MAX_SIZE 16 vs 8 (the default), same pages",
            f"{_median_of(pool['pool_16'], pool['pool_8'])}; ×{pool['speedup_of_16']}",
        ),
        _row(
            "design",
            "the fleet limiter's cost with Notion's limit off: shared vs local",
            f"{_median_of(limiter['shared'], limiter['local'])}; "
            f"{limiter['shared']['db_transactions_per_todo']} vs "
            f"{limiter['local']['db_transactions_per_todo']} DB transactions/to-do",
        ),
    ]


def _profile_rows(series: dict[str, Any]) -> list[Row]:
    if "breakdown_percent" not in series:
        return [_row("profile", "worker CPU by component", "unavailable: py-spy wrote no profile")]
    top = ", ".join(f"{k} {v}%" for k, v in list(series["breakdown_percent"].items())[:5])
    return [_row("profile", "worker CPU by component (py-spy, worker-flame.svg)", top)]


def write_summary(
    results: dict[str, Result], about: dict[str, Any], quick: bool, noise: list[str]
) -> Path:
    lines = [
        f"# Benchmark results{' (quick smoke run: small sizes, not for reading)' if quick else ''}",
        "",
        f"Run {about['date']} on commit {about['commit']}: {about['cores']} cores, "
        f"{about['memory_gib']} GiB, Python {about['python']}, PostgreSQL {about['postgresql']}, "
        f"`{about['command']}` (from the repository root; `make bench{'-quick' if quick else ''}`"
        f" runs the same), {about.get('wall_seconds', '?')} s in all.",
        *(
            [
                "",
                "The tree had uncommitted product changes "
                f"({len(about['uncommitted_product_files'])} files, listed in each JSON file under "
                "`uncommitted_product_files`): the figures "
                "are of the commit plus those changes.",
            ]
            if about.get("uncommitted_product_files")
            else []
        ),
        "",
        "PostgreSQL and RabbitMQ are the machine's shared servers; other engineers' suites ran "
        "on the same 2 cores during the run, so every figure carries noise. How busy the machine "
        "was beyond the services measured, per benchmark:",
        "",
        *[f"- {line}" for line in noise],
        "",
        "| area | measurement | result | target | status |",
        "| --- | --- | --- | --- | --- |",
    ]
    for area, what, value, target, status in rows(results):
        lines.append(f"| {area} | {what} | {value} | {target} | {status} |")
    plots = sorted(p.name for p in RESULTS.glob(f"*{'-quick' if quick else ''}.png"))
    if not quick:
        plots = [p for p in plots if "-quick" not in p]
    lines += ["", "Plots: " + ", ".join(f"[{p}]({p})" for p in plots)]
    path = RESULTS / ("summary-quick.md" if quick else "summary.md")
    path.write_text("\n".join(lines) + "\n")
    return path


# -- plots -------------------------------------------------------------------------------------


def plot_all(results: dict[str, Result], quick: bool) -> list[str]:
    suffix = "-quick" if quick else ""
    made = []
    for name, draw in (
        ("scheduler", _plot_scheduler),
        ("worker", _plot_worker),
        ("notion", _plot_notion),
        ("peer", _plot_peer),
        ("changes", _plot_changes),
        ("api", _plot_api),
    ):
        if name in results:
            path = RESULTS / f"{name}{suffix}.png"
            draw(results[name].series, path)
            made.append(path.name)
    if "worker" in results or "scheduler" in results:
        path = RESULTS / f"memory{suffix}.png"
        _plot_memory(results, path)
        made.append(path.name)
    return made


def _plot_scheduler(series: dict[str, Any], path: Path) -> None:
    runs = series["runs"]
    pages = [r["pages"] for r in runs]
    fig, (lag, cpu, scatter) = plt.subplots(1, 3, figsize=(16, 4.8))
    for key, label in (("lag_p50_ms", "p50"), ("lag_p99_ms", "p99"), ("lag_max_ms", "max")):
        lag.plot(pages, [r[key] for r in runs], marker="o", label=label)
    lag.axhline(TARGET_LAG_MS, color="red", linestyle="--", label="target p99 1 s")
    lag.set(
        xscale="log",
        xlabel="active batches (60 s interval)",
        ylabel="tick lag (ms)",
        title="Tick lag: due → at the consumer",
    )
    lag.legend()
    cores = [r["scheduler_cpu_cores"] for r in runs]
    cpu.plot(pages, cores, marker="o", label="scheduler (measured)")
    cpu.plot(
        pages, [r["postgres_cpu_cores"] for r in runs], marker="s", label="PostgreSQL backends"
    )
    per_tick = runs[-1]["scheduler_cpu_us_per_tick"] / 1e6
    cpu.plot(
        [pages[-1], 1_000_000],
        [cores[-1], per_tick * 1_000_000 / 60],
        linestyle=":",
        color="C0",
        label="extrapolated at the largest run's µs/tick",
    )
    cpu.axhline(1, color="red", linestyle="--", label="1 core")
    cpu.set(xscale="log", xlabel="active batches", ylabel="CPU (cores)", title="Scheduler CPU")
    cpu.legend(fontsize=8)
    largest = runs[-1]
    points = largest.get("_points", [])
    if points:
        scatter.scatter([p[0] for p in points], [p[1] * 1000 for p in points], s=1, alpha=0.4)
    scatter.set(
        xlabel="due time (s into the window)",
        ylabel="lag (ms)",
        title=f"Every tick's lag, {largest['pages']:,} batches",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    if "hold" in series:
        _plot_scheduler_hold(series["hold"], path.with_name(path.stem + "-hold.png"))


def _plot_scheduler_hold(hold: dict[str, Any], path: Path) -> None:
    """Lag per period (p50, p99, max) and every tick's lag over the held run."""
    fig, (bars, scatter) = plt.subplots(1, 2, figsize=(15, 4.8))
    rows = hold["per_period"]
    x = [r["period"] for r in rows]

    def finite(values: list[float | None]) -> list[float]:
        return [v if v is not None and v != float("inf") else math.nan for v in values]

    for key, label in (("lag_p50_ms", "p50"), ("lag_p99_ms", "p99"), ("lag_max_ms", "max")):
        bars.plot(x, finite([r[key] for r in rows]), marker="o", label=label)
    bars.axhline(TARGET_LAG_MS, color="red", linestyle="--", label="target p99 1 s")
    bars.set(
        yscale="log",
        xlabel=f"period ({hold['interval_s']} s each)",
        ylabel="tick lag (ms)",
        title=f"Tick lag per period, {hold['pages']:,} batches",
    )
    bars.legend()
    points = hold.get("_points", [])
    if points:
        scatter.scatter([p[0] for p in points], [p[1] * 1000 for p in points], s=1, alpha=0.3)
    scatter.axhline(TARGET_LAG_MS, color="red", linestyle="--")
    scatter.set(
        xlabel="due time (s since the first tick)",
        ylabel="lag at the consumer (ms)",
        title="Every tick's lag (thinned)",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_worker(series: dict[str, Any], path: Path) -> None:
    fig, (timeline, bars) = plt.subplots(1, 2, figsize=(14, 4.8))
    for label, points in series["timelines"].items():
        timeline.plot([p[0] for p in points], [p[1] for p in points], label=label)
    timeline.set(
        xlabel="seconds since the ticks were published",
        ylabel="to-dos done",
        title="Worker progress (emulator rate limit off)",
    )
    timeline.legend(fontsize=8)
    cases = series["cases"]
    labels = [c["label"].replace(", ", "\n") for c in cases]
    x = range(len(cases))
    bottom = [0.0] * len(cases)
    for key, name in (
        ("worker_cpu_ms_per_todo", "worker"),
        ("postgres_cpu_ms_per_todo", "PostgreSQL"),
        ("emulator_cpu_ms_per_todo", "emulator"),
    ):
        values = [c[key] for c in cases]
        bars.bar(x, values, bottom=bottom, label=f"{name} CPU ms/to-do")
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for i, c in enumerate(cases):
        bars.annotate(
            f"{c['todos_per_second']:,.0f}/s", (i, bottom[i]), ha="center", va="bottom", fontsize=9
        )
    bars.set_xticks(list(x), labels, fontsize=8)
    bars.set(ylabel="CPU ms per to-do", title="CPU per to-do (labels: to-dos/s)")
    bars.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_notion(series: dict[str, Any], path: Path) -> None:
    cases = series["cases"]
    fig, axes = plt.subplots(1, len(cases), figsize=(5.5 * len(cases), 4.2), squeeze=False)
    for ax, case in zip(axes[0], cases, strict=True):
        seconds = [s for s, _ in case["per_second"]]
        ax.bar(seconds, [n for _, n in case["per_second"]], width=0.9, label="requests")
        if case["per_second_429"]:
            ax.bar(
                [s for s, _ in case["per_second_429"]],
                [n for _, n in case["per_second_429"]],
                width=0.9,
                color="red",
                label="429",
            )
        ax.axhline(3, color="black", linestyle="--", label="Notion's 3 req/s")
        ax.axvline(case["window_s"], color="grey", linestyle=":", label="window end")
        ax.set(
            xlabel="second since the first request",
            ylabel="requests",
            title=f"{case['label']}\n{case['requests_per_second']} req/s, {case['http_429']} × 429",
        )
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_changes(series: dict[str, Any], path: Path) -> None:
    cases = series["cases"]
    shapes = sorted({(c["blocks"], c["page"]) for c in cases})
    modes = ["before", "stamp", "webhook"]
    fig, ax = plt.subplots(figsize=(9, 4.6))
    width = 0.8 / len(modes)
    for k, mode in enumerate(modes):
        by_shape = {(c["blocks"], c["page"]): c for c in cases if c["mode"] == mode}
        pages = [by_shape[shape]["pages_per_integration"] or 0 for shape in shapes]
        xs = [i + (k - 1) * width for i in range(len(shapes))]
        bars = ax.bar(xs, pages, width=width, label=mode)
        ax.bar_label(bars, fontsize=7)
    ax.set_xticks(range(len(shapes)), [f"{b:,} blocks, {p}" for b, p in shapes])
    ax.set(
        ylabel="pages per integration (3 req/s, a tick a minute)",
        title="Pages one integration keeps ticking, by change signal",
        yscale="log",
    )
    ax.legend(title="NOTION_CHANGE_SIGNAL", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_peer(series: dict[str, Any], path: Path) -> None:
    cases = series["cases"]
    fig, (rates, cpu) = plt.subplots(1, 2, figsize=(12, 4.6))
    width = 0.38
    for offset, who, name in (
        (-width / 2, "peer", "Celery peer (-c 2)"),
        (width / 2, "ours", "ours (2 workers)"),
    ):
        xs = [i + offset for i in range(len(cases))]
        rates.bar(xs, [c[f"{who}_todos_per_second"] for c in cases], width, label=name)
        for x, c in zip(xs, cases, strict=True):
            runs = [r["todos_per_second"] for r in c[who]]
            rates.scatter([x] * len(runs), runs, color="black", s=10, zorder=3)
        cpu.bar(xs, [c[f"{who}_worker_cpu_ms_per_todo"] for c in cases], width, label=name)
    for i, c in enumerate(cases):
        top = max(c["peer_todos_per_second"], c["ours_todos_per_second"])
        rates.annotate(f"×{c['ratio']}", (i, top * 1.04), ha="center", va="bottom", fontsize=10)
    labels = [c["label"] for c in cases]
    rates.set_xticks(range(len(cases)), labels)
    rates.set(ylabel="to-dos/s", title="Throughput, medians (dots: each round; label: ours/peer)")
    rates.legend(fontsize=8)
    cpu.set_xticks(range(len(cases)), labels)
    cpu.set(ylabel="worker CPU ms per to-do", title="Worker CPU per to-do (all processes)")
    cpu.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_api(series: dict[str, Any], path: Path) -> None:
    # The 1,000 req/s summary repeats one of its runs, which are drawn each.
    phases = {k: v for k, v in series["phases"].items() if k != "status_open_1000rps"}
    fig, (bars, lines) = plt.subplots(1, 2, figsize=(14, 4.8))
    names = list(phases)
    x = range(len(names))
    bars.bar([i - 0.2 for i in x], [phases[n]["p50_ms"] for n in names], width=0.4, label="p50")
    bars.bar([i + 0.2 for i in x], [phases[n]["p99_ms"] for n in names], width=0.4, label="p99")
    for i, n in enumerate(names):
        bars.annotate(
            f"{phases[n]['requests_per_second']:,.0f}/s",
            (i, phases[n]["p99_ms"]),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    bars.axhline(TARGET_STATUS_P99_MS, color="red", linestyle="--", label="status p99 target")
    bars.set_xticks(list(x), [n.replace("_", "\n") for n in names], fontsize=8)
    bars.set(ylabel="latency (ms)", yscale="log", title="API latency (labels: requests/s)")
    bars.legend(fontsize=8)
    for n in names:
        by_second = phases[n].get("p99_ms_by_second")
        if by_second and n.startswith("status_open"):
            lines.plot(range(len(by_second)), by_second, marker=".", label=n)
    lines.axhline(TARGET_STATUS_P99_MS, color="red", linestyle="--", label="target 10 ms")
    lines.set(
        xlabel="second",
        ylabel="p99 latency (ms)",
        yscale="log",
        title="Open loop: p99 of each second",
    )
    lines.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_memory(results: dict[str, Result], path: Path) -> None:
    fig, (workers, scheduler) = plt.subplots(1, 2, figsize=(14, 4.6))
    if "worker" in results:
        for label, memory in results["worker"].series["memory"].items():
            for name, values in memory["rss"].items():
                workers.plot(
                    memory["t"][: len(values)], values, label=f"{name}: {label}", linewidth=1
                )
    workers.set(xlabel="seconds", ylabel="RSS (MiB)", title="Worker benchmark: RSS per process")
    if workers.get_legend_handles_labels()[0]:
        workers.legend(fontsize=6)
    if "scheduler" in results:
        for run in results["scheduler"].series["runs"]:
            t, values = run.get("_rss", ([], []))
            scheduler.plot(t, values, label=f"{run['pages']:,} batches")
    scheduler.set(xlabel="seconds", ylabel="RSS (MiB)", title="Scheduler RSS (steady state)")
    if scheduler.get_legend_handles_labels()[0]:
        scheduler.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
