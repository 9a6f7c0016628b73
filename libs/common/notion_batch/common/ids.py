"""Notion page ids as people paste them, turned into the one form we store and answer with.

The one parser of page ids: the API (body and path), its OpenAPI document and the CLI all use
:data:`PAGE_ID_PATTERN` / :func:`canonical_page_id` from here.

Forms a user copies (FACTS.md "Page URLs": gh/NotionX/react-notion-x#647, gh/dvanoni/notero#825,
gh/raycast/extensions#28741, gh/4ier/notion-cli#57, gh/n8n-io/n8n#11643):

- ``0123…cdef`` (32 hex digits) or a dashed UUID;
- ``https://www.notion.so/<workspace>/<Title>-<id>``, ``https://www.notion.so/<Title>-<id>``,
  ``https://www.notion.so/<id>``;
- ``https://<workspace>.notion.site/<Title>-<id>`` (a public page);
- ``https://app.notion.com/p/<id>`` and ``https://app.notion.com/p/<Title>-<id>`` (2026 app);

each optionally followed by ``?source=copy_link``, ``?pvs=N``, ``?v=<view>``, ``#<block>`` or
any other query or fragment, with or without ``https://`` / ``http://``, with trailing slashes
and surrounding blanks. What the link names:

- ``#<block>`` is a block of the page: the page is the path's id;
- ``?v=<view>`` means the path's id is a database (``v`` picks a view). A page opened from it
  in peek mode is ``?v=<view>&p=<page>&pm=s`` (gh/n8n-io/n8n#11643): then ``p`` is the page
  and is what we take. Without ``p`` we take the database's id as given: a database is not a
  page of to-dos, but telling the two apart needs Notion, and the worker's first read of it
  answers what Notion says (its failure reason reaches the batch), which is more useful than
  a guess here.

A custom ``notion.site/<slug>`` link carries no id at all and is refused, like anything else.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlsplit

from notion_batch.common.errors import InvalidPageId

MAX_PAGE_ID_LENGTH = 2048

#: What a refusal lists, for people (the API answers it as ``accepted_forms``).
ACCEPTED_FORMS = (
    "32 hex digits (0123456789abcdef0123456789abcdef)",
    "a dashed UUID (01234567-89ab-cdef-0123-456789abcdef)",
    "https://www.notion.so/<workspace>/<Title>-<id>",
    "https://www.notion.so/<Title>-<id>",
    "https://<workspace>.notion.site/<Title>-<id>",
    "https://app.notion.com/p/<id>",
    "https://app.notion.com/p/<Title>-<id>",
)
HOW_TO_COPY = (
    'In Notion, use the page\'s ••• menu → "Copy link" and paste that link, or its 32 hex digits.'
)

#: An id in the one form we store and answer with, the lowercase dashed UUID (unanchored).
CANONICAL_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

_HEX_ID = r"[0-9a-fA-F]{32}"
_DASHED_ID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ID = f"{_HEX_ID}|{_DASHED_ID}"
_BLANK = r"[ \t\r\n]*"
#: Any subdomain of notion.so (www.), a workspace's notion.site, the 2026 app's host.
_HOST = (
    r"(?:[A-Za-z0-9-]+\.)*notion\.so"
    r"|(?:[A-Za-z0-9-]+\.)+notion\.site"
    r"|app\.notion\.com"
)


def _pattern(segment: str, rest: str) -> str:
    """The grammar, in the subset of regular expressions Python and ECMA-262 (JSON Schema)
    read alike, since the OpenAPI document uses it as the field's ``pattern``.

    Group 1 is a bare id, group 2 the id ending a URL's path (after ``<Title>-`` or alone).
    """
    url = (
        rf"(?:[hH][tT][tT][pP][sS]?://)?(?:{_HOST})"
        rf"(?:/(?:{segment})+)*/(?:(?:{segment})*-)?({_ID})/*(?:[?#]{rest}*)?"
    )
    return rf"^{_BLANK}(?:({_ID})|{url}){_BLANK}$"


#: A page id as people give it (see the module's docstring). A title may hold any character
#: but blanks and ``/?#`` (an address bar shows it unescaped).
PAGE_ID_PATTERN = _pattern(r"[^/?#% \t\r\n]|%[0-9A-Fa-f]{2}", r"[^ \t\r\n]")
#: The same in a URL path, where the value arrives percent-decoded: a URL given there may not
#: hold escapes of its own (a "%" would be ambiguous), which Notion's page URLs never need.
PATH_PAGE_ID_PATTERN = _pattern(r"[^/?#% \t\r\n]", r"[^ \t\r\n%]")
_PAGE_ID = re.compile(PAGE_ID_PATTERN)
_PATH_PAGE_ID = re.compile(PATH_PAGE_ID_PATTERN)
_ANY_ID = re.compile(f"^(?:{_ID})$")
#: A Notion host at the start of what was given: a link to Notion, but not one we can read.
_NOTION_LINK = re.compile(rf"^(?:[hH][tT][tT][pP][sS]?://)?(?:{_HOST})(?:[/?#:]|$)")


def canonical_page_id(value: str, *, in_path: bool = False) -> str:
    """Return the lowercase dashed UUID of a page given in any form of the module's docstring.

    ``in_path``: the value came percent-decoded from a URL path (:data:`PATH_PAGE_ID_PATTERN`).
    Raises :class:`InvalidPageId` with a message fit to show the user.
    """
    if len(value) > MAX_PAGE_ID_LENGTH:
        raise InvalidPageId(f"notion_page_id is too long (at most {MAX_PAGE_ID_LENGTH} characters)")
    match = (_PATH_PAGE_ID if in_path else _PAGE_ID).fullmatch(value)
    if match is None:
        raise InvalidPageId(_refusal(value))
    bare, from_url = match.group(1), match.group(2)
    if bare is not None:
        return str(uuid.UUID(bare))
    peeked = _peeked_page(value.strip())
    return str(uuid.UUID(peeked or from_url))


def _peeked_page(url: str) -> str | None:
    """``p=<id>`` of a database link opening a page in peek mode (``?v=…&p=…&pm=s``)."""
    query = urlsplit(url if "://" in url else f"https://{url}").query
    for candidate in parse_qs(query).get("p", []):
        if _ANY_ID.fullmatch(candidate):
            return candidate
    return None


def _refusal(value: str) -> str:
    text = value.strip()
    forms = f"{'; '.join(ACCEPTED_FORMS)} (each may end in ?query or #block)"
    if not text:
        return f"notion_page_id is empty; it must be one of: {forms}. {HOW_TO_COPY}"
    if _NOTION_LINK.match(text):
        return (
            f"this Notion link holds no page id: {text[:200]!r} (a custom notion.site address, "
            f"for one, does not); notion_page_id must be one of: {forms}. {HOW_TO_COPY}"
        )
    return f"notion_page_id must be one of: {forms}, got {text[:200]!r}. {HOW_TO_COPY}"
