"""A page as real workspaces hold them, for tests and demos (issue 12; FACTS.md, "Real Notion
pages"): to-dos in columns, toggles, a toggleable heading, a callout and a quote; a block type
the API does not support (listing its children: 400); a synced block with a copy on the same
page, and a copy whose original lives on a page not shared with the integration (404); a
template (its to-do is not work); a trashed to-do and a to-do under a trashed toggle; a child
page and a child database (another page's content).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from notion_batch.emulator.state import EmulatorState


@dataclass(frozen=True)
class RealisticPage:
    page_id: str
    #: Texts of the to-dos a reader must work, in document order.
    live_todos: tuple[str, ...]
    #: Texts of the to-dos that are not work (template, trash, unreadable, other pages).
    other_todos: tuple[str, ...]
    #: Ids of the blocks whose children Notion will not list: the unsupported block, the
    #: copy of the unshared original.
    unreadable_ids: tuple[str, ...]
    #: The synced original on the page and its copy on the same page.
    synced_original_id: str
    synced_copy_id: str


def _todo(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "to_do", "text": text, **extra}


def create_realistic_page(
    state: EmulatorState, title: str = "A real page", *, page_id: str | None = None
) -> RealisticPage:
    """Create the page (``page_id``: with that id) and the unshared page holding the hidden
    original; see the module."""
    hidden = state.create_page(
        "Not shared",
        [{"type": "synced_block", "children": [_todo("hidden original")]}],
        shared=False,
    )
    created = state.create_page(
        title,
        [
            _todo("top"),
            {"type": "unsupported", "block_type": "ai_block", "children": [_todo("inside ai")]},
            {"type": "synced_block", "synced_from": hidden.block_ids[0]},
            {"type": "synced_block", "children": [_todo("synced")]},
            {
                "type": "column_list",
                "children": [
                    {"type": "column", "children": [_todo("column one")]},
                    {"type": "column", "children": [_todo("column two")]},
                ],
            },
            {"type": "toggle", "text": "More", "children": [_todo("in toggle")]},
            {"type": "heading_2", "text": "Section", "children": [_todo("in heading")]},
            {"type": "callout", "text": "Note", "children": [_todo("in callout")]},
            {"type": "quote", "text": "Said", "children": [_todo("in quote")]},
            {"type": "template", "text": "Add a task", "children": [_todo("template")]},
            {
                "type": "toggle",
                "text": "Old",
                "archived": True,
                "children": [_todo("under trashed toggle")],
            },
            _todo("trashed", archived=True),
            {"type": "child_page", "title": "Sub page", "children": [_todo("sub page")]},
            {"type": "child_database", "title": "Tasks"},
        ],
        page_id=page_id,
    )
    original = created.blocks[3].id
    copy = state.add_children(created.page_id, [{"type": "synced_block", "synced_from": original}])[
        0
    ]
    return RealisticPage(
        page_id=created.page_id,
        live_todos=(
            "top",
            "synced",
            "column one",
            "column two",
            "in toggle",
            "in heading",
            "in callout",
            "in quote",
        ),
        other_todos=(
            "inside ai",
            "hidden original",
            "template",
            "under trashed toggle",
            "trashed",
            "sub page",
        ),
        unreadable_ids=(created.blocks[1].id, created.blocks[2].id),
        synced_original_id=original,
        synced_copy_id=copy.id,
    )
