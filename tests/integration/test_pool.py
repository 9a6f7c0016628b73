"""The services' asyncpg pool: one statement per pooled query, and no state carried over."""

from __future__ import annotations

import asyncpg

from notion_batch.common.db.sql import sql

PAGE = "6f1c2a4e-0000-4000-8000-000000000001"


async def test_a_pooled_query_is_one_statement(pool: asyncpg.Pool) -> None:
    sent: list[str] = []
    async with pool.acquire() as conn:
        conn.add_query_logger(lambda record: sent.append(record.query))
    sent.clear()
    for _ in range(5):
        await pool.fetchval(sql("todo_may_start"), PAGE, "owner")
    # asyncpg's default reset would add `SELECT pg_advisory_unlock_all(); CLOSE ALL; …` each.
    assert sent == [sql("todo_may_start")] * 5


async def test_a_transaction_left_open_is_rolled_back_on_release(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE pool_probe (n integer)")
    conn = await pool.acquire()
    try:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("INSERT INTO pool_probe VALUES (1)")
    finally:
        await pool.release(conn)
    async with pool.acquire() as conn:
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT count(*) FROM pool_probe") == 0
