"""The logging pipeline: JSON lines, context, stdlib routed through it, secrets redacted."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from notion_batch.common.config import LogSettings
from notion_batch.common.logging import SecretRedactor, configure_logging

TOKEN = "secret_AbCdEf0123456789xyz"


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    logging.getLogger().handlers.clear()


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_events_are_json_with_service_and_context(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LogSettings(level="INFO", format="json"), service="worker")
    with structlog.contextvars.bound_contextvars(notion_page_id="p1", tick_id="t1"):
        structlog.get_logger("x").info("tick_received", redelivered=False)
    (event,) = lines(capsys)
    assert event["event"] == "tick_received"
    assert (event["service"], event["notion_page_id"], event["tick_id"]) == ("worker", "p1", "t1")
    assert event["level"] == "info" and "timestamp" in event


def test_stdlib_records_share_the_pipeline(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LogSettings(level="INFO", format="json"), service="api")
    logging.getLogger("aiohttp.server").warning("client went away")
    (event,) = lines(capsys)
    assert event["event"] == "client went away"
    assert event["service"] == "api" and event["logger"] == "aiohttp.server"


def test_secrets_never_reach_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(
        LogSettings(level="INFO", format="json"), service="worker", secrets=[TOKEN, "hunter2-db-pw"]
    )
    log = structlog.get_logger("x")
    log.info("configured", token=TOKEN, url="postgresql://u:hunter2-db-pw@db/x")
    log.warning("notion_request_failed", error=f"401 for Authorization: Bearer {TOKEN}")
    logging.getLogger("httpx").error("sent header Authorization: Bearer ntn_Zz0123456789abcdef")
    try:
        raise RuntimeError(f"boom with {TOKEN}")
    except RuntimeError:
        log.exception("tick_crashed")
    output = capsys.readouterr().out
    assert TOKEN not in output
    assert "hunter2-db-pw" not in output
    assert "ntn_Zz0123456789abcdef" not in output
    assert output.count("[redacted]") >= 4


def test_the_redactor_leaves_ordinary_text_alone() -> None:
    redact = SecretRedactor([TOKEN])
    event = redact(None, "info", {"event": "todo_processed", "text": "Buy milk", "n": 3})
    assert event == {"event": "todo_processed", "text": "Buy milk", "n": 3}
