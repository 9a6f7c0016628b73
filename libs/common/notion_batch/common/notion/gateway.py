"""The one place notion-batch talks to Notion: a narrow gateway over ``notion_client``.

The SDK's own retries are off; every attempt, retries included, first waits for the rate
limiter, and :class:`~notion_batch.common.notion.retry.RetryPolicy` decides what happens after a
failure. SDK and httpx exceptions are caught here and nowhere else: classified by
:func:`~notion_batch.common.notion.retry.classify`, then turned into the port's errors by
:func:`~notion_batch.common.notion.translate.error_for`. What Notion accepts in one request
lives in :mod:`.request_limits`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Protocol, Self, cast

import httpx
import structlog
from notion_client import AsyncClient
from notion_client.client import ClientOptions
from notion_client.errors import NotionClientErrorBase

from notion_batch.common.config import NotionSettings
from notion_batch.common.errors import (
    NotionAccessError,
    NotionBlockRefused,
    NotionError,
    NotionRequestError,
    NotionUnavailable,
)
from notion_batch.common.metrics import (
    get_metrics,
    notion_error_code_label,
    notion_status_label,
)
from notion_batch.common.notion.blocks import plain_text
from notion_batch.common.notion.models import PageInfo, PageRead, TodoBlock, UnreadableBlock
from notion_batch.common.notion.pacing import (
    PausableRateLimiter,
    RateLimiter,
    TokenBucketLimiter,
)
from notion_batch.common.notion.request_limits import PAGE_SIZE, chunk_blocks
from notion_batch.common.notion.retry import RetryPolicy, classify
from notion_batch.common.notion.translate import (
    BLOCK_REFUSALS,
    TargetKind,
    error_for,
    is_trash_refusal,
    only_this_subtree,
)
from notion_batch.common.notion.transport import AiohttpTransport

log = structlog.get_logger(__name__)

#: Blocks whose children are not this page's work: child pages and databases hold another
#: page's content; a ``template`` block's children are what its button would copy, not to-dos
#: (templates cannot be created since 2023-03-27 but old pages still hold them:
#: developers.notion.com/reference/block#template).
NOT_DESCENDED = frozenset({"child_page", "child_database", "template"})


@dataclass
class _Scan:
    """The state of one reading of a page."""

    skip: set[str]
    todos: list[TodoBlock] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    #: Containers whose children were listed: a synced block's content is listed once, through
    #: whichever of its original or copies comes first.
    listed: set[str] = field(default_factory=set)
    unreadable: list[UnreadableBlock] = field(default_factory=list)


def _in_trash(obj: dict[str, Any]) -> bool:
    # ``in_trash`` since 2024; ``archived`` only in Notion-Versions before 2026-03-11.
    return bool(obj.get("in_trash") or obj.get("archived"))


def _children_source(block: dict[str, Any], block_id: str) -> str:
    """Whose children make this block's content: a synced copy shows its original's
    (``synced_block.synced_from.block_id``: developers.notion.com/reference/block#synced-block)."""
    if block.get("type") == "synced_block":
        origin = (block.get("synced_block") or {}).get("synced_from")
        if isinstance(origin, dict) and origin.get("block_id"):
            return canonical_id(str(origin["block_id"]))
    return block_id


def canonical_id(value: str) -> str:
    """Lowercase dashed UUID of a Notion id given dashed or as 32 hex digits."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise NotionRequestError(
            f"not a Notion id: {str(value)[:80]!r}", status=None, code="invalid_id"
        ) from None


def _timestamp(value: object) -> datetime | None:
    """Notion's ISO 8601 timestamp (``2026-12-04T19:05:00.000Z``) as an aware datetime."""
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else None


def _page_title(page: dict[str, Any]) -> str:
    for prop in (page.get("properties") or {}).values():
        if isinstance(prop, dict) and prop.get("type") == "title":
            return "".join(str(t.get("plain_text", "")) for t in prop.get("title") or [])
    return ""


class CallCounter(Protocol):
    """Told of every attempt sent to Notion (the fleet's calls per minute, for the console:
    ``common/db/notion_calls.py``); kept in memory, so it costs no I/O per call."""

    def count(self, integration: str, *, rate_limited: bool) -> None: ...


class NotionGateway:
    """The Notion calls notion-batch makes, paced, retried and translated."""

    def __init__(
        self,
        settings: NotionSettings,
        *,
        limiter: RateLimiter | None = None,
        client_logger: logging.Logger | None = None,
        retry_policy: RetryPolicy | None = None,
        calls: CallCounter | None = None,
    ) -> None:
        self._token = settings.token
        self._calls = calls
        self._integration = settings.integration
        self._limiter: RateLimiter = limiter or TokenBucketLimiter(settings.rate_limit_per_second)
        self._policy = retry_policy or RetryPolicy.from_settings(settings)
        # The SDK sets the level of the logger it is given; keep the caller's, and give it
        # a logger of ours otherwise (its default one adds a handler per client).
        sdk_logger = client_logger or logging.getLogger(f"{__name__}.sdk")
        self._client = AsyncClient(
            ClientOptions(
                auth=settings.token,
                base_url=settings.base_url,
                timeout_ms=max(1, int(settings.timeout_seconds * 1000)),
                notion_version=settings.version,
                retry=False,
                logger=sdk_logger,
                log_level=sdk_logger.level if client_logger else logging.ERROR,
            ),
            # httpx's interface over aiohttp's client: a quarter of the CPU per call.
            client=httpx.AsyncClient(transport=AiohttpTransport()),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the port ----------------------------------------------------------------------------

    async def retrieve_page(self, page_id: str) -> PageInfo:
        pid = canonical_id(page_id)
        page = await self._call(
            "retrieve_page", partial(self._client.pages.retrieve, pid), ("page", pid)
        )
        return PageInfo(
            id=canonical_id(page["id"]),
            title=_page_title(page),
            url=str(page.get("url", "")),
            archived=_in_trash(page),
            last_edited_time=_timestamp(page.get("last_edited_time")),
        )

    async def read_todos(self, page_id: str, *, skip_block_ids: Collection[str] = ()) -> PageRead:
        """Every to-do of the page, nested ones included, in document order, and the blocks
        whose children Notion would not list.

        Descends into every block with children (columns, toggles, headings, callouts, quotes,
        synced blocks, through a copy's original) except those in :data:`NOT_DESCENDED` and in
        ``skip_block_ids`` (our own log containers); trashed blocks and what is under them are
        ignored. A to-do reached twice (a synced original and its copy) is listed once. A 4xx
        on listing a block's children skips that subtree only (see :class:`PageRead`); the
        same on the page's own top level raises, as do 401, 429 and unavailability.
        """
        pid = canonical_id(page_id)
        scan = _Scan(skip={canonical_id(b) for b in skip_block_ids})
        scan.listed.add(pid)
        await self._collect_todos(pid, "page", scan)
        return PageRead(todos=tuple(scan.todos), unreadable=tuple(scan.unreadable))

    async def list_todos(
        self, page_id: str, *, skip_block_ids: Collection[str] = ()
    ) -> list[TodoBlock]:
        """The to-dos :meth:`read_todos` finds (unreadable subtrees left out silently)."""
        return list((await self.read_todos(page_id, skip_block_ids=skip_block_ids)).todos)

    async def check_todo(self, block_id: str) -> None:
        """Tick the to-do; checking a checked one again is harmless.

        Raises :class:`NotionBlockRefused` when Notion refuses that edit for that block
        (400, 403, 404: trashed, under a trashed ancestor, deleted, unshared): the caller gives
        up on the to-do; trying again would only be refused again.
        """
        bid = canonical_id(block_id)
        try:
            await self._call(
                "check_todo",
                partial(self._client.blocks.update, bid, to_do={"checked": True}),
                ("block", bid),
            )
        except (NotionAccessError, NotionRequestError) as exc:
            if exc.status not in BLOCK_REFUSALS:
                raise
            raise NotionBlockRefused(
                exc.message,
                status=exc.status,
                code=exc.code,
                detail=exc.detail,
                block_id=bid,
                trashed=is_trash_refusal(exc),
            ) from None

    async def append_blocks(self, parent_id: str, blocks: Sequence[dict[str, Any]]) -> list[str]:
        """Append under a page or block, in as few calls as Notion allows; the new top-level ids.

        Not retried when the outcome is unknown: :class:`NotionUnavailable` with
        ``ambiguous=True`` (and ``appended_ids`` of the chunks that did land) asks the caller
        to reconcile first.
        """
        pid = canonical_id(parent_id)
        created: list[str] = []
        for chunk in chunk_blocks(blocks):
            try:
                answer = await self._call(
                    "append_blocks",
                    partial(self._client.blocks.children.append, pid, children=chunk),
                    ("block", pid),
                    idempotent=False,
                )
            except NotionUnavailable as error:
                error.appended_ids = tuple(created)
                raise
            created.extend(canonical_id(b["id"]) for b in answer.get("results", []))
        return created

    async def list_child_blocks(self, block_id: str) -> list[dict[str, Any]]:
        """The children of a page or block, one level, every page of results."""
        bid = canonical_id(block_id)
        return await self._list_children(bid, "block")

    # -- internals ---------------------------------------------------------------------------

    async def _collect_todos(self, container_id: str, kind: TargetKind, scan: _Scan) -> None:
        for block in await self._list_children(container_id, kind):
            block_id = canonical_id(block["id"])
            if block_id in scan.skip or _in_trash(block):
                continue
            block_type = str(block.get("type"))
            if block_type == "to_do" and block_id not in scan.seen:
                scan.seen.add(block_id)
                scan.todos.append(
                    TodoBlock(
                        block_id=block_id,
                        parent_id=container_id,
                        text=plain_text(block),
                        checked=bool(block["to_do"].get("checked")),
                        position=len(scan.todos),
                    )
                )
            if not block.get("has_children") or block_type in NOT_DESCENDED:
                continue
            source = _children_source(block, block_id)
            if source in scan.listed:
                continue
            scan.listed.add(source)
            try:
                await self._collect_todos(source, "block", scan)
            except NotionError as error:
                if not only_this_subtree(error):
                    raise
                skipped = UnreadableBlock(
                    block_id=block_id,
                    block_type=block_type,
                    listed_id=source,
                    status=error.status,
                    code=error.code,
                    message=error.notion_message or error.message,
                )
                scan.unreadable.append(skipped)
                log.warning(
                    "notion_block_unreadable",
                    block_id=block_id,
                    block_type=block_type,
                    listed_id=source,
                    status=error.status,
                    code=error.code,
                    error=skipped.message,
                )

    async def _list_children(self, container_id: str, kind: TargetKind) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query: dict[str, Any] = {"page_size": PAGE_SIZE}
            if cursor:
                query["start_cursor"] = cursor
            answer = await self._call(
                "list_children",
                partial(self._client.blocks.children.list, container_id, **query),
                (kind, container_id),
            )
            results.extend(answer.get("results") or [])
            cursor = answer.get("next_cursor")
            if not answer.get("has_more") or not cursor:
                return results

    async def _call(
        self,
        operation: str,
        send: Callable[[], Any],
        target: tuple[TargetKind, str],
        *,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """One logical call: paced attempts until success or the policy gives up."""
        metrics = get_metrics()
        attempt = 0
        while True:
            attempt += 1
            waited = time.monotonic()
            await self._limiter.acquire()
            metrics.notion_limiter_wait_seconds.observe(time.monotonic() - waited)
            try:
                answer = await cast(Awaitable[Any], send())
            except (NotionClientErrorBase, httpx.TransportError) as exc:
                failure = classify(exc)
                if failure is None:  # pragma: no cover - classify knows every type caught here
                    raise
                metrics.notion_requests.labels(
                    integration=self._integration,
                    operation=operation,
                    status=notion_status_label(failure.status),
                ).inc()
                if failure.status == 429:
                    metrics.notion_rate_limited.labels(
                        integration=self._integration, operation=operation
                    ).inc()
                if self._calls is not None:
                    self._calls.count(self._integration, rate_limited=failure.status == 429)
                decision = self._policy.decide(failure, attempt=attempt, idempotent=idempotent)
                # What both events of a failed attempt (given up, or retried) tell.
                attempt_log = log.bind(
                    operation=operation,
                    error=failure.message,
                    status=failure.status,
                    code=failure.code,
                    attempt=attempt,
                    target=target[1],
                )
                if decision.pause_all and isinstance(self._limiter, PausableRateLimiter):
                    # Before giving up too: a Retry-After longer than this call waits still
                    # holds back every other call of the integration through the shared limiter.
                    self._limiter.penalize(decision.delay)
                if not decision.retry:
                    status = failure.status
                    if status is not None and 400 <= status < 500 and status != 429:
                        metrics.notion_errors.labels(
                            code=notion_error_code_label(failure.code)
                        ).inc()
                    attempt_log.warning(
                        "notion_request_failed",
                        reason=decision.reason,
                        retry_after_s=failure.retry_after,
                    )
                    raise error_for(
                        operation, target, failure, decision, attempt, redact=self._redact
                    ) from None
                attempt_log.warning("notion_request_retry", delay_s=round(decision.delay, 3))
                await asyncio.sleep(decision.delay)
                continue
            metrics.notion_requests.labels(
                integration=self._integration, operation=operation, status="200"
            ).inc()
            if self._calls is not None:
                self._calls.count(self._integration, rate_limited=False)
            if not isinstance(answer, dict):  # pragma: no cover - Notion answers JSON objects
                raise NotionRequestError(
                    f"Notion answered {operation} with a non-object", status=200, code="bad_answer"
                )
            return answer

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "[redacted]") if self._token else text
