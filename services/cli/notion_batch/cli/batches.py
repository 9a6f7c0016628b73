"""Commands on one batch's life: ``start``, ``stop``, ``extend``, and ``status`` (one page,
all running, or ``--watch`` until the batch ends)."""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from datetime import datetime
from typing import IO, Any

from notion_batch.cli.client import ApiClient, CliError
from notion_batch.cli.commands import answered_as_json, dump, utc_now
from notion_batch.cli.render import (
    fields,
    human_duration,
    local_time,
    progress_line,
    relative,
    status_line,
    table,
)

#: Exit code of ``status --watch`` when the batch it watched ended ``failed``.
EXIT_BATCH_FAILED = 3


async def start(api: ApiClient, args: argparse.Namespace, out: IO[str]) -> int:
    body: dict[str, Any] = {"notion_page_id": args.page}
    if args.interval is not None:
        body["interval_seconds"] = args.interval
    if args.duration is not None:
        body["duration_seconds"] = args.duration
    if args.handler is not None:
        body["handler"] = args.handler
    if args.integration is not None:
        body["integration"] = args.integration
    # One key per invocation: the CLI's own retries (and the API's answer to them) can then
    # never start the batch twice or report a 409 for a start that did happen.
    key = args.idempotency_key or str(uuid.uuid4())
    answer = await api.post("/api/v1/batch/start", body, idempotency_key=key)
    if answered_as_json(answer, args, out):
        return 0
    now = utc_now()
    out.write(
        f"Started a batch on {answer['notion_page_id']} (run {answer['run_id']}): every "
        f"{human_duration(answer['interval_seconds'])} until "
        f"{local_time(answer['end_time'], now)} ({relative(answer['end_time'], now)})"
        f"{_run_choices(answer)}.\n"
    )
    return 0


def _run_choices(answer: dict[str, Any]) -> str:
    """The handler and integration a run uses, when not the defaults."""
    parts = []
    if answer.get("handler"):
        parts.append(f"handler {answer['handler']}")
    if answer.get("integration") not in (None, "default"):
        parts.append(f"integration {answer['integration']}")
    return f", {', '.join(parts)}" if parts else ""


async def stop(api: ApiClient, args: argparse.Namespace, out: IO[str]) -> int:
    answer = await api.post(f"/api/v1/batch/stop/{args.page}")
    if answered_as_json(answer, args, out):
        return 0
    out.write(
        f"Stopped the batch on {answer['notion_page_id']} (run {answer['run_id']}) at "
        f"{local_time(answer['end_time'], utc_now())}.\n"
    )
    return 0


async def extend(api: ApiClient, args: argparse.Namespace, out: IO[str]) -> int:
    answer = await api.post(
        f"/api/v1/batch/extend/{args.page}", {"duration_seconds": args.duration}
    )
    if answered_as_json(answer, args, out):
        return 0
    now = utc_now()
    out.write(
        f"Extended the batch on {answer['notion_page_id']} by {human_duration(args.duration)}: "
        f"it now ends {local_time(answer['end_time'], now)} "
        f"({relative(answer['end_time'], now)}).\n"
    )
    return 0


async def status(api: ApiClient, args: argparse.Namespace, out: IO[str]) -> int:
    if args.page is None:
        if args.watch:
            raise CliError("--watch needs a PAGE", exit_code=2)
        return await _all_status(api, args, out)
    if args.watch:
        return await _watch(api, args, out)
    answer = await api.get(f"/api/v1/batch/status/{args.page}")
    if args.json:
        dump(answer, out)
    else:
        out.write(_status_text(answer, utc_now()) + "\n")
    return 0


async def _all_status(api: ApiClient, args: argparse.Namespace, out: IO[str]) -> int:
    answer = await _every_running_batch(api)
    if answered_as_json(answer, args, out):
        return 0
    batches = answer.get("batches", [])
    if not batches:
        out.write("No batch is running.\n")
        return 0
    now = utc_now()
    rows = [
        [
            b["notion_page_id"],
            local_time(b["start_time"], now),
            local_time(b["end_time"], now),
            relative(b["end_time"], now),
        ]
        for b in batches
    ]
    out.write(table(["PAGE", "STARTED", "ENDS", "LEFT"], rows) + "\n")
    out.write(f"{len(batches)} running\n")
    return 0


async def _every_running_batch(api: ApiClient) -> dict[str, Any]:
    """The running list, every page of it, as one answer."""
    answer = await api.get("/api/v1/batch/status", {"limit": "1000"})
    while answer.get("next_cursor"):
        more = await api.get(
            "/api/v1/batch/status", {"limit": "1000", "cursor": answer["next_cursor"]}
        )
        for field in ("running_batches", "scheduler_jobs", "batches"):
            more[field] = answer[field] + more[field]
        answer = more
    return answer


def _status_text(answer: dict[str, Any], now: datetime) -> str:
    todos = answer.get("todos") or {}
    pairs: list[tuple[str, Any]] = [
        ("page", answer["notion_page_id"]),
        ("status", status_line(answer["db_status"], answer["db_message"])),
    ]
    if answer.get("run_id") is not None:
        ends = "ends" if answer["is_running"] else "ended"
        pairs.append(
            (
                "run",
                f"{answer['run_id']} · every {human_duration(answer['interval_seconds'] or 0)}"
                f" · started {local_time(answer['start_time'], now)}"
                f" · {ends} {local_time(answer['end_time'], now)}"
                f" ({relative(answer['end_time'], now)}){_run_choices(answer)}",
            )
        )
    pairs.append(("ticks", answer.get("ticks", 0)))
    pairs.append(
        (
            "to-dos",
            f"{todos.get('done', 0)} done · {todos.get('skipped', 0)} skipped · "
            f"{todos.get('pending', 0)} pending (this run)",
        )
    )
    if answer.get("db_last_run_at"):
        last = answer["db_last_run_at"]
        pairs.append(("last tick", f"{local_time(last, now)} ({relative(last, now)})"))
    return fields(pairs)


async def _watch(api: ApiClient, args: argparse.Namespace, out: IO[str]) -> int:
    """Poll the status until the batch is no longer running, drawing its progress."""
    interactive = out.isatty() and not args.json
    plain = not (getattr(out, "encoding", "") or "").lower().startswith("utf")
    shown: tuple[Any, ...] | None = None
    while True:
        answer = await api.get(f"/api/v1/batch/status/{args.page}")
        todos = answer.get("todos") or {}
        if args.json:
            out.write(json.dumps(answer) + "\n")
        else:
            line = progress_line(answer, utc_now(), ascii=plain)
            if interactive:
                out.write("\r" + line + "\x1b[K")
            else:
                # Without a terminal, a line per change (not per poll) keeps a log readable.
                state = (
                    answer["db_status"],
                    todos.get("done"),
                    todos.get("skipped"),
                    todos.get("pending"),
                )
                if state != shown:
                    out.write(line + "\n")
                shown = state
        out.flush()
        if not answer["is_running"]:
            break
        await asyncio.sleep(args.every)
    if not args.json:
        if interactive:
            out.write("\n")
        out.write(f"Batch {status_line(answer['db_status'], answer['db_message'])}\n")
    return EXIT_BATCH_FAILED if answer["db_status"] == "failed" else 0
