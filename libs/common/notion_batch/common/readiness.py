"""What "ready" means for a service: its database and broker reachable, its consumers attached.

The one readiness check: the scheduler's and worker's ops ports (``ops_server``) and the
API's own ``/readyz`` all call a :class:`ServiceReadiness`.
"""

from __future__ import annotations

import asyncpg

from notion_batch.common.db.pool import translate_errors
from notion_batch.common.errors import UnavailableError
from notion_batch.common.messaging.broker import Broker


class ServiceReadiness:
    """A service's readiness check (``/readyz``), filled in as its resources come up."""

    def __init__(self, *, needs_consumers: bool, database_timeout: float = 1.5) -> None:
        self.pool: asyncpg.Pool | None = None
        self.broker: Broker | None = None
        self._needs_consumers = needs_consumers
        #: Longest the database's ``SELECT 1`` may take; the ops port's whole check must
        #: answer within its own limit (``ops_server.DEFAULT_CHECK_TIMEOUT_SECONDS``).
        self._database_timeout = database_timeout

    async def __call__(self) -> dict[str, bool]:
        checks = {"database": await self._database(), "broker": False}
        if self.broker is not None:
            checks["broker"] = self.broker.is_connected
            if self._needs_consumers:
                # A robust connection can come back without its consumer (aio-pika#231):
                # a worker that consumes nothing must not look ready.
                checks["consumers"] = self.broker.has_consumers()
        elif self._needs_consumers:
            checks["consumers"] = False
        return checks

    async def _database(self) -> bool:
        if self.pool is None:
            return False
        try:
            with translate_errors():
                await self.pool.fetchval("SELECT 1", timeout=self._database_timeout)
        except UnavailableError:
            return False
        return True
