"""The asyncpg pool, and the one place driver errors become ours."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import asyncpg

from notion_batch.common.config import DatabaseSettings
from notion_batch.common.errors import DatabaseUnavailable

# What a lost or refused connection looks like from asyncpg: the server restarting
# (57P01/57P03), a socket gone mid-query, or no route to the server at all.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.InterfaceError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn "the database is not reachable right now" into :class:`DatabaseUnavailable`.

    Other driver errors are bugs (bad SQL, violated constraints we did not expect) and pass
    through untouched so they are seen.
    """
    try:
        yield
    except _UNAVAILABLE as exc:
        raise DatabaseUnavailable(f"database unavailable: {type(exc).__name__}: {exc}") from exc


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
    """A connection of ``pool`` in a transaction: committed when the block exits cleanly,
    rolled back when it raises. A database out of reach raises :class:`DatabaseUnavailable`."""
    with translate_errors():
        async with pool.acquire() as conn, conn.transaction():
            yield conn


async def keep_session(_: asyncpg.Connection) -> None:
    """The pool's ``reset``: nothing beyond asyncpg's own (rolling back an open transaction).

    asyncpg's default resets every released connection with one more round trip
    (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``) — half of a worker's
    statements. Our pooled connections keep no session state to undo: no session advisory
    lock (the migration lock has a connection of its own), no LISTEN, no cursor outside a
    transaction, no session ``SET``. Whoever adds one must bring the reset back.
    """


async def create_pool(settings: DatabaseSettings) -> asyncpg.Pool:
    """Open a pool; raises :class:`DatabaseUnavailable` if the server cannot be reached."""
    with translate_errors():
        pool = await asyncpg.create_pool(
            settings.url,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            reset=keep_session,
            # Fail a query stuck on a dead socket instead of hanging a tick or a request.
            command_timeout=30,
            # Idle connections are recycled, so a restarted server is met with fresh sockets.
            max_inactive_connection_lifetime=60,
            timeout=10,
        )
    assert pool is not None
    return pool


@asynccontextmanager
async def pool_context(settings: DatabaseSettings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings)
    try:
        yield pool
    finally:
        await pool.close()
