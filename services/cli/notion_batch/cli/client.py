"""The REST API, as the CLI calls it: one aiohttp session, the key from the environment,
retries only where a retry cannot do a thing twice, and every failure one clear sentence."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

DEFAULT_API_URL = "http://127.0.0.1:8000"
#: Longest ``Retry-After`` the CLI waits out by itself before giving up.
MAX_RETRY_WAIT_SECONDS = 10.0
#: Attempts for a request that is safe to repeat.
ATTEMPTS = 3


class CliError(Exception):
    """A failure to show as one line; ``exit_code`` 1 (the API said no) or 2 (usage)."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ApiRefused(CliError):
    """The API answered with an error status."""

    def __init__(self, status: int, message: str, body: Mapping[str, Any] | None) -> None:
        super().__init__(message)
        self.status = status
        self.body = dict(body or {})


@dataclass(frozen=True)
class CliSettings:
    api_url: str
    #: ``None`` when no key is configured (an API with API_AUTH=disabled).
    api_key: str | None
    timeout_seconds: float

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        api_url: str | None = None,
        timeout_seconds: float = 30.0,
    ) -> CliSettings:
        """``NOTION_BATCH_API_URL``, ``NOTION_BATCH_API_KEY`` or ``NOTION_BATCH_API_KEY_FILE``."""
        env = os.environ if environ is None else environ
        url = (api_url or env.get("NOTION_BATCH_API_URL") or DEFAULT_API_URL).strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CliError(
                f"NOTION_BATCH_API_URL must be an http(s):// URL, got {url!r}", exit_code=2
            )
        key = (env.get("NOTION_BATCH_API_KEY") or "").strip() or None
        key_file = (env.get("NOTION_BATCH_API_KEY_FILE") or "").strip()
        if key is None and key_file:
            try:
                key = Path(key_file).read_text("utf-8").strip() or None
            except OSError as exc:
                raise CliError(
                    f"NOTION_BATCH_API_KEY_FILE: cannot read {key_file!r}: {exc.strerror}",
                    exit_code=2,
                ) from None
        return cls(api_url=url, api_key=key, timeout_seconds=timeout_seconds)


def _hint(status: int) -> str:
    return {
        401: " (set NOTION_BATCH_API_KEY to a key the API knows)",
        403: " (this API key's scope does not allow it)",
    }.get(status, "")


def _refusal(status: int, reason: str, body: Any) -> ApiRefused:
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        message = body["message"]
        field = body.get("field")
        if status == 400 and field and field not in message:
            message += f" (field {field})"
        return ApiRefused(status, f"{status} {reason}: {message}{_hint(status)}", body)
    return ApiRefused(status, f"{status} {reason}: the API's answer is not JSON", None)


class ApiClient:
    """``async with ApiClient(settings) as api: await api.get(...)``."""

    def __init__(self, settings: CliSettings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        headers = {"Accept": "application/json", "User-Agent": "notion-batch-cli"}
        if self._settings.api_key:
            headers["Authorization"] = f"Bearer {self._settings.api_key}"
        self._session = aiohttp.ClientSession(
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self._settings.timeout_seconds),
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """A read: safe to repeat, so retried on any passing failure."""
        return await self._request("GET", path, params=params, repeatable=True)

    async def post(
        self,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """A write. Retried only where nothing can have happened yet, or under a key that
        makes the API answer a repeat with the first answer."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return await self._request(
            "POST", path, body=body, headers=headers, repeatable=idempotency_key is not None
        )

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        repeatable: bool,
    ) -> dict[str, Any]:
        assert self._session is not None, "use ApiClient as an async context manager"
        url = self._settings.api_url + path
        for attempt in range(1, ATTEMPTS + 1):
            last = attempt == ATTEMPTS
            try:
                async with self._session.request(
                    method, url, params=params, json=body, headers=headers
                ) as response:
                    answer = await _json_or_none(response)
                    if response.status < 400 and isinstance(answer, dict):
                        return answer
                    wait = _retry_wait(response)
                    # 503 and 429 mean nothing was done: any request may be sent again.
                    if response.status in (429, 503) and wait is not None and not last:
                        await asyncio.sleep(wait)
                        continue
                    if response.status < 400:
                        raise ApiRefused(response.status, _not_json(response.status, url), None)
                    raise _refusal(response.status, response.reason or "", answer)
            except aiohttp.ClientConnectorError as exc:
                # Not connected: nothing was sent, so even a write may be tried again.
                if last:
                    reason = exc.os_error.strerror or str(exc.os_error)
                    raise CliError(
                        f"cannot reach the API at {self._settings.api_url}: {reason}"
                        " (set NOTION_BATCH_API_URL)"
                    ) from None
            except (aiohttp.ClientError, TimeoutError) as exc:
                if not repeatable or last:
                    raise CliError(_broken(exc, self._settings)) from None
            await asyncio.sleep(0.5 * attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")


async def _json_or_none(response: aiohttp.ClientResponse) -> Any:
    try:
        return json.loads(await response.read())
    except (ValueError, UnicodeDecodeError):
        return None


def _retry_wait(response: aiohttp.ClientResponse) -> float | None:
    raw = response.headers.get("Retry-After", "1")
    try:
        wait = float(raw)
    except ValueError:
        return None
    return wait if 0 <= wait <= MAX_RETRY_WAIT_SECONDS else None


def _not_json(status: int, url: str) -> str:
    return f"{status} from {url}: the answer is not a JSON object"


def _broken(exc: BaseException, settings: CliSettings) -> str:
    if isinstance(exc, TimeoutError):
        return f"the API at {settings.api_url} did not answer within {settings.timeout_seconds:g} s"
    return f"the connection to the API at {settings.api_url} failed: {exc}"
