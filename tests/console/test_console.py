"""What a person does in the console, in headless Chromium against the real stack: sign in,
start a batch and watch its bar reach 100 %, read a skipped to-do's error, see a to-do titled
``<script>`` as text, stop another batch; a read key's session has no action and its forged
POST is refused; an action without its CSRF token is refused. Waits are on conditions
(Playwright's ``expect``), never fixed sleeps."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import READ_KEY, chromium_path, needs_chromium
from tests.e2e.conftest import unique_title
from tests.e2e.stack import API_KEY, Stack

pytestmark = [needs_chromium, pytest.mark.timeout(180)]

SCRIPT_TITLE = '<script>document.title="pwned"</script>'
#: Long enough for a tick, short enough for a test; Playwright's own default is 5 s.
WAIT_MS = 60_000

if needs_chromium.args[0] is False:  # imported only where it will run
    from playwright.async_api import Browser, Dialog, Page, async_playwright, expect


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def new_page(browser: Browser, stack: Stack, **options: Any) -> Page:
    context = await browser.new_context(base_url=stack.api_url, **options)
    page = await context.new_page()
    dialogs: list[str] = []

    async def confirm(dialog: Dialog) -> None:
        # A person answering "OK" to each confirmation; any other dialog is recorded too.
        dialogs.append(dialog.message)
        await dialog.accept()

    page.on("dialog", confirm)
    page.dialogs = dialogs  # type: ignore[attr-defined]
    return page


async def sign_in(page: Page, key: str) -> None:
    await page.goto("/console")
    await expect(page).to_have_url(f"{page.url.split('/console')[0]}/console/login")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()


async def emulated_page(stack: Stack, *texts: str) -> str:
    children = [{"type": "to_do", "text": text} for text in texts]
    created = await stack.notion(
        "POST", "/_emulator/pages", json={"title": unique_title(), "children": children}
    )
    return str(created["page_id"])


async def test_a_write_session_starts_watches_and_stops_batches(
    stack: Stack, browser: Browser, screenshots: Path | None
) -> None:
    page = await new_page(browser, stack)
    await sign_in(page, API_KEY)

    # Start from the console: the bar reaches 100 % live, without a reload.
    worked = await emulated_page(stack, "buy milk", SCRIPT_TITLE, "call Ana [fail]", "pay rent")
    await page.get_by_role("link", name="Batches").click()
    await page.get_by_label("Notion page id or URL").fill(worked)
    await page.get_by_label("Every (seconds)").fill("1")
    await page.get_by_role("button", name="Start").click()
    await expect(page.locator("#flash")).to_contain_text("Batch started")
    assert page.dialogs == ["Start a batch on this page?"]  # type: ignore[attr-defined]
    bar = page.locator("#progress")
    await expect(bar).to_have_attribute("data-percent", "100", timeout=WAIT_MS)
    await expect(page.locator("#progress-label")).to_contain_text("3 done, 1 skipped, 0 pending")

    # The failing to-do was skipped after its attempts, with its error shown.
    failed = page.locator("tr", has_text="call Ana [fail]")
    await expect(failed.locator(".badge")).to_have_text("skipped")
    await expect(failed.locator(".error-text")).to_contain_text("scripted failure")
    # A to-do titled <script> is text on the page, never run.
    await expect(page.get_by_role("cell", name=SCRIPT_TITLE, exact=True)).to_be_visible()
    assert await page.title() != "pwned"
    if screenshots is not None:
        await page.screenshot(path=screenshots / "console-page.png", full_page=True)

    # Stop another batch, started through the REST API.
    running = await emulated_page(stack, "slow one")
    await stack.start_batch(running, interval_seconds=3600, duration_seconds=3600)
    await page.goto(f"/console/pages/{running}")
    await expect(page.locator("#page-state")).to_have_text("running")
    await page.get_by_role("button", name="Stop").click()
    await expect(page.locator("#flash")).to_have_text("Batch stopped.")
    await expect(page.locator("#page-state")).to_have_text("completed")
    assert (await stack.status(running))["db_status"] == "completed"

    # An action without its CSRF token is refused, with the session's cookie and all.
    forged = await page.request.post(
        f"/console/pages/{worked}/stop", form={"notion_page_id": worked}, max_redirects=0
    )
    assert forged.status == 403

    await page.goto("/console")
    # The first batch still runs (its duration is the default), the second was stopped.
    await expect(page.locator("#count-running")).to_have_text("1")
    await expect(page.locator("#count-completed")).to_have_text("1")
    # Three of the first page, and the second's if its first tick beat the stop.
    await expect(page.locator("#todos-done")).to_have_text(re.compile(r"^[34]$"))
    # The workers' Notion calls, added up by the fleet: the first batch still ticks every
    # second, so this minute always has some (live: the overview refreshes itself).
    await expect(page.locator("#calls-this-minute")).not_to_have_text("0", timeout=WAIT_MS)
    if screenshots is not None:
        await page.screenshot(path=screenshots / "console-overview.png", full_page=True)

    # A copy of the session cookie, taken before signing out (another browser, a thief).
    copied = await page.context.cookies()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.goto("/console")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    elsewhere = await new_page(browser, stack)
    await elsewhere.context.add_cookies(copied)  # type: ignore[arg-type]
    await elsewhere.goto("/console")
    await expect(elsewhere.get_by_role("heading", name="Sign in")).to_be_visible()


async def test_a_read_session_sees_but_cannot_act_even_on_a_phone(
    stack: Stack, browser: Browser
) -> None:
    running = await emulated_page(stack, "look, don't touch")
    await stack.start_batch(running, interval_seconds=3600, duration_seconds=3600)
    page = await new_page(browser, stack, viewport={"width": 390, "height": 844})
    await sign_in(page, READ_KEY)

    await page.goto(f"/console/pages/{running}")
    await expect(page.locator("#page-state")).to_have_text("running")
    await expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    await expect(page.get_by_role("button", name="Extend")).to_have_count(0)
    await page.goto("/console/batches")
    await expect(page.get_by_role("link", name=running)).to_be_visible()
    await expect(page.get_by_role("button", name="Start")).to_have_count(0)
    # Nothing wider than the phone: tables scroll inside their own box.
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0

    # A forged stop, with this session's valid CSRF token (from its sign-out form): refused.
    token = await page.locator('input[name="csrf"]').first.input_value()
    forged = await page.request.post(
        f"/console/pages/{running}/stop", form={"csrf": token}, max_redirects=0
    )
    assert forged.status == 403
    assert (await stack.status(running))["db_status"] == "running"

    # Keyboard: the first Tab reaches the skip link, and focus is visible.
    await page.keyboard.press("Tab")
    await expect(page.locator(".skip")).to_be_focused()
