"""ServiceReadiness, the one readiness check (the API's /readyz and the ops ports')."""

from __future__ import annotations

from typing import Any, cast

import asyncpg

from notion_batch.common.readiness import ServiceReadiness


class Pool:
    """Answers ``SELECT 1``, remembering the timeout it was given."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    async def fetchval(self, query: str, *, timeout: float) -> Any:
        assert query == "SELECT 1"
        self.timeouts.append(timeout)
        return 1


async def test_nothing_open_yet_is_not_ready() -> None:
    assert await ServiceReadiness(needs_consumers=False)() == {"database": False, "broker": False}
    assert await ServiceReadiness(needs_consumers=True)() == {
        "database": False,
        "broker": False,
        "consumers": False,
    }


async def test_the_database_is_asked_within_the_service_s_timeout() -> None:
    pool = Pool()
    readiness = ServiceReadiness(needs_consumers=False, database_timeout=2)
    readiness.pool = cast(asyncpg.Pool, pool)
    assert await readiness() == {"database": True, "broker": False}
    assert pool.timeouts == [2]
    default = ServiceReadiness(needs_consumers=False)
    default.pool = cast(asyncpg.Pool, pool)
    await default()
    assert pool.timeouts == [2, 1.5]
