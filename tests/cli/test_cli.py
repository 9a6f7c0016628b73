"""``notion-batch`` against a live stack: what an operator types and what they see, what a
script gets with ``--json``, the exit codes, and ``status --watch`` ending with the batch."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from notion_batch.cli.main import run
from notion_batch.common.config import ApiAuthSettings, Env
from notion_batch.common.db.migrate import load_migrations
from tests.cli.conftest import READ_KEY, WRITE_KEY, CliStack, run_cli
from tests.e2e.stack import API_KEY, TOKEN, wait_for

pytestmark = pytest.mark.e2e


def notion_url(page_id: str) -> str:
    return f"https://www.notion.so/acme/Chores-{page_id.replace('-', '')}?pvs=4"


async def test_an_operator_runs_a_batch_from_start_to_history(cli_stack: CliStack) -> None:
    page = await cli_stack.page(5)

    # Started twice at once with one key (a script retrying): one batch, one answer.
    key = str(uuid.uuid4())
    start = ("start", notion_url(page), "--interval", "1s", "--duration", "1h")
    started, retried = await asyncio.gather(
        cli_stack.cli(*start, "--idempotency-key", key, "--json"),
        cli_stack.cli(*start, "--idempotency-key", key, "--json"),
    )
    assert (started.code, retried.code) == (0, 0), (started.err, retried.err)
    answer = json.loads(started.out)
    assert json.loads(retried.out) == answer
    assert answer["notion_page_id"] == page and answer["interval_seconds"] == 1
    assert answer["duration_seconds"] == 3600

    async def all_done() -> dict | None:
        result = await cli_stack.cli("status", page, "--json")
        status = json.loads(result.out)
        return status if status["todos"]["done"] == 5 else None

    await wait_for(all_done, timeout=30, what="the 5 to-dos done")

    shown, running, todos, first_two, every_page, only_pending = await asyncio.gather(
        cli_stack.cli("status", page),
        cli_stack.cli("status"),
        cli_stack.cli("todos", page),
        cli_stack.cli("todos", page, "--limit", "2"),
        cli_stack.cli("todos", page, "--limit", "2", "--all", "--json"),
        cli_stack.cli("todos", page, "--status", "pending", "--json"),
    )
    assert shown.code == 0
    assert f"page       {page}" in shown.out
    assert "status     running" in shown.out
    assert "5 done · 0 skipped · 0 pending (this run)" in shown.out
    assert f"{answer['run_id']} · every 1s" in shown.out

    assert running.code == 0
    assert running.out.splitlines()[0].split() == ["PAGE", "STARTED", "ENDS", "LEFT"]
    assert page in running.out and "1 running" in running.out

    assert todos.code == 0, todos.err
    lines = todos.out.splitlines()
    assert lines[0].split()[:4] == ["#", "STATUS", "FAILED", "PROCESSED"]
    assert [line.split()[1] for line in lines[1:6]] == ["done"] * 5
    assert "task 0" in todos.out and "handled" in todos.out
    assert "5 to-dos on the page: 5 done, 0 skipped, 0 pending" in todos.out

    assert "more: notion-batch todos" in first_two.out and "--cursor" in first_two.out
    every = json.loads(every_page.out)
    assert [t["text"] for t in every["todos"]] == [f"task {i}" for i in range(5)]
    assert every["has_more"] is False
    pending = json.loads(only_pending.out)
    assert pending["todos"] == [] and pending["counts"]["done"] == 5

    extended = await cli_stack.cli("extend", page, "10m")
    assert extended.code == 0, extended.err
    assert extended.out.startswith(f"Extended the batch on {page} by 10m: it now ends")
    after = json.loads((await cli_stack.cli("status", page, "--json")).out)
    moved = datetime.fromisoformat(after["end_time"]) - datetime.fromisoformat(answer["end_time"])
    assert moved == timedelta(minutes=10)

    stopped = await cli_stack.cli("stop", page)
    assert stopped.code == 0, stopped.err
    assert stopped.out.startswith(f"Stopped the batch on {page} (run {answer['run_id']}) at ")

    again = await cli_stack.cli("stop", page)
    assert again.code == 1 and again.out == ""
    assert again.err.strip().splitlines() == [
        f"notion-batch: 409 Conflict: no batch is running for page {page}"
    ]

    history = await cli_stack.cli("history", page)
    assert history.code == 0
    header, row = history.out.splitlines()[:2]
    assert header.split()[:5] == ["RUN", "STATUS", "STARTED", "ENDED", "HOW"]
    assert row.split()[0] == str(answer["run_id"]) and "stopped" in row.split()
    runs = json.loads((await cli_stack.cli("history", page, "--json")).out)["runs"]
    assert runs[0]["end_reason"] == "stopped" and runs[0]["todos"]["done"] == 5

    # No secret of this run is in any service's log.
    logs = cli_stack.stack.logs()
    for secret in (TOKEN, WRITE_KEY, READ_KEY, API_KEY):
        assert secret not in logs


async def test_status_todos_and_history_agree_and_say_the_status_once(
    cli_stack: CliStack,
) -> None:
    """Issue 16: a to-do a person checked before the run is counted as skipped by status,
    to-dos and history alike, and the status line says "running" once."""
    created = await cli_stack.stack.notion(
        "POST",
        "/_emulator/pages",
        json={
            "title": "counts",
            "children": [
                {"type": "to_do", "text": "checked first", "checked": True},
                *({"type": "to_do", "text": f"task {i}"} for i in range(3)),
            ],
        },
    )
    page = str(created["page_id"])
    started = await cli_stack.cli("start", page, "--interval", "1s", "--duration", "1h")
    assert started.code == 0, started.err

    async def summarised() -> dict | None:
        status = json.loads((await cli_stack.cli("status", page, "--json")).out)
        return status if status["db_message"].startswith("running — 4 of 4") else None

    answer = await wait_for(summarised, timeout=30, what="the run's summary of 4 to-dos")
    assert answer["todos"] == {"done": 3, "skipped": 1, "pending": 0}

    shown, todos = await asyncio.gather(cli_stack.cli("status", page), cli_stack.cli("todos", page))
    assert shown.code == 0 and todos.code == 0, (shown.err, todos.err)
    assert "running — running" not in shown.out
    [line] = [line for line in shown.out.splitlines() if line.startswith("status ")]
    assert line.split(None, 1)[1].startswith(
        "running — 4 of 4 to-dos processed (3 done, 1 skipped), 0 pending; last tick: "
    )
    assert "3 done · 1 skipped · 0 pending (this run)" in shown.out
    assert "4 to-dos on the page: 3 done, 1 skipped, 0 pending" in todos.out
    assert "already checked in Notion" in todos.out

    assert (await cli_stack.cli("stop", page)).code == 0
    history = await cli_stack.cli("history", page)
    row = history.out.splitlines()[1]
    assert row.split()[1] == "completed" and "completed — " not in row  # said once
    assert row.rstrip().endswith("stopped by request")
    runs = json.loads((await cli_stack.cli("history", page, "--json")).out)["runs"]
    assert runs[0]["todos"] == {"done": 3, "skipped": 1}


class Terminal(io.StringIO):
    """Output that says it is a terminal, as a person's would."""

    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


async def test_watch_follows_a_batch_until_it_ends(
    cli_stack: CliStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = await cli_stack.page(6)
    missing = str(uuid.uuid4())  # a page Notion (the emulator) does not have: it fails
    started, doomed = await asyncio.gather(
        cli_stack.cli("start", page, "--interval", "1", "--duration", "3"),
        cli_stack.cli("start", missing, "--interval", "1", "--duration", "60"),
    )
    assert (started.code, doomed.code) == (0, 0), (started.err, doomed.err)
    assert started.out.startswith(f"Started a batch on {page} (run ")

    # A person at a terminal: the same watch, in this process, drawing on one line.
    for name, value in cli_stack.env().items():
        monkeypatch.setenv(name, value)
    terminal = Terminal()
    began = time.monotonic()
    watched, failed, at_terminal = await asyncio.gather(
        cli_stack.cli("status", page, "--watch", "--every", "0.3", timeout=30),
        cli_stack.cli("status", missing, "--watch", "--every", "0.3", timeout=30),
        asyncio.to_thread(run, ["status", page, "--watch", "--every", "0.3"], terminal),
    )
    assert watched.code == 0, watched.err
    assert time.monotonic() - began < 15
    lines = watched.out.splitlines()
    # Without a terminal: a line per change, the last one the ending.
    # The status said once (not "Batch completed: completed — …").
    assert lines[-1].startswith("Batch completed — batch expired")
    progress = lines[:-1]
    assert progress and all(line.startswith("[") for line in progress)
    assert any("/6 to-dos" in line for line in progress)
    assert progress[-1].split("]")[1].split()[0] == "6/6"
    assert "completed" in progress[-1]
    assert len(progress) == len(set(progress))  # not one line per poll

    assert at_terminal == 0
    drawn = terminal.getvalue()
    assert drawn.startswith("\r[") and "\x1b[K" in drawn  # redrawn in place
    assert "█" in drawn and "left · running" in drawn
    assert drawn.count("\n") == 2  # the bar's line ends once, then the ending is printed
    assert drawn.endswith("\n" + lines[-1] + "\n")

    # A batch that failed ends the watch with exit code 3.
    assert failed.code == 3, failed
    assert failed.out.splitlines()[-1].startswith("Batch failed — ")

    # For scripts: one JSON status per poll, the last one no longer running.
    again = await cli_stack.cli("status", page, "--watch", "--json")
    answers = [json.loads(line) for line in again.out.splitlines()]
    assert len(answers) == 1 and answers[0]["db_status"] == "completed"


async def test_failures_are_one_line_with_an_exit_code(cli_stack: CliStack, tmp_path: Path) -> None:
    page = await cli_stack.page(1)
    cases = [
        # (arguments, key, exit code, what stderr says)
        (("status",), None, 1, "401 Unauthorized: missing API key"),
        (("status",), "not-a-key-anyone-has-0000", 1, "401 Unauthorized: invalid API key"),
        (("start", page), READ_KEY, 1, "403 Forbidden: API key 'viewer' lacks the 'write'"),
        (("status", page), READ_KEY, 1, f"404 Not Found: no batch is known for page {page}"),
        (("extend", page, "5m"), WRITE_KEY, 1, "409 Conflict: no batch is running"),
        (("start", "not-a-page"), WRITE_KEY, 2, "argument PAGE: PAGE must be"),
        (("start", page, "--duration", "soon"), WRITE_KEY, 2, "not a duration: 'soon'"),
        (("todos", page, "--status", "lost"), WRITE_KEY, 2, "use pending, done, skipped"),
        (("history", page, "--limit", "500"), WRITE_KEY, 1, "limit must be between 1 and 100"),
        (("status", "--watch"), WRITE_KEY, 2, "--watch needs a PAGE"),
    ]
    results = await asyncio.gather(*(cli_stack.cli(*args, key=key) for args, key, _, _ in cases))
    for (args, key, code, message), result in zip(cases, results, strict=True):
        assert result.code == code, (args, result)
        assert message in result.err, (args, result.err)
        assert len(result.err.strip().splitlines()) == 1 or code == 2, result.err
        if key:
            assert key not in result.err
    # A read key reads; it may come from a mounted file instead of the environment.
    assert (await cli_stack.cli("status", key=READ_KEY)).code == 0
    key_file = tmp_path / "key"
    key_file.write_text(READ_KEY + "\n")
    env = {
        "NOTION_BATCH_API_URL": cli_stack.stack.api_url,
        "NOTION_BATCH_API_KEY_FILE": str(key_file),
    }
    result = await run_cli("status", "--json", env=env)
    assert result.code == 0, result.err
    assert json.loads(result.out)["success"] is True


async def test_notion_webhook_token_shows_the_token_notion_sent_and_what_to_do(
    cli_stack: CliStack,
) -> None:
    none_yet = await cli_stack.cli("notion-webhook-token")
    assert none_yet.code == 1
    assert "404 Not Found: no verification request received" in none_yet.err
    # Notion's subscription sends its verification request to the API.
    sent = "secret_sentbynotion0123456789abcdefghijklmnopq"
    stack = cli_stack.stack
    async with stack.http.post(
        stack.api_url + "/api/v1/notion/webhook", json={"verification_token": sent}
    ) as response:
        assert response.status == 200

    shown = await cli_stack.cli("notion-webhook-token")
    assert shown.code == 0, shown.err
    assert f"\n  {sent}\n" in shown.out
    assert "Paste it into Notion" in shown.out
    assert "Set NOTION_WEBHOOK_VERIFICATION_TOKEN to it on the API" in shown.out
    as_json = await cli_stack.cli("notion-webhook-token", "--integration", "default", "--json")
    assert json.loads(as_json.out)["verification_token"] == sent
    # A secret: read keys do not get it.
    refused = await cli_stack.cli("notion-webhook-token", key=READ_KEY)
    assert refused.code == 1 and "403 Forbidden" in refused.err and sent not in refused.err
    unknown = await cli_stack.cli("notion-webhook-token", "--integration", "team-z")
    assert unknown.code == 1 and "integration must be one of" in unknown.err


async def test_an_unreachable_api_is_one_line_and_exit_1() -> None:
    result = await run_cli("status", env={"NOTION_BATCH_API_URL": "http://127.0.0.1:9"})
    assert result.code == 1
    assert result.err.startswith("notion-batch: cannot reach the API at http://127.0.0.1:9")
    assert "NOTION_BATCH_API_URL" in result.err
    result = await run_cli("status", env={"NOTION_BATCH_API_URL": "ftp://nope"})
    assert result.code == 2 and "NOTION_BATCH_API_URL must be an http(s)://" in result.err


async def test_keygen_prints_a_key_and_an_entry_the_api_accepts() -> None:
    result = await run_cli("keygen", "ci-bot", "--scope", "write", "--json")
    assert result.code == 0, result.err
    made = json.loads(result.out)
    keys = ApiAuthSettings.from_env(Env({"API_KEYS": made["api_keys_entry"]})).keys
    assert [(k.name, sorted(k.scopes)) for k in keys] == [("ci-bot", ["read", "write"])]
    assert made["key"] not in made["api_keys_entry"]  # only the digest is configured
    human = await run_cli("keygen", "viewer")
    assert "shown only now" in human.out and ":read:sha256:" in human.out
    bad = await run_cli("keygen", "no spaces please")
    assert bad.code == 2 and "NAME may hold" in bad.err


async def test_migrate_applies_the_schema_once(postgres_url: str) -> None:
    name = f"nb_cli_{uuid.uuid4().hex[:10]}"
    url = urlunsplit(urlsplit(postgres_url)._replace(path=f"/{name}"))
    try:
        first = await run_cli("migrate", env={"DATABASE_URL": url, "LOG_FORMAT": "json"})
        assert first.code == 0, first.err
        versions = ", ".join(m.version for m in load_migrations())
        assert f"migrations applied: {versions}" in first.out
        assert versions.startswith("0001_initial, 0002_api, 0003_handlers")
        second = await run_cli("migrate", env={"DATABASE_URL": url, "LOG_FORMAT": "json"})
        assert second.code == 0
        assert "migrations applied: none (up to date)" in second.out
        bad = await run_cli("migrate", env={"DATABASE_URL": "mysql://x/y"})
        assert bad.code == 2
        assert bad.err.strip().splitlines() == [
            "notion-batch migrate: configuration error: DATABASE_URL: must be a URL starting "
            "with postgresql:// or postgres://"
        ]
    finally:
        admin = urlunsplit(urlsplit(postgres_url)._replace(path="/postgres"))
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
