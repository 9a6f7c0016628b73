"""``notion-batch``: operator commands. ``notion-batch migrate`` applies the schema."""

from __future__ import annotations

import argparse
import asyncio
import sys

from notion_batch.common.config import DatabaseSettings, Env, LogSettings
from notion_batch.common.db.migrate import migrate
from notion_batch.common.errors import ConfigError, UnavailableError
from notion_batch.common.logging import configure_logging


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="notion-batch", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "migrate", help="create the database if needed and apply pending migrations"
    )
    args = parser.parse_args(argv)

    if args.command == "migrate":
        try:
            env = Env()
            database = DatabaseSettings.from_env(env)
            configure_logging(LogSettings.from_env(env), service="migrate")
        except ConfigError as exc:
            print(f"notion-batch migrate: configuration error: {exc}", file=sys.stderr)
            sys.exit(2)
        try:
            applied = asyncio.run(migrate(database.url))
        except UnavailableError as exc:
            print(f"notion-batch migrate: {exc}", file=sys.stderr)
            sys.exit(1)
        print(f"migrations applied: {', '.join(applied) or 'none (up to date)'}")
