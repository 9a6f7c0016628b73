"""The console's sessions, CSRF tokens, scopes and headers, over HTTP against the real API
app (in-process, real PostgreSQL and RabbitMQ). The browser's view is tests/console."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html import unescape

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from notion_batch.api.console.sessions import SESSION_COOKIE
from notion_batch.api.console.views import LIST_LIMIT, TODOS_LIMIT
from notion_batch.common.db.batches import BatchRepository, NewBatch
from notion_batch.common.db.notion_calls import CallCount, NotionCallRepository
from tests.integration.conftest import ApiClientFactory

READ_KEY = "console-reader-0123456789abcdef"
WRITE_KEY = "console-writer-0123456789abcdef"
OTHER_WRITE_KEY = "console-writer-2-0123456789abcdef"
KEYS = f"reader:read:{READ_KEY},writer:write:{WRITE_KEY},writer2:write:{OTHER_WRITE_KEY}"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_PAGE_LINK = re.compile(r'<a href="/console/pages/([0-9a-f-]{36})">')
_OLDER = re.compile(r'<a href="([^"]+)" rel="next" id="older">')
_LATER = re.compile(r'<a href="([^"]+)" rel="next" id="todos-later">')


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


def session_cookie(browser: aiohttp.ClientSession) -> str:
    return next(c for c in browser.cookie_jar if c.key == SESSION_COOKIE).value


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


async def test_signing_out_ends_the_session_and_every_copy_of_its_cookie(
    browser: aiohttp.ClientSession, api: TestClient, make_api_client: ApiClientFactory
) -> None:
    await sign_in(browser, WRITE_KEY)
    token = await csrf_of(browser, "/console")
    copied = {"Cookie": f"{SESSION_COOKIE}={session_cookie(browser)}"}
    assert (await api.get("/console", headers=copied, allow_redirects=False)).status == 200
    async with browser.post(
        "/console/logout", data={"csrf": token}, allow_redirects=False
    ) as response:
        assert response.status == 303
    async with browser.get("/console", allow_redirects=False) as after:
        assert after.status == 303 and after.headers["Location"] == "/console/login"
    # The cookie copied before the sign-out (another tab, a stolen one) is refused after it,
    # by this replica and by another with the same secret; its actions too.
    replica = await make_api_client({"API_KEYS": KEYS, "CONSOLE_SESSION_SECRET": "s" * 40})
    for client in (api, replica):
        page = await client.get("/console/batches", headers=copied, allow_redirects=False)
        assert page.status == 303 and page.headers["Location"] == "/console/login"
        live = await client.get("/console/live/overview", headers=copied)
        assert live.status == 401
        stop = await client.post(
            f"/console/pages/{uuid.uuid4()}/stop", data={"csrf": token}, headers=copied
        )
        assert stop.status == 403
    # Signing in again makes a new session, which works.
    assert (await sign_in(browser, WRITE_KEY)).status == 303
    async with browser.get("/console", allow_redirects=False) as again:
        assert again.status == 200


async def test_a_session_of_a_key_no_longer_configured_is_refused(
    make_api_client: ApiClientFactory, browser: aiohttp.ClientSession
) -> None:
    await sign_in(browser, WRITE_KEY)
    cookie = session_cookie(browser)
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


async def test_console_actions_take_from_the_rest_apis_write_buckets(
    make_api_client: ApiClientFactory,
) -> None:
    api = await make_api_client(
        {
            "API_KEYS": KEYS,
            "CONSOLE_SESSION_SECRET": "s" * 40,
            "API_WRITE_RATE_PER_MINUTE": "1",
            "API_WRITE_BURST": "2",
        }
    )
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(str(api.make_url("")), cookie_jar=jar) as browser:
        await sign_in(browser, WRITE_KEY)
        token = await csrf_of(browser, "/console/batches")
        page = str(uuid.uuid4())
        start = {"csrf": token, "notion_page_id": page, "interval_seconds": "60"}
        async with browser.post("/console/batches", data=start, allow_redirects=False) as first:
            assert first.status == 303
        # The key's second write, through the REST API: the same bucket, its last token.
        rest = await api.post(
            f"/api/v1/batch/stop/{page}", headers={"Authorization": f"Bearer {WRITE_KEY}"}
        )
        assert rest.status == 200
        # The third, from the console: refused as the REST API refuses, nothing done.
        async with browser.post("/console/batches", data=start, allow_redirects=False) as third:
            assert third.status == 429
            assert int(third.headers["Retry-After"]) >= 1
            assert "too many writes" in await third.text()
        status = await api.get(
            f"/api/v1/batch/status/{page}", headers={"Authorization": f"Bearer {READ_KEY}"}
        )
        assert (await status.json())["db_status"] == "completed"
        # Reads are never throttled.
        async with browser.get(f"/console/pages/{page}") as view:
            assert view.status == 200
        # Another key has a bucket of its own.
        other = await api.post(
            "/api/v1/batch/start",
            json={"notion_page_id": str(uuid.uuid4())},
            headers={"Authorization": f"Bearer {OTHER_WRITE_KEY}"},
        )
        assert other.status == 200


async def test_the_batch_list_and_the_to_dos_page_with_older_and_later_links(
    api: TestClient, browser: aiohttp.ClientSession, pool: asyncpg.Pool
) -> None:
    batches = BatchRepository(pool)
    for _ in range(LIST_LIMIT + 1):
        await batches.start(
            NewBatch(str(uuid.uuid4()), interval_seconds=60, duration_seconds=900, message="m")
        )
    everything = await batches.listing(state=None, id_fragment=None, limit=500)
    listed = [b.notion_page_id for b in everything]
    crowded = listed[0]
    await pool.execute(
        "INSERT INTO notion_todos (block_id, notion_page_id, position, text, status)"
        " SELECT gen_random_uuid(), $1, n, 'to-do ' || n, 'pending'"
        " FROM generate_series(0, $2) n",
        crowded,
        TODOS_LIMIT,
    )
    await sign_in(browser, READ_KEY)

    async with browser.get("/console/batches?state=running") as first:
        html = await first.text()
    shown = _PAGE_LINK.findall(html)
    assert shown == listed[:LIST_LIMIT]
    older = _OLDER.search(html)
    assert older is not None, "no 'older' link"
    assert 'id="newest"' not in html
    async with browser.get(unescape(older.group(1))) as second:
        html = await second.text()
    assert _PAGE_LINK.findall(html) == listed[LIST_LIMIT:]
    assert _OLDER.search(html) is None and 'id="newest"' in html
    # The filter is kept across pages; the live fragment pages alike.
    assert "state=running" in unescape(older.group(1))
    async with browser.get(unescape(older.group(1)).replace("/batches", "/live/batches")) as live:
        assert _PAGE_LINK.findall(await live.text()) == listed[LIST_LIMIT:]

    async with browser.get(f"/console/pages/{crowded}") as view:
        html = await view.text()
    assert html.count('<tr data-block="') == TODOS_LIMIT
    assert f"to-do {TODOS_LIMIT - 1}<" in html and f"to-do {TODOS_LIMIT}<" not in html
    later = _LATER.search(html)
    assert later is not None, "no 'later to-dos' link"
    async with browser.get(unescape(later.group(1))) as rest:
        html = await rest.text()
    assert html.count('<tr data-block="') == 1 and f"to-do {TODOS_LIMIT}<" in html
    assert _LATER.search(html) is None and 'id="todos-first"' in html

    for bad in ("/console/batches?cursor=yesterday", f"/console/pages/{crowded}?cursor=1:x"):
        async with browser.get(bad) as refused:
            assert refused.status == 400
            assert "next_cursor" in await refused.text()


class PrefixProxy:
    """A reverse proxy serving the API under ``/ops``, as nginx or Traefik would: strips the
    prefix and says so with ``X-Forwarded-Prefix``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.seen: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not request.path.startswith("/ops/"):
            return web.Response(status=404, text="not behind the proxy")
        self.seen.append(request.path)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        headers["X-Forwarded-Prefix"] = "/ops"
        async with (
            aiohttp.ClientSession() as upstream,
            upstream.request(
                request.method,
                self.upstream + request.path_qs[len("/ops") :],
                headers=headers,
                data=await request.read(),
                allow_redirects=False,
            ) as answer,
        ):
            response = web.Response(status=answer.status, body=await answer.read())
            for key, value in answer.headers.items():
                if key.lower() not in _HOP_HEADERS:
                    response.headers.add(key, value)
            return response


_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


async def test_behind_a_proxy_with_a_path_prefix_every_link_and_cookie_carries_it(
    api: TestClient,
) -> None:
    proxy = PrefixProxy(str(api.make_url("")))
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    async with TestClient(TestServer(app)) as front:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(str(front.make_url("")), cookie_jar=jar) as browser:
            # Followed as a browser would: every redirect must stay behind the proxy.
            async with browser.get("/ops/console") as login:
                assert login.status == 200 and login.url.path == "/ops/console/login"
                form = _CSRF.search(await login.text())
            assert form is not None
            async with browser.post(
                "/ops/console/login", data={"csrf": form.group(1), "api_key": WRITE_KEY}
            ) as overview:
                assert overview.status == 200 and overview.url.path == "/ops/console"
                html = await overview.text()
            cookie = next(c for c in jar if c.key == SESSION_COOKIE)
            assert cookie["path"] == "/ops/console"
            for url in re.findall(r'(?:href|action|src|data-live|data-root)="([^"]*)"', html):
                assert url.startswith("/ops/console") or url == "#main", url
            token = await csrf_of(browser, "/ops/console/batches")
            page = str(uuid.uuid4())
            async with browser.post(
                "/ops/console/batches", data={"csrf": token, "notion_page_id": page}
            ) as started:
                assert started.url.path == f"/ops/console/pages/{page}"
                assert "Batch started" in await started.text()
            async with browser.post(
                f"/ops/console/pages/{page}/stop", data={"csrf": token}
            ) as stopped:
                assert "Batch stopped." in await stopped.text()
            async with browser.post("/ops/console/logout", data={"csrf": token}) as out:
                assert out.url.path == "/ops/console/login"
    assert all(path.startswith("/ops/console") for path in proxy.seen)


async def test_a_forwarded_prefix_that_is_not_a_plain_path_is_ignored(api: TestClient) -> None:
    for prefix in ('/x"><script>', "//evil.example", "ops", "/a b"):
        answer = await api.get(
            "/console", headers={"X-Forwarded-Prefix": prefix}, allow_redirects=False
        )
        assert answer.headers["Location"] == "/console/login", prefix


async def test_the_overview_shows_the_fleets_notion_calls_per_minute(
    browser: aiohttp.ClientSession, pool: asyncpg.Pool
) -> None:
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    calls = NotionCallRepository(pool)
    # As two workers' flushes would add them.
    await calls.add([CallCount("default", minute - timedelta(minutes=1), 170, 4)])
    await calls.add([CallCount("default", minute - timedelta(minutes=1), 10, 1)])
    await calls.add([CallCount("default", minute, 42, 0), CallCount("team-b", minute, 8, 2)])
    await sign_in(browser, READ_KEY)
    async with browser.get("/console/live/overview") as live:
        html = await live.text()
    # Read at a minute's turn, this minute's calls are the last full minute's.
    figures = {
        name: int(value)
        for name, value in re.findall(r'id="((?:calls|limited)-[a-z-]+)">(\d+)<', html)
    }
    expected = {
        "calls-last-minute": 180,
        "limited-last-minute": 5,
        "calls-this-minute": 50,
        "limited-this-minute": 2,
    }
    if figures["calls-last-minute"] == 50:  # read just after the minute turned
        expected = dict.fromkeys(expected, 0) | {"calls-last-minute": 50, "limited-last-minute": 2}
    assert figures == expected
    assert "<code>team-b</code>" in html  # by integration, when there are several
