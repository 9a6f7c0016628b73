"""The demo pages, at fixed ids to paste into the product while trying it out: a tidy page of
to-dos, and a page as real workspaces hold them (:mod:`notion_batch.emulator.realistic`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from notion_batch.emulator.realistic import create_realistic_page

if TYPE_CHECKING:
    from notion_batch.emulator.state import CreatedPage, EmulatorState

DEMO_PAGE_ID = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
DEMO_TITLE = "notion-batch demo"
#: The second demo page: unsupported blocks, synced copies (one of an unshared original),
#: columns, toggles, a template, trash, a child page and database around its to-dos.
REAL_DEMO_PAGE_ID = "1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a"
REAL_DEMO_TITLE = "notion-batch demo: a real page"


def _todo(text: str, checked: bool = False) -> dict[str, Any]:
    return {"type": "to_do", "text": text, "checked": checked}


DEMO_BLOCKS: list[dict[str, Any]] = [
    {"type": "heading_2", "text": "Things to do"},
    {"type": "paragraph", "text": "Each tick of a batch completes some of these to-dos."},
    _todo("Water the plants"),
    _todo("Reply to Alice's email"),
    _todo("Book the dentist", checked=True),
    _todo("Pay the electricity bill"),
    _todo("Back up the laptop"),
    {"type": "divider"},
    {
        "type": "toggle",
        "text": "Weekend errands",
        "children": [
            _todo("Buy coffee beans"),
            _todo("Return the library books"),
            _todo("Fix the bike's rear light"),
        ],
    },
    _todo("Call the plumber"),
    _todo("Renew the passport"),
    _todo("Plan next week's meals"),
    _todo("Read chapter 4"),
]


def seed_demo(state: EmulatorState) -> CreatedPage:
    """Create both demo pages; the tidy one is returned."""
    created = state.create_page(DEMO_TITLE, DEMO_BLOCKS, page_id=DEMO_PAGE_ID)
    create_realistic_page(state, REAL_DEMO_TITLE, page_id=REAL_DEMO_PAGE_ID)
    return created
