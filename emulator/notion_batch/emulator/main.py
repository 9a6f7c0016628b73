"""``notion-batch-emulator``: serve the emulator as its own process.

Configuration comes from the environment (a bad value prints one line naming the variable and
exits with status 2):

=================================  =========================  ======================================
``NOTION_EMULATOR_HOST``           ``127.0.0.1``              interface to listen on
``NOTION_EMULATOR_PORT``           ``8700``                   port (``0``: any free port)
``NOTION_EMULATOR_TOKENS``         ``secret_emulator_token``  accepted tokens, comma-separated
``NOTION_EMULATOR_RATE_LIMIT``     ``3``                      requests/s per token; ``off``: none
``NOTION_EMULATOR_RATE_BURST``     ``3``                      burst allowance of the rate limit
``NOTION_EMULATOR_DEMO``           ``0``                      ``1`` seeds demo pages (``--demo``)
``NOTION_EMULATOR_WEBHOOK_DELAY``  ``1``                      seconds a page's changes are gathered
``NOTION_EMULATOR_REQUEST_LOG``    ``100000``                 requests ``/_emulator/requests`` keeps
``NOTION_EMULATOR_API_STAMPS``     ``0``                      ``1``: API writes move page stamps
=================================  =========================  ======================================
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from notion_batch.emulator.app import create_app
from notion_batch.emulator.demo import (
    DEMO_PAGE_ID,
    DEMO_TITLE,
    REAL_DEMO_PAGE_ID,
    REAL_DEMO_TITLE,
)
from notion_batch.emulator.recording import DEFAULT_REQUEST_LOG_LIMIT
from notion_batch.emulator.state import DEFAULT_TOKEN, EmulatorConfig

log = logging.getLogger("notion_batch.emulator")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class SettingError(Exception):
    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")


@dataclass(frozen=True)
class ServeSettings:
    host: str
    port: int
    config: EmulatorConfig


def _get(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name, "").strip()
    return value or default


def load_settings(environ: Mapping[str, str], *, demo_flag: bool = False) -> ServeSettings:
    """Read the ``NOTION_EMULATOR_*`` variables; raise :class:`SettingError` on a bad one."""
    raw_port = _get(environ, "NOTION_EMULATOR_PORT", "8700")
    if not raw_port.isdigit() or int(raw_port) > 65_535:
        raise SettingError(
            "NOTION_EMULATOR_PORT", f"must be a port number 0-65535, got {raw_port!r}"
        )
    tokens = frozenset(
        t.strip()
        for t in _get(environ, "NOTION_EMULATOR_TOKENS", DEFAULT_TOKEN).split(",")
        if t.strip()
    )
    if not tokens:
        raise SettingError("NOTION_EMULATOR_TOKENS", "must name at least one token")
    raw_rate = _get(environ, "NOTION_EMULATOR_RATE_LIMIT", "3").lower()
    rate: float | None
    if raw_rate in ("off", "none"):
        rate = None
    else:
        try:
            rate = float(raw_rate)
        except ValueError:
            rate = -1.0
        if not 0 < rate <= 10_000:
            raise SettingError(
                "NOTION_EMULATOR_RATE_LIMIT",
                f"must be a positive number or 'off', got {raw_rate!r}",
            )
    raw_burst = _get(environ, "NOTION_EMULATOR_RATE_BURST", "3")
    if not raw_burst.isdigit() or not 1 <= int(raw_burst) <= 10_000:
        raise SettingError(
            "NOTION_EMULATOR_RATE_BURST", f"must be an integer ≥ 1, got {raw_burst!r}"
        )
    raw_delay = _get(environ, "NOTION_EMULATOR_WEBHOOK_DELAY", "1")
    try:
        delay = float(raw_delay)
    except ValueError:
        delay = -1.0
    if not 0 <= delay <= 3600:
        raise SettingError(
            "NOTION_EMULATOR_WEBHOOK_DELAY", f"must be seconds from 0 to 3600, got {raw_delay!r}"
        )
    raw_demo = environ.get("NOTION_EMULATOR_DEMO", "").strip().lower()
    if raw_demo not in _TRUE | _FALSE:
        raise SettingError("NOTION_EMULATOR_DEMO", f"must be 1 or 0, got {raw_demo!r}")
    raw_log = _get(environ, "NOTION_EMULATOR_REQUEST_LOG", str(DEFAULT_REQUEST_LOG_LIMIT))
    if not raw_log.isdigit() or not 1 <= int(raw_log) <= 100_000_000:
        raise SettingError(
            "NOTION_EMULATOR_REQUEST_LOG", f"must be an integer ≥ 1, got {raw_log!r}"
        )
    raw_api_stamps = environ.get("NOTION_EMULATOR_API_STAMPS", "").strip().lower()
    if raw_api_stamps not in _TRUE | _FALSE:
        raise SettingError("NOTION_EMULATOR_API_STAMPS", f"must be 1 or 0, got {raw_api_stamps!r}")
    config = EmulatorConfig(
        tokens=tokens,
        rate_limit=rate,
        rate_burst=int(raw_burst),
        demo=demo_flag or raw_demo in _TRUE,
        request_log_limit=int(raw_log),
        webhook_aggregation_seconds=delay,
        api_edits_move_page=raw_api_stamps in _TRUE,
    )
    return ServeSettings(
        host=_get(environ, "NOTION_EMULATOR_HOST", "127.0.0.1"), port=int(raw_port), config=config
    )


async def serve(settings: ServeSettings) -> None:
    """Serve until SIGINT or SIGTERM."""
    runner = web.AppRunner(create_app(settings.config), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        port = runner.addresses[0][1]
        print(f"Notion emulator listening on http://{settings.host}:{port}", flush=True)
        rate = settings.config.rate_limit
        log.info(
            "rate limit: %s",
            "off" if rate is None else f"{rate:g}/s, burst {settings.config.rate_burst}",
        )
        if settings.config.demo:
            log.info("demo page %r: %s", DEMO_TITLE, DEMO_PAGE_ID)
            log.info("demo page %r: %s", REAL_DEMO_TITLE, REAL_DEMO_PAGE_ID)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="notion-batch-emulator", description="A local stand-in for the Notion API."
    )
    parser.add_argument("--demo", action="store_true", help="seed the demo pages")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(os.environ, demo_flag=args.demo)
    except SettingError as error:
        print(f"notion-batch-emulator: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(serve(settings))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(
            f"notion-batch-emulator: NOTION_EMULATOR_PORT: port {settings.port} is already in "
            "use; set NOTION_EMULATOR_PORT to a free port (0: any)",
            file=sys.stderr,
        )
        raise SystemExit(2) from None


def _version() -> str:
    try:
        return version("notion-batch-emulator")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    main()
