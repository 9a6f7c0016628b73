"""The example plugin, as notion-batch sees it: found through its entry point, opened with a
context, run on to-dos."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import cast

import pytest

from notion_batch.common.errors import ConfigError
from notion_batch.common.handlers import (
    ENTRY_POINT_GROUP,
    HandlerContext,
    HandlerFactory,
    Outcome,
    Todo,
    handler_names,
)
from notion_batch.worker.handlers import load
from notion_batch.worker.settings import WorkerSettings

ENV = {
    "DATABASE_URL": "postgresql://u@localhost/db",
    "AMQP_URL": "amqp://guest:guest@localhost/",
    "NOTION_TOKEN": "secret_x",
    "TODO_HANDLER": "triage",
}


def todo(text: str) -> Todo:
    return Todo(
        block_id="0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
        notion_page_id="1c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
        text=text,
        attempt=1,
        batch_run_id=7,
    )


def context(**env: str) -> HandlerContext:
    environ = {**ENV, **env}
    return HandlerContext("triage", WorkerSettings.from_env(environ), environ)


def triage() -> HandlerFactory:
    """The handler as a worker finds it: by name, through the entry point."""
    return cast(HandlerFactory, load("triage"))


def test_the_package_registers_triage_as_an_entry_point() -> None:
    (entry,) = [e for e in entry_points(group=ENTRY_POINT_GROUP) if e.name == "triage"]
    assert entry.value == "notion_batch_example.triage:triage"
    assert entry.dist is not None
    assert entry.dist.name == "notion-batch-plugin-example"
    assert "triage" in handler_names()


async def test_triage_defers_what_mentions_a_skip_word_and_does_the_rest() -> None:
    async with triage()(context()) as handle:
        assert await handle(todo("Call the plumber")) == Outcome.done("triaged on attempt 1")
        assert await handle(todo("Paint the fence, LATER")) == Outcome.skip(
            "deferred: mentions 'later'"
        )


async def test_the_skip_words_come_from_the_environment() -> None:
    async with triage()(context(TRIAGE_SKIP_WORDS="maybe, one day")) as handle:
        assert (await handle(todo("maybe tidy up"))).status == "skipped"
        assert (await handle(todo("someday tidy up"))).status == "done"


async def test_an_empty_skip_list_is_a_configuration_error_naming_it() -> None:
    with pytest.raises(ConfigError) as caught:
        async with triage()(context(TRIAGE_SKIP_WORDS=" , ")):
            pass
    assert caught.value.variable == "TRIAGE_SKIP_WORDS"
