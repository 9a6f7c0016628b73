"""The console scripts as a person meets them: ``--help`` and ``--version`` answer without
starting anything, and a port already taken is one line naming the variable, not a traceback.

Run as real processes (the installed scripts beside this interpreter); the API's case needs a
real database, since aiohttp opens the app's resources before it binds its port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version

import pytest

SERVICES = (
    "notion-batch-api",
    "notion-batch-scheduler",
    "notion-batch-worker",
    "notion-batch-emulator",
)
#: Settings that would let each service start (nothing listens on port 9 of this host).
START_ENV = {
    "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
    "AMQP_URL": "amqp://guest:guest@127.0.0.1:9/",
    "NOTION_TOKEN": "secret_console_script_test",
    "LOG_FORMAT": "json",
}


def _run(
    command: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    exe = os.path.join(os.path.dirname(sys.executable), command)
    return subprocess.run(
        [exe, *args],
        env={"PATH": os.environ["PATH"], **START_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port of 127.0.0.1 that something is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", [*SERVICES, "notion-batch"])
def test_version_names_the_program_and_its_installed_version(command: str) -> None:
    proc = _run(command, "--version")
    assert proc.returncode == 0, proc.stderr
    distribution = "notion-batch-cli" if command == "notion-batch" else command
    assert proc.stdout.strip() == f"{command} {version(distribution)}"


@pytest.mark.parametrize("command", SERVICES)
def test_help_prints_usage_and_starts_nothing(command: str) -> None:
    # With settings that point nowhere, a service that started would fail (exit 1) or hang.
    proc = _run(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: {command}")
    assert "--version" in proc.stdout
    assert proc.stderr == ""


@pytest.mark.parametrize("command", ["notion-batch-scheduler", "notion-batch-worker"])
def test_an_unknown_argument_is_refused_not_ignored(command: str) -> None:
    proc = _run(command, "--no-such-flag")
    assert proc.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in proc.stderr


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["notion-batch-scheduler", "notion-batch-worker"])
def test_an_ops_port_in_use_names_ops_port(command: str, taken_port: int) -> None:
    # The ops port is bound before the database is asked for, so nothing else is needed.
    line = _one_line(_run(command, env={"OPS_PORT": str(taken_port)}))
    assert line.startswith(f"{command}: configuration error: OPS_PORT:"), line
    assert "already in use" in line


def test_the_api_port_in_use_names_api_port(database_url: str, taken_port: int) -> None:
    line = _one_line(
        _run(
            "notion-batch-api",
            env={"DATABASE_URL": database_url, "API_PORT": str(taken_port), "API_AUTH": "disabled"},
        )
    )
    assert line.startswith("notion-batch-api: configuration error: API_PORT:"), line


def test_the_emulator_port_in_use_names_its_variable(taken_port: int) -> None:
    line = _one_line(_run("notion-batch-emulator", env={"NOTION_EMULATOR_PORT": str(taken_port)}))
    assert "NOTION_EMULATOR_PORT" in line and "already in use" in line
