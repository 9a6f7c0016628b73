"""The README's picture of a Notion page after a run: ``docs/notion-page-after-run.png``.

Run from the repository's root: ``.venv/bin/python -m scripts.screenshots [--out docs]``.
It starts the product as real processes (the end-to-end suite's stack, ``tests/e2e/stack.py``:
emulator with the demo pages, API, scheduler, one worker with the default ``complete``
handler) in a database and broker namespace of its own, runs a batch on the tidy demo page
until every to-do is worked, checked and logged in the emulator, stops it, and photographs
the emulator's HTML view of the page (``/_emulator/pages/{id}/view``) with Playwright driving
Debian's Chromium (``CHROMIUM`` may name another). The database and namespace are removed
afterwards. Needs PostgreSQL and RabbitMQ (``DATABASE_URL``/``TEST_DATABASE_URL``,
``AMQP_URL``/``TEST_AMQP_URL``; the local ones by default).

The console's pictures (``docs/console-*.png``) come from its browser tests instead:
``CONSOLE_SCREENSHOTS=docs .venv/bin/pytest tests/console -q``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from playwright.async_api import async_playwright

from notion_batch.common.db.migrate import migrate
from notion_batch.emulator.demo import DEMO_PAGE_ID
from scripts.servers import add_server_arguments
from tests.e2e.stack import ROOT, Stack, plan_stack, serving, wait_for
from tests.support.isolation import delete_namespace, drop_database, with_database

PICTURE = "notion-page-after-run.png"
#: The first tick works the whole demo page; this bounds a slow, shared machine.
WAIT_SECONDS = 60


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.screenshots", description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder of the PNG")
    add_server_arguments(parser)
    return parser.parse_args(argv)


async def _worked_and_recorded(stack: Stack) -> dict[str, Any] | None:
    """The page's tree once no to-do is pending, each done one is checked in Notion and the
    log toggle holds a line for each; else None."""
    todos = (await stack.status(DEMO_PAGE_ID))["todos"]
    if todos["pending"] or not todos["done"]:
        return None
    tree: dict[str, Any] = await stack.notion("GET", f"/_emulator/pages/{DEMO_PAGE_ID}")
    logs = [b for b in tree["blocks"] if b["type"] == "toggle" and "log" in b["text"]]
    checked = await stack.notion("GET", f"/_emulator/pages/{DEMO_PAGE_ID}/todos")
    all_checked = all(t["checked"] for t in checked["todos"])
    lines = sum(len(log["children"]) for log in logs)
    return tree if all_checked and lines >= todos["done"] + todos["skipped"] else None


async def _photograph(url: str, path: Path) -> None:
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox"]
        )
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 720})
            await page.goto(url)
            await page.screenshot(path=path, full_page=True)
        finally:
            await browser.close()


async def _run(args: argparse.Namespace) -> Path:
    name = f"nb_screenshots_{uuid.uuid4().hex[:10]}"
    namespace = f"nbscreenshots.{uuid.uuid4().hex[:10]}"
    database_url = with_database(args.database_url, name)
    await migrate(database_url)
    # The emulator seeds the demo pages; the worker runs the product's default handler.
    plan = plan_stack(
        database_url, args.amqp_url, namespace, NOTION_EMULATOR_DEMO="1", TODO_HANDLER="complete"
    )
    # serving() prints the services' logs unless told the run went well.
    outcome = SimpleNamespace(rep_call_failed=True)
    picture: Path = args.out / PICTURE
    try:
        with tempfile.TemporaryDirectory(prefix="nb-screenshots-") as logs:
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                stack = Stack(plan.env, Path(logs), plan.api_url, plan.notion_url, http)
                async with serving(
                    stack, outcome, emulator_port=plan.emulator_port, workers=["worker-1"]
                ):
                    await stack.start_batch(DEMO_PAGE_ID, interval_seconds=10, duration_seconds=600)
                    await wait_for(
                        lambda: _worked_and_recorded(stack),
                        timeout=WAIT_SECONDS,
                        what="the demo page worked, checked and logged",
                    )
                    status, answer = await stack.api("POST", f"/api/v1/batch/stop/{DEMO_PAGE_ID}")
                    assert status == 200, answer
                    await _photograph(
                        f"{plan.notion_url}/_emulator/pages/{DEMO_PAGE_ID}/view", picture
                    )
                    outcome.rep_call_failed = False
    finally:
        await drop_database(args.database_url, name)
        await delete_namespace(args.amqp_url, namespace)
    return picture


def main(argv: list[str] | None = None) -> int:
    """Make the picture; print where it is."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    print(f"saved {asyncio.run(_run(args))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
