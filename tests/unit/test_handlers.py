"""Handlers: discovery through entry points, loading by name or module:function, the settings
they need, and the set a worker opens at start and closes at shutdown.

Plugins are discovered for real: a test puts a distribution's metadata (``*.dist-info`` with
an ``entry_points.txt``) on ``sys.path``, which is what ``pip install`` leaves behind, and
``importlib.metadata`` finds it as it would an installed package.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from notion_batch.common.errors import ConfigError
from notion_batch.common.handlers import (
    BUILTIN_HANDLER_NAMES,
    HandlerContext,
    Outcome,
    Todo,
    handler_names,
)
from notion_batch.worker.errors import HandlerUnavailable
from notion_batch.worker.handlers import (
    BUILTIN_HANDLERS,
    Handlers,
    complete,
    discover,
    load,
    open_handlers,
    resolve,
)
from notion_batch.worker.http_handler import WebhookHandler
from notion_batch.worker.settings import WorkerSettings

BASE = {
    "DATABASE_URL": "postgresql://u@localhost/db",
    "AMQP_URL": "amqp://guest:guest@localhost/",
    "NOTION_TOKEN": "secret_x",
}
TODO = Todo(
    block_id="0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
    notion_page_id="1c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
    text="water the plants",
    attempt=2,
    batch_run_id=3,
)
#: What the factory below saw happen, in order (module state: the test reads it back).
EVENTS: list[str] = []


@asynccontextmanager
async def recording_factory(ctx: HandlerContext) -> AsyncIterator[object]:
    """A handler factory that records when it is opened and closed."""
    EVENTS.append(f"open {ctx.name}")

    async def handle(todo: Todo) -> Outcome:
        return Outcome.done(f"{ctx.name} did {todo.text}")

    try:
        yield handle
    finally:
        EVENTS.append(f"close {ctx.name}")


@asynccontextmanager
async def broken_factory(ctx: HandlerContext) -> AsyncIterator[object]:
    raise RuntimeError("cannot reach the ticket tracker")
    yield  # type: ignore[unreachable]  # pragma: no cover - makes this a generator


async def plain(todo: Todo) -> str:
    return f"plain {todo.idempotency_key}"


def not_a_handler(todo: Todo) -> str:
    return "sync functions are not handlers"


def install_plugin(
    root: Path, monkeypatch: pytest.MonkeyPatch, entries: dict[str, str], dist: str = "fake-plugin"
) -> None:
    """Leave what ``pip install`` would: a dist-info with entry points, on sys.path."""
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[notion_batch.handlers]\n{lines}")
    monkeypatch.syspath_prepend(str(root))


def context(name: str, **env: str) -> HandlerContext:
    environ = {**BASE, **env}
    return HandlerContext(name, WorkerSettings.from_env(environ), environ)


# -- discovery and loading ------------------------------------------------------------------------


def test_the_built_ins_are_registered_by_name() -> None:
    assert {"complete", "webhook"} <= set(handler_names())
    assert discover()["complete"] == "notion_batch.worker.handlers:complete"
    assert load("complete") is complete
    assert resolve("webhook") == BUILTIN_HANDLERS["webhook"]


def test_the_worker_runs_every_built_in_name_the_api_accepts() -> None:
    assert set(BUILTIN_HANDLERS) == set(BUILTIN_HANDLER_NAMES)
    assert set(discover()) == set(handler_names())


def test_the_names_are_known_without_importing_the_worker() -> None:
    # What the API does to validate a start's "handler": common alone, no worker module.
    code = (
        "import sys\n"
        "from notion_batch.common.handlers import handler_names\n"
        "import notion_batch.api.main\n"
        "assert 'complete' in handler_names() and 'webhook' in handler_names()\n"
        "print(sorted(m for m in sys.modules if m.startswith('notion_batch.worker')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.strip() == "[]"


def test_a_plugin_is_discovered_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, monkeypatch, {"recorder": f"{__name__}:recording_factory"})
    assert "recorder" in handler_names()
    assert load("recorder") is recording_factory


def test_a_plugin_cannot_take_a_built_in_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, monkeypatch, {"complete": f"{__name__}:plain"})
    assert load("complete") is complete


def test_module_function_specs_still_load() -> None:
    assert load(f"{__name__}:plain") is plain
    assert load("notion_batch.worker.handlers:complete") is complete


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("no-such-handler", "unknown handler 'no-such-handler'; installed: "),
        ("no.such.module:handler", "cannot import 'no.such.module'"),
        (f"{__name__}:missing", "has no attribute 'missing'"),
        (f"{__name__}:TODO", "is not an async function or a handler factory"),
        (":handler", "must look like 'package.module:function'"),
    ],
)
def test_what_cannot_load_is_a_config_error_naming_todo_handler(spec: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(spec)
    assert caught.value.variable == "TODO_HANDLER"
    assert problem in str(caught.value)


def test_an_unknown_name_lists_the_installed_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        WorkerSettings.from_env({**BASE, "TODO_HANDLER": "nope"})
    assert caught.value.variable == "TODO_HANDLER"
    assert "complete" in caught.value.problem
    assert "webhook" in caught.value.problem


# -- settings -------------------------------------------------------------------------------------


def test_the_default_handler_is_complete_and_the_webhook_is_off() -> None:
    settings = WorkerSettings.from_env(BASE)
    assert settings.handler == "complete"
    assert settings.webhook.url is None
    assert settings.webhook.timeout_seconds == 10.0


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"TODO_HANDLER": "webhook"}, "TODO_WEBHOOK_URL"),
        ({"TODO_WEBHOOK_URL": "ftp://hooks.example.com/x"}, "TODO_WEBHOOK_URL"),
        ({"TODO_WEBHOOK_URL": "not a url"}, "TODO_WEBHOOK_URL"),
        (
            {"TODO_WEBHOOK_URL": "https://h.example.com", "TODO_WEBHOOK_TIMEOUT_SECONDS": "0"},
            "TODO_WEBHOOK_TIMEOUT_SECONDS",
        ),
    ],
)
def test_webhook_settings_are_validated_and_named(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WorkerSettings.from_env({**BASE, **env})
    assert caught.value.variable == variable


def test_a_webhook_url_is_kept_as_given() -> None:
    url = "https://hooks.example.com/T000/B000/"
    settings = WorkerSettings.from_env({**BASE, "TODO_HANDLER": "webhook", "TODO_WEBHOOK_URL": url})
    assert settings.webhook.url == url


def test_a_worker_with_the_webhook_as_default_and_no_url_exits_2_naming_it() -> None:
    exe = os.path.join(os.path.dirname(sys.executable), "notion-batch-worker")
    proc = subprocess.run(
        [exe],
        env={"PATH": os.environ["PATH"], **BASE, "TODO_HANDLER": "webhook"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert "TODO_WEBHOOK_URL" in proc.stderr.strip()


# -- the set a worker opens -----------------------------------------------------------------------


async def test_factories_open_at_start_and_close_at_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, monkeypatch, {"recorder": f"{__name__}:recording_factory"})
    EVENTS.clear()
    async with open_handlers(context("complete")) as handlers:
        assert EVENTS == ["open recorder"]
        assert await handlers.get(None)(TODO) == Outcome.done("completed by notion-batch")
        assert await handlers.get("recorder")(TODO) == Outcome.done("recorder did water the plants")
        assert "recorder" in handlers.names
    assert EVENTS == ["open recorder", "close recorder"]


async def test_the_default_may_be_a_plugin_or_a_module_function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, monkeypatch, {"recorder": f"{__name__}:recording_factory"})
    EVENTS.clear()
    async with open_handlers(context("recorder", TODO_HANDLER="recorder")) as handlers:
        assert handlers.get(None) is handlers.get("recorder")
    assert EVENTS == ["open recorder", "close recorder"]
    async with open_handlers(context(f"{__name__}:plain")) as handlers:
        assert await handlers.get(None)(TODO) == f"plain {TODO.idempotency_key}"


async def test_a_handler_that_cannot_open_is_unavailable_unless_it_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, monkeypatch, {"broken": f"{__name__}:broken_factory"})
    async with open_handlers(context("complete")) as handlers:
        with pytest.raises(HandlerUnavailable, match="cannot reach the ticket tracker"):
            handlers.get("broken")
        # No TODO_WEBHOOK_URL here: the webhook is off on this worker, and says why.
        with pytest.raises(HandlerUnavailable, match="TODO_WEBHOOK_URL"):
            handlers.get("webhook")
        with pytest.raises(HandlerUnavailable, match="not installed"):
            handlers.get("never-installed")
    with pytest.raises(RuntimeError, match="ticket tracker"):
        async with open_handlers(context("broken", TODO_HANDLER="broken")):
            pass


async def test_a_sync_function_is_refused_when_the_worker_opens_it() -> None:
    with pytest.raises(ConfigError) as caught:
        async with open_handlers(context(f"{__name__}:not_a_handler")):
            pass
    assert caught.value.variable == "TODO_HANDLER"
    assert "neither an async function nor a handler factory" in caught.value.problem


async def test_the_webhook_opens_one_session_for_the_worker_and_closes_it() -> None:
    ctx = context("complete", TODO_WEBHOOK_URL="http://127.0.0.1:9/hook")
    async with open_handlers(ctx) as handlers:
        webhook = handlers.get("webhook")
        assert isinstance(webhook, WebhookHandler)
        session = webhook._session
        assert not session.closed
    assert session.closed


def test_a_single_handler_serves_every_batch() -> None:
    handlers = Handlers(plain)
    assert handlers.get(None) is plain
    with pytest.raises(HandlerUnavailable):
        handlers.get("webhook")
