"""A live API process for the contract tests: ``notion-batch-api`` from its console script,
against a database of its own (copied from the migrated template) and a broker namespace of
its own, started once per module (schemathesis sends hundreds of requests to it)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from tests.e2e.stack import free_port
from tests.support.isolation import delete_namespace, drop_database, with_database

BIN = Path(sys.executable).parent
WRITE_KEY = "schemathesis-writer-0123456789"
READ_KEY = "schemathesis-reader-0123456789"


@dataclass(frozen=True)
class LiveApi:
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


async def _create_database(admin_url: str, name: str, template: str) -> None:
    conn = await asyncpg.connect(with_database(admin_url, "postgres"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"notion-batch-api exited {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    pytest.fail(f"notion-batch-api not ready after 30 s:\n{log_path.read_text()}")


@pytest.fixture(scope="module")
def live_api(
    postgres_url: str,
    template_database: str,
    amqp_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveApi]:
    name = f"nb_contract_{uuid.uuid4().hex[:10]}"
    namespace = f"nbtest.{uuid.uuid4().hex[:10]}"
    asyncio.run(_create_database(postgres_url, name, template_database))
    port = free_port()
    log_path = tmp_path_factory.mktemp("live-api") / "api.log"
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": with_database(postgres_url, name),
        "AMQP_URL": amqp_url,
        "AMQP_NAMESPACE": namespace,
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "API_KEYS": f"writer:write:{WRITE_KEY},reader:read:{READ_KEY}",
        # Hundreds of generated writes in seconds; 429 itself is exercised in test_openapi.py.
        "API_WRITE_RATE_PER_MINUTE": "0",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "warning",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "notion-batch-api")], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log_path)
        yield LiveApi(url=url, log_path=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        asyncio.run(drop_database(postgres_url, name))
        asyncio.run(delete_namespace(amqp_url, namespace))
