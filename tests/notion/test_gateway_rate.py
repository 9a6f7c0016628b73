"""The gateway paces itself: the rate Notion sees stays within the configured one."""

from __future__ import annotations

import asyncio

from notion_batch.common.notion import NotionGateway, TokenBucketLimiter
from notion_batch.emulator import RunningEmulator
from tests.notion.conftest import fast_policy, notion_settings

RATE = 10.0


def max_in_window(times: list[float], window: float) -> int:
    """The most requests that arrived within any ``window`` seconds."""
    best, start = 0, 0
    for end, arrived in enumerate(times):
        while arrived - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_concurrent_calls_stay_within_the_rate(emulator: RunningEmulator) -> None:
    created = emulator.state.create_page("Paced", [{"text": f"t{i}"} for i in range(25)])
    settings = notion_settings(emulator, rate_limit_per_second=RATE)

    async with NotionGateway(settings, retry_policy=fast_policy(settings)) as gateway:
        await asyncio.gather(*(gateway.check_todo(b) for b in created.block_ids))

    times = [r.monotonic for r in emulator.state.requests.query()]
    assert len(times) == 25
    # Arrival times are taken by the emulator; allow 10% for scheduling and network jitter.
    assert (len(times) - 1) / (times[-1] - times[0]) <= RATE * 1.1
    assert max_in_window(times, 1.0) <= RATE + 1


async def test_gateways_sharing_a_limiter_share_the_rate(emulator: RunningEmulator) -> None:
    created = emulator.state.create_page("Shared", [{"text": f"t{i}"} for i in range(16)])
    settings = notion_settings(emulator)
    limiter = TokenBucketLimiter(RATE)
    first = NotionGateway(settings, limiter=limiter, retry_policy=fast_policy(settings))
    second = NotionGateway(settings, limiter=limiter, retry_policy=fast_policy(settings))
    try:
        half = len(created.block_ids) // 2
        await asyncio.gather(
            *(first.check_todo(b) for b in created.block_ids[:half]),
            *(second.check_todo(b) for b in created.block_ids[half:]),
        )
    finally:
        await first.aclose()
        await second.aclose()

    times = [r.monotonic for r in emulator.state.requests.query()]
    assert (len(times) - 1) / (times[-1] - times[0]) <= RATE * 1.1
