"""Apply the numbered SQL migrations in ``migrations/``, once each, in order.

Safe to run from several processes at once (a Kubernetes Job and ``make run`` alike): a
session advisory lock on a dedicated connection serialises them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

from notion_batch.common.db.pool import translate_errors

log = structlog.get_logger(__name__)

_LOCK_KEY = 0x6E62_6D69  # "nbmi": any constant shared by all migrators
_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str


def load_migrations() -> list[Migration]:
    folder = resources.files("notion_batch.common.db").joinpath("migrations")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [Migration(version=f.name.removesuffix(".sql"), sql=f.read_text("utf-8")) for f in files]


async def _ensure_database(url: str) -> None:
    """Create the target database if it does not exist (first ``make run``)."""
    try:
        conn = await asyncpg.connect(url, timeout=10)
    except asyncpg.InvalidCatalogNameError:
        parts = urlsplit(url)
        name = parts.path.lstrip("/")
        admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")), timeout=10)
        try:
            await admin.execute(f'CREATE DATABASE "{name.replace(chr(34), "")}"')
            log.info("database_created", database=name)
        except asyncpg.DuplicateDatabaseError:
            pass  # created by a concurrent migrator
        finally:
            await admin.close()
    else:
        await conn.close()


async def migrate(url: str, *, create_database: bool = True) -> list[str]:
    """Apply pending migrations; returns the versions applied now."""
    applied: list[str] = []
    with translate_errors():
        if create_database:
            await _ensure_database(url)
        conn = await asyncpg.connect(url, timeout=10)
        try:
            await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
            await conn.execute(_CREATE_TABLE)
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for migration in load_migrations():
                if migration.version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES ($1)", migration.version
                    )
                applied.append(migration.version)
                log.info("migration_applied", version=migration.version)
        finally:
            await conn.close()  # closing the session releases the advisory lock
    return applied
