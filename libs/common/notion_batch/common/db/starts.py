"""Starting a batch at most once per ``Idempotency-Key`` of a client.

The key's claim, the start itself, its start command (published by the caller inside the
claim's block) and the answer kept for later retries are one transaction: a start that
failed (database or broker away) leaves no trace, so its retry runs again; one that
succeeded or conflicted is answered from the kept answer, byte for byte.

The caller holds the transaction open (``async with IdempotentStarts.claim(…)``) instead of
handing this module callbacks: the database layer says what it found, the API decides
what to publish and what to answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from notion_batch.common.db.batches import NewBatch, StartedBatch, insert_batch
from notion_batch.common.db.pool import transaction
from notion_batch.common.db.sql import sql
from notion_batch.common.errors import IdempotencyKeyReused

#: Expired idempotency answers deleted by each claim: enough to keep up with any real load.
_PURGE_PER_CLAIM = 20


@dataclass(frozen=True)
class KeptAnswer:
    """The answer to a start made with an ``Idempotency-Key``, kept for its retries."""

    status: int
    #: The JSON body, exactly as first sent.
    body: str


class ClaimedStart:
    """What a start under an ``Idempotency-Key`` found, inside its still open transaction.

    One of three:

    - *replayed*: the key was used before, for the same request; :attr:`replayed` is the
      first answer, and there is nothing else to do;
    - *started*: the key is claimed now and the batch started (:attr:`started`);
    - *conflict*: the key is claimed now but the page was already running
      (:attr:`started` is ``None``).

    After a claim (started or conflict) the caller publishes what it must, then keeps the
    answer it sends (:meth:`keep`), all before the block ends: the block's end commits.
    """

    def __init__(
        self,
        conn: asyncpg.pool.PoolConnectionProxy,
        *,
        client: str,
        key: str,
        started: StartedBatch | None = None,
        replayed: KeptAnswer | None = None,
    ) -> None:
        self._conn = conn
        self._client = client
        self._key = key
        self.started = started
        self.replayed = replayed
        self.kept: KeptAnswer | None = None

    async def keep(self, status: int, body: str) -> KeptAnswer:
        """Keep the answer of this first request (``body``: JSON text) for the key's retries."""
        if self.replayed is not None or self.kept is not None:
            raise RuntimeError("only a newly claimed start keeps an answer, and only once")
        await self._conn.execute(sql("idempotency_store"), self._client, self._key, status, body)
        self.kept = KeptAnswer(status=status, body=body)
        return self.kept


class IdempotentStarts:
    """Starts a batch at most once per ``Idempotency-Key`` of a client."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def claim(
        self,
        *,
        client: str,
        key: str,
        request_hash: str,
        ttl_seconds: int,
        batch: NewBatch,
    ) -> AsyncIterator[ClaimedStart]:
        """Claim ``key`` and start the page's batch, unless the key was seen: one transaction,
        committed when the block exits cleanly and rolled back when it raises.

        Raises :class:`IdempotencyKeyReused` when the key was used for another request, and
        :class:`RuntimeError` (rolling back) when a new claim leaves without keeping its answer.
        """
        async with transaction(self._pool) as conn:
            claimed = await conn.fetchval(
                sql("idempotency_claim"), client, key, request_hash, ttl_seconds
            )
            if not claimed:
                kept = await self._kept_answer(conn, client, key, request_hash)
                yield ClaimedStart(conn, client=client, key=key, replayed=kept)
                return
            await conn.execute(sql("idempotency_purge"), _PURGE_PER_CLAIM)
            started = await insert_batch(conn, batch)
            claim = ClaimedStart(conn, client=client, key=key, started=started)
            yield claim
            if claim.kept is None:
                raise RuntimeError("a claimed start must keep its answer before it commits")

    @staticmethod
    async def _kept_answer(
        conn: asyncpg.pool.PoolConnectionProxy, client: str, key: str, request_hash: str
    ) -> KeptAnswer:
        row = await conn.fetchrow(sql("idempotency_answer"), client, key)
        # The claim locked the row (ON CONFLICT locks the row it conflicts with even when its
        # WHERE fails), so no purge removed it since; and answers are committed with claims.
        assert row is not None
        assert row["status_code"] is not None
        if row["request_hash"] != request_hash:
            raise IdempotencyKeyReused(key)
        return KeptAnswer(status=row["status_code"], body=row["response"])
