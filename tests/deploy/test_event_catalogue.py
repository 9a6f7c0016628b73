"""docs/operations.md's event catalogue is true: the events the code emits, no more, no less.

Every ``log.<level>("event", field=…)`` call in libs/ and services/ is found with ``ast``;
each must be in the catalogue with its emitting module (the ``logger`` field of the JSON
line), its level and every field it passes. Context fields bound through contextvars must
be in the context table. Dashboards and alerts filter on these names: a rename that is not
written down here breaks them silently, so it fails here instead.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import pytest

from tests.deploy import support

OPERATIONS = support.ROOT / "docs/operations.md"
#: ``log.exception`` writes level ``error`` (with the traceback).
_LEVEL_SHOWN = {"exception": "error", "critical": "critical"}
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


@dataclass(frozen=True)
class Entry:
    event: str
    levels: frozenset[str]
    loggers: frozenset[str]
    fields: frozenset[str]


def section(title: str) -> str:
    text = OPERATIONS.read_text()
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"docs/operations.md has no section {title!r}"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("| `"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


@pytest.fixture(scope="module")
def catalogue() -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    for row in table_rows(section("Event catalogue")):
        event, level, logger, _when, fields = row
        (name,) = ticked(event)
        assert name not in entries, f"{name} is listed twice"
        entries[name] = Entry(
            event=name,
            levels=frozenset(level.replace(" ", "").split(",")),
            loggers=frozenset(ticked(logger)),
            fields=frozenset(ticked(fields)),
        )
    assert entries
    return entries


def logger_name(module: str) -> str:
    """``services/worker/notion_batch/worker/tick.py`` → ``notion_batch.worker.tick``."""
    path = module[module.index("notion_batch/") :].removesuffix(".py")
    return path.replace("/", ".")


def test_every_log_call_names_its_event_with_a_literal() -> None:
    emissions = support.log_events()
    assert len(emissions) > 20  # the collector finds the product's calls
    bad = [f"{e.module}:{e.line} {e.event}" for e in emissions if not _SNAKE.match(e.event)]
    assert not bad, "log events must be literal snake_case names:\n" + "\n".join(bad)


def test_every_emitted_event_is_in_the_catalogue(catalogue: dict[str, Entry]) -> None:
    missing = sorted({e.event for e in support.log_events()} - set(catalogue))
    assert not missing, f"add these events to docs/operations.md (Event catalogue): {missing}"


def test_every_catalogued_event_is_emitted(catalogue: dict[str, Entry]) -> None:
    stale = sorted(set(catalogue) - {e.event for e in support.log_events()})
    assert not stale, f"docs/operations.md lists events the code no longer emits: {stale}"


def test_modules_levels_and_fields_match(catalogue: dict[str, Entry]) -> None:
    problems = []
    by_event: dict[str, list[support.Emission]] = {}
    for emission in support.log_events():
        by_event.setdefault(emission.event, []).append(emission)
    for event, emissions in sorted(by_event.items()):
        entry = catalogue.get(event)
        if entry is None:
            continue  # reported by the test above
        loggers = {logger_name(e.module) for e in emissions}
        if loggers != entry.loggers:
            problems.append(
                f"{event}: emitted by {sorted(loggers)}, listed {sorted(entry.loggers)}"
            )
        levels = {_LEVEL_SHOWN.get(e.level, e.level) for e in emissions}
        if levels != entry.levels:
            problems.append(f"{event}: level {sorted(levels)}, listed {sorted(entry.levels)}")
        fields = frozenset().union(*(e.fields for e in emissions))
        if not fields <= entry.fields:
            problems.append(f"{event}: fields {sorted(fields - entry.fields)} are not listed")
    assert not problems, "docs/operations.md (Event catalogue) is out of date:\n" + "\n".join(
        problems
    )


def test_context_fields_are_documented() -> None:
    documented = {
        ticked(row[0])[0] for row in table_rows(section("Fields on every line, and context fields"))
    }
    bound: set[str] = set()
    for path in support.source_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("bind_contextvars", "bound_contextvars")
            ):
                bound |= {k.arg for k in node.keywords if k.arg}
    assert {"service", "notion_page_id", "tick_id"} <= bound
    assert bound <= documented, f"context fields missing from the table: {bound - documented}"
    assert {"timestamp", "level", "logger", "event"} <= documented
