"""What every ``notion-batch`` command shares: its signature, the clock, and ``--json``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import IO, Any

from notion_batch.cli.client import ApiClient

#: A command that talks to the API: the exit code.
Command = Callable[[ApiClient, argparse.Namespace, IO[str]], Awaitable[int]]


def utc_now() -> datetime:
    return datetime.now(UTC)


def dump(answer: Any, out: IO[str]) -> None:
    out.write(json.dumps(answer, indent=2) + "\n")


def answered_as_json(answer: Any, args: argparse.Namespace, out: IO[str]) -> bool:
    """With ``--json``, print the API's answer as it came; whether it did."""
    if args.json:
        dump(answer, out)
    return bool(args.json)
