"""What each channel sends for a summary, and the retry schedule."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from notion_batch.common.config import Env
from notion_batch.common.db.notifications import BatchSummary
from notion_batch.scheduler.notifications import email, json_webhook, slack, text
from notion_batch.scheduler.notifier import MAX_BACKOFF_SECONDS, backoff_seconds
from notion_batch.scheduler.settings import EmailSettings, NotifySettings

STARTED = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)
SUMMARY = BatchSummary(
    notion_page_id="0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
    run_id=42,
    status="completed",
    end_reason="stopped",
    message="stopped by request",
    started_at=STARTED,
    scheduled_end_at=STARTED + timedelta(minutes=15),
    ended_at=STARTED + timedelta(minutes=5, seconds=3),
    interval_seconds=60,
    handler=None,
    ticks=6,
    ticks_coalesced=1,
    todos_done=12,
    todos_skipped=3,
    todos_failed=1,
    todos_pending=4,
)


def test_the_summary_round_trips_through_its_stored_json() -> None:
    assert BatchSummary.from_json(SUMMARY.to_json()) == SUMMARY
    assert SUMMARY.notion_url == "https://www.notion.so/0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f"
    assert SUMMARY.duration_seconds == 303


def test_the_webhook_body_is_versioned_and_complete() -> None:
    body = json.loads(json_webhook.encode(SUMMARY))
    assert body == {
        "event": "batch.ended",
        "v": 1,
        "notion_page_id": SUMMARY.notion_page_id,
        "notion_url": SUMMARY.notion_url,
        "run_id": 42,
        "status": "completed",
        "end_reason": "stopped",
        "message": "stopped by request",
        "started_at": "2025-03-01T09:00:00+00:00",
        "scheduled_end_at": "2025-03-01T09:15:00+00:00",
        "ended_at": "2025-03-01T09:05:03+00:00",
        "duration_seconds": 303.0,
        "interval_seconds": 60,
        "handler": None,
        "integration": "default",
        "ticks": 6,
        "ticks_coalesced": 1,
        "todos": {"done": 12, "skipped": 3, "failed": 1, "pending": 4},
    }


def test_the_webhook_signature_is_an_hmac_of_the_exact_body() -> None:
    raw = json_webhook.encode(SUMMARY)
    headers = json_webhook.headers(SUMMARY, raw, "shared-secret-0123456789")
    expected = hmac.new(b"shared-secret-0123456789", raw, hashlib.sha256).hexdigest()
    assert headers["X-Notion-Batch-Signature"] == f"sha256={expected}"
    assert headers["X-Notion-Batch-Event"] == "batch.ended"
    assert headers["X-Notion-Batch-Delivery"] == "42"
    assert "X-Notion-Batch-Signature" not in json_webhook.headers(SUMMARY, raw, None)


def test_the_slack_message_has_text_and_blocks() -> None:
    message = slack.message(SUMMARY)
    assert message["text"].startswith("Batch stopped: 12 done, 3 skipped, 1 failed")
    header, page, fields = message["blocks"]
    assert header["type"] == "header"
    assert header["text"]["type"] == "plain_text"
    assert f"<{SUMMARY.notion_url}|Notion page {SUMMARY.notion_page_id}>" in page["text"]["text"]
    assert "stopped by request" in page["text"]["text"]
    shown = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in fields["fields"]}
    assert shown["*Status*"] == "completed (stopped)"
    assert shown["*Run*"] == "42"
    assert shown["*Ticks*"] == "6 (1 coalesced), every 1 min"
    assert shown["*Ended*"] == "2025-03-01 09:05:03 UTC (after 5 min 3 s)"
    assert len(fields["fields"]) <= 10  # Slack's limit


def test_slack_text_is_escaped_and_clipped() -> None:
    failed = replace(
        SUMMARY,
        status="failed",
        end_reason="failed",
        message="page <gone> & " + "x" * 4000,
        handler="triage",
    )
    message = slack.message(failed)
    section = message["blocks"][1]["text"]["text"]
    assert "page &lt;gone&gt; &amp; x" in section
    assert len(section) <= slack.SECTION_CHARS
    assert len(message["blocks"][0]["text"]["text"]) <= slack.HEADER_CHARS
    assert message["blocks"][0]["text"]["text"].startswith("Batch failed")


def email_settings(**env: str) -> EmailSettings:
    settings = NotifySettings.from_env(
        Env(
            {
                "NOTIFY_SMTP_HOST": "smtp.example.com",
                "NOTIFY_EMAIL_FROM": "notion-batch <nb@example.com>",
                "NOTIFY_EMAIL_TO": "ops@example.com, ann@example.org",
                **env,
            }
        )
    )
    assert settings.email is not None
    return settings.email


def test_the_email_has_plain_text_and_html() -> None:
    mail = email.message(replace(SUMMARY, message="done <now>"), email_settings(), now=STARTED)
    assert (
        mail["Subject"] == "[notion-batch] Batch stopped: 12 done, 3 skipped, 1 failed, "
        "4 still pending"
    )
    assert mail["From"] == "notion-batch <nb@example.com>"
    assert mail["To"] == "ops@example.com, ann@example.org"
    assert mail["Message-ID"] == "<notion-batch.run-42@example.com>"
    assert mail["Date"] == "Sat, 01 Mar 2025 09:00:00 +0000"
    plain = mail.get_body(("plain",))
    rich = mail.get_body(("html",))
    assert plain is not None and rich is not None
    plain_text, html_text = plain.get_content(), rich.get_content()
    assert plain_text.startswith(
        f"The batch on Notion page {SUMMARY.notion_page_id} was stopped by request."
    )
    for line in (
        f"Notion page  {SUMMARY.notion_url}",
        "Run          42",
        "To-dos       12 done, 3 skipped, 1 failed, 4 still pending",
        "Handler      the workers' default",
        "Message      done <now>",
    ):
        assert line in plain_text
    assert f'<a href="{SUMMARY.notion_url}">' in html_text
    assert "done &lt;now&gt;" in html_text


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0 s"),
        (45, "45 s"),
        (60, "1 min"),
        (303, "5 min 3 s"),
        (7500, "2 h 5 min"),
        (7203, "2 h"),
        (273_600, "3 d 4 h"),
    ],
)
def test_durations_read_well(seconds: float, shown: str) -> None:
    assert text.duration(seconds) == shown


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    lowest = [backoff_seconds(a, 10.0, rng=lambda: 0.0) for a in (1, 2, 3, 4)]
    highest = [backoff_seconds(a, 10.0, rng=lambda: 1.0) for a in (1, 2, 3, 4)]
    assert lowest == [5.0, 10.0, 20.0, 40.0]
    assert highest == [10.0, 20.0, 40.0, 80.0]
    assert backoff_seconds(30, 10.0, rng=lambda: 1.0) == MAX_BACKOFF_SECONDS
    # A receiver's Retry-After is honoured (within the cap), never shortened.
    assert backoff_seconds(1, 10.0, retry_after=120, rng=lambda: 0.0) == 120.0
    assert backoff_seconds(1, 10.0, retry_after=1, rng=lambda: 0.0) == 5.0
    assert backoff_seconds(1, 10.0, retry_after=10**6, rng=lambda: 0.0) == MAX_BACKOFF_SECONDS
