"""Commands that list a page's past: ``history`` (its runs) and ``todos``, a page of results at
a time or ``--all`` of them."""

from __future__ import annotations

import argparse
from typing import IO, Any

from notion_batch.cli.client import ApiClient
from notion_batch.cli.commands import answered_as_json, utc_now
from notion_batch.cli.render import local_time, message_after_status, shorten, table

#: Pages of results ``--all`` follows at most (a safety net, not a limit anyone should meet).
MAX_PAGES = 1000


async def _pages(
    api: ApiClient, path: str, params: dict[str, str], items: str, follow: bool
) -> dict[str, Any]:
    """One page of a list, or (``follow``) every page merged into one answer."""
    answer = await api.get(path, params)
    pages = 1
    while follow and answer.get("has_more") and pages < MAX_PAGES:
        more = await api.get(path, {**params, "cursor": answer["next_cursor"]})
        more[items] = answer[items] + more[items]
        answer, pages = more, pages + 1
    return answer


async def _listing(
    api: ApiClient,
    args: argparse.Namespace,
    out: IO[str],
    command: str,
    items: str,
    **filters: str | None,
) -> dict[str, Any] | None:
    """A page's ``history`` or ``todos`` (``command``, its list under ``items``): one page of
    results, or ``--all``; ``None`` when ``--json`` printed the answer as it came."""
    params = {"limit": str(args.limit)}
    params.update({name: value for name, value in filters.items() if value})
    if args.cursor:
        params["cursor"] = args.cursor
    answer = await _pages(api, f"/api/v1/batch/{command}/{args.page}", params, items, args.all)
    return None if answered_as_json(answer, args, out) else answer


async def history(api: ApiClient, args: argparse.Namespace, out: IO[str]) -> int:
    answer = await _listing(api, args, out, "history", "runs")
    if answer is None:
        return 0
    now = utc_now()
    rows = [
        [
            run["run_id"],
            run["status"],
            local_time(run["start_time"], now),
            local_time(run["end_time"], now)
            if run["end_time"]
            else f"ends {local_time(run['scheduled_end_time'], now)}",
            run["end_reason"] or "running",
            run["ticks"],
            run["todos"]["done"],
            run["todos"]["skipped"],
            shorten(message_after_status(run["status"], run["message"]), 60),
        ]
        for run in answer["runs"]
    ]
    headers = ["RUN", "STATUS", "STARTED", "ENDED", "HOW", "TICKS", "DONE", "SKIPPED", "MESSAGE"]
    out.write(table(headers, rows) + "\n" if rows else "No runs.\n")
    _more(answer, "history", args, out)
    return 0


async def todos(api: ApiClient, args: argparse.Namespace, out: IO[str]) -> int:
    answer = await _listing(api, args, out, "todos", "todos", status=args.status)
    if answer is None:
        return 0
    now = utc_now()
    rows = [
        [
            todo["position"],
            todo["status"],
            todo["attempts"],
            local_time(todo["processed_at"], now) if todo["processed_at"] else "",
            shorten(todo["text"], 40),
            shorten(todo["result"] or todo["last_error"], 50),
        ]
        for todo in answer["todos"]
    ]
    headers = ["#", "STATUS", "FAILED", "PROCESSED", "TEXT", "RESULT / LAST ERROR"]
    out.write(table(headers, rows) + "\n" if rows else "No to-dos.\n")
    counts = answer["counts"]
    out.write(
        f"{counts['total']} to-dos on the page: {counts['done']} done, "
        f"{counts['skipped']} skipped, {counts['pending']} pending\n"
    )
    _more(answer, "todos", args, out)
    return 0


def _more(answer: dict[str, Any], command: str, args: argparse.Namespace, out: IO[str]) -> None:
    if answer.get("has_more"):
        out.write(
            f"more: notion-batch {command} {args.page} --cursor {answer['next_cursor']}"
            "  (or --all)\n"
        )
