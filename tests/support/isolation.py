"""A database and a broker namespace of one's own, and their removal: tests and the soak."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg

from notion_batch.common.messaging.topology import Topology


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name``."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(with_database(admin_url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def delete_namespace(amqp_url: str, namespace: str) -> None:
    """Every exchange and queue of ``namespace``."""
    topology = Topology(namespace)
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for queue in topology.all_queues():
            await channel.queue_delete(queue)
        for exchange in topology.all_exchanges():
            await channel.exchange_delete(exchange)
    finally:
        await connection.close()
