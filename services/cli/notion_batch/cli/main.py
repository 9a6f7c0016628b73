"""``notion-batch``: start, stop, extend and watch batches; read their history and to-dos;
read the verification token of a Notion webhook subscription.

Talks to the REST API at ``NOTION_BATCH_API_URL`` (default http://127.0.0.1:8000) with the
key in ``NOTION_BATCH_API_KEY`` (or the file named by ``NOTION_BATCH_API_KEY_FILE``). Tables
for people, ``--json`` for scripts. Exit codes: 0 done; 1 the API refused or could not be
reached; 2 a usage or configuration error; 3 the watched batch ended ``failed``.

This module is the command line itself (arguments, dispatch, exit codes); the commands live
by concern: ``batches`` (start, stop, extend, status), ``lists`` (history, todos) and
``credentials`` (keygen, notion-webhook-token).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import IO

from notion_batch.cli.batches import extend, start, status, stop
from notion_batch.cli.client import ApiClient, CliError, CliSettings
from notion_batch.cli.commands import Command
from notion_batch.cli.credentials import keygen, notion_webhook_token
from notion_batch.cli.lists import history, todos
from notion_batch.cli.render import parse_duration
from notion_batch.common.command_line import add_version_flag
from notion_batch.common.errors import InvalidPageId
from notion_batch.common.ids import canonical_page_id

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
    add_version_flag(parser, "notion-batch-cli")
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
