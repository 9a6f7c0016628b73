"""What "ready" means for a service: its database and broker reachable, its consumers attached."""

from __future__ import annotations

import asyncpg

from notion_batch.common.db.pool import translate_errors
from notion_batch.common.errors import UnavailableError
from notion_batch.common.messaging.broker import Broker


class ServiceReadiness:
    """A readiness check for the ops port, filled in as the service's resources come up."""

    def __init__(self, *, needs_consumers: bool) -> None:
        self.pool: asyncpg.Pool | None = None
        self.broker: Broker | None = None
        self._needs_consumers = needs_consumers

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
                await self.pool.fetchval("SELECT 1", timeout=1.5)
        except UnavailableError:
            return False
        return True
