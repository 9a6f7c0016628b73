"""The OpenAPI document is valid, covers every route, and every kind of real answer of every
operation (each documented status) conforms to it. In-process, real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jsonschema_rs
import pytest
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from notion_batch.api.console import PREFIX as CONSOLE_PREFIX
from notion_batch.api.main import create_app
from notion_batch.api.openapi import build_document
from notion_batch.api.routes import STATIC_PREFIX
from notion_batch.api.settings import ApiSettings
from notion_batch.common.errors import InvalidPageId
from notion_batch.common.ids import PAGE_ID_PATTERN, PATH_PAGE_ID_PATTERN, canonical_page_id
from tests.contract.openapi_check import OpenApiCheck
from tests.support.tcp_proxy import TcpProxy

PAGE = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
WRITE_KEY = "contract-writer-0123456789abc"
READ_KEY = "contract-reader-0123456789abc"
WRITE = {"Authorization": f"Bearer {WRITE_KEY}"}
READ = {"Authorization": f"Bearer {READ_KEY}"}
WEBHOOK_TOKEN = "secret_contractwebhooktoken0123456789"
DOCUMENT = build_document("test")


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"].startswith("3.1")
    validate(DOCUMENT)


def test_every_route_is_documented_and_every_operation_is_routed() -> None:
    settings = ApiSettings.from_env(
        {
            "DATABASE_URL": "postgresql://x@localhost/x",
            "AMQP_URL": "amqp://x@localhost/",
            "API_AUTH": "disabled",
        }
    )
    app = create_app(settings)
    routed = {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"
        and not route.resource.canonical.startswith(STATIC_PREFIX)
        # The web console's pages and forms are HTML for people, not part of the REST
        # contract (they are tested in tests/integration/test_api_console.py, tests/console).
        and not route.resource.canonical.startswith(CONSOLE_PREFIX)
    }
    documented = {(path, method) for path, item in DOCUMENT["paths"].items() for method in item}
    assert routed == documented


@pytest.mark.parametrize(
    "given",
    [
        "0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
        "0C1D2E3F4A5B4C6D8E7F9A0B1C2D3E4F",
        PAGE,
        f"  {PAGE}  ",
        "https://www.notion.so/My-Page-0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
        "https://www.notion.so/acme/My-Page-0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f?pvs=4",
        "https://www.notion.so/0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f#abc",
        "notion.so/acme/Title-0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
        "https://acme.notion.site/Title-0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
        "http://notion.so/0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f/",
        "",
        "   ",
        "not-a-page",
        "0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4",
        "0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4fa",
        "zz1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
        "https://evil.example.com/Title-0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
        "https://notion.site/Title-0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
        "https://www.notion.so/no-id-here",
        "acme.notion.site/Title-0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
        "https://app.notion.com/p/0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
        "https://app.notion.com/p/My-Page-0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f?source=copy_link",
        "https://www.notion.so/acme/장보기-0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f#11112222333344448555666677778888",
        "https://www.notion.so/acme/%EC%9E%A5-0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
        "https://acme.notion.site/my-custom-slug",
        "https://www.notion.so/Title0c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f",
    ],
)
def test_the_page_id_pattern_reads_alike_in_python_and_json_schema(given: str) -> None:
    """What the document promises (an ECMA-262 pattern, as schemathesis reads it) is what
    Python's ``re`` enforces, and everything it lets through is a page id."""
    for pattern in (PAGE_ID_PATTERN, PATH_PAGE_ID_PATTERN):
        in_python = re.fullmatch(pattern, given) is not None
        in_schema = jsonschema_rs.is_valid({"type": "string", "pattern": pattern}, given)
        assert in_python == in_schema
    in_python = re.fullmatch(PAGE_ID_PATTERN, given) is not None
    if in_python:
        assert canonical_page_id(given) == PAGE
    else:
        with pytest.raises(InvalidPageId):
            canonical_page_id(given.replace("acme.notion.site", "x"))  # stays invalid


# -- every documented answer, for real ------------------------------------------------------------


class Exercise:
    """Sends requests, checks each answer against the document, remembers what it saw."""

    def __init__(self) -> None:
        self.check = OpenApiCheck(DOCUMENT)
        self.seen: set[tuple[str, str, str]] = set()

    async def __call__(
        self,
        client: TestClient,
        method: str,
        path: str,
        *,
        template: str,
        expect: int,
        **kwargs: Any,
    ) -> Any:
        response = await client.request(method, path, **kwargs)
        raw = await response.read()
        assert response.status == expect, (method, path, response.status, raw[:300])
        body: Any = raw.decode()
        if response.content_type == "application/json":
            body = await response.json()
        self.check.check(
            template,
            method.lower(),
            status=response.status,
            headers=dict(response.headers),
            content_type=response.content_type,
            body=body,
        )
        self.seen.add((template, method.lower(), str(response.status)))
        return body


def env(database_url: str, amqp_url: str, namespace: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "AMQP_URL": amqp_url,
        "AMQP_NAMESPACE": namespace,
        "API_KEYS": f"writer:write:{WRITE_KEY},reader:read:{READ_KEY}",
        "API_WRITE_RATE_PER_MINUTE": "0",
        "NOTION_WEBHOOK_VERIFICATION_TOKEN": WEBHOOK_TOKEN,
        **extra,
    }


@pytest.fixture
async def clients(
    database_url: str, amqp_url: str, amqp_namespace: str
) -> AsyncIterator[tuple[TestClient, TestClient, TestClient, TcpProxy]]:
    """The API three times: plain, with a tight write limit, and behind a cuttable proxy."""
    parts = urlsplit(database_url)
    async with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        proxied = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
        plain = ApiSettings.from_env(env(database_url, amqp_url, amqp_namespace))
        limited = ApiSettings.from_env(
            env(
                database_url,
                amqp_url,
                amqp_namespace,
                API_WRITE_RATE_PER_MINUTE="1",
                API_WRITE_BURST="1",
            )
        )
        cut = ApiSettings.from_env(env(proxied, amqp_url, amqp_namespace))
        async with (
            TestClient(TestServer(create_app(plain))) as a,
            TestClient(TestServer(create_app(limited))) as b,
            TestClient(TestServer(create_app(cut))) as c,
        ):
            yield a, b, c, proxy


async def test_every_documented_answer_of_every_operation_conforms(
    clients: tuple[TestClient, TestClient, TestClient, TcpProxy],
) -> None:
    api, limited, cut, proxy = clients
    x = Exercise()
    start, stop, extend = (
        "/api/v1/batch/start",
        "/api/v1/batch/stop/{notion_page_id}",
        "/api/v1/batch/extend/{notion_page_id}",
    )
    status_one, status_all = "/api/v1/batch/status/{notion_page_id}", "/api/v1/batch/status"
    history, todos = (
        "/api/v1/batch/history/{notion_page_id}",
        "/api/v1/batch/todos/{notion_page_id}",
    )
    big = {"data": b"{" + b" " * (65 * 1024) + b"}", "headers": {**WRITE}}
    unknown = str(uuid.uuid4())

    # Meta. The served document is the one built here (but for the version).
    served = await x(
        api, "GET", "/api/v1/openapi.json", template="/api/v1/openapi.json", expect=200
    )
    assert served["info"].pop("version")
    assert served == {
        **DOCUMENT,
        "info": {k: v for k, v in DOCUMENT["info"].items() if k != "version"},
    }
    await x(api, "GET", "/api/docs", template="/api/docs", expect=200)
    await x(api, "GET", "/healthz", template="/healthz", expect=200)
    metrics = await x(api, "GET", "/metrics", template="/metrics", expect=200)
    assert "notion_batch_http_requests_total" in metrics
    for _ in range(50):  # the broker connects in the background: up to 5 s
        if (await api.get("/readyz")).status == 200:
            break
        await asyncio.sleep(0.1)
    await x(api, "GET", "/readyz", template="/readyz", expect=200)

    # Start.
    await x(api, "POST", start, template=start, expect=401, json={"notion_page_id": PAGE})
    await x(
        api, "POST", start, template=start, expect=403, json={"notion_page_id": PAGE}, headers=READ
    )
    await x(
        api, "POST", start, template=start, expect=400, json={"notion_page_id": 1}, headers=WRITE
    )
    await x(api, "POST", start, template=start, expect=413, **big)
    await x(
        api,
        "POST",
        start,
        template=start,
        expect=200,
        json={"notion_page_id": PAGE, "interval_seconds": 5, "duration_seconds": 300},
        headers={**WRITE, "Idempotency-Key": "k1"},
    )
    await x(
        api, "POST", start, template=start, expect=409, json={"notion_page_id": PAGE}, headers=WRITE
    )
    await x(
        api,
        "POST",
        start,
        template=start,
        expect=422,
        json={"notion_page_id": unknown},
        headers={**WRITE, "Idempotency-Key": "k1"},
    )

    # Reads of a running batch, and their errors.
    for template in (status_one, history, todos):
        path = template.replace("{notion_page_id}", PAGE)
        await x(api, "GET", path, template=template, expect=200, headers=READ)
        await x(api, "GET", path, template=template, expect=401)
        bad = template.replace("{notion_page_id}", "nope")
        await x(api, "GET", bad, template=template, expect=400, headers=READ)
        never = template.replace("{notion_page_id}", unknown)
        await x(api, "GET", never, template=template, expect=404, headers=READ)
    await x(api, "GET", status_all, template=status_all, expect=200, headers=READ)
    await x(api, "GET", status_all, template=status_all, expect=401)
    await x(
        api, "GET", status_all, template=status_all, expect=200, params={"limit": "1"}, headers=READ
    )
    await x(
        api, "GET", status_all, template=status_all, expect=400, params={"limit": "0"}, headers=READ
    )
    await x(
        api,
        "GET",
        todos.replace("{notion_page_id}", PAGE),
        template=todos,
        expect=400,
        params={"status": "finished"},
        headers=READ,
    )

    # Extend and stop.
    # The loops' request bodies: JSON objects of any shape, or none.
    body: Mapping[str, object] | None
    for template, body in ((extend, {"duration_seconds": 60}), (stop, None)):
        path = template.replace("{notion_page_id}", PAGE)
        await x(api, "POST", path, template=template, expect=401, json=body)
        await x(api, "POST", path, template=template, expect=403, json=body, headers=READ)
        bad = template.replace("{notion_page_id}", "nope")
        await x(api, "POST", bad, template=template, expect=400, json=body, headers=WRITE)
        # An empty page id matches no route: the 404 such a request gets is documented too.
        empty = template.replace("{notion_page_id}", "")
        await x(api, "POST", empty, template=template, expect=404, json=body, headers=WRITE)
        await x(api, "POST", path, template=template, expect=413, **big)
    path = extend.replace("{notion_page_id}", PAGE)
    await x(
        api, "POST", path, template=extend, expect=400, json={"duration_seconds": 0}, headers=WRITE
    )
    await x(
        api, "POST", path, template=extend, expect=200, json={"duration_seconds": 60}, headers=WRITE
    )
    await x(
        api,
        "POST",
        stop.replace("{notion_page_id}", PAGE),
        template=stop,
        expect=200,
        headers=WRITE,
    )
    for template, body in ((extend, {"duration_seconds": 60}), (stop, None)):
        path = template.replace("{notion_page_id}", PAGE)
        await x(api, "POST", path, template=template, expect=409, json=body, headers=WRITE)

    # 429: one write per minute, after a burst of one.
    other = str(uuid.uuid4())
    await x(
        limited,
        "POST",
        start,
        template=start,
        expect=200,
        json={"notion_page_id": other},
        headers=WRITE,
    )
    for template, body in (
        (start, {"notion_page_id": other}),
        (extend, {"duration_seconds": 60}),
        (stop, None),
    ):
        path = template.replace("{notion_page_id}", other)
        await x(limited, "POST", path, template=template, expect=429, json=body, headers=WRITE)

    # Notion webhooks: the verification token (write keys), then the endpoint, both paths.
    verification = "/api/v1/notion/webhook-verification"
    await x(api, "GET", verification, template=verification, expect=401)
    await x(api, "GET", verification, template=verification, expect=403, headers=READ)
    await x(
        api,
        "GET",
        verification,
        template=verification,
        expect=400,
        params={"integration": "nope"},
        headers=WRITE,
    )
    await x(api, "GET", verification, template=verification, expect=404, headers=WRITE)
    handshake = {"verification_token": "secret_sentbynotion0123456789"}
    hooks = {
        "/api/v1/notion/webhook": "/api/v1/notion/webhook",
        "/api/v1/notion/webhook/{integration}": "/api/v1/notion/webhook/default",
    }
    signed_garbage = {
        "data": b"[]",
        "headers": {"X-Notion-Signature": notion_signature(WEBHOOK_TOKEN, b"[]")},
    }
    event = notion_event(PAGE)
    for template, path in hooks.items():
        await x(api, "POST", path, template=template, expect=200, json=handshake)
        await x(api, "POST", path, template=template, expect=401, json=event)
        await x(api, "POST", path, template=template, expect=400, **signed_garbage)
        await x(api, "POST", path, template=template, expect=413, **big)
        raw = json.dumps(event).encode()
        await x(
            api,
            "POST",
            path,
            template=template,
            expect=200,
            data=raw,
            headers={"X-Notion-Signature": notion_signature(WEBHOOK_TOKEN, raw)},
        )
    await x(api, "GET", verification, template=verification, expect=200, headers=WRITE)
    await x(limited, "GET", verification, template=verification, expect=429, headers=WRITE)

    # 503: the database is unreachable.
    proxy.cut()
    for template, path in hooks.items():
        await x(cut, "POST", path, template=template, expect=503, json=handshake)
    await x(cut, "GET", verification, template=verification, expect=503, headers=WRITE)
    await x(cut, "GET", "/readyz", template="/readyz", expect=503)
    await x(
        cut, "POST", start, template=start, expect=503, json={"notion_page_id": PAGE}, headers=WRITE
    )
    for template, body in ((extend, {"duration_seconds": 60}), (stop, None)):
        path = template.replace("{notion_page_id}", PAGE)
        await x(cut, "POST", path, template=template, expect=503, json=body, headers=WRITE)
    for template in (status_one, history, todos):
        path = template.replace("{notion_page_id}", PAGE)
        await x(cut, "GET", path, template=template, expect=503, headers=READ)
    await x(cut, "GET", status_all, template=status_all, expect=503, headers=READ)
    proxy.restore()

    missing = x.check.operations() - x.seen
    assert not missing, f"documented answers never seen for real: {sorted(missing)}"


def notion_signature(token: str, body: bytes) -> str:
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def notion_event(page: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "page.content_updated",
        "authors": [{"id": str(uuid.uuid4()), "type": "person"}],
        "attempt_number": 1,
        "entity": {"id": page, "type": "page"},
        "data": {"updated_blocks": []},
    }


def test_the_checker_itself_rejects_what_the_document_does_not_allow() -> None:
    check = OpenApiCheck(DOCUMENT)
    template = "/api/v1/batch/status/{notion_page_id}"
    with pytest.raises(AssertionError, match="undocumented 418"):
        check.check(
            template, "get", status=418, headers={}, content_type="application/json", body={}
        )
    with pytest.raises(AssertionError, match="db_status"):
        check.check(
            template,
            "get",
            status=200,
            headers={},
            content_type="application/json",
            body={"success": True},
        )
    with pytest.raises(AssertionError, match="Retry-After"):
        check.check(
            template,
            "get",
            status=503,
            headers={},
            content_type="application/json",
            body={"success": False, "message": ""},
        )
    with pytest.raises(AssertionError, match="date-time"):
        check.check(
            "/api/v1/batch/stop/{notion_page_id}",
            "post",
            status=200,
            headers={},
            content_type="application/json",
            body={
                "success": True,
                "message": "",
                "notion_page_id": PAGE,
                "end_time": "noon",
                "run_id": 1,
            },
        )
