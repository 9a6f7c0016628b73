import pytest

from notion_batch.common.db.sql import parse_queries, queries


def test_every_query_parses_and_is_named_once() -> None:
    loaded = queries()
    assert {"start_batch", "stop_batch", "claim_due_ticks", "lease_acquire"} <= set(loaded)
    assert all(body.strip() for body in loaded.values())


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        parse_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")
