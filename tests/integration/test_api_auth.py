"""Who may call the API: keys and scopes, public routes, the write rate limit, CORS, and
keys kept out of logs and answers. In-process, against real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import structlog
from aiohttp.test_utils import TestClient

from notion_batch.api.main import create_app
from notion_batch.api.settings import ApiSettings
from notion_batch.common.errors import ConfigError
from tests.integration.conftest import ApiClientFactory

PAGE = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
READ_KEY = "reader-key-0123456789abcdef"
WRITE_KEY = "writer-key-0123456789abcdef"
OTHER_WRITE_KEY = "second-writer-key-0123456789"
# The write keys are configured by their digests only, as an operator with a secret store would.
KEYS = (
    f"reader:read:{READ_KEY},"
    f"writer:write:sha256:{hashlib.sha256(WRITE_KEY.encode()).hexdigest()}\n"
    f"other:write:sha256:{hashlib.sha256(OTHER_WRITE_KEY.encode()).hexdigest()}"
)

ClientFactory = Callable[..., Awaitable[TestClient]]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def make_client(make_api_client: ApiClientFactory) -> ClientFactory:
    """An API with the test keys, plus the given variables."""

    async def make(**env: str) -> TestClient:
        return await make_api_client({"API_KEYS": KEYS, **env})

    return make


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient:
    return await make_client()


# -- configuration ---------------------------------------------------------------------------


def test_without_keys_the_api_refuses_to_be_built(api_env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        create_app(ApiSettings.from_env(api_env))
    assert caught.value.variable == "API_KEYS"
    assert "API_AUTH=disabled" in str(caught.value)


def test_without_keys_the_entry_point_exits_2_with_one_line(api_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "notion-batch-api")],
        env={"PATH": os.environ["PATH"], **api_env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "API_KEYS" in lines[0] and "API_AUTH=disabled" in lines[0]


def test_keys_come_from_the_environment_and_a_secret_file(
    api_env: dict[str, str], tmp_path: Path
) -> None:
    secret_file = tmp_path / "api-keys"
    secret_file.write_text(
        "# mounted from a Kubernetes Secret\n\nops:write:ops-key-0123456789abcdef\n"
        f"dash:read:sha256:{'ab' * 32}\n"
    )
    settings = ApiSettings.from_env(
        {**api_env, "API_KEYS": f"ci:read+write:{'c' * 16}", "API_KEYS_FILE": str(secret_file)}
    )
    keys = {key.name: key for key in settings.auth.keys}
    assert set(keys) == {"ci", "ops", "dash"}
    assert keys["ops"].scopes == {"read", "write"}  # write includes read
    assert keys["ci"].scopes == {"read", "write"}
    assert keys["dash"].scopes == {"read"}
    assert keys["ops"].sha256 == hashlib.sha256(b"ops-key-0123456789abcdef").digest()
    assert keys["dash"].sha256 == bytes.fromhex("ab" * 32)
    # Only digests are kept, and not even those are shown.
    assert "ops-key" not in repr(settings)
    assert "abab" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "variable", "problem"),
    [
        ({"API_KEYS": "just-a-secret-0123456789"}, "API_KEYS", "NAME:SCOPE:SECRET"),
        ({"API_KEYS": "ops:admin:secret-0123456789abc"}, "API_KEYS", "scope"),
        ({"API_KEYS": "ops:write:short"}, "API_KEYS", "shorter than 16"),
        ({"API_KEYS": "ops:read:sha256:abc"}, "API_KEYS", "64 hex digits"),
        ({"API_KEYS": "b@d:read:secret-0123456789abc"}, "API_KEYS", "name"),
        (
            {"API_KEYS": "a:read:secret-0123456789abc,a:write:secret-9876543210abc"},
            "API_KEYS",
            "used twice",
        ),
        (
            {"API_KEYS": "a:read:secret-0123456789abc,b:write:secret-0123456789abc"},
            "API_KEYS",
            "same secret",
        ),
        ({"API_KEYS_FILE": "/no/such/file"}, "API_KEYS_FILE", "cannot read"),
        ({"API_AUTH": "maybe"}, "API_AUTH", "enabled, disabled"),
        ({"API_WRITE_RATE_PER_MINUTE": "-1"}, "API_WRITE_RATE_PER_MINUTE", "between"),
        ({"API_WRITE_BURST": "0"}, "API_WRITE_BURST", "between"),
        ({"API_CORS_ORIGINS": "https://ok.example, not-an-origin"}, "API_CORS_ORIGINS", "origin"),
        ({"API_CORS_ORIGINS": "https://ok.example/path"}, "API_CORS_ORIGINS", "origin"),
    ],
)
def test_bad_auth_settings_name_the_variable_and_never_the_secret(
    api_env: dict[str, str], env: dict[str, str], variable: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        ApiSettings.from_env({**api_env, **env})
    assert caught.value.variable == variable
    assert problem in str(caught.value)
    assert "secret-0123456789abc" not in str(caught.value)
    assert "just-a-secret" not in str(caught.value)


# -- authentication and scopes -----------------------------------------------------------------


async def test_a_missing_key_is_a_401_with_a_bearer_challenge(client: TestClient) -> None:
    response = await client.get(f"/api/v1/batch/status/{PAGE}")
    assert response.status == 401
    assert response.content_type == "application/json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = await response.json()
    assert body["success"] is False
    assert "Authorization: Bearer" in body["message"]


@pytest.mark.parametrize(
    "header",
    [f"Basic {READ_KEY}", "Bearer", "Bearer    ", READ_KEY, "Token abc"],
)
async def test_a_malformed_authorization_header_is_a_401(client: TestClient, header: str) -> None:
    response = await client.get("/api/v1/batch/status", headers={"Authorization": header})
    assert response.status == 401
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]
    assert "Bearer <key>" in (await response.json())["message"]


async def test_an_unknown_key_is_a_401_that_does_not_echo_it(client: TestClient) -> None:
    wrong = "not-a-key-we-know-0123456789"
    for path in ("/api/v1/batch/status", f"/api/v1/batch/todos/{PAGE}"):
        response = await client.get(path, headers=bearer(wrong))
        assert response.status == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
        text = await response.text()
        assert wrong not in text
        assert (await response.json())["message"] == "invalid API key"
    # A key's digest is not a key.
    digest = hashlib.sha256(WRITE_KEY.encode()).hexdigest()
    response = await client.get("/api/v1/batch/status", headers=bearer(digest))
    assert response.status == 401


async def test_a_read_key_reads_but_may_not_write(client: TestClient) -> None:
    response = await client.get("/api/v1/batch/status", headers=bearer(READ_KEY))
    assert response.status == 200
    response = await client.get(f"/api/v1/batch/status/{PAGE}", headers=bearer(READ_KEY))
    assert response.status == 404  # authenticated: the page is simply unknown
    for path, body in [
        ("/api/v1/batch/start", {"notion_page_id": PAGE}),
        (f"/api/v1/batch/stop/{PAGE}", None),
        (f"/api/v1/batch/extend/{PAGE}", {"duration_seconds": 60}),
    ]:
        response = await client.post(path, json=body, headers=bearer(READ_KEY))
        assert response.status == 403, path
        answer = await response.json()
        assert answer["success"] is False
        assert answer["required_scope"] == "write"
        assert "'reader'" in answer["message"] and "'write'" in answer["message"]
        assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    # Nothing was started by the refused requests.
    response = await client.get(f"/api/v1/batch/status/{PAGE}", headers=bearer(READ_KEY))
    assert response.status == 404


async def test_a_write_key_writes_and_reads(client: TestClient) -> None:
    response = await client.post(
        "/api/v1/batch/start", json={"notion_page_id": PAGE}, headers=bearer(WRITE_KEY)
    )
    assert response.status == 200, await response.text()
    for path in (
        f"/api/v1/batch/status/{PAGE}",
        "/api/v1/batch/status",
        f"/api/v1/batch/history/{PAGE}",
        f"/api/v1/batch/todos/{PAGE}",
    ):
        assert (await client.get(path, headers=bearer(WRITE_KEY))).status == 200, path
    response = await client.post(
        f"/api/v1/batch/extend/{PAGE}", json={"duration_seconds": 60}, headers=bearer(WRITE_KEY)
    )
    assert response.status == 200
    response = await client.post(f"/api/v1/batch/stop/{PAGE}", headers=bearer(WRITE_KEY))
    assert response.status == 200
    # The bearer scheme is case-insensitive (RFC 7235).
    response = await client.get(
        "/api/v1/batch/status", headers={"Authorization": f"bearer {READ_KEY}"}
    )
    assert response.status == 200


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/healthz", "application/json"),
        ("/readyz", "application/json"),
        ("/api/v1/openapi.json", "application/json"),
        ("/api/docs", "text/html"),
        ("/api/docs/static/swagger-ui/swagger-ui-bundle.js", "text/javascript"),
        ("/api/docs/static/swagger-ui/swagger-ui.css", "text/css"),
        ("/api/docs/static/docs-init.js", "text/javascript"),
    ],
)
async def test_probes_and_docs_need_no_key(
    client: TestClient, path: str, content_type: str
) -> None:
    for headers in ({}, bearer("a-wrong-key-is-ignored-here-0")):
        response = await client.get(path, headers=headers)
        if path == "/readyz" and response.status == 503:  # the broker may still be connecting
            continue
        assert response.status == 200, (path, await response.text())
        assert response.content_type in (content_type, "application/javascript"), path


async def test_unknown_routes_and_methods_answer_without_asking_for_a_key(
    client: TestClient,
) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status == 404 and response.content_type == "application/json"
    response = await client.delete(f"/api/v1/batch/stop/{PAGE}")
    assert response.status == 405 and response.content_type == "application/json"
    assert response.headers["Allow"] == "POST"
    response = await client.get("/api/docs/static/no-such-file.js")
    assert response.status == 404 and response.content_type == "application/json"
    response = await client.get("/api/docs/static/../../main.py")
    assert response.status in (403, 404) and response.content_type == "application/json"


async def test_with_auth_disabled_everything_is_open_and_a_warning_is_logged(
    make_client: ClientFactory,
) -> None:
    with structlog.testing.capture_logs() as logs:
        client = await make_client(API_KEYS="", API_AUTH="disabled")
        status = (await client.get("/api/v1/batch/status")).status
        started = await client.post("/api/v1/batch/start", json={"notion_page_id": PAGE})
    assert status == 200
    assert started.status == 200
    warnings = [e for e in logs if e["event"] == "api_auth_disabled"]
    assert len(warnings) == 1 and warnings[0]["log_level"] == "warning"


async def test_keys_are_never_logged_and_requests_log_the_key_name(client: TestClient) -> None:
    wrong = "not-a-key-we-know-0123456789"
    with structlog.testing.capture_logs() as logs:
        await client.post(
            "/api/v1/batch/start", json={"notion_page_id": PAGE}, headers=bearer(WRITE_KEY)
        )
        await client.get(f"/api/v1/batch/status/{PAGE}", headers=bearer(READ_KEY))
        await client.post(f"/api/v1/batch/stop/{PAGE}", headers=bearer(READ_KEY))
        await client.get("/api/v1/batch/status", headers=bearer(wrong))
    text = repr(logs)
    for secret in (WRITE_KEY, READ_KEY, wrong):
        assert secret not in text
    requests = [e for e in logs if e["event"] == "http_request"]
    assert [e["api_key"] for e in requests] == ["writer", "reader", "reader", None]
    assert [e["status"] for e in requests] == [200, 200, 403, 401]


# -- body limit, rate limit, CORS --------------------------------------------------------------


async def test_an_oversized_body_is_refused_before_authentication(client: TestClient) -> None:
    response = await client.post(
        "/api/v1/batch/start",
        data=b"{" + b" " * (64 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 413
    body = await response.json()
    assert body["success"] is False and "65536" in body["message"]


async def test_chunked_bodies_over_the_limit_are_refused_too(client: TestClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"notion_page_id": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    response = await client.post(
        "/api/v1/batch/start", data=chunks(), headers={**bearer(WRITE_KEY)}
    )
    assert response.status == 413
    assert (await response.json())["success"] is False


async def test_writes_beyond_the_rate_get_a_429_with_retry_after(
    make_client: ClientFactory,
) -> None:
    client = await make_client(API_WRITE_RATE_PER_MINUTE="1", API_WRITE_BURST="2")
    start = {"notion_page_id": PAGE, "duration_seconds": 60}
    assert (
        await client.post("/api/v1/batch/start", json=start, headers=bearer(WRITE_KEY))
    ).status == 200
    assert (
        await client.post(f"/api/v1/batch/stop/{PAGE}", headers=bearer(WRITE_KEY))
    ).status == 200
    response = await client.post("/api/v1/batch/start", json=start, headers=bearer(WRITE_KEY))
    assert response.status == 429
    body = await response.json()
    assert body["success"] is False and "per minute" in body["message"]
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert body["retry_after_seconds"] == retry_after
    # Reads are not limited; another key has a bucket of its own.
    for _ in range(5):
        assert (await client.get("/api/v1/batch/status", headers=bearer(WRITE_KEY))).status == 200
    response = await client.post("/api/v1/batch/start", json=start, headers=bearer(OTHER_WRITE_KEY))
    assert response.status == 200


async def test_a_rate_of_zero_turns_the_limit_off(make_client: ClientFactory) -> None:
    client = await make_client(API_WRITE_RATE_PER_MINUTE="0", API_WRITE_BURST="1")
    for _ in range(5):
        response = await client.post(f"/api/v1/batch/stop/{PAGE}", headers=bearer(WRITE_KEY))
        assert response.status == 409  # not running; but never 429


async def test_cors_is_off_by_default(client: TestClient) -> None:
    origin = {"Origin": "https://dashboard.example"}
    response = await client.get("/api/v1/batch/status", headers={**origin, **bearer(READ_KEY)})
    assert response.status == 200
    assert not any(h.lower().startswith("access-control-") for h in response.headers)
    preflight = await client.options(
        "/api/v1/batch/start", headers={**origin, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status == 405
    assert "Access-Control-Allow-Origin" not in preflight.headers


async def test_cors_allows_only_the_configured_origins(make_client: ClientFactory) -> None:
    client = await make_client(API_CORS_ORIGINS="https://dashboard.example")
    allowed = {"Origin": "https://dashboard.example"}
    preflight = await client.options(
        "/api/v1/batch/start",
        headers={
            **allowed,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://dashboard.example"
    assert "Idempotency-Key" in preflight.headers["Access-Control-Allow-Headers"]
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    # Answers, errors included, carry the header so the page can read them.
    response = await client.get("/api/v1/batch/status", headers=allowed)
    assert response.status == 401
    assert response.headers["Access-Control-Allow-Origin"] == "https://dashboard.example"
    assert response.headers["Vary"] == "Origin"
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]
    other = await client.get(
        "/api/v1/batch/status", headers={"Origin": "https://evil.example", **bearer(READ_KEY)}
    )
    assert other.status == 200
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_an_outlandish_request_id_is_replaced(client: TestClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "x" * 500})
    assert len(response.headers["X-Request-Id"]) == 32
    response = await client.get("/healthz", headers={"X-Request-Id": "trace-42"})
    assert response.headers["X-Request-Id"] == "trace-42"
