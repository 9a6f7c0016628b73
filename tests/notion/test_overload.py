"""Notion's overload answers (529, 502, 503) and long Retry-After, through the shared limiter.

Sources: developers.notion.com/reference/request-limits (429 ``rate_limited`` with
``Retry-After``, ``additional_data.rate_limit_reason``, a workspace-wide limit whose
``Retry-After`` can exceed 60 s, 529 ``service_overload``); FACTS.md "Rate limits".
"""

from __future__ import annotations

import aiohttp
import pytest

from notion_batch.common.notion import NotionGateway, NotionUnavailable, TokenBucketLimiter
from notion_batch.emulator import Fault, RunningEmulator
from tests.notion.conftest import fast_policy, notion_settings


class Penalties(TokenBucketLimiter):
    """The real limiter, remembering the pauses asked of it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.pauses: list[float] = []

    def penalize(self, seconds: float) -> None:
        self.pauses.append(seconds)
        super().penalize(seconds)


def paused_at(limiter: TokenBucketLimiter, now: list[float], when: float) -> float | None:
    """The limiter's pause as seen at ``when`` on its clock."""
    now[0] = when
    return limiter.paused_until


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (529, "service_overload"),
        (502, "bad_gateway"),
        (503, "database_connection_unavailable"),
    ],
)
async def test_a_burst_of_overload_is_retried_through_the_shared_limiter(
    emulator: RunningEmulator, status: int, code: str
) -> None:
    created = emulator.state.create_page("Busy")
    emulator.state.add_fault(Fault(status=status, code=code, count=3))
    settings = notion_settings(emulator, max_attempts=5)
    limiter = Penalties(1000.0, burst=10)
    async with NotionGateway(settings, limiter=limiter, retry_policy=fast_policy(settings)) as gw:
        page = await gw.retrieve_page(created.page_id)

    assert page.id == created.page_id
    assert [r.status for r in emulator.state.requests.query()] == [status] * 3 + [200]
    # Every refusal paused the limiter every call of the integration goes through.
    assert len(limiter.pauses) == 3


async def test_a_retry_after_longer_than_the_call_waits_holds_the_shared_limiter(
    emulator: RunningEmulator,
) -> None:
    created = emulator.state.create_page("Workspace limit")
    emulator.state.add_fault(
        Fault(status=429, retry_after=90, rate_limit_reason="workspace_rate_limit", count=1)
    )
    now = [1000.0]
    limiter = TokenBucketLimiter(3.0, burst=3, clock=lambda: now[0])
    settings = notion_settings(emulator, max_retry_after_seconds=60.0)
    async with NotionGateway(settings, limiter=limiter, retry_policy=fast_policy(settings)) as gw:
        with pytest.raises(NotionUnavailable) as caught:
            await gw.retrieve_page(created.page_id)

    # Not cut to 60 s, not dropped with the call: the limiter holds all 90 s for everyone.
    assert caught.value.retry_after == 90.0
    assert "wait 90s" in str(caught.value)
    assert limiter.paused_until == 1090.0
    assert paused_at(limiter, now, 1089.0) == 1090.0
    assert paused_at(limiter, now, 1090.0) is None
    assert len(emulator.state.requests.query()) == 1


async def test_the_emulator_answers_notions_rate_limit_shape(emulator: RunningEmulator) -> None:
    """The 429 carries Retry-After and additional_data.rate_limit_reason, as documented."""
    emulator.state.add_fault(
        Fault(status=429, retry_after=90, rate_limit_reason="workspace_rate_limit", count=1)
    )
    page = emulator.state.create_page("x").page_id
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{emulator.url}/v1/pages/{page}",
            headers={"Authorization": f"Bearer {emulator.token}", "Notion-Version": "2025-09-03"},
        ) as answer,
    ):
        body = await answer.json()
        assert answer.status == 429
        assert answer.headers["Retry-After"] == "90"
    assert body["code"] == "rate_limited"
    assert body["additional_data"] == {"rate_limit_reason": "workspace_rate_limit"}
