import os
import subprocess
import sys

import pytest

from notion_batch.api.settings import ApiSettings
from notion_batch.common.errors import ConfigError
from notion_batch.worker.settings import WorkerSettings

BASE = {
    "DATABASE_URL": "postgresql://u@localhost/db",
    "AMQP_URL": "amqp://guest:guest@localhost/",
    "NOTION_TOKEN": "secret_x",
}


def test_defaults_follow_the_guide() -> None:
    settings = ApiSettings.from_env(BASE)
    assert settings.batch.interval_seconds == 60
    assert settings.batch.duration_seconds == 900
    assert settings.port == 8000
    worker = WorkerSettings.from_env(BASE)
    assert worker.handler == "complete"
    assert worker.notion.base_url == "https://api.notion.com"
    assert worker.notion.rate_limit_per_second == 3.0
    assert worker.record_mode == "page_log"
    assert worker.crash_limit == 3


@pytest.mark.parametrize(
    ("override", "variable"),
    [
        ({"DATABASE_URL": ""}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"AMQP_URL": "http://x"}, "AMQP_URL"),
        ({"API_PORT": "eighty"}, "API_PORT"),
        ({"API_PORT": "70000"}, "API_PORT"),
        ({"BATCH_INTERVAL_SECONDS": "0"}, "BATCH_INTERVAL_SECONDS"),
        ({"BATCH_DURATION_SECONDS": "-5"}, "BATCH_DURATION_SECONDS"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"AMQP_NAMESPACE": "a b"}, "AMQP_NAMESPACE"),
    ],
)
def test_bad_api_values_name_the_variable(override: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ApiSettings.from_env({**BASE, **override})
    assert caught.value.variable == variable
    assert variable in str(caught.value)


@pytest.mark.parametrize(
    ("override", "variable"),
    [
        ({"NOTION_TOKEN": ""}, "NOTION_TOKEN"),
        ({"NOTION_BASE_URL": "ftp://x"}, "NOTION_BASE_URL"),
        ({"TODO_HANDLER": "no_colon"}, "TODO_HANDLER"),
        ({"TODO_MAX_ATTEMPTS": "0"}, "TODO_MAX_ATTEMPTS"),
        ({"WORKER_CRASH_LIMIT": "0"}, "WORKER_CRASH_LIMIT"),
        ({"NOTION_RECORD_MODE": "carrier-pigeon"}, "NOTION_RECORD_MODE"),
        ({"NOTION_INTEGRATIONS": "team-a"}, "NOTION_TOKEN_TEAM_A"),
        ({"NOTION_INTEGRATIONS": "Team_A"}, "NOTION_INTEGRATIONS"),
        ({"NOTION_INTEGRATIONS": "team-a,team-a"}, "NOTION_INTEGRATIONS"),
        ({"NOTION_INTEGRATIONS": "default"}, "NOTION_INTEGRATIONS"),
        (
            {
                "NOTION_INTEGRATIONS": "team-a",
                "NOTION_TOKEN_TEAM_A": "secret_a",
                "NOTION_RATE_LIMIT_PER_SECOND_TEAM_A": "fast",
            },
            "NOTION_RATE_LIMIT_PER_SECOND_TEAM_A",
        ),
    ],
)
def test_bad_worker_values_name_the_variable(override: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WorkerSettings.from_env({**BASE, **override})
    assert caught.value.variable == variable


@pytest.mark.parametrize(
    ("command", "env", "variable"),
    [
        ("notion-batch-api", {"DATABASE_URL": ""}, "DATABASE_URL"),
        ("notion-batch-scheduler", {"AMQP_URL": "nope"}, "AMQP_URL"),
        ("notion-batch-worker", {"NOTION_TOKEN": ""}, "NOTION_TOKEN"),
        ("notion-batch-worker", {"TODO_HANDLER": "no.such.module:handler"}, "TODO_HANDLER"),
    ],
)
def test_entry_points_exit_with_one_line(command: str, env: dict[str, str], variable: str) -> None:
    exe = os.path.join(os.path.dirname(sys.executable), command)
    proc = subprocess.run(
        [exe],
        env={"PATH": os.environ["PATH"], **BASE, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert variable in lines[0]


def test_each_integration_has_its_own_token_and_rate_limit() -> None:
    env = {
        **BASE,
        "NOTION_RATE_LIMIT_PER_SECOND": "2.5",
        "NOTION_INTEGRATIONS": "team-a, ops2",
        "NOTION_TOKEN_TEAM_A": "secret_a",
        "NOTION_RATE_LIMIT_PER_SECOND_TEAM_A": "1",
        "NOTION_TOKEN_OPS2": "secret_ops",
    }
    worker = WorkerSettings.from_env(env)
    assert list(worker.integrations) == ["default", "team-a", "ops2"]
    assert worker.notion is worker.integrations["default"]
    assert worker.integrations["team-a"].token == "secret_a"
    assert worker.integrations["team-a"].rate_limit_per_second == 1.0
    # Not set for ops2: the default integration's rate applies to it too (its own bucket).
    assert worker.integrations["ops2"].rate_limit_per_second == 2.5
    assert worker.integrations["ops2"].integration == "ops2"
    assert sorted(worker.notion_tokens) == ["secret_a", "secret_ops", "secret_x"]
    # The API only needs the names, to check a start's "integration".
    assert ApiSettings.from_env(env).integrations == ("default", "team-a", "ops2")
    assert ApiSettings.from_env(BASE).integrations == ("default",)


def test_each_integration_has_its_own_webhook_verification_token_on_the_api() -> None:
    env = {
        **BASE,
        "NOTION_INTEGRATIONS": "team-a,ops2",
        "NOTION_WEBHOOK_VERIFICATION_TOKEN": "secret_defaultwebhooktoken0123",
        "NOTION_WEBHOOK_VERIFICATION_TOKEN_TEAM_A": "secret_teamawebhooktoken01234",
    }
    assert ApiSettings.from_env(env).notion_webhook_tokens == {
        "default": "secret_defaultwebhooktoken0123",
        "team-a": "secret_teamawebhooktoken01234",
    }
    assert ApiSettings.from_env(BASE).notion_webhook_tokens == {}
    with pytest.raises(ConfigError) as caught:
        ApiSettings.from_env({**env, "NOTION_WEBHOOK_VERIFICATION_TOKEN_OPS2": "short"})
    assert caught.value.variable == "NOTION_WEBHOOK_VERIFICATION_TOKEN_OPS2"
    assert "short" not in str(caught.value)
