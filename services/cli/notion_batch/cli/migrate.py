"""``notion-batch migrate``: create the database if needed and apply pending migrations."""

from __future__ import annotations

import asyncio
import sys

from notion_batch.common.config import DatabaseSettings, Env, LogSettings
from notion_batch.common.db.migrate import migrate
from notion_batch.common.errors import ConfigError, UnavailableError
from notion_batch.common.logging import configure_logging


def run_migrate() -> int:
    """Apply the schema to ``DATABASE_URL``; the exit code (2: bad configuration)."""
    try:
        env = Env()
        database = DatabaseSettings.from_env(env)
        configure_logging(LogSettings.from_env(env), service="migrate")
    except ConfigError as exc:
        print(f"notion-batch migrate: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        applied = asyncio.run(migrate(database.url))
    except UnavailableError as exc:
        print(f"notion-batch migrate: {exc}", file=sys.stderr)
        return 1
    print(f"migrations applied: {', '.join(applied) or 'none (up to date)'}")
    return 0
