"""The job done the usual way: a Celery app, one task per tick, the benchmark's peer.

What a competent team would write with Celery, not a strawman, and nothing of ours in it:

- ``celery -A bench.peers.celery_peer.app worker -c 2`` (prefork, two processes); AMQP on the
  local RabbitMQ (a queue and exchange of its own per run); results disabled; ``acks_late``
  so a tick whose worker dies is worked again, prefetch at Celery's default.
- Each process keeps its connections, opened on first use (the pattern of Celery's guide,
  "Tasks › Instantiation": a task is instantiated once per process): one psycopg (v3)
  connection, with automatic prepared statements, and one sync ``notion_client.Client``
  (its ``httpx.Client`` keeps the HTTP connection alive between calls).
- One tick of a page = one transaction: ``SELECT … FOR UPDATE NOWAIT`` on the page's row (a
  tick finding the page busy is skipped, as ours coalesces it), read the page's to-dos
  (paginated block children, nested ones too), and for each open one: the trivial handler,
  check it (PATCH the block), record its outcome (an INSERT in the transaction), and its log
  line, appended under the page's log toggle 100 lines a call (Notion's most per append) —
  the same Notion work per to-do as ours, so that the two differ in their machinery, not in
  what they ask of Notion. Commit at the end.

What it does not promise, where ours does: a crash mid-tick rolls the outcomes back while
the checks already made stay in Notion (those to-dos are then never recorded), and a log line
may be appended twice after a timeout. That is the usual way's bargain, and part of why ours
spends a commit per to-do and an outbox.

Configured from the environment when the worker imports it (Celery's usual entry point):
``PEER_AMQP_URL``, ``PEER_QUEUE``, ``PEER_DATABASE_URL``, ``PEER_NOTION_BASE_URL``,
``PEER_NOTION_TOKEN``.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from typing import Any, cast

import psycopg
from celery import Celery, Task
from celery.signals import worker_process_shutdown
from celery.utils.log import get_task_logger
from notion_client import Client
from notion_client.helpers import iterate_paginated_api

#: The Notion-Version ours speaks, so that both get the same answers from the stand-in.
NOTION_VERSION = "2026-03-11"
#: Notion takes at most 100 children per append.
LOG_BATCH = 100
TICK_TASK = "peer.tick"

app = Celery("celery_peer")
app.conf.update(
    broker_url=os.environ.get("PEER_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
    # The exchange and routing key default to the queue's name: nothing shared on the broker.
    task_default_queue=os.environ.get("PEER_QUEUE", "celery_peer"),
    task_ignore_result=True,
    task_acks_late=True,
    # No pidbox or event exchanges on a broker other suites use; nothing here listens.
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    broker_connection_retry_on_startup=True,
)

log = get_task_logger(__name__)


class PeerTask(Task):  # type: ignore[misc]
    """Per-process connections, opened on first use and reopened if they broke."""

    _db: psycopg.Connection[Any] | None = None
    _notion: Client | None = None

    @property
    def db(self) -> psycopg.Connection[Any]:
        if PeerTask._db is None or PeerTask._db.closed:
            PeerTask._db = psycopg.connect(os.environ["PEER_DATABASE_URL"], autocommit=True)
        return PeerTask._db

    @property
    def notion(self) -> Client:
        if PeerTask._notion is None:
            PeerTask._notion = Client(
                auth=os.environ["PEER_NOTION_TOKEN"],
                base_url=os.environ.get("PEER_NOTION_BASE_URL", "https://api.notion.com"),
                notion_version=NOTION_VERSION,
            )
        return PeerTask._notion


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _close(**_: object) -> None:
    if PeerTask._db is not None:
        PeerTask._db.close()
    if PeerTask._notion is not None:
        PeerTask._notion.close()


def complete(text: str) -> str:
    """The trivial handler, as ours runs by default."""
    return "completed by the peer"


@app.task(bind=True, base=PeerTask, name=TICK_TASK)  # type: ignore[untyped-decorator]
def tick(self: PeerTask, page_id: str) -> None:
    db = self.db
    try:
        with db.transaction():
            row = db.execute(
                "SELECT log_block_id FROM peer_pages WHERE page_id = %s FOR UPDATE NOWAIT",
                (page_id,),
            ).fetchone()
            if row is None:
                log.warning("tick for unknown page %s", page_id)
                return
            done = work_page(db, self.notion, page_id, row[0])
    except psycopg.errors.LockNotAvailable:
        log.info("page %s busy: tick skipped", page_id)
        return
    log.info("page %s: %d to-dos done", page_id, done)


def work_page(
    db: psycopg.Connection[Any], notion: Client, page_id: str, log_block_id: str | None
) -> int:
    """Work the page's open to-dos inside the caller's transaction; how many were done."""
    db.execute(
        "UPDATE peer_pages SET ticks = ticks + 1, last_tick_at = now() WHERE page_id = %s",
        (page_id,),
    )
    recorded = {
        r[0] for r in db.execute("SELECT block_id FROM peer_todos WHERE page_id = %s", (page_id,))
    }
    skip = {log_block_id} if log_block_id else set()
    todos = [b for b in open_todos(notion, page_id, skip) if b["id"] not in recorded]
    if not todos:
        return 0
    if log_block_id is None:
        log_block_id = create_log(notion, page_id)
        db.execute(
            "UPDATE peer_pages SET log_block_id = %s WHERE page_id = %s", (log_block_id, page_id)
        )
    lines: list[dict[str, Any]] = []
    for block in todos:
        text = plain_text(block["to_do"]["rich_text"])
        result = complete(text)
        notion.blocks.update(block_id=block["id"], to_do={"checked": True})
        db.execute(
            "INSERT INTO peer_todos (block_id, page_id, status, result)"
            " VALUES (%s, %s, 'done', %s) ON CONFLICT (block_id) DO NOTHING",
            (block["id"], page_id, result),
        )
        lines.append(log_line(f"✅ {text} — {result}"))
        if len(lines) == LOG_BATCH:
            notion.blocks.children.append(block_id=log_block_id, children=lines)
            lines = []
    if lines:
        notion.blocks.children.append(block_id=log_block_id, children=lines)
    return len(todos)


def open_todos(notion: Client, block_id: str, skip: Collection[str]) -> Iterator[dict[str, Any]]:
    """Unchecked to-dos under the block, in page order, descending into blocks with children
    (but not into ``skip``: our log toggle)."""
    # Read to the end before anything is written: the page gains its log toggle meanwhile.
    blocks = list(iterate_paginated_api(notion.blocks.children.list, block_id=block_id))
    for block in blocks:
        if block["type"] == "to_do" and not block["to_do"]["checked"]:
            yield block
        if block.get("has_children") and block["id"] not in skip:
            yield from open_todos(notion, block["id"], skip)


def create_log(notion: Client, page_id: str) -> str:
    toggle = {"type": "toggle", "toggle": {"rich_text": [_text("celery peer log")]}}
    # The SDK types its endpoints for its sync and async clients at once.
    answer = cast(
        "dict[str, Any]", notion.blocks.children.append(block_id=page_id, children=[toggle])
    )
    return str(answer["results"][0]["id"])


def log_line(text: str) -> dict[str, Any]:
    return {"type": "bulleted_list_item", "bulleted_list_item": {"rich_text": [_text(text)]}}


def plain_text(rich_text: list[dict[str, Any]]) -> str:
    return "".join(item.get("plain_text", "") for item in rich_text)


def _text(content: str) -> dict[str, Any]:
    return {"type": "text", "text": {"content": content}}
