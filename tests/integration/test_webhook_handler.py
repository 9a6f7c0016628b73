"""The built-in webhook handler against a real HTTP receiver (tests/support/webhook_receiver).

2xx → done (the answer's "result", else "HTTP <status>"); 4xx → skipped with the status and
the start of the answer; 5xx, a timeout, a refused connection → raised, so the tick retries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from notion_batch.common.handlers import HandlerContext, Outcome, Todo
from notion_batch.worker.errors import WebhookFailed
from notion_batch.worker.handlers import Handler, open_handlers
from notion_batch.worker.settings import WorkerSettings
from tests.e2e.stack import free_port
from tests.support.webhook_receiver import Answer, Receiver, webhook_receiver

TODO = Todo(
    block_id="0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
    notion_page_id="1c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
    text="Order more coffee ☕",
    attempt=2,
    batch_run_id=41,
)
BASE = {
    "DATABASE_URL": "postgresql://u@localhost/db",
    "AMQP_URL": "amqp://guest:guest@localhost/",
    "NOTION_TOKEN": "secret_x",
}


def context(url: str, timeout: float = 2.0) -> HandlerContext:
    env = {
        **BASE,
        "TODO_HANDLER": "webhook",
        "TODO_WEBHOOK_URL": url,
        "TODO_WEBHOOK_TIMEOUT_SECONDS": str(timeout),
    }
    return HandlerContext("webhook", WorkerSettings.from_env(env), env)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with webhook_receiver() as running:
        yield running


@pytest.fixture
async def webhook(receiver: Receiver) -> AsyncIterator[Handler]:
    async with open_handlers(context(receiver.url, timeout=0.5)) as handlers:
        yield handlers.get(None)


async def test_the_todo_is_posted_as_json_with_its_idempotency_key(
    receiver: Receiver, webhook: Handler
) -> None:
    receiver.default = Answer(200, '{"result": "ordered 2 kg"}')
    assert await webhook(TODO) == Outcome.done("ordered 2 kg")
    ((headers, payload),) = receiver.received
    assert payload == {
        "id": TODO.block_id,
        "text": "Order more coffee ☕",
        "notion_page_id": TODO.notion_page_id,
        "attempt": 2,
        "idempotency_key": f"{TODO.block_id}:2",
        "batch_run_id": 41,
    }
    assert headers["Idempotency-Key"] == f"{TODO.block_id}:2"
    assert headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("answer", "result"),
    [
        (Answer(201, ""), "HTTP 201"),
        (Answer(202, "accepted", "text/plain"), "HTTP 202"),
        (Answer(200, '{"ok": true}'), "HTTP 200"),
        (Answer(200, '{"result": 42}'), "HTTP 200"),
        (Answer(204), "HTTP 204"),
    ],
)
async def test_any_2xx_is_done_with_the_status_when_no_result_is_given(
    receiver: Receiver, webhook: Handler, answer: Answer, result: str
) -> None:
    receiver.default = answer
    assert await webhook(TODO) == Outcome.done(result)


async def test_a_4xx_is_skipped_with_the_status_and_the_start_of_the_answer(
    receiver: Receiver, webhook: Handler
) -> None:
    receiver.default = Answer(422, '{"error": "no such\n   product"}' + "x" * 500)
    outcome = await webhook(TODO)
    assert isinstance(outcome, Outcome)
    assert outcome.status == "skipped"
    assert outcome.result.startswith('webhook refused it: HTTP 422: {"error": "no such product"}')
    assert len(outcome.result) < 260
    receiver.default = Answer(404, "")
    assert await webhook(TODO) == Outcome.skip("webhook refused it: HTTP 404")


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_5xx_raises_so_the_todo_is_retried(
    receiver: Receiver, webhook: Handler, status: int
) -> None:
    receiver.default = Answer(status, "upstream down", "text/plain")
    with pytest.raises(WebhookFailed, match=f"answered HTTP {status}: upstream down"):
        await webhook(TODO)


async def test_a_timeout_raises_a_failure_of_its_own(receiver: Receiver, webhook: Handler) -> None:
    receiver.default = Answer(200, '{"result": "too late"}', delay=2.0)
    with pytest.raises(WebhookFailed, match=r"did not answer within 0\.5s"):
        await webhook(TODO)


async def test_an_unreachable_receiver_raises() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    async with open_handlers(context(url)) as handlers:
        with pytest.raises(WebhookFailed, match="unreachable"):
            await handlers.get("webhook")(TODO)
