"""NOTIFY_* settings: which channels are on, their validation, and secrets kept out of sight."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from notion_batch.common import metrics
from notion_batch.common.errors import ConfigError
from notion_batch.scheduler.settings import NOTIFY_CHANNELS, NotifySettings, SchedulerSettings

BASE = {"DATABASE_URL": "postgresql://u@localhost/db", "AMQP_URL": "amqp://guest:guest@h/"}
SLACK = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
EMAIL = {
    "NOTIFY_SMTP_HOST": "smtp.example.com",
    "NOTIFY_EMAIL_FROM": "notion-batch <nb@example.com>",
    "NOTIFY_EMAIL_TO": "ops@example.com, Ann <ann@example.org>",
}


def notify(**env: str) -> NotifySettings:
    return SchedulerSettings.from_env({**BASE, **env}).notify


def test_nothing_is_on_by_default() -> None:
    settings = notify()
    assert settings.channels == ()
    assert settings.email is None
    assert settings.on == {"stopped", "expired", "failed"}
    assert (settings.max_attempts, settings.timeout_seconds) == (8, 10.0)
    assert (settings.backoff_seconds, settings.max_age_seconds) == (30.0, 86_400.0)
    assert settings.secrets == []


def test_each_channel_is_turned_on_by_its_variable() -> None:
    settings = notify(
        NOTIFY_WEBHOOK_URL="https://example.com/hooks/notion-batch/",
        NOTIFY_WEBHOOK_SECRET="0123456789abcdef-secret",
        NOTIFY_SLACK_WEBHOOK_URL=SLACK,
        NOTIFY_ON="stopped, FAILED",
        **EMAIL,
    )
    assert settings.channels == ("webhook", "slack", "email")
    # Kept exactly: a receiver may care about its trailing slash.
    assert settings.webhook_url == "https://example.com/hooks/notion-batch/"
    assert settings.on == {"stopped", "failed"}
    assert settings.email is not None
    assert settings.email.recipients == ("ops@example.com", "ann@example.org")
    assert (settings.email.tls, settings.email.port) == ("starttls", 587)


@pytest.mark.parametrize(("tls", "port"), [("none", 25), ("starttls", 587), ("ssl", 465)])
def test_the_smtp_port_follows_the_tls_mode(tls: str, port: int) -> None:
    email = notify(NOTIFY_SMTP_TLS=tls, **EMAIL).email
    assert email is not None
    assert (email.tls, email.port) == (tls, port)
    explicit = notify(NOTIFY_SMTP_TLS=tls, NOTIFY_SMTP_PORT="2525", **EMAIL).email
    assert explicit is not None
    assert explicit.port == 2525


@pytest.mark.parametrize(
    ("override", "variable"),
    [
        ({"NOTIFY_WEBHOOK_URL": "ftp://example.com/x"}, "NOTIFY_WEBHOOK_URL"),
        ({"NOTIFY_WEBHOOK_URL": "not a url"}, "NOTIFY_WEBHOOK_URL"),
        ({"NOTIFY_WEBHOOK_SECRET": "0123456789abcdef-secret"}, "NOTIFY_WEBHOOK_SECRET"),
        (
            {"NOTIFY_WEBHOOK_URL": "https://e.com/h", "NOTIFY_WEBHOOK_SECRET": "short"},
            "NOTIFY_WEBHOOK_SECRET",
        ),
        ({"NOTIFY_SLACK_WEBHOOK_URL": "hooks.slack.com/x"}, "NOTIFY_SLACK_WEBHOOK_URL"),
        ({"NOTIFY_ON": "stopped,paused"}, "NOTIFY_ON"),
        ({"NOTIFY_ON": ","}, "NOTIFY_ON"),
        ({"NOTIFY_MAX_ATTEMPTS": "0"}, "NOTIFY_MAX_ATTEMPTS"),
        ({"NOTIFY_TIMEOUT_SECONDS": "soon"}, "NOTIFY_TIMEOUT_SECONDS"),
        ({"NOTIFY_BACKOFF_SECONDS": "-1"}, "NOTIFY_BACKOFF_SECONDS"),
        ({"NOTIFY_MAX_AGE_SECONDS": "0"}, "NOTIFY_MAX_AGE_SECONDS"),
        ({**EMAIL, "NOTIFY_SMTP_TLS": "tls"}, "NOTIFY_SMTP_TLS"),
        ({**EMAIL, "NOTIFY_SMTP_PORT": "0"}, "NOTIFY_SMTP_PORT"),
        ({**EMAIL, "NOTIFY_EMAIL_FROM": ""}, "NOTIFY_EMAIL_FROM"),
        ({**EMAIL, "NOTIFY_EMAIL_FROM": "notion-batch"}, "NOTIFY_EMAIL_FROM"),
        ({**EMAIL, "NOTIFY_EMAIL_TO": ""}, "NOTIFY_EMAIL_TO"),
        ({**EMAIL, "NOTIFY_EMAIL_TO": "ops@example.com, nobody"}, "NOTIFY_EMAIL_TO"),
        ({**EMAIL, "NOTIFY_SMTP_USERNAME": "nb"}, "NOTIFY_SMTP_PASSWORD"),
        ({**EMAIL, "NOTIFY_SMTP_PASSWORD": "pw-0123456789"}, "NOTIFY_SMTP_USERNAME"),
        ({**EMAIL, "NOTIFY_SMTP_CA_FILE": "/no/such/ca.pem"}, "NOTIFY_SMTP_CA_FILE"),
        ({"NOTIFY_EMAIL_TO": "ops@example.com"}, "NOTIFY_EMAIL_TO"),
        ({"NOTIFY_SMTP_PASSWORD": "pw-0123456789"}, "NOTIFY_SMTP_PASSWORD"),
    ],
)
def test_bad_values_name_the_variable(override: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        notify(**override)
    assert caught.value.variable == variable


def test_errors_and_reprs_never_show_a_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        notify(NOTIFY_SLACK_WEBHOOK_URL="hooks.slack.com/services/T000/B000/XXXXsecretXXXX")
    assert "XXXXsecret" not in str(caught.value)
    settings = notify(
        NOTIFY_SLACK_WEBHOOK_URL=SLACK,
        NOTIFY_WEBHOOK_URL="https://example.com/h?token=tok-0123456789",
        NOTIFY_WEBHOOK_SECRET="hmac-key-0123456789",
        NOTIFY_SMTP_USERNAME="nb",
        NOTIFY_SMTP_PASSWORD="pw-0123456789",
        **EMAIL,
    )
    assert sorted(settings.secrets) == sorted(
        [
            SLACK,
            "https://example.com/h?token=tok-0123456789",
            "hmac-key-0123456789",
            "pw-0123456789",
        ]
    )
    shown = repr(SchedulerSettings.from_env({**BASE, "NOTIFY_SLACK_WEBHOOK_URL": SLACK}))
    for secret in settings.secrets:
        assert secret not in repr(settings)
        assert secret not in shown


def test_a_ca_file_is_kept(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not checked here")
    email = notify(NOTIFY_SMTP_CA_FILE=str(bundle), **EMAIL).email
    assert email is not None
    assert email.ca_file == str(bundle)


def test_the_metric_labels_are_the_channels() -> None:
    assert metrics.NOTIFICATION_CHANNELS == NOTIFY_CHANNELS


def test_the_scheduler_exits_with_one_line_on_a_bad_notify_value() -> None:
    exe = os.path.join(os.path.dirname(sys.executable), "notion-batch-scheduler")
    proc = subprocess.run(
        [exe],
        env={"PATH": os.environ["PATH"], **BASE, "NOTIFY_SMTP_TLS": "maybe"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "NOTIFY_SMTP_TLS" in lines[0]
