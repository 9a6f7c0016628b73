"""Notion webhooks: the endpoint Notion's subscriptions POST to, and the operator's view of the
verification token.

``POST /api/v1/notion/webhook`` (the default integration) and ``…/webhook/{integration}`` take
no API key (Notion cannot send one): they are authenticated by Notion's signature, checked
with the integration's verification token from the environment. A page event for a page
running on that integration makes its tick due now and wakes the scheduler; everything else
is answered 200 at once, so Notion does not retry it. An unsigned verification request is
only kept for the operator (``GET /api/v1/notion/webhook-verification``, write scope): anyone
can send one, so its token is never trusted to check signatures. The operator pastes it into
Notion — Notion accepts only the token it sent, which is the proof — and configures it.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

import structlog
from aiohttp import web

from notion_batch.api.context import BROKER, INTEGRATIONS, WEBHOOK_TOKENS, WEBHOOKS
from notion_batch.api.errors import NotFound, Unauthorized
from notion_batch.api.notion_webhooks.events import (
    SIGNATURE_HEADER,
    TRIGGERING_EVENTS,
    NotionEvent,
    parse_event,
    signature_valid,
    verification_token,
)
from notion_batch.api.requests import parse_integration_query
from notion_batch.api.views import iso
from notion_batch.common.config import (
    DEFAULT_INTEGRATION,
    INTEGRATION_NAME_PATTERN,
    integration_variable,
)
from notion_batch.common.db.notion_events import PageEventResult
from notion_batch.common.errors import UnavailableError
from notion_batch.common.messaging.messages import PageChanged

log = structlog.get_logger(__name__)

_REFUSED = "refused: not signed by Notion for this integration's webhook subscription"
_TOKEN_VARIABLE = "NOTION_WEBHOOK_VERIFICATION_TOKEN"


def _refuse(integration: str | None, reason: str) -> Unauthorized:
    # The log says why; the answer does not (it would tell a prober what is configured).
    log.warning("notion_webhook_rejected", integration=integration, reason=reason)
    return Unauthorized(_REFUSED)


def _integration(request: web.Request) -> str:
    name = request.match_info.get("integration", DEFAULT_INTEGRATION)
    if name not in request.app[INTEGRATIONS]:
        # Only a well-formed name reaches the log: a path may carry anything.
        shown = name if re.fullmatch(INTEGRATION_NAME_PATTERN, name) else None
        raise _refuse(shown, "unknown integration")
    return name


async def receive(request: web.Request) -> web.Response:
    """A request of Notion's webhook subscription: a verification request, or an event."""
    integration = _integration(request)
    body = await request.read()
    header = request.headers.get(SIGNATURE_HEADER)
    if header is None:
        token = verification_token(body)
        if token is None:
            raise _refuse(integration, "no signature")
        await request.app[WEBHOOKS].store_verification(integration, token, request.remote)
        log.info(
            "notion_webhook_verification_received",
            integration=integration,
            remote_address=request.remote,
        )
        return web.json_response(
            {
                "success": True,
                "message": (
                    "verification request received: an operator reads its token with "
                    "GET /api/v1/notion/webhook-verification (or `notion-batch "
                    "notion-webhook-token`) and pastes it into Notion"
                ),
            }
        )
    secret = request.app[WEBHOOK_TOKENS].get(integration)
    if secret is None:
        raise _refuse(integration, f"no verification token configured ({_variable(integration)})")
    if not signature_valid(secret, body, header):
        raise _refuse(integration, "bad signature")
    event = parse_event(body)
    action, reason, result = await _act(request, integration, event)
    log.info(
        "notion_webhook_received",
        integration=integration,
        event_id=event.event_id,
        type=event.type,
        notion_page_id=event.page_id,
        batch_run_id=result.run_id if result is not None else None,
        attempt_number=event.attempt_number,
        action=action,
        reason=reason,
    )
    return web.json_response(
        {"success": True, "event_id": event.event_id, "action": action, "message": reason}
    )


async def _act(
    request: web.Request, integration: str, event: NotionEvent
) -> tuple[str, str, PageEventResult | None]:
    """What the event does: (action, why, the running batch it concerned)."""
    page = event.page_id
    if event.type not in TRIGGERING_EVENTS or page is None:
        return "ignored", f"{event.type} events about a {event.entity_type} change no to-do", None
    if event.by_integrations_only:
        return "ignored", "made by integrations only (our own writes among them)", None
    result = await request.app[WEBHOOKS].page_event(page, integration, event.event_id)
    if result is None:
        return "ignored", f"no batch runs on this page through integration {integration}", None
    if not result.fresh:
        return "duplicate", "this event was acted on before", result
    if result.busy:
        return "resync_requested", "a worker is on the page: it reads it again first", result
    try:
        await request.app[BROKER].publish(PageChanged(page, result.run_id))
    except UnavailableError as exc:
        # The database already says the tick is due: the scheduler's next poll emits it.
        log.warning("notion_webhook_wake_not_published", notion_page_id=page, error=str(exc))
    return "triggered", "the page's tick is due now", result


def _variable(integration: str) -> str:
    return integration_variable(_TOKEN_VARIABLE, integration)


async def verification(request: web.Request) -> web.Response:
    """The verification tokens Notion's subscription sent, for the operator to paste."""
    integrations: tuple[str, ...] = request.app[INTEGRATIONS]
    integration = parse_integration_query(request, integrations)
    kept = await request.app[WEBHOOKS].verifications(integration)
    if not kept:
        raise NotFound(
            f"no verification request received for integration {integration!r}: create the "
            f"subscription in Notion with the URL of POST {_path(integration)}"
        )
    configured = request.app[WEBHOOK_TOKENS].get(integration)
    answers: list[dict[str, Any]] = [
        {
            "verification_token": v.verification_token,
            "received_at": iso(v.received_at),
            "remote_address": v.remote_address,
            "configured": configured is not None
            and hmac.compare_digest(v.verification_token.encode(), configured.encode()),
        }
        for v in kept
    ]
    return web.json_response(
        {
            "success": True,
            "integration": integration,
            "variable": _variable(integration),
            "verification_token": kept[0].verification_token,
            "received_at": iso(kept[0].received_at),
            "token_configured": configured is not None,
            "verifications": answers,
        },
        # A secret: never kept by a cache on the way.
        headers={"Cache-Control": "no-store"},
    )


def _path(integration: str) -> str:
    base = "/api/v1/notion/webhook"
    return base if integration == DEFAULT_INTEGRATION else f"{base}/{integration}"
