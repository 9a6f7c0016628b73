"""Real PostgreSQL and RabbitMQ for every test that needs them.

URLs come from ``TEST_DATABASE_URL`` / ``TEST_AMQP_URL`` (the Makefile sets them when the
local services answer); without them the fixtures start containers with testcontainers.
Isolation: each test gets its own database, copied from a migrated template, and its own
broker namespace (every exchange and queue name is prefixed), removed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Generator, Iterator

import asyncpg
import pytest

from notion_batch.common.config import DatabaseSettings
from notion_batch.common.db.migrate import migrate
from notion_batch.common.db.pool import create_pool
from tests.support.isolation import delete_namespace, drop_database, with_database


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:  # pragma: no cover - testcontainers is a test dependency
        pytest.fail("set TEST_DATABASE_URL or install testcontainers with a Docker engine")
    try:
        container = PostgresContainer("postgres:16-alpine", driver=None)
        container.start()
    except Exception as exc:
        pytest.fail(f"TEST_DATABASE_URL is not set and no PostgreSQL container could start: {exc}")
    try:
        yield container.get_connection_url()
    finally:
        container.stop()


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    url = os.environ.get("TEST_AMQP_URL")
    if url:
        yield url
        return
    try:
        from testcontainers.community.rabbitmq import RabbitMqContainer
    except ImportError:  # pragma: no cover
        pytest.fail("set TEST_AMQP_URL or install testcontainers with a Docker engine")
    try:
        container = RabbitMqContainer("rabbitmq:4.1-alpine")
        container.start()
    except Exception as exc:
        pytest.fail(f"TEST_AMQP_URL is not set and no RabbitMQ container could start: {exc}")
    try:
        params = container.get_connection_params()
        creds = params.credentials
        yield f"amqp://{creds.username}:{creds.password}@{params.host}:{params.port}/"
    finally:
        container.stop()


@pytest.fixture(scope="session")
def template_database(postgres_url: str) -> Iterator[str]:
    """A migrated database that each test's database is copied from (fast: no migrations)."""
    name = f"nb_tpl_{uuid.uuid4().hex[:10]}"
    asyncio.run(migrate(with_database(postgres_url, name)))
    yield name
    asyncio.run(drop_database(postgres_url, name))


@pytest.fixture
async def database_url(postgres_url: str, template_database: str) -> AsyncIterator[str]:
    name = f"nb_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(with_database(postgres_url, "postgres"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    finally:
        await conn.close()
    yield with_database(postgres_url, name)
    await drop_database(postgres_url, name)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool made as the services make theirs (no session reset on release)."""
    db_pool = await create_pool(DatabaseSettings(database_url, pool_min_size=1, pool_max_size=8))
    try:
        yield db_pool
    finally:
        await db_pool.close()


@pytest.fixture
async def amqp_namespace(amqp_url: str) -> AsyncIterator[str]:
    """A broker namespace of this test's own; its exchanges and queues are deleted after."""
    namespace = f"nbtest.{uuid.uuid4().hex[:10]}"
    yield namespace
    await delete_namespace(amqp_url, namespace)


#: Folders whose tests start the services as real processes.
_PROCESS_SUITES = (
    "/tests/e2e/",
    "/tests/faults/",
    "/tests/load/",
    "/tests/outages/",
    "/tests/soak/",
    "/tests/cli/",
    "/tests/console/",
)

#: Folders whose tests may stop and restart the shared servers: they run last.
_RESTARTING_SUITES = ("/tests/outages/", "/tests/soak/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the real-process suites ``e2e`` (so ``make test-fast`` leaves them out), and run
    the tests that may restart PostgreSQL and RabbitMQ last, after everything else."""
    for item in items:
        if any(folder in str(item.path) for folder in _PROCESS_SUITES):
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: any(f in str(item.path) for f in _RESTARTING_SUITES))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember on the test item whether its call failed: the real-process stacks print their
    services' logs at teardown when it did."""
    report = yield
    if report.when == "call":
        item.rep_call_failed = report.failed  # type: ignore[attr-defined]
    return report
