"""Settings shared by the services, and ``Env``, the one way any of them reads a variable.

Each service keeps its own settings beside it (``notion_batch.api.settings``,
``notion_batch.scheduler.settings``, ``notion_batch.worker.settings``) and builds them from the
environment once, at its entry point; what several services read lives here: the database,
the broker, logging, the ops port, the batch defaults, Notion's integrations and the API keys
(which the CLI's ``keygen`` writes). Every value is validated; a bad one raises
:class:`ConfigError` naming the variable, which the entry points turn into one line on stderr
and exit code 2 (``notion_batch.common.lifecycle.exit_on_error``). The variables are
documented in the README's configuration table — keep the two in step.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from notion_batch.common.errors import ConfigError

#: The Notion API version we speak, pinned so that a Notion release cannot change shapes under us.
#: 2026-03-11 drops ``archived`` (only ``in_trash`` is sent) and renames append's ``after`` to
#: ``position`` (developers.notion.com/guides/get-started/upgrade-guide-2026-03-11).
NOTION_VERSION = "2026-03-11"
NOTION_DEFAULT_BASE_URL = "https://api.notion.com"
#: What tells a tick a page may have changed (``NOTION_CHANGE_SIGNAL``).
ChangeSignal = Literal["stamp", "webhook"]
CHANGE_SIGNALS: tuple[str, ...] = ("stamp", "webhook")
#: Longest a page goes without a full read by default (``NOTION_FULL_READ_SECONDS``): what a
#: change no signal shows (another integration's edit) waits at most.
DEFAULT_FULL_READ_SECONDS = 600.0
LogFormat = Literal["json", "console"]
#: ``int`` or ``float``: what :meth:`Env.integer` and :meth:`Env.number` read.
NumberT = TypeVar("NumberT", int, float)


class Env:
    """Typed, validating reads from an environment mapping."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def _raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def string(self, name: str, default: str | None = None) -> str:
        value = self._raw(name)
        if value is None:
            if default is None:
                raise ConfigError(name, "is required but not set")
            return default
        return value

    def optional(self, name: str) -> str | None:
        return self._raw(name)

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        return self._bounded(name, default, int, "an integer", minimum=minimum, maximum=maximum)

    def number(self, name: str, default: float, *, minimum: float, maximum: float) -> float:
        return self._bounded(name, default, float, "a number", minimum=minimum, maximum=maximum)

    def _bounded(
        self,
        name: str,
        default: NumberT,
        parse: Callable[[str], NumberT],
        kind: str,
        *,
        minimum: NumberT,
        maximum: NumberT,
    ) -> NumberT:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = parse(raw)
        except ValueError:
            raise ConfigError(name, f"must be {kind}, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ConfigError(name, f"must be between {minimum} and {maximum}, got {value}")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.string(name, default).lower()
        if value not in choices:
            raise ConfigError(name, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def url(self, name: str, schemes: tuple[str, ...], default: str | None = None) -> str:
        return _checked_url(name, self.string(name, default), schemes).rstrip("/")

    def http_url(self, name: str) -> str | None:
        """An optional ``http(s)://`` URL, kept exactly as given (a trailing slash may matter
        to the receiver). The value is never quoted in an error: webhook URLs hold tokens."""
        value = self.optional(name)
        return None if value is None else _checked_url(name, value, ("http", "https"))


def _checked_url(name: str, value: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(
            name, f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}"
        )
    return value


@dataclass(frozen=True)
class LogSettings:
    level: str
    format: LogFormat

    @classmethod
    def from_env(cls, env: Env) -> LogSettings:
        level = env.choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error"))
        # JSON for machines (containers, CI), colours for a person at a terminal.
        default_format = "console" if os.isatty(2) else "json"
        fmt = env.choice("LOG_FORMAT", default_format, ("json", "console"))
        return cls(level=level.upper(), format="json" if fmt == "json" else "console")


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    pool_min_size: int
    pool_max_size: int

    @classmethod
    def from_env(cls, env: Env, *, default_pool_max: int = 10) -> DatabaseSettings:
        url = env.url("DATABASE_URL", ("postgresql", "postgres"))
        pool_max = env.integer("DB_POOL_MAX_SIZE", default_pool_max, minimum=1, maximum=200)
        return cls(url=url, pool_min_size=min(2, pool_max), pool_max_size=pool_max)


@dataclass(frozen=True)
class BrokerSettings:
    url: str
    #: Prefix of every exchange and queue name, so that one broker can host several
    #: deployments (and the test suite can isolate each test).
    namespace: str

    @classmethod
    def from_env(cls, env: Env) -> BrokerSettings:
        url = env.url("AMQP_URL", ("amqp", "amqps"))
        namespace = env.string("AMQP_NAMESPACE", "notion_batch")
        if not namespace.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ConfigError("AMQP_NAMESPACE", "may hold only letters, digits, '.', '_', '-'")
        return cls(url=url, namespace=namespace)


@dataclass(frozen=True)
class BatchDefaults:
    interval_seconds: int
    duration_seconds: int
    #: A running batch with no tick finished for this long (and at least 3 intervals), no
    #: worker on it, is stalled: said so over the API and set going again by the scheduler.
    stall_seconds: int = 180

    @classmethod
    def from_env(cls, env: Env) -> BatchDefaults:
        interval = env.integer("BATCH_INTERVAL_SECONDS", 60, minimum=1, maximum=86_400)
        duration = env.integer("BATCH_DURATION_SECONDS", 900, minimum=1, maximum=30 * 86_400)
        stall = env.integer("BATCH_STALL_SECONDS", 180, minimum=5, maximum=86_400)
        return cls(interval_seconds=interval, duration_seconds=duration, stall_seconds=stall)


#: The integration a batch uses unless its start names another: ``NOTION_TOKEN``'s.
DEFAULT_INTEGRATION = "default"
#: An integration's name: lower-case letters, digits and inner hyphens, as in ``team-a``. It
#: also names the variables of its settings (``NOTION_TOKEN_TEAM_A``), hence no underscores.
INTEGRATION_NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$"
_INTEGRATION_NAME = re.compile(INTEGRATION_NAME_PATTERN)


def integration_variable(base: str, integration: str) -> str:
    """The variable holding ``base`` for one integration: ``NOTION_TOKEN`` for the default,
    ``NOTION_TOKEN_TEAM_A`` for ``team-a``."""
    if integration == DEFAULT_INTEGRATION:
        return base
    return f"{base}_{integration.upper().replace('-', '_')}"


def integration_names(env: Env) -> tuple[str, ...]:
    """``default``, then the integrations ``NOTION_INTEGRATIONS`` names (comma-separated)."""
    names = [DEFAULT_INTEGRATION]
    for name in re.split(r"[,\s]+", env.optional("NOTION_INTEGRATIONS") or ""):
        if not name:
            continue
        if not _INTEGRATION_NAME.fullmatch(name):
            raise ConfigError(
                "NOTION_INTEGRATIONS",
                f"{name[:40]!r} is not a valid name: lower-case letters, digits and inner "
                "hyphens, at most 32",
            )
        if name in names:
            raise ConfigError("NOTION_INTEGRATIONS", f"{name!r} is named twice (or is 'default')")
        names.append(name)
    return tuple(names)


@dataclass(frozen=True)
class NotionSettings:
    token: str
    base_url: str
    version: str
    #: Average requests per second allowed to this integration (Notion's documented 3).
    rate_limit_per_second: float
    #: Requests that may leave back to back after a quiet spell; 1 spaces every request out.
    rate_limit_burst: int
    timeout_seconds: float
    #: Attempts per request, the first included, for retryable failures (429, 529, 5xx, timeouts).
    max_attempts: int
    #: Longest ``Retry-After`` we wait out inside one request; longer ones fail the request so the
    #: tick can end and the next one retries.
    max_retry_after_seconds: float
    #: Which integration these settings are of (its token and rate limit are its own).
    integration: str = DEFAULT_INTEGRATION
    #: What tells a tick the page may have changed since its last full read (worker/changes.py):
    #: ``stamp``, the page's last_edited_time (one call a tick), or ``webhook``, Notion's page
    #: events reaching the API (no call while none came).
    change_signal: ChangeSignal = "stamp"
    #: Longest a page goes without a full read, whatever the signal says (0: every tick).
    full_read_seconds: float = DEFAULT_FULL_READ_SECONDS

    @classmethod
    def from_env(cls, env: Env, integration: str = DEFAULT_INTEGRATION) -> NotionSettings:
        """One integration's settings: its token and rate limit come from its own variables
        (``NOTION_TOKEN_TEAM_A``…; the rate limit falls back to the default's), the rest is
        shared by all integrations."""

        def own(base: str) -> str:
            return integration_variable(base, integration)

        rate = env.number("NOTION_RATE_LIMIT_PER_SECOND", 3.0, minimum=0.1, maximum=1000.0)
        signal = env.choice("NOTION_CHANGE_SIGNAL", "stamp", CHANGE_SIGNALS)
        burst = env.integer("NOTION_RATE_LIMIT_BURST", 1, minimum=1, maximum=100)
        return cls(
            token=env.string(own("NOTION_TOKEN")),
            base_url=env.url("NOTION_BASE_URL", ("https", "http"), NOTION_DEFAULT_BASE_URL),
            version=env.string("NOTION_VERSION", NOTION_VERSION),
            rate_limit_per_second=env.number(
                own("NOTION_RATE_LIMIT_PER_SECOND"), rate, minimum=0.1, maximum=1000.0
            ),
            rate_limit_burst=env.integer(
                own("NOTION_RATE_LIMIT_BURST"), burst, minimum=1, maximum=100
            ),
            timeout_seconds=env.number("NOTION_TIMEOUT_SECONDS", 30.0, minimum=0.1, maximum=300.0),
            max_attempts=env.integer("NOTION_MAX_ATTEMPTS", 5, minimum=1, maximum=20),
            max_retry_after_seconds=env.number(
                "NOTION_MAX_RETRY_AFTER_SECONDS", 120.0, minimum=0.0, maximum=3600.0
            ),
            integration=integration,
            change_signal=(
                "webhook"
                if env.choice(own("NOTION_CHANGE_SIGNAL"), signal, CHANGE_SIGNALS) == "webhook"
                else "stamp"
            ),
            full_read_seconds=env.number(
                "NOTION_FULL_READ_SECONDS", DEFAULT_FULL_READ_SECONDS, minimum=0.0, maximum=86400.0
            ),
        )


#: What an API key may do. ``write`` (start, stop, extend) includes ``read`` (status, history).
Scope = Literal["read", "write"]
_SCOPES: dict[str, frozenset[Scope]] = {
    "read": frozenset({"read"}),
    "write": frozenset({"read", "write"}),
    "read+write": frozenset({"read", "write"}),
}
#: An API key's name (the CLI's ``keygen`` checks it too): safe to log, at most 64 characters.
API_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
#: Shortest plain secret accepted: anything shorter can be guessed.
MIN_API_KEY_LENGTH = 16


@dataclass(frozen=True)
class ApiKey:
    """One API key: a name that is safe to log, its scopes, and the SHA-256 of its secret.

    The secret itself is never kept: requests are authenticated by hashing the presented
    bearer token and comparing digests in constant time.
    """

    name: str
    scopes: frozenset[Scope]
    sha256: bytes

    def __repr__(self) -> str:  # the digest is not secret, but it has no place in a log line
        return f"ApiKey(name={self.name!r}, scopes={sorted(self.scopes)!r})"


def _parse_api_key(entry: str, variable: str, number: int) -> ApiKey:
    # Messages name the entry by position or name, never by content: it holds a secret.
    name, sep, rest = entry.partition(":")
    scope, sep2, secret = rest.partition(":")
    if not sep or not sep2 or not secret:
        raise ConfigError(variable, f"entry {number} must look like NAME:SCOPE:SECRET")
    if not API_KEY_NAME.fullmatch(name):
        raise ConfigError(
            variable, f"entry {number}: the name may hold letters, digits, '.', '_', '-' (≤ 64)"
        )
    scopes = _SCOPES.get(scope.lower())
    if scopes is None:
        raise ConfigError(
            variable, f"key {name!r}: scope must be read, write or read+write, got {scope!r}"
        )
    if secret.startswith("sha256:"):
        hex_digest = secret.removeprefix("sha256:")
        if not _SHA256_HEX.fullmatch(hex_digest):
            raise ConfigError(variable, f"key {name!r}: sha256: must be followed by 64 hex digits")
        return ApiKey(name=name, scopes=scopes, sha256=bytes.fromhex(hex_digest))
    if len(secret) < MIN_API_KEY_LENGTH:
        raise ConfigError(variable, f"key {name!r} is shorter than {MIN_API_KEY_LENGTH} characters")
    return ApiKey(name=name, scopes=scopes, sha256=hashlib.sha256(secret.encode()).digest())


def _api_key_entries(text: str) -> list[str]:
    lines = (line.strip() for line in text.splitlines())
    kept = " ".join(line for line in lines if line and not line.startswith("#"))
    return [entry for entry in re.split(r"[,\s]+", kept) if entry]


@dataclass(frozen=True)
class ApiAuthSettings:
    """Bearer API keys: ``API_KEYS`` and/or ``API_KEYS_FILE`` (a mounted secret), ``API_AUTH``."""

    #: ``False`` only when ``API_AUTH=disabled`` was set explicitly.
    enabled: bool
    keys: tuple[ApiKey, ...]

    @classmethod
    def from_env(cls, env: Env) -> ApiAuthSettings:
        enabled = env.choice("API_AUTH", "enabled", ("enabled", "disabled")) == "enabled"
        sources: list[tuple[str, str]] = []
        if (inline := env.optional("API_KEYS")) is not None:
            sources.append(("API_KEYS", inline))
        if (path := env.optional("API_KEYS_FILE")) is not None:
            try:
                sources.append(("API_KEYS_FILE", Path(path).read_text("utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    "API_KEYS_FILE", f"cannot read {path!r}: {type(exc).__name__}"
                ) from None
        keys: list[ApiKey] = []
        for variable, text in sources:
            for number, entry in enumerate(_api_key_entries(text), start=1):
                key = _parse_api_key(entry, variable, number)
                for other in keys:
                    if other.name == key.name:
                        raise ConfigError(variable, f"key name {key.name!r} is used twice")
                    if other.sha256 == key.sha256:
                        raise ConfigError(
                            variable, f"keys {other.name!r} and {key.name!r} have the same secret"
                        )
                keys.append(key)
        return cls(enabled=enabled, keys=tuple(keys))

    @property
    def missing_keys(self) -> bool:
        """Authentication is on but no key could ever pass it: the API must not start."""
        return self.enabled and not self.keys


#: Loopback by default, like ``API_HOST``: containers set ``OPS_HOST=0.0.0.0``.
DEFAULT_OPS_HOST = "127.0.0.1"


@dataclass(frozen=True)
class OpsSettings:
    """Where the ops port listens: ``OPS_HOST`` and ``OPS_PORT`` (``0``: any free port)."""

    host: str
    port: int

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, default_port: int
    ) -> OpsSettings:
        env = Env(environ)
        return cls(
            host=env.string("OPS_HOST", DEFAULT_OPS_HOST),
            port=env.integer("OPS_PORT", default_port, minimum=0, maximum=65_535),
        )
