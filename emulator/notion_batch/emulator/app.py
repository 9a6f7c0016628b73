"""The application factory and an in-process runner for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from notion_batch.emulator.demo import seed_demo
from notion_batch.emulator.routes_control import add_control_routes, control_errors
from notion_batch.emulator.routes_v1 import add_v1_routes, notion_gate
from notion_batch.emulator.state import DEFAULT_TOKEN, STATE_KEY, EmulatorConfig, EmulatorState


def create_app(config: EmulatorConfig | None = None) -> web.Application:
    """Build the emulator; its state is ``app[STATE_KEY]``."""
    state = EmulatorState(config or EmulatorConfig())
    if state.config.demo:
        seed_demo(state)
    # Bodies over Notion's 500 KB must reach the /v1 routes, which answer 413 as Notion does;
    # aiohttp's own 1 MB cap would answer in its own shape first.
    app = web.Application(middlewares=[notion_gate, control_errors], client_max_size=64 * 2**20)
    app[STATE_KEY] = state
    add_v1_routes(app.router)
    add_control_routes(app.router)

    async def close_webhooks(_: web.Application) -> None:
        await state.webhooks.close()

    app.on_cleanup.append(close_webhooks)
    return app


@dataclass(frozen=True)
class RunningEmulator:
    """A served emulator: its base URL (``http://127.0.0.1:<port>``) and its live state."""

    url: str
    state: EmulatorState

    @property
    def token(self) -> str:
        """A token the emulator accepts (the default one when configured)."""
        tokens = self.state.config.tokens
        return DEFAULT_TOKEN if DEFAULT_TOKEN in tokens else min(tokens)


@asynccontextmanager
async def run_emulator(
    config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningEmulator]:
    """Serve an emulator on ``host`` (a free port by default) for the duration of the block."""
    app = create_app(config)
    # A short shutdown grace: requests held by an injected latency must not stall teardown.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        yield RunningEmulator(url=f"http://{host}:{bound_port}", state=app[STATE_KEY])
    finally:
        await runner.cleanup()
