import pytest

from notion_batch.common.errors import InvalidPageId
from notion_batch.common.ids import canonical_page_id

CANONICAL = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


@pytest.mark.parametrize(
    "given",
    [
        "0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
        "0C1D2E3F4A5B4C6D8E7F9A0B1C2D3E4F",
        CANONICAL,
        f"  {CANONICAL}  ",
        "https://www.notion.so/My-Page-0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
        "https://www.notion.so/acme/My-Page-0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f?pvs=4",
        "https://www.notion.so/0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f#abc",
        "notion.so/acme/Title-0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
        "https://acme.notion.site/Title-0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
    ],
)
def test_accepts_ids_uuids_and_urls(given: str) -> None:
    assert canonical_page_id(given) == CANONICAL


@pytest.mark.parametrize(
    "given",
    [
        "",
        "   ",
        "not-a-page",
        "0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4",  # 31 digits
        "0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4fa",  # 33 digits
        "zz1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
        "https://evil.example.com/Title-0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
        "https://www.notion.so/no-id-here",
        "x" * 5000,
    ],
)
def test_rejects_everything_else(given: str) -> None:
    with pytest.raises(InvalidPageId):
        canonical_page_id(given)
