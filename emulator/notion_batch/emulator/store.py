"""The emulated workspace: pages and their block trees, in memory.

A page is also a container of blocks (``GET /v1/blocks/{page_id}/children`` lists its top level).
Every block remembers the page it lives on, so sharing is decided per page. Archived blocks stay
in the tree (``GET /v1/blocks/{id}`` still finds them) but are left out of children lists, as
Notion does, unless the emulator is told otherwise.

Stamps, as Notion's (FACTS.md "Timestamps"): ``created_time``/``last_edited_time`` come from the
emulator's :class:`~notion_batch.emulator.clock.Clock`, rounded down to the minute. An edit moves
the edited block's own stamp; it moves the page's stamp only when a person made it (at any
depth), not when the integration did through ``/v1`` — unless ``api_edits_move_page`` is on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from notion_batch.emulator.clock import Clock
from notion_batch.emulator.ids import new_id

#: The user Notion names as author of what the integration writes.
BOT_USER_ID = "5e1f0b7a-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
#: The user named as author of what a person does through the control API.
PERSON_USER_ID = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"


@dataclass
class Block:
    id: str
    type: str
    #: The type-specific object (``block[block.type]``) without children, e.g. ``{"rich_text": […],
    #: "checked": false, "color": "default"}`` for a to-do.
    content: dict[str, Any]
    parent_id: str
    page_id: str
    created_time: str
    last_edited_time: str
    created_by: str
    last_edited_by: str
    archived: bool = False
    children: list[str] = field(default_factory=list)


@dataclass
class Page:
    id: str
    title: str
    created_time: str
    last_edited_time: str
    shared: bool = True
    #: The integrations (by token) the page is shared with; ``None``: every one the emulator
    #: accepts. Notion shows a page only to the integrations it was shared with.
    shared_with: frozenset[str] | None = None
    archived: bool = False
    children: list[str] = field(default_factory=list)

    def visible_to(self, token: str | None) -> bool:
        return self.shared and (self.shared_with is None or token in self.shared_with)


class Store:
    """Pages and blocks by id, with the few tree operations the routes need."""

    def __init__(self, clock: Clock, *, api_edits_move_page: bool = False) -> None:
        self.pages: dict[str, Page] = {}
        self.blocks: dict[str, Block] = {}
        self.clock = clock
        #: Whether the integration's own writes (author :data:`BOT_USER_ID`) move the page's
        #: ``last_edited_time`` too. Off, as seen of Notion (gh/dvanoni/notero#571: API edits
        #: left the page's stamp, edits in the app moved it); on, for the day Notion changes.
        self.api_edits_move_page = api_edits_move_page

    def clear(self) -> None:
        self.pages.clear()
        self.blocks.clear()

    def add_page(
        self,
        title: str,
        *,
        page_id: str | None = None,
        shared: bool = True,
        shared_with: frozenset[str] | None = None,
    ) -> Page:
        stamp = self.clock.stamp()
        page = Page(
            id=page_id or new_id(),
            title=title,
            created_time=stamp,
            last_edited_time=stamp,
            shared=shared,
            shared_with=shared_with,
        )
        self.pages[page.id] = page
        return page

    def add_block(
        self,
        parent_id: str,
        block_type: str,
        content: dict[str, Any],
        *,
        author: str,
        index: int | None = None,
    ) -> Block:
        """Add a block among ``parent_id``'s children (a page or a block): at ``index``, or at
        the end."""
        parent_page = self.page_of(parent_id)
        if parent_page is None:
            raise KeyError(parent_id)
        stamp = self.clock.stamp()
        block = Block(
            id=new_id(),
            type=block_type,
            content=content,
            parent_id=parent_id,
            page_id=parent_page.id,
            created_time=stamp,
            last_edited_time=stamp,
            created_by=author,
            last_edited_by=author,
        )
        self.blocks[block.id] = block
        siblings = self.child_ids(parent_id)
        siblings.insert(len(siblings) if index is None else index, block.id)
        self.touch_page(parent_page.id, author=author, stamp=stamp)
        return block

    def child_ids(self, container_id: str) -> list[str]:
        """The ordered children of a page or block, archived ones included (mutable)."""
        page = self.pages.get(container_id)
        if page is not None:
            return page.children
        return self.blocks[container_id].children

    def children(self, container_id: str, *, include_archived: bool = False) -> list[Block]:
        blocks = [self.blocks[i] for i in self.child_ids(container_id)]
        return blocks if include_archived else [b for b in blocks if not b.archived]

    def has_children(self, block: Block, *, include_archived: bool = False) -> bool:
        origin = self.synced_origin(block)
        if origin is not None:
            # A copy shows its original's content, and says so even when the original is not
            # shared with the caller (seen: gh/openclaw/notcrawl#37).
            original = self.blocks.get(origin)
            return original is not None and self.has_children(
                original, include_archived=include_archived
            )
        if include_archived:
            return bool(block.children)
        return any(not self.blocks[i].archived for i in block.children)

    @staticmethod
    def synced_origin(block: Block) -> str | None:
        """The original's id of a synced copy (``synced_from.block_id``), else ``None``
        (developers.notion.com/reference/block#synced-block)."""
        if block.type != "synced_block":
            return None
        origin = block.content.get("synced_from")
        return str(origin["block_id"]) if isinstance(origin, dict) else None

    def trashed_ancestor(self, block_id: str) -> Block | None:
        """The nearest trashed block above ``block_id`` (not itself), if any. Editing under one
        answers 400 "Can't edit page on block with an archived ancestor." (seen in other
        projects' tests; FACTS.md, "Editing trashed blocks")."""
        block = self.blocks.get(block_id)
        while block is not None:
            block = self.blocks.get(block.parent_id)
            if block is not None and block.archived:
                return block
        return None

    def page_of(self, page_or_block_id: str) -> Page | None:
        page = self.pages.get(page_or_block_id)
        if page is not None:
            return page
        block = self.blocks.get(page_or_block_id)
        return None if block is None else self.pages.get(block.page_id)

    def touch(self, block: Block, *, author: str) -> None:
        """``author`` edited ``block``: its own stamp moves, its page's as :meth:`touch_page`
        decides."""
        block.last_edited_time = self.clock.stamp()
        block.last_edited_by = author
        self.touch_page(block.page_id, author=author, stamp=block.last_edited_time)

    def touch_page(self, page_id: str, *, author: str, stamp: str | None = None) -> None:
        """Something on the page changed: its ``last_edited_time`` moves when a person changed
        it, or the integration did and ``api_edits_move_page`` is on (gh/dvanoni/notero#571).
        A person's edit of a nested block moving the page's stamp is an assumption: nothing
        public says so either way (FACTS.md "Timestamps", open; expected yes for people)."""
        page = self.pages.get(page_id)
        if page is None or (author == BOT_USER_ID and not self.api_edits_move_page):
            return
        page.last_edited_time = stamp or self.clock.stamp()

    def walk(self, container_id: str) -> list[Block]:
        """Every block under a container, archived included, in document (pre-order) order."""
        out: list[Block] = []
        stack = list(reversed(self.child_ids(container_id)))
        while stack:
            block = self.blocks[stack.pop()]
            out.append(block)
            stack.extend(reversed(block.children))
        return out
