"""Outages of the real PostgreSQL and RabbitMQ of this machine.

These tests stop and restart the shared servers, so they only run where that is allowed:
``NOTION_BATCH_OUTAGE_TESTS=1`` (the Makefile sets it for `make test` when the servers are the
local ones it can restart). They run last (see pytest_collection_modifyitems) so that nothing
else is using the servers meanwhile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import stack, stack_env  # noqa: F401 - the same real-process stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def outages_allowed() -> bool:
    return os.environ.get("NOTION_BATCH_OUTAGE_TESTS") == "1"


def stop_postgres() -> None:
    _run(
        "pg_ctlcluster",
        "--skip-systemctl-redirect",
        _pg_version(),
        _pg_cluster(),
        "stop",
        "-m",
        "fast",
    )


def start_postgres() -> None:
    _run("pg_ctlcluster", "--skip-systemctl-redirect", _pg_version(), _pg_cluster(), "start")


def _pg_cluster() -> str:
    # A cluster of its own (e.g. `pg_createcluster 15 chaos -p 5433`, with TEST_DATABASE_URL
    # on that port) lets these tests run while other suites use the main one.
    return os.environ.get("NOTION_BATCH_PG_CLUSTER", "main")


def _pg_version() -> str:
    return sorted(p.name for p in Path("/etc/postgresql").iterdir())[0]


def stop_rabbitmq() -> None:
    _run("rabbitmqctl", "stop_app")


def start_rabbitmq() -> None:
    _run("rabbitmqctl", "start_app")
    _run("rabbitmqctl", "await_startup")


@pytest.fixture(autouse=True)
def _only_where_allowed() -> None:
    if not outages_allowed():
        pytest.skip("set NOTION_BATCH_OUTAGE_TESTS=1 to stop and restart the local servers")
    for tool in ("pg_ctlcluster", "rabbitmqctl"):
        if shutil.which(tool) is None:
            pytest.fail(f"NOTION_BATCH_OUTAGE_TESTS=1 but {tool} is not installed")
