"""Console sessions ended by signing out (``console_revoked_sessions``).

A console session is a signed cookie that any API replica checks on its own; what it cannot
tell alone is that its person signed out. Signing out writes the session's id here until the
session would have expired, and every console request asks whether its session is listed.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from notion_batch.common.db.pool import translate_errors
from notion_batch.common.db.sql import sql


class RevokedSessions:
    """Revokes console sessions and tells whether one was."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def revoke(self, session_id: str, *, expires_at: datetime) -> None:
        """End the session for good (rows past their expiry are deleted on the way)."""
        with translate_errors():
            await self._pool.execute(sql("console_session_revoke"), session_id, expires_at)

    async def revoked(self, session_id: str) -> bool:
        with translate_errors():
            return bool(await self._pool.fetchval(sql("console_session_revoked"), session_id))
