"""Notion's error object, raised by handlers and rendered in one place (the ``/v1`` middleware)."""

from __future__ import annotations

from typing import Any

#: The ``code`` Notion sends with each status we can be asked to fake.
DEFAULT_CODES: dict[int, str] = {
    400: "validation_error",
    401: "unauthorized",
    403: "restricted_resource",
    404: "object_not_found",
    409: "conflict_error",
    429: "rate_limited",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
    529: "service_overload",
}

DEFAULT_MESSAGES: dict[str, str] = {
    "validation_error": "body failed validation.",
    "unauthorized": "API token is invalid.",
    "restricted_resource": "Insufficient permissions for this endpoint.",
    "conflict_error": "Conflict occurred while saving. Please try again.",
    "rate_limited": "You have been rate limited. Please try again in a few minutes.",
    "internal_server_error": "Unexpected error occurred.",
    "bad_gateway": "Bad gateway.",
    "service_unavailable": "Notion is unavailable, please try again later.",
    "gateway_timeout": "Gateway timeout.",
    "service_overload": "Notion is overloaded, please try again later.",
    # 503 with this code: Notion's database is unreachable (doc: developers.notion.com/
    # reference/status-codes; FACTS.md "Rate limits").
    "database_connection_unavailable": "Notion's database is unavailable, please try again later.",
    "invalid_json": "Error parsing JSON body.",
    "invalid_request_url": "Invalid request URL.",
    "missing_version": (
        "Notion-Version header failed validation: Notion-Version header should be defined, "
        "instead was `undefined`."
    ),
}


class ApiError(Exception):
    """An error answer in Notion's shape: ``{object, status, code, message, request_id}``."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        additional_data: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        #: Notion's ``additional_data`` of an error, e.g. ``{"rate_limit_reason": …}`` on a 429
        #: (doc: developers.notion.com/reference/request-limits; FACTS.md "Rate limits").
        self.additional_data = additional_data
        self.code = code or DEFAULT_CODES.get(status, "internal_server_error")
        self.message = message or DEFAULT_MESSAGES.get(self.code, "Error.")
        self.headers = headers or {}
        super().__init__(f"{status} {self.code}: {self.message}")

    def body(self, request_id: str) -> dict[str, Any]:
        return {
            "object": "error",
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "request_id": request_id,
            **({"additional_data": self.additional_data} if self.additional_data else {}),
        }


def validation_error(message: str) -> ApiError:
    return ApiError(400, "validation_error", message)


def block_not_found(block_id: str) -> ApiError:
    return ApiError(
        404,
        "object_not_found",
        f"Could not find block with ID: {block_id}. "
        "Make sure the relevant pages and databases are shared with your integration.",
    )


def page_not_found(page_id: str) -> ApiError:
    return ApiError(
        404,
        "object_not_found",
        f"Could not find page with ID: {page_id}. "
        "Make sure the relevant pages and databases are shared with your integration.",
    )
