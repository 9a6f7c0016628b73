"""What a Notion call that failed becomes: the port's error, written for a person.

:func:`~notion_batch.common.notion.retry.classify` turns the SDK's or httpx's exception into
a :class:`~notion_batch.common.notion.retry.Failure`; once the retry policy gives up,
:func:`error_for` turns that failure into one of :mod:`notion_batch.common.errors`' Notion
errors. The predicates below say what such an error means to a caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from notion_batch.common.errors import (
    NotionAccessError,
    NotionError,
    NotionRequestError,
    NotionUnavailable,
)
from notion_batch.common.notion.retry import Decision, Failure

TargetKind = Literal["page", "block"]

#: Answers to an edit that concern that block only: the block is trashed (400
#: validation_error "Can't edit block that is archived…", seen: gh/dvanoni/notero#704), not
#: editable, deleted or unshared. 401 is about the token, so it is not among them.
BLOCK_REFUSALS = frozenset({400, 403, 404})


def is_trash_refusal(error: NotionError) -> bool:
    """Notion's 400 for an edit of a trashed block or of one under a trashed ancestor (its
    messages say "archived", seen: gh/dvanoni/notero#704)."""
    return (
        error.status == 400
        and error.code == "validation_error"
        and "archived" in (error.detail or "").lower()
    )


def only_this_subtree(error: NotionError) -> bool:
    """Whether a failure to list a block's children costs that subtree only: Notion's 4xx
    about the block (400 unsupported type, 403, 404 unshared synced original). A 401 is about
    the token, a 429 or 5xx about Notion: those stop the reading."""
    status = error.status
    return (
        isinstance(error, NotionAccessError | NotionRequestError)
        and status is not None
        and 400 <= status < 500
        and status not in (401, 429)
    )


def _access_message(status: int | None, operation: str, what: str) -> str | None:
    """The sentence for a 401, 403 or 404 (what a person must fix), else None."""
    if status == 401:
        return "Notion rejected the integration token (401 unauthorized): check NOTION_TOKEN"
    if status == 403:
        return (
            f"The integration is not allowed to {operation.replace('_', ' ')} on {what} "
            "(403 restricted_resource): check the integration's capabilities"
        )
    if status == 404:
        return f"{what} was not found or is not shared with the integration"
    return None


def error_for(
    operation: str,
    target: tuple[TargetKind, str],
    failure: Failure,
    decision: Decision,
    attempts: int,
    *,
    redact: Callable[[str], str],
) -> NotionError:
    """The error a call raises when the policy gave up after ``failure``; ``redact`` takes
    the integration token out of every text taken from the answer."""
    kind, target_id = target
    status, code = failure.status, failure.code
    what = f"Notion {kind} {target_id}"
    detail = redact(failure.message)
    error: NotionError
    access = _access_message(status, operation, what)
    if access is not None:
        error = NotionAccessError(access, status=status, code=code, detail=detail)
    elif decision.reason == "permanent":
        message = redact(
            f"Notion refused {operation} on {what}: {status} {code}: {failure.message}"
        )
        error = NotionRequestError(message, status=status, code=code, detail=detail)
    else:
        error = _unavailable(operation, what, failure, decision, attempts, redact=redact)
    if status is not None:
        error.notion_message = detail
    return error


def _unavailable(
    operation: str,
    what: str,
    failure: Failure,
    decision: Decision,
    attempts: int,
    *,
    redact: Callable[[str], str],
) -> NotionUnavailable:
    status, code = failure.status, failure.code
    answer = f"{status} {code}" if status is not None else code
    message = f"Notion is unavailable: {operation} on {what} failed ({answer})"
    if decision.reason == "retry_after_too_long":
        message += f"; Notion asks to wait {failure.retry_after:g}s"
    elif decision.ambiguous:
        message += "; the write may have been applied, reconcile before retrying"
    else:
        message += f" after {attempts} attempt{'s' if attempts != 1 else ''}"
    return NotionUnavailable(
        redact(message),
        status=status,
        code=code,
        retry_after=failure.retry_after,
        ambiguous=decision.ambiguous,
        attempts=attempts,
    )
