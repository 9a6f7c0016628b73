"""RetryPolicy and classify, without any I/O."""

from __future__ import annotations

import email.utils
import json

import httpx
import pytest
from notion_client.errors import (
    APIErrorCode,
    APIResponseError,
    RequestTimeoutError,
    UnknownHTTPResponseError,
)

from notion_batch.common.notion.retry import (
    Decision,
    Failure,
    FailureKind,
    RetryPolicy,
    classify,
    parse_retry_after,
)


def policy(**overrides: float) -> RetryPolicy:
    values = {"max_attempts": 5, "max_retry_after": 120.0, "base_delay": 0.5, "max_delay": 30.0}
    values.update(overrides)
    return RetryPolicy(
        max_attempts=int(values["max_attempts"]),
        max_retry_after=values["max_retry_after"],
        base_delay=values["base_delay"],
        max_delay=values["max_delay"],
        rand=lambda: 1.0,
    )


def failure(kind: FailureKind, retry_after: float | None = None) -> Failure:
    return Failure(kind=kind, status=None, code=kind.value, message="", retry_after=retry_after)


def test_backoff_is_exponential_and_capped() -> None:
    top = policy()
    assert [top.backoff(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_backoff_has_full_jitter() -> None:
    draws = iter([0.0, 0.25])
    jittered = RetryPolicy(max_attempts=3, max_retry_after=1, rand=lambda: next(draws))
    assert jittered.backoff(3) == 0.0
    assert jittered.backoff(3) == 0.5  # a quarter of 0.5·2²


@pytest.mark.parametrize("idempotent", [True, False])
def test_rate_limited_waits_retry_after_and_pauses_everyone(idempotent: bool) -> None:
    decision = policy().decide(
        failure(FailureKind.RATE_LIMITED, 7.0), attempt=1, idempotent=idempotent
    )
    assert decision == Decision(retry=True, delay=7.0, pause_all=True)


def test_rate_limited_without_retry_after_backs_off() -> None:
    decision = policy().decide(failure(FailureKind.RATE_LIMITED), attempt=3, idempotent=True)
    assert decision == Decision(retry=True, delay=2.0, pause_all=True)


def test_retry_after_longer_than_allowed_stops_at_once() -> None:
    decision = policy(max_retry_after=10).decide(
        failure(FailureKind.RATE_LIMITED, 11.0), attempt=1, idempotent=True
    )
    # The pause it asked for still holds for every caller (see the next test).
    assert decision == Decision(
        retry=False, delay=11.0, pause_all=True, reason="retry_after_too_long"
    )


def test_a_retry_after_over_a_minute_is_not_cut_to_a_minute() -> None:
    """A workspace-wide limit may ask for more than 60 s (the SDK's own cap): all of it."""
    decision = policy().decide(failure(FailureKind.RATE_LIMITED, 90.0), attempt=1, idempotent=True)
    assert decision == Decision(retry=True, delay=90.0, pause_all=True)


@pytest.mark.parametrize("kind", [FailureKind.SERVER, FailureKind.TIMEOUT, FailureKind.TRANSPORT])
def test_maybe_applied_failures(kind: FailureKind) -> None:
    read = policy().decide(failure(kind), attempt=2, idempotent=True)
    write = policy().decide(failure(kind), attempt=1, idempotent=False)

    assert read == Decision(retry=True, delay=1.0)
    assert write == Decision(retry=False, ambiguous=True, reason="not_idempotent")


@pytest.mark.parametrize("kind", [FailureKind.NOT_SENT, FailureKind.CONFLICT])
def test_failures_that_wrote_nothing_are_retried_even_for_writes(kind: FailureKind) -> None:
    assert policy().decide(failure(kind), attempt=1, idempotent=False).retry is True


@pytest.mark.parametrize("kind", [FailureKind.ACCESS, FailureKind.REJECTED])
def test_permanent_failures(kind: FailureKind) -> None:
    assert policy().decide(failure(kind), attempt=1, idempotent=True) == Decision(
        retry=False, reason="permanent"
    )


def test_attempts_are_bounded() -> None:
    three = policy(max_attempts=3)
    assert three.decide(failure(FailureKind.SERVER), attempt=2, idempotent=True).retry is True
    assert three.decide(failure(FailureKind.SERVER), attempt=3, idempotent=True) == Decision(
        retry=False, reason="exhausted"
    )


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    in_90s = email.utils.formatdate(now + 90, usegmt=True)

    assert parse_retry_after("3", now=now) == 3.0
    assert parse_retry_after(" 1.5 ", now=now) == 1.5
    assert parse_retry_after(in_90s, now=now) == pytest.approx(90.0)
    assert parse_retry_after(email.utils.formatdate(now - 5, usegmt=True), now=now) == 0.0
    for useless in (None, "", "-1", "soon"):
        assert parse_retry_after(useless, now=now) is None


def _api_error(status: int, code: str, headers: dict[str, str] | None = None) -> APIResponseError:
    body = json.dumps({"object": "error", "status": status, "code": code, "message": "m"})
    return APIResponseError(
        code=APIErrorCode(code),
        status=status,
        message="m",
        headers=httpx.Headers(headers or {}),
        raw_body_text=body,
    )


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (429, "rate_limited", FailureKind.RATE_LIMITED),
        (409, "conflict_error", FailureKind.CONFLICT),
        (500, "internal_server_error", FailureKind.SERVER),
        (503, "service_unavailable", FailureKind.SERVER),
        (504, "gateway_timeout", FailureKind.SERVER),
        (401, "unauthorized", FailureKind.ACCESS),
        (403, "restricted_resource", FailureKind.ACCESS),
        (404, "object_not_found", FailureKind.ACCESS),
        (400, "validation_error", FailureKind.REJECTED),
    ],
)
def test_classify_api_errors(status: int, code: str, kind: FailureKind) -> None:
    classified = classify(_api_error(status, code, {"Retry-After": "2"}))
    assert classified == Failure(kind, status, code, "m", retry_after=2.0)


def test_classify_codes_the_sdk_does_not_know() -> None:
    overload = UnknownHTTPResponseError(
        status=529,
        headers=httpx.Headers({"Retry-After": "4"}),
        raw_body_text=json.dumps({"code": "service_overload", "message": "busy"}),
    )
    proxy = UnknownHTTPResponseError(status=502, raw_body_text="<html>Bad Gateway</html>")

    assert classify(overload) == Failure(
        FailureKind.RATE_LIMITED, 529, "service_overload", "busy", 4.0
    )
    classified = classify(proxy)
    assert classified is not None
    assert (classified.kind, classified.status) == (FailureKind.SERVER, 502)


def _timeout_from(cause: Exception) -> RequestTimeoutError:
    try:
        try:
            raise cause
        except Exception:
            raise RequestTimeoutError() from None
    except RequestTimeoutError as error:
        error.__context__ = cause
        return error


def test_classify_transport_failures() -> None:
    request = httpx.Request("GET", "http://notion.test/v1/pages/x")
    cases = {
        httpx.ConnectError("refused", request=request): FailureKind.NOT_SENT,
        httpx.ReadError("reset", request=request): FailureKind.TRANSPORT,
        httpx.RemoteProtocolError("closed", request=request): FailureKind.TRANSPORT,
        _timeout_from(httpx.ReadTimeout("slow", request=request)): FailureKind.TIMEOUT,
        _timeout_from(httpx.ConnectTimeout("slow", request=request)): FailureKind.NOT_SENT,
        _timeout_from(httpx.PoolTimeout("busy", request=request)): FailureKind.NOT_SENT,
    }
    for error, kind in cases.items():
        classified = classify(error)
        assert classified is not None
        assert classified.kind is kind, error
    assert classify(ValueError("bug")) is None


def test_retry_after_longer_than_allowed_still_pauses_everyone() -> None:
    """The call gives up, but the integration's shared limiter must hold the whole pause."""
    decision = policy(max_retry_after=60).decide(
        failure(FailureKind.RATE_LIMITED, 90.0), attempt=1, idempotent=True
    )
    assert decision == Decision(
        retry=False, delay=90.0, pause_all=True, reason="retry_after_too_long"
    )


@pytest.mark.parametrize("code", ["bad_gateway", "database_connection_unavailable"])
def test_overload_5xx_pauses_everyone_and_stays_unsafe_for_writes(code: str) -> None:
    overloaded = Failure(FailureKind.SERVER, 503, code, "busy")
    assert policy().decide(overloaded, attempt=2, idempotent=True) == Decision(
        retry=True, delay=1.0, pause_all=True
    )
    assert policy().decide(overloaded, attempt=1, idempotent=False).ambiguous is True
    other = Failure(FailureKind.SERVER, 500, "internal_server_error", "oops")
    assert policy().decide(other, attempt=2, idempotent=True).pause_all is False
