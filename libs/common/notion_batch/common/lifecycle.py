"""Process entry points for the long-running services: settings, logging, signals, exit codes."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import structlog

from notion_batch.common.command_line import parse_service_command_line
from notion_batch.common.config import LogSettings
from notion_batch.common.errors import ConfigError, UnavailableError
from notion_batch.common.logging import configure_logging

SettingsT = TypeVar("SettingsT")
log = structlog.get_logger(__name__)


async def keep_running(
    name: str, loop: Callable[[], Awaitable[None]], *, restart_after: float = 1.0
) -> None:
    """Run a service's forever-loop, and run it again if it ever ends by raising.

    A loop catches what it expects itself; this is for what nobody foresaw. Without it, a
    task that raised just ends, silently until shutdown, and what it kept going stops with it
    (the tick emitter: every running batch).
    """
    while True:
        try:
            await loop()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("service_loop_crashed", loop=name, error=f"{type(exc).__name__}: {exc}")
        else:
            log.error("service_loop_ended", loop=name)
        await asyncio.sleep(restart_after)
        log.info("service_loop_restarted", loop=name)


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGTERM (Kubernetes) and SIGINT (Ctrl-C) ask the service to stop gracefully."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, stop, sig)


def _on_signal(stop: asyncio.Event, sig: signal.Signals) -> None:
    log.info("shutdown_requested", signal=sig.name)
    stop.set()


@contextmanager
def exit_on_error(service: str) -> Iterator[None]:
    """What stops a service on its way up, as one line on stderr and its exit code: a
    :class:`ConfigError` (a bad setting, or one found while starting, e.g. a ``TODO_HANDLER``
    that cannot load) exits 2; an :class:`UnavailableError` (a backend never came) exits 1."""
    try:
        yield
    except ConfigError as exc:
        print(f"notion-batch-{service}: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    except UnavailableError as exc:
        print(f"notion-batch-{service}: {exc}", file=sys.stderr)
        sys.exit(1)


def run_service(
    name: str,
    load_settings: Callable[[], SettingsT],
    log_settings: Callable[[SettingsT], LogSettings],
    serve: Callable[[SettingsT, asyncio.Event], Awaitable[None]],
    secrets: Callable[[SettingsT], list[str]] = lambda _: [],
    *,
    description: str,
) -> None:
    """Answer ``--help``/``--version``, load settings (one line and exit 2 if bad), configure
    logging, serve until signalled."""
    parse_service_command_line(f"notion-batch-{name}", description)
    with exit_on_error(name):
        settings = load_settings()
    configure_logging(log_settings(settings), service=name, secrets=secrets(settings))

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        await serve(settings, stop)

    with exit_on_error(name):
        asyncio.run(main())
    log.info("service_stopped")
