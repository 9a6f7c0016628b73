import re

import pytest

from notion_batch.common.errors import InvalidPageId
from notion_batch.common.ids import (
    ACCEPTED_FORMS,
    PAGE_ID_PATTERN,
    PATH_PAGE_ID_PATTERN,
    canonical_page_id,
)

CANONICAL = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
HEX = CANONICAL.replace("-", "")
OTHER = "11112222-3333-4444-8555-666677778888"  # a block or a view, never the answer
OTHER_HEX = OTHER.replace("-", "")

#: Every place a page link is copied from, as FACTS.md "Page URLs" lists them.
LINKS = [
    f"https://www.notion.so/acme/My-Page-{HEX}",
    f"https://www.notion.so/My-Page-{HEX}",
    f"https://www.notion.so/{HEX}",
    f"https://acme.notion.site/My-Page-{HEX}",
    f"https://app.notion.com/p/{HEX}",
    f"https://app.notion.com/p/My-Page-{HEX}",
]
SUFFIXES = ["", "?source=copy_link", f"?v={OTHER_HEX}", "?pvs=4", f"#{OTHER_HEX}", "/", "//"]


@pytest.mark.parametrize(
    "given",
    [
        HEX,
        HEX.upper(),
        CANONICAL,
        CANONICAL.upper(),
        f"  {CANONICAL}  ",
        f"\t{HEX}\n",
        *[link + suffix for link in LINKS for suffix in SUFFIXES],
        *[f"{link}/?source=copy_link#{OTHER_HEX}" for link in LINKS],
        # No scheme, http://, notion.so without www, blanks around a pasted link.
        *[link.replace("https://", "") for link in LINKS],
        *[link.replace("https://", "http://") for link in LINKS],
        f"notion.so/acme/Title-{HEX}",
        f"https://notion.so/Title-{HEX}?pvs=4",
        f"  https://app.notion.com/p/My-Page-{HEX}?source=copy_link \n",
        f"HTTPS://www.notion.so/{HEX}",
        # A dashed UUID in a link, a title of several words, of digits, of non-Latin letters.
        f"https://www.notion.so/{CANONICAL}",
        f"https://www.notion.so/A-b-c-2024-{HEX}",
        f"https://www.notion.so/acme/장보기-목록-{HEX}",
        f"https://www.notion.so/acme/%EC%9E%A5%EB%B3%B4%EA%B8%B0-{HEX}",
        # A page opened in peek mode from a database view: the page is p, not the database.
        f"https://www.notion.so/acme/{OTHER_HEX}?v={OTHER_HEX}&p={HEX}&pm=s",
    ],
)
def test_accepts_every_copied_form(given: str) -> None:
    assert canonical_page_id(given) == CANONICAL


def test_a_database_view_link_names_the_database() -> None:
    """Without ``p``, ``?v=`` only picks a view: the path's id is what was linked."""
    assert canonical_page_id(f"https://www.notion.so/acme/{HEX}?v={OTHER_HEX}") == CANONICAL


def test_a_block_fragment_names_a_block_of_the_page() -> None:
    given = f"https://app.notion.com/p/Title-{HEX}#{OTHER_HEX}"
    assert canonical_page_id(given) == CANONICAL


@pytest.mark.parametrize(
    "given",
    [
        "",
        "   ",
        "not-a-page",
        HEX[:-1],  # 31 digits
        HEX + "a",  # 33 digits
        "zz" + HEX[2:],
        f"{HEX} {HEX}",
        f"https://evil.example.com/Title-{HEX}",
        f"https://notion.so.evil.example.com/Title-{HEX}",
        f"https://notion.site/Title-{HEX}",  # notion.site needs a workspace
        f"https://app.notion.com.evil/p/{HEX}",
        f"ftp://www.notion.so/{HEX}",
        "https://www.notion.so/no-id-here",
        "https://acme.notion.site/my-custom-slug",  # a custom slug carries no id
        "https://www.notion.so/",
        f"https://www.notion.so/Title-{HEX}abc",  # the id must end the path segment
        f"https://www.notion.so/Title{HEX}",  # …and follow a dash or a slash
        f"https://www.notion.so/Title-{HEX[:-1]}",
        f"https://www.notion.so/?p={HEX}",  # an id only in the query: not a link we know
        f"https://www.notion.so/Title-{HEX} trailing words",
        "x" * 5000,
    ],
)
def test_rejects_everything_else(given: str) -> None:
    with pytest.raises(InvalidPageId):
        canonical_page_id(given)


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("", "is empty"),
        ("https://acme.notion.site/my-custom-slug", "holds no page id"),
        ("acme.notion.site/my-custom-slug", "holds no page id"),
        ("hello", "must be one of"),
        ("x" * 5000, "too long"),
    ],
)
def test_a_refusal_says_why_names_the_forms_and_how_to_copy(given: str, says: str) -> None:
    with pytest.raises(InvalidPageId) as caught:
        canonical_page_id(given)
    message = str(caught.value)
    assert says in message
    if says != "too long":
        assert all(form in message for form in ACCEPTED_FORMS)
        assert '"Copy link"' in message


def test_the_path_form_refuses_escapes_the_body_form_takes() -> None:
    """In a URL path the value arrives decoded: a "%" there is ambiguous."""
    given = f"https://www.notion.so/%EC%9E%A5-{HEX}"
    assert canonical_page_id(given) == CANONICAL
    with pytest.raises(InvalidPageId):
        canonical_page_id(given, in_path=True)
    assert canonical_page_id(f"https://www.notion.so/장-{HEX}", in_path=True) == CANONICAL


def test_one_pattern_decides() -> None:
    """The documented patterns are the parser's: what they take, it takes."""
    for given in [*LINKS, HEX, CANONICAL]:
        assert re.fullmatch(PAGE_ID_PATTERN, given)
        assert re.fullmatch(PATH_PAGE_ID_PATTERN, given)
    assert not re.fullmatch(PAGE_ID_PATTERN, "https://acme.notion.site/my-custom-slug")
