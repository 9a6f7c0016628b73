"""Named SQL, loaded from ``queries/*.sql`` (one file per concern): the only SQL the services
run, migrations aside. Each statement is introduced by a ``-- name: <name>`` line."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def parse_queries(text: str) -> dict[str, str]:
    """Split a ``-- name: x`` annotated SQL file into {name: sql}."""
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    # parts = [preamble, name1, body1, name2, body2, ...]
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.strip()
    return queries


@cache
def queries() -> dict[str, str]:
    folder = resources.files("notion_batch.common.db").joinpath("queries")
    loaded: dict[str, str] = {}
    for file in sorted(folder.iterdir(), key=lambda f: f.name):
        if not file.name.endswith(".sql"):
            continue
        for name, body in parse_queries(file.read_text("utf-8")).items():
            if name in loaded:
                raise ValueError(f"query {name!r} is defined twice (again in {file.name})")
            loaded[name] = body
    return loaded


def sql(name: str) -> str:
    return queries()[name]
