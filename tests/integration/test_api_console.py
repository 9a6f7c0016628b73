"""The console's sessions, CSRF tokens, scopes and headers, over HTTP against the real API
app (in-process, real PostgreSQL and RabbitMQ). The browser's view is tests/console."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from notion_batch.api.console.sessions import SESSION_COOKIE
from tests.integration.conftest import ApiClientFactory

READ_KEY = "console-reader-0123456789abcdef"
WRITE_KEY = "console-writer-0123456789abcdef"
KEYS = f"reader:read:{READ_KEY},writer:write:{WRITE_KEY}"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def api(make_api_client: ApiClientFactory) -> TestClient:
    return await make_api_client({"API_KEYS": KEYS, "CONSOLE_SESSION_SECRET": "s" * 40})


@pytest.fixture
async def browser(api: TestClient) -> AsyncIterator[aiohttp.ClientSession]:
    # unsafe: the test server is at an IP address, whose cookies a default jar refuses.
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(str(api.make_url("")), cookie_jar=jar) as session:
        yield session


async def csrf_of(browser: aiohttp.ClientSession, path: str) -> str:
    async with browser.get(path) as response:
        assert response.status == 200, await response.text()
        found = _CSRF.search(await response.text())
    assert found is not None, f"no CSRF token on {path}"
    return found.group(1)


async def sign_in(browser: aiohttp.ClientSession, key: str) -> aiohttp.ClientResponse:
    token = await csrf_of(browser, "/console/login")
    async with browser.post(
        "/console/login", data={"csrf": token, "api_key": key}, allow_redirects=False
    ) as response:
        return response


async def test_a_page_needs_a_session(browser: aiohttp.ClientSession) -> None:
    async with browser.get("/console", allow_redirects=False) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/console/login"


async def test_signing_in_sets_a_strict_http_only_expiring_cookie_without_the_key(
    browser: aiohttp.ClientSession,
) -> None:
    response = await sign_in(browser, WRITE_KEY)
    assert response.status == 303
    cookie = response.cookies[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert int(cookie["max-age"]) == 8 * 3600
    assert cookie["path"] == "/console"
    assert not cookie["secure"]  # plain HTTP here; behind TLS see the next test
    assert WRITE_KEY not in cookie.value
    async with browser.get("/console") as page:
        assert page.status == 200
        assert "writer" in await page.text()


async def test_the_cookie_is_secure_when_the_proxy_says_https(
    browser: aiohttp.ClientSession,
) -> None:
    token = await csrf_of(browser, "/console/login")
    async with browser.post(
        "/console/login",
        data={"csrf": token, "api_key": WRITE_KEY},
        headers={"X-Forwarded-Proto": "https"},
        allow_redirects=False,
    ) as response:
        assert response.cookies[SESSION_COOKIE]["secure"]


async def test_a_wrong_key_or_a_sign_in_without_its_csrf_token_is_refused(
    browser: aiohttp.ClientSession,
) -> None:
    assert (await sign_in(browser, "not-a-key-at-all-0123456789")).status == 401
    async with browser.post(
        "/console/login", data={"api_key": WRITE_KEY}, allow_redirects=False
    ) as response:
        assert response.status == 403
        assert SESSION_COOKIE not in response.cookies


async def test_pages_carry_a_strict_content_security_policy(
    browser: aiohttp.ClientSession,
) -> None:
    await sign_in(browser, READ_KEY)
    async with browser.get("/console/batches") as response:
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert response.headers["Cache-Control"] == "no-store"
        assert "<script>" not in await response.text()  # scripts are files, never inline


async def test_a_read_session_sees_no_action_and_its_forged_post_is_refused(
    browser: aiohttp.ClientSession, api: TestClient
) -> None:
    await sign_in(browser, READ_KEY)
    token = await csrf_of(browser, "/console")  # the sign-out form's: a valid token
    async with browser.get("/console/batches") as response:
        assert "Start a batch" not in await response.text()
    page = str(uuid.uuid4())
    async with browser.post(
        "/console/batches", data={"csrf": token, "notion_page_id": page}, allow_redirects=False
    ) as forged:
        assert forged.status == 403
    status = await api.get(
        f"/api/v1/batch/status/{page}", headers={"Authorization": f"Bearer {READ_KEY}"}
    )
    assert status.status == 404  # nothing was started


async def test_an_action_without_or_with_a_wrong_csrf_token_is_refused(
    browser: aiohttp.ClientSession,
) -> None:
    await sign_in(browser, WRITE_KEY)
    page = str(uuid.uuid4())
    for data in ({"notion_page_id": page}, {"notion_page_id": page, "csrf": "x" * 43}):
        async with browser.post("/console/batches", data=data, allow_redirects=False) as answer:
            assert answer.status == 403


async def test_a_write_session_starts_extends_and_stops_through_the_rest_code(
    browser: aiohttp.ClientSession, api: TestClient
) -> None:
    await sign_in(browser, WRITE_KEY)
    token = await csrf_of(browser, "/console/batches")
    page = str(uuid.uuid4())
    async with browser.post(
        "/console/batches",
        data={"csrf": token, "notion_page_id": page, "interval_seconds": "60"},
        allow_redirects=False,
    ) as started:
        assert started.status == 303
        assert started.headers["Location"] == f"/console/pages/{page}"
    async with browser.get(f"/console/pages/{page}") as view:
        text = await view.text()
        assert "Batch started" in text and "running" in text
    async with browser.post(
        f"/console/pages/{page}/extend", data={"csrf": token, "minutes": "5"}
    ) as extended:
        assert "Batch extended by 5 minutes." in await extended.text()
    async with browser.post(f"/console/pages/{page}/stop", data={"csrf": token}) as stopped:
        assert "Batch stopped." in await stopped.text()
    async with browser.post(f"/console/pages/{page}/stop", data={"csrf": token}) as again:
        assert f"Refused: no batch is running for page {page}" in await again.text()
    status = await api.get(
        f"/api/v1/batch/status/{page}", headers={"Authorization": f"Bearer {READ_KEY}"}
    )
    assert (await status.json())["db_status"] == "completed"


async def test_signing_out_ends_the_session(browser: aiohttp.ClientSession) -> None:
    await sign_in(browser, WRITE_KEY)
    token = await csrf_of(browser, "/console")
    async with browser.post(
        "/console/logout", data={"csrf": token}, allow_redirects=False
    ) as response:
        assert response.status == 303
    async with browser.get("/console", allow_redirects=False) as after:
        assert after.status == 303 and after.headers["Location"] == "/console/login"


async def test_a_session_of_a_key_no_longer_configured_is_refused(
    make_api_client: ApiClientFactory, browser: aiohttp.ClientSession
) -> None:
    await sign_in(browser, WRITE_KEY)
    cookie = next(c for c in browser.cookie_jar if c.key == SESSION_COOKIE).value
    # Another replica with the same secret accepts it; one whose keys changed does not.
    same = await make_api_client({"API_KEYS": KEYS, "CONSOLE_SESSION_SECRET": "s" * 40})
    other = await make_api_client(
        {"API_KEYS": f"reader:read:{READ_KEY}", "CONSOLE_SESSION_SECRET": "s" * 40}
    )
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
    accepted = await same.get("/console", headers=headers, allow_redirects=False)
    assert accepted.status == 200
    refused = await other.get("/console", headers=headers, allow_redirects=False)
    assert refused.status == 303


async def test_with_auth_disabled_every_page_says_so(make_api_client: ApiClientFactory) -> None:
    api = await make_api_client({"API_AUTH": "disabled"})
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(str(api.make_url("")), cookie_jar=jar) as browser:
        for path in ("/console", "/console/batches"):
            async with browser.get(path) as response:
                assert response.status == 200
                assert "Authentication is disabled" in await response.text()


async def test_the_consoles_own_assets_are_served_and_nothing_else(api: TestClient) -> None:
    for name, content_type in (("console.js", "javascript"), ("console.css", "text/css")):
        response = await api.get(f"/console/static/{name}")
        assert response.status == 200, name
        assert content_type in response.content_type
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "max-age=300" in response.headers["Cache-Control"]
    for other in ("templates.html", "..%2F__init__.py", "sessions.py"):
        response = await api.get(f"/console/static/{other}")
        assert response.status == 404, other
