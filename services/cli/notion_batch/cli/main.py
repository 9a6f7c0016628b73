"""``notion-batch``: start, stop, extend and watch batches; read their history and to-dos;
read the verification token of a Notion webhook subscription.

Talks to the REST API at ``NOTION_BATCH_API_URL`` (default http://127.0.0.1:8000) with the
key in ``NOTION_BATCH_API_KEY`` (or the file named by ``NOTION_BATCH_API_KEY_FILE``). Tables
for people, ``--json`` for scripts. Exit codes: 0 done; 1 the API refused or could not be
reached; 2 a usage or configuration error; 3 the watched batch ended ``failed``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import IO, Any

from notion_batch.cli.client import ApiClient, CliError, CliSettings
from notion_batch.cli.render import (
    fields,
    human_duration,
    local_time,
    parse_duration,
    progress_line,
    relative,
    shorten,
    table,
)
from notion_batch.common.config import ApiAuthSettings, Env
from notion_batch.common.errors import ConfigError, InvalidPageId
from notion_batch.common.ids import canonical_page_id

_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Exit code of ``status --watch`` when the batch it watched ended ``failed``.
EXIT_BATCH_FAILED = 3
#: Pages of results ``--all`` follows at most (a safety net, not a limit anyone should meet).
MAX_PAGES = 1000

Command = Callable[[ApiClient, argparse.Namespace, IO[str]], Awaitable[int]]

_HELP = """\
Start, stop, extend and watch notion-batch batches; read their history and to-dos.

The API is $NOTION_BATCH_API_URL (default http://127.0.0.1:8000); the API key is
$NOTION_BATCH_API_KEY, or the content of the file named by $NOTION_BATCH_API_KEY_FILE.
A PAGE is a Notion page id, its dashed UUID or the page's URL.

exit codes: 0 done; 1 the API refused or could not be reached; 2 a usage or
configuration error; 3 the batch watched with `status --watch` ended failed.
"""


def _page(value: str) -> str:
    try:
        return canonical_page_id(value)
    except InvalidPageId as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("notion_page_id", "PAGE")) from None


def _duration(value: str) -> int:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0.1 <= number <= 3600:
        raise argparse.ArgumentTypeError(f"must be between 0.1 and 3600, got {value}")
    return number


def _statuses(value: str) -> str:
    wanted = [s.strip() for s in value.split(",") if s.strip()]
    bad = [s for s in wanted if s not in ("pending", "done", "skipped")]
    if not wanted or bad:
        raise argparse.ArgumentTypeError("use pending, done, skipped, comma-separated")
    return ",".join(wanted)


def _now() -> datetime:
    return datetime.now(UTC)


def _dump(answer: Any, out: IO[str]) -> None:
    out.write(json.dumps(answer, indent=2) + "\n")


# -- commands ------------------------------------------------------------------------------


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
    if args.json:
        _dump(answer, out)
        return 0
    now = _now()
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
    if args.json:
        _dump(answer, out)
        return 0
    out.write(
        f"Stopped the batch on {answer['notion_page_id']} (run {answer['run_id']}) at "
        f"{local_time(answer['end_time'], _now())}.\n"
    )
    return 0


async def extend(api: ApiClient, args: argparse.Namespace, out: IO[str]) -> int:
    answer = await api.post(
        f"/api/v1/batch/extend/{args.page}", {"duration_seconds": args.duration}
    )
    if args.json:
        _dump(answer, out)
        return 0
    now = _now()
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
        _dump(answer, out)
    else:
        out.write(_status_text(answer, _now()) + "\n")
    return 0


async def _all_status(api: ApiClient, args: argparse.Namespace, out: IO[str]) -> int:
    answer = await api.get("/api/v1/batch/status")
    if args.json:
        _dump(answer, out)
        return 0
    batches = answer.get("batches", [])
    if not batches:
        out.write("No batch is running.\n")
        return 0
    now = _now()
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


def _status_text(answer: dict[str, Any], now: datetime) -> str:
    todos = answer.get("todos") or {}
    pairs: list[tuple[str, Any]] = [
        ("page", answer["notion_page_id"]),
        ("status", f"{answer['db_status']} — {answer['db_message']}"),
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
            f"{todos.get('pending', 0)} pending",
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
            line = progress_line(answer, _now(), ascii=plain)
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
        out.write(f"Batch {answer['db_status']}: {answer['db_message']}\n")
    return EXIT_BATCH_FAILED if answer["db_status"] == "failed" else 0


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


async def history(api: ApiClient, args: argparse.Namespace, out: IO[str]) -> int:
    params = {"limit": str(args.limit)}
    if args.cursor:
        params["cursor"] = args.cursor
    answer = await _pages(api, f"/api/v1/batch/history/{args.page}", params, "runs", args.all)
    if args.json:
        _dump(answer, out)
        return 0
    now = _now()
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
            shorten(run["message"], 60),
        ]
        for run in answer["runs"]
    ]
    headers = ["RUN", "STATUS", "STARTED", "ENDED", "HOW", "TICKS", "DONE", "SKIPPED", "MESSAGE"]
    out.write(table(headers, rows) + "\n" if rows else "No runs.\n")
    _more(answer, f"notion-batch history {args.page}", out)
    return 0


async def todos(api: ApiClient, args: argparse.Namespace, out: IO[str]) -> int:
    params = {"limit": str(args.limit)}
    if args.status:
        params["status"] = args.status
    if args.cursor:
        params["cursor"] = args.cursor
    answer = await _pages(api, f"/api/v1/batch/todos/{args.page}", params, "todos", args.all)
    if args.json:
        _dump(answer, out)
        return 0
    now = _now()
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
    _more(answer, f"notion-batch todos {args.page}", out)
    return 0


def _more(answer: dict[str, Any], command: str, out: IO[str]) -> None:
    if answer.get("has_more"):
        out.write(f"more: {command} --cursor {answer['next_cursor']}  (or --all)\n")


async def notion_webhook_token(api: ApiClient, args: argparse.Namespace, out: IO[str]) -> int:
    """The verification token Notion's webhook subscription sent, and what to do with it."""
    params = {"integration": args.integration} if args.integration else None
    answer = await api.get("/api/v1/notion/webhook-verification", params)
    if args.json:
        _dump(answer, out)
        return 0
    now = _now()
    kept = answer["verifications"]
    latest = kept[0]
    out.write(
        f"Verification token of the Notion webhook subscription of integration "
        f"{answer['integration']!r}, received {local_time(latest['received_at'], now)} "
        f"({relative(latest['received_at'], now)}) from {latest['remote_address'] or '?'}:\n\n"
        f"  {answer['verification_token']}\n\n"
    )
    if latest["configured"]:
        out.write(f"It is the API's {answer['variable']}: Notion's events are accepted.\n")
    else:
        out.write(
            "1. Paste it into Notion (the integration's settings → Webhooks → Verify). Notion\n"
            "   accepts only the token it sent: if it refuses this one, it did not come from\n"
            "   Notion (anyone can send a verification request) — try an earlier one below,\n"
            "   or have Notion resend it.\n"
            f"2. Set {answer['variable']} to it on the API and restart the API.\n"
        )
    if len(kept) > 1:
        rows = [
            [
                local_time(v["received_at"], now),
                v["remote_address"] or "",
                "yes" if v["configured"] else "",
                v["verification_token"],
            ]
            for v in kept
        ]
        out.write(
            "\nEvery request kept, newest first:\n"
            + table(["RECEIVED", "FROM", "CONFIGURED", "TOKEN"], rows)
            + "\n"
        )
    return 0


def keygen(args: argparse.Namespace, out: IO[str]) -> int:
    """Make a new API key and the configuration lines that grant it."""
    if not _KEY_NAME.fullmatch(args.name):
        raise CliError(
            "NAME may hold letters, digits, '.', '_' and '-' (at most 64, starting with a "
            "letter or digit)",
            exit_code=2,
        )
    key = "nbk_" + secrets.token_urlsafe(32)
    entry = f"{args.name}:{args.scope}:{key}"
    try:
        # Parsed exactly as the API will parse it, so what is printed is accepted there.
        parsed = ApiAuthSettings.from_env(Env({"API_KEYS": entry})).keys[0]
    except ConfigError as exc:
        raise CliError(str(exc).removeprefix("API_KEYS: "), exit_code=2) from None
    hashed = f"{args.name}:{args.scope}:sha256:{parsed.sha256.hex()}"
    if args.json:
        _dump({"name": args.name, "scope": args.scope, "key": key, "api_keys_entry": hashed}, out)
        return 0
    out.write(
        f"API key for {args.name!r} (scope {args.scope}), shown only now:\n\n  {key}\n\n"
        f"Grant it on the API with this entry in API_KEYS or API_KEYS_FILE (only its hash):\n\n"
        f"  {hashed}\n\n"
        f"Use it from the CLI with NOTION_BATCH_API_KEY={key}\n"
    )
    return 0


COMMANDS: dict[str, Command] = {
    "start": start,
    "stop": stop,
    "extend": extend,
    "status": status,
    "history": history,
    "todos": todos,
    "notion-webhook-token": notion_webhook_token,
}


def build_parser() -> argparse.ArgumentParser:
    """The ``notion-batch`` command line."""
    parser = argparse.ArgumentParser(
        prog="notion-batch",
        description=_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print the API's JSON answer")
    common.add_argument(
        "--api-url", metavar="URL", help="the API (default: $NOTION_BATCH_API_URL or :8000)"
    )
    common.add_argument(
        "--timeout", type=_positive_float, default=30.0, metavar="S", help="per request (30)"
    )
    page = argparse.ArgumentParser(add_help=False)
    page.add_argument("page", type=_page, metavar="PAGE", help="page id, UUID or Notion URL")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("start", parents=[common, page], help="start a batch on a page")
    p.add_argument("--interval", type=_duration, help="between ticks: 60, 30s, 5m")
    p.add_argument("--duration", type=_duration, help="lifetime: 900, 15m, 2h")
    p.add_argument("--handler", metavar="NAME", help="an installed handler: complete, webhook…")
    p.add_argument(
        "--integration", metavar="NAME", help="a Notion integration of NOTION_INTEGRATIONS"
    )
    p.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="repeat a start safely across runs of the CLI (default: a new one each run)",
    )
    commands.add_parser("stop", parents=[common, page], help="stop a page's running batch")
    p = commands.add_parser("extend", parents=[common, page], help="lengthen a running batch")
    p.add_argument("duration", type=_duration, metavar="DURATION", help="added time: 600, 10m")

    p = commands.add_parser("status", parents=[common], help="a page's batch, or all running")
    p.add_argument("page", type=_page, nargs="?", metavar="PAGE", help="omit for all running")
    p.add_argument("--watch", action="store_true", help="show progress until the batch ends")
    p.add_argument(
        "--every", type=_positive_float, default=1.0, metavar="S", help="--watch poll interval"
    )

    p = commands.add_parser("history", parents=[common, page], help="a page's past runs")
    p.add_argument("--limit", type=int, default=20, help="runs per page of results (≤ 100)")
    p.add_argument("--cursor", help="continue after a previous page")
    p.add_argument("--all", action="store_true", help="follow every page of results")

    p = commands.add_parser("todos", parents=[common, page], help="a page's to-dos")
    p.add_argument("--status", type=_statuses, help="only these: pending,done,skipped")
    p.add_argument("--limit", type=int, default=100, help="to-dos per page of results (≤ 500)")
    p.add_argument("--cursor", help="continue after a previous page")
    p.add_argument("--all", action="store_true", help="follow every page of results")

    p = commands.add_parser(
        "notion-webhook-token",
        parents=[common],
        help="the verification token Notion's webhook subscription sent (write key)",
    )
    p.add_argument(
        "--integration", metavar="NAME", help="a Notion integration of NOTION_INTEGRATIONS"
    )

    commands.add_parser(
        "migrate", help="create the database if needed and apply pending migrations"
    )
    p = commands.add_parser("keygen", help="make a new API key and its API_KEYS entry")
    p.add_argument("name", metavar="NAME", help="who the key is for (letters, digits, . _ -)")
    p.add_argument("--scope", choices=("read", "write"), default="read", help="default: read")
    p.add_argument("--json", action="store_true", help="print JSON")
    return parser


def run(argv: list[str] | None = None, out: IO[str] | None = None) -> int:
    """Run one command; the exit code."""
    stdout = sys.stdout if out is None else out
    args = build_parser().parse_args(argv)
    try:
        if args.command == "migrate":
            # Imported here: the database driver is not needed by any other command.
            from notion_batch.cli.migrate import run_migrate  # noqa: PLC0415

            return run_migrate()
        if args.command == "keygen":
            return keygen(args, stdout)
        settings = CliSettings.from_env(api_url=args.api_url, timeout_seconds=args.timeout)

        async def call() -> int:
            async with ApiClient(settings) as api:
                return await COMMANDS[args.command](api, args, stdout)

        return asyncio.run(call())
    except CliError as exc:
        print(f"notion-batch: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


def main() -> None:
    sys.exit(run())
