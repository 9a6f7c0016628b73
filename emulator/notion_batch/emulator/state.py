"""Everything one emulator instance holds, and the operations the control API offers on it."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from notion_batch.emulator.blockspec import BlockDraft, parse_control_node
from notion_batch.emulator.clock import Clock
from notion_batch.emulator.demo import seed_demo
from notion_batch.emulator.errors import ApiError, block_not_found, page_not_found
from notion_batch.emulator.faults import Fault, FaultBook
from notion_batch.emulator.ids import canonical_id
from notion_batch.emulator.ratelimit import RateLimiter
from notion_batch.emulator.recording import DEFAULT_REQUEST_LOG_LIMIT, RequestLog
from notion_batch.emulator.shapes import page_url, plain_text, rich_text_item
from notion_batch.emulator.store import PERSON_USER_ID, Block, Store
from notion_batch.emulator.webhooks import WebhookHub

DEFAULT_TOKEN = "secret_emulator_token"


@dataclass(frozen=True)
class EmulatorConfig:
    tokens: frozenset[str] = frozenset({DEFAULT_TOKEN})
    #: Average requests per second per token; ``None`` switches the limit off.
    rate_limit: float | None = 3.0
    rate_burst: int = 3
    #: Seed the demo page (see :mod:`notion_batch.emulator.demo`) at start and on reset.
    demo: bool = False
    #: List archived blocks in children lists. Notion leaves them out; tests of a client's own
    #: filtering can turn this on.
    list_archived: bool = False
    #: Requests the request log keeps (the oldest are dropped beyond).
    request_log_limit: int = DEFAULT_REQUEST_LOG_LIMIT
    #: Webhook subscriptions: changes to a page within this window make one event (Notion's
    #: window is up to a minute), and a failed delivery is retried after this, doubling.
    webhook_aggregation_seconds: float = 1.0
    webhook_retry_seconds: float = 1.0
    #: Writes through ``/v1`` move the page's ``last_edited_time`` too. Notion's did not
    #: (seen: gh/dvanoni/notero#571); on, to test a client against the day that changes.
    api_edits_move_page: bool = False


@dataclass(frozen=True)
class CreatedBlock:
    id: str
    type: str
    text: str
    children: tuple[CreatedBlock, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "text": self.text,
            "children": [c.to_json() for c in self.children],
        }


@dataclass(frozen=True)
class CreatedPage:
    page_id: str
    url: str
    blocks: tuple[CreatedBlock, ...]
    #: Every created block id in document (pre-order) order.
    block_ids: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "page_id": self.page_id,
            "url": self.url,
            "blocks": [b.to_json() for b in self.blocks],
            "block_ids": list(self.block_ids),
        }


def _flatten(blocks: Iterable[CreatedBlock]) -> list[str]:
    out: list[str] = []
    for block in blocks:
        out.append(block.id)
        out.extend(_flatten(block.children))
    return out


class EmulatorState:
    """The store, faults, rate limiter and request log of one running emulator."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.clock = Clock()
        self.store = Store(self.clock, api_edits_move_page=config.api_edits_move_page)
        self.faults = FaultBook()
        self.limiter = RateLimiter(config.rate_limit, config.rate_burst)
        self.requests = RequestLog(config.request_log_limit)
        self.webhooks = WebhookHub(
            aggregation_seconds=config.webhook_aggregation_seconds,
            retry_seconds=config.webhook_retry_seconds,
            clock=self.clock,
        )

    # -- pages and blocks, as a person would make them -------------------------------------

    def create_page(
        self,
        title: str,
        children: Sequence[dict[str, Any]] = (),
        *,
        page_id: str | None = None,
        shared: bool = True,
        shared_with: Iterable[str] | None = None,
        in_trash: bool = False,
    ) -> CreatedPage:
        """Create a page holding a tree of blocks (control API shorthand nodes, see blockspec);
        ``shared_with`` limits it to the integrations holding those tokens; ``in_trash`` puts
        it in the trash (see :meth:`set_in_trash`)."""
        drafts = [parse_control_node(node, f"children[{i}]") for i, node in enumerate(children)]
        pid = canonical_id(page_id, where="page_id") if page_id else None
        if pid is not None and pid in self.store.pages:
            raise ApiError(409, "conflict_error", f"page {pid} already exists")
        only = None if shared_with is None else frozenset(shared_with)
        page = self.store.add_page(title, page_id=pid, shared=shared, shared_with=only)
        created = self.insert(page.id, drafts, author=PERSON_USER_ID)
        page.archived = in_trash
        return CreatedPage(
            page_id=page.id,
            url=page_url(page),
            blocks=tuple(created),
            block_ids=tuple(_flatten(created)),
        )

    def add_children(
        self, parent_id: str, children: Sequence[dict[str, Any]]
    ) -> list[CreatedBlock]:
        """Append blocks under a page or block as a person (not recorded as integration calls)."""
        parent = canonical_id(parent_id)
        if self.store.page_of(parent) is None:
            raise block_not_found(parent)
        drafts = [parse_control_node(node, f"children[{i}]") for i, node in enumerate(children)]
        created = self.insert(parent, drafts, author=PERSON_USER_ID)
        self.changed(parent, _flatten(created), author=PERSON_USER_ID)
        return created

    def insert(
        self,
        parent_id: str,
        drafts: Sequence[BlockDraft],
        *,
        author: str,
        index: int | None = None,
    ) -> list[CreatedBlock]:
        """Add the drafts' blocks under ``parent_id``, in order, from ``index`` (or at the end)."""
        created: list[CreatedBlock] = []
        for i, draft in enumerate(drafts):
            block = self.store.add_block(
                parent_id,
                draft.type,
                draft.content,
                author=author,
                index=None if index is None else index + i,
            )
            block.archived = draft.archived
            children = self.insert(block.id, draft.children, author=author)
            created.append(
                CreatedBlock(
                    id=block.id,
                    type=block.type,
                    text=_text(block),
                    children=tuple(children),
                )
            )
        return created

    def person_update(
        self,
        block_id: str,
        *,
        checked: bool | None = None,
        archived: bool | None = None,
        text: str | None = None,
    ) -> Block:
        """Check/uncheck, archive/restore or retype a block as a person would in the app."""
        block = self.store.blocks.get(canonical_id(block_id))
        if block is None:
            raise block_not_found(block_id)
        if checked is not None:
            if block.type != "to_do":
                raise ApiError(400, "validation_error", "only a to_do block can be checked")
            block.content["checked"] = checked
        if text is not None and "rich_text" in block.content:
            block.content["rich_text"] = [rich_text_item(text)] if text else []
        if archived is not None:
            block.archived = archived
        self.store.touch(block, author=PERSON_USER_ID)
        self.changed(block.id, [block.id], author=PERSON_USER_ID)
        return block

    def changed(self, node_id: str, block_ids: list[str], *, author: str) -> None:
        """Blocks of the page holding ``node_id`` changed: webhook subscriptions hear of it."""
        page = self.store.page_of(node_id)
        if page is not None and self.webhooks.subscriptions:
            self.webhooks.changed(page, block_ids, author)

    def set_shared(self, page_id: str, shared: bool) -> None:
        page = self.store.pages.get(canonical_id(page_id, where="page_id"))
        if page is None:
            raise page_not_found(page_id)
        page.shared = shared

    def set_in_trash(self, page_id: str, in_trash: bool) -> None:
        """A person moves the page to the trash or restores it: ``GET /v1/pages`` then answers
        ``in_trash: true`` (developers.notion.com/reference/page); its blocks are still listed
        (nothing documents otherwise)."""
        page = self.store.pages.get(canonical_id(page_id, where="page_id"))
        if page is None:
            raise page_not_found(page_id)
        page.archived = in_trash
        self.store.touch_page(page.id, author=PERSON_USER_ID)

    def tree(self, page_id: str) -> dict[str, Any]:
        """The page and its whole block tree, archived blocks included and flagged."""
        page = self.store.pages.get(canonical_id(page_id, where="page_id"))
        if page is None:
            raise page_not_found(page_id)
        return {
            "id": page.id,
            "title": page.title,
            "url": page_url(page),
            "shared": page.shared,
            "shared_with": None if page.shared_with is None else sorted(page.shared_with),
            "archived": page.archived,
            "blocks": [self._node(b) for b in self.store.children(page.id, include_archived=True)],
        }

    def _node(self, block: Block) -> dict[str, Any]:
        node: dict[str, Any] = {
            "id": block.id,
            "type": block.type,
            "text": _text(block),
            "archived": block.archived,
            "children": [
                self._node(c) for c in self.store.children(block.id, include_archived=True)
            ],
        }
        if block.type == "to_do":
            node["checked"] = block.content["checked"]
        if "rich_text" in block.content:
            node["rich_text"] = block.content["rich_text"]
        return node

    def todos(self, page_id: str) -> list[dict[str, Any]]:
        """Every to-do of a page in document order: ``{id, text, checked, archived}``."""
        pid = canonical_id(page_id, where="page_id")
        if pid not in self.store.pages:
            raise page_not_found(page_id)
        return [
            {"id": b.id, "text": _text(b), "checked": b.content["checked"], "archived": b.archived}
            for b in self.store.walk(pid)
            if b.type == "to_do"
        ]

    # -- test controls ---------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        return self.faults.add(fault, time.monotonic())

    def set_rate_limit(self, rate: float | None, burst: int | None = None) -> None:
        self.limiter = RateLimiter(rate, self.limiter.burst if burst is None else burst)

    def set_clock_offset(self, offset_seconds: float) -> None:
        """Shift the emulator's time (every stamp it writes from now on) from real time."""
        self.clock.set_offset(offset_seconds)

    def set_api_edits_move_page(self, on: bool) -> None:
        """Whether writes through ``/v1`` move the page's ``last_edited_time`` from now on."""
        self.store.api_edits_move_page = on

    def reset(self) -> None:
        """Back to the state at start: no pages (but the demo one), faults or recorded requests;
        the clock on real time and ``api_edits_move_page`` as configured."""
        self.clock.reset()
        self.store.api_edits_move_page = self.config.api_edits_move_page
        self.store.clear()
        self.faults.clear()
        self.requests.clear()
        self.webhooks.reset()
        self.limiter = RateLimiter(self.config.rate_limit, self.config.rate_burst)
        if self.config.demo:
            seed_demo(self)


def _text(block: Block) -> str:
    if block.type == "child_page":
        return str(block.content.get("title", ""))
    return plain_text(block.content.get("rich_text", []))


#: Where an application built by :func:`notion_batch.emulator.app.create_app` keeps its state.
STATE_KEY: web.AppKey[EmulatorState] = web.AppKey("notion_emulator_state", EmulatorState)
