"""Settings, read from environment variables only, once, at each service's entry point.

Every value is validated here; a bad one raises :class:`ConfigError` naming the variable, which
the entry points turn into one line on stderr and exit code 2. The variables are documented in
the README's configuration table — keep the two in step.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from notion_batch.common.errors import ConfigError
from notion_batch.common.handlers import DEFAULT_HANDLER, resolve

#: The Notion API version we speak, pinned so that a Notion release cannot change shapes under us.
#: 2026-03-11 drops ``archived`` (only ``in_trash`` is sent) and renames append's ``after`` to
#: ``position`` (developers.notion.com/guides/get-started/upgrade-guide-2026-03-11).
NOTION_VERSION = "2026-03-11"
NOTION_DEFAULT_BASE_URL = "https://api.notion.com"

RecordMode = Literal["page_log", "todo_children"]
LogFormat = Literal["json", "console"]
#: Where batch-end notifications go (``NOTIFY_*``), in the order they are listed.
NotifyChannel = Literal["webhook", "slack", "email"]
NOTIFY_CHANNELS: tuple[NotifyChannel, ...] = ("webhook", "slack", "email")
#: How a batch's run ended (``notion_batch_runs.end_reason``): what ``NOTIFY_ON`` picks from.
END_REASONS: tuple[str, ...] = ("stopped", "expired", "failed")
SmtpTls = Literal["none", "starttls", "ssl"]
#: The SMTP port of each ``NOTIFY_SMTP_TLS`` mode when ``NOTIFY_SMTP_PORT`` is not set.
SMTP_DEFAULT_PORTS: dict[str, int] = {"none": 25, "starttls": 587, "ssl": 465}
#: Shortest ``NOTIFY_WEBHOOK_SECRET`` accepted: a signature with a guessable key proves nothing.
MIN_WEBHOOK_SECRET_LENGTH = 16


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
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(name, f"must be an integer, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ConfigError(name, f"must be between {minimum} and {maximum}, got {value}")
        return value

    def number(self, name: str, default: float, *, minimum: float, maximum: float) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(name, f"must be a number, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ConfigError(name, f"must be between {minimum} and {maximum}, got {value}")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.string(name, default).lower()
        if value not in choices:
            raise ConfigError(name, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def url(self, name: str, schemes: tuple[str, ...], default: str | None = None) -> str:
        value = self.string(name, default)
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname:
            raise ConfigError(
                name, f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}"
            )
        return value.rstrip("/")


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

    @classmethod
    def from_env(cls, env: Env, integration: str = DEFAULT_INTEGRATION) -> NotionSettings:
        """One integration's settings: its token and rate limit come from its own variables
        (``NOTION_TOKEN_TEAM_A``…; the rate limit falls back to the default's), the rest is
        shared by all integrations."""

        def own(base: str) -> str:
            return integration_variable(base, integration)

        rate = env.number("NOTION_RATE_LIMIT_PER_SECOND", 3.0, minimum=0.1, maximum=1000.0)
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
        )


#: What an API key may do. ``write`` (start, stop, extend) includes ``read`` (status, history).
Scope = Literal["read", "write"]
_SCOPES: dict[str, frozenset[Scope]] = {
    "read": frozenset({"read"}),
    "write": frozenset({"read", "write"}),
    "read+write": frozenset({"read", "write"}),
}
_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
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
    if not _KEY_NAME.fullmatch(name):
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


def _cors_origins(env: Env) -> tuple[str, ...]:
    raw = env.optional("API_CORS_ORIGINS")
    if raw is None:
        return ()
    origins = [o for o in re.split(r"[,\s]+", raw) if o]
    for origin in origins:
        if origin == "*":
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
            raise ConfigError(
                "API_CORS_ORIGINS",
                f"each origin must be '*' or scheme://host[:port], got {origin!r}",
            )
    return tuple(o.rstrip("/") for o in origins)


#: Shortest Notion webhook verification token accepted (Notion's are ``secret_`` + 43 more).
MIN_WEBHOOK_TOKEN_LENGTH = 16


def _webhook_tokens(env: Env, integrations: tuple[str, ...]) -> dict[str, str]:
    tokens: dict[str, str] = {}
    for name in integrations:
        variable = integration_variable("NOTION_WEBHOOK_VERIFICATION_TOKEN", name)
        token = env.optional(variable)
        if token is None:
            continue
        # The message never shows the value: it is a secret.
        if len(token) < MIN_WEBHOOK_TOKEN_LENGTH or any(c.isspace() for c in token):
            raise ConfigError(
                variable,
                f"must be the verification token Notion sent (at least "
                f"{MIN_WEBHOOK_TOKEN_LENGTH} characters, no blanks)",
            )
        tokens[name] = token
    return tokens


@dataclass(frozen=True)
class ApiSettings:
    host: str
    port: int
    database: DatabaseSettings
    broker: BrokerSettings
    batch: BatchDefaults
    log: LogSettings
    auth: ApiAuthSettings
    #: Writes (start, stop, extend) each key may make per minute, on average; 0: no limit.
    write_rate_per_minute: int
    #: Writes a key may make back to back before the per-minute rate applies.
    write_burst: int
    #: Origins allowed to call the API from a browser; empty: CORS off (no CORS headers).
    cors_origins: tuple[str, ...]
    #: The Notion integrations a start may name (``default`` first); their tokens are the
    #: workers' business, the API only checks the name.
    integrations: tuple[str, ...] = (DEFAULT_INTEGRATION,)
    #: Integration → the verification token its Notion webhook subscription signs events with
    #: (``NOTION_WEBHOOK_VERIFICATION_TOKEN[_<NAME>]``); an integration without one has its
    #: events refused. Secrets: for the log redactor, never logged.
    notion_webhook_tokens: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        env = Env(environ)
        integrations = integration_names(env)
        return cls(
            host=env.string("API_HOST", "127.0.0.1"),
            port=env.integer("API_PORT", 8000, minimum=0, maximum=65_535),
            database=DatabaseSettings.from_env(env),
            broker=BrokerSettings.from_env(env),
            batch=BatchDefaults.from_env(env),
            log=LogSettings.from_env(env),
            auth=ApiAuthSettings.from_env(env),
            write_rate_per_minute=env.integer(
                "API_WRITE_RATE_PER_MINUTE", 120, minimum=0, maximum=1_000_000
            ),
            write_burst=env.integer("API_WRITE_BURST", 30, minimum=1, maximum=100_000),
            cors_origins=_cors_origins(env),
            integrations=integrations,
            notion_webhook_tokens=_webhook_tokens(env, integrations),
        )


#: How long a stopping worker lets its ticks finish by default (``WORKER_DRAIN_SECONDS``).
DEFAULT_WORKER_DRAIN_SECONDS = 20.0
#: Crashes in a row of a batch's ticks that fail it by default (``WORKER_CRASH_LIMIT``): fewer
#: than the queue's delivery limit (5), so the first crashing tick settles it.
DEFAULT_WORKER_CRASH_LIMIT = 3
#: Default ops ports (metrics and probes); distinct so a scheduler and a worker can share a host.
SCHEDULER_OPS_PORT = 9100
WORKER_OPS_PORT = 9101
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


def _http_url(name: str, url: str | None) -> str | None:
    """An optional ``http(s)://`` URL, kept exactly as given (a trailing slash may matter to
    the receiver). The value is never quoted in an error: webhook URLs hold tokens."""
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(name, "must be a URL starting with http:// or https://")
    return url


def _address(name: str, raw: str) -> str:
    """The bare address of ``a@b.c`` or ``Name <a@b.c>``; ConfigError naming ``name`` else."""
    _display, address = parseaddr(raw)
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in address):
        raise ConfigError(name, f"must be an e-mail address, got {raw!r}")
    return address


@dataclass(frozen=True)
class EmailSettings:
    """Batch-end summaries by e-mail over SMTP (``NOTIFY_SMTP_*``, ``NOTIFY_EMAIL_*``)."""

    host: str
    port: int
    #: ``starttls`` (upgrade a plain connection, port 587), ``ssl`` (TLS from the first byte,
    #: port 465) or ``none`` (a trusted local relay only).
    tls: SmtpTls
    username: str | None
    password: str | None = field(repr=False)
    #: The ``From`` header as configured (``Name <a@b.c>`` or ``a@b.c``).
    sender: str
    recipients: tuple[str, ...]
    #: A PEM bundle to trust instead of the system's CAs (a relay with a private CA).
    ca_file: str | None

    @classmethod
    def from_env(cls, env: Env) -> EmailSettings | None:
        host = env.optional("NOTIFY_SMTP_HOST")
        tls_name = env.choice("NOTIFY_SMTP_TLS", "starttls", ("none", "starttls", "ssl"))
        tls: SmtpTls = "ssl" if tls_name == "ssl" else "none" if tls_name == "none" else "starttls"
        port = env.integer("NOTIFY_SMTP_PORT", SMTP_DEFAULT_PORTS[tls], minimum=1, maximum=65_535)
        username = env.optional("NOTIFY_SMTP_USERNAME")
        password = env.optional("NOTIFY_SMTP_PASSWORD")
        sender = env.optional("NOTIFY_EMAIL_FROM")
        to = env.optional("NOTIFY_EMAIL_TO")
        ca_file = env.optional("NOTIFY_SMTP_CA_FILE")
        if host is None:
            for name, value in (
                ("NOTIFY_EMAIL_FROM", sender),
                ("NOTIFY_EMAIL_TO", to),
                ("NOTIFY_SMTP_USERNAME", username),
                ("NOTIFY_SMTP_PASSWORD", password),
            ):
                if value is not None:
                    raise ConfigError(name, "is set but NOTIFY_SMTP_HOST is not")
            return None
        if (username is None) != (password is None):
            missing = "NOTIFY_SMTP_PASSWORD" if password is None else "NOTIFY_SMTP_USERNAME"
            raise ConfigError(missing, "is required when the other SMTP credential is set")
        if sender is None:
            raise ConfigError("NOTIFY_EMAIL_FROM", "is required when NOTIFY_SMTP_HOST is set")
        _address("NOTIFY_EMAIL_FROM", sender)
        if to is None:
            raise ConfigError("NOTIFY_EMAIL_TO", "is required when NOTIFY_SMTP_HOST is set")
        recipients = tuple(
            _address("NOTIFY_EMAIL_TO", f"{display} <{address}>" if display else address)
            for display, address in getaddresses([to])
            if display or address
        )
        if not recipients:
            raise ConfigError("NOTIFY_EMAIL_TO", "must list at least one address")
        if ca_file is not None and not Path(ca_file).is_file():
            raise ConfigError("NOTIFY_SMTP_CA_FILE", f"no such file: {ca_file!r}")
        return cls(
            host=host,
            port=port,
            tls=tls,
            username=username,
            password=password,
            sender=sender,
            recipients=recipients,
            ca_file=ca_file,
        )


def _end_reasons(env: Env) -> frozenset[str]:
    raw = env.string("NOTIFY_ON", "all").lower()
    reasons = {r for r in re.split(r"[,\s]+", raw) if r}
    if reasons == {"all"}:
        return frozenset(END_REASONS)
    unknown = reasons - set(END_REASONS)
    if unknown or not reasons:
        raise ConfigError(
            "NOTIFY_ON", f"must be 'all' or a list of {', '.join(END_REASONS)}, got {raw!r}"
        )
    return frozenset(reasons)


@dataclass(frozen=True)
class NotifySettings:
    """Batch-end notifications: which channels are on, and how hard to try.

    A channel is on when its variable is set (``NOTIFY_WEBHOOK_URL``,
    ``NOTIFY_SLACK_WEBHOOK_URL``, ``NOTIFY_SMTP_HOST``); with none, nothing is sent.
    """

    #: Where the JSON summary is POSTed; ``None``: off. Holds a token as often as not.
    webhook_url: str | None = field(repr=False)
    #: Key of the ``X-Notion-Batch-Signature`` HMAC; ``None``: unsigned.
    webhook_secret: str | None = field(repr=False)
    #: A Slack incoming-webhook URL; ``None``: off.
    slack_webhook_url: str | None = field(repr=False)
    email: EmailSettings | None
    #: End reasons (``stopped``, ``expired``, ``failed``) that are notified.
    on: frozenset[str]
    #: Attempts per channel before a summary is given up.
    max_attempts: int
    #: Time limit of one attempt (connect, send, answer).
    timeout_seconds: float
    #: Wait before the first retry; doubled at each attempt (with jitter), at most an hour.
    backoff_seconds: float
    #: A summary not delivered this long after the batch ended is given up.
    max_age_seconds: float

    @classmethod
    def from_env(cls, env: Env) -> NotifySettings:
        webhook_url = _http_url("NOTIFY_WEBHOOK_URL", env.optional("NOTIFY_WEBHOOK_URL"))
        secret = env.optional("NOTIFY_WEBHOOK_SECRET")
        if secret is not None:
            if webhook_url is None:
                raise ConfigError("NOTIFY_WEBHOOK_SECRET", "is set but NOTIFY_WEBHOOK_URL is not")
            if len(secret) < MIN_WEBHOOK_SECRET_LENGTH:
                raise ConfigError(
                    "NOTIFY_WEBHOOK_SECRET",
                    f"is shorter than {MIN_WEBHOOK_SECRET_LENGTH} characters",
                )
        return cls(
            webhook_url=webhook_url,
            webhook_secret=secret,
            slack_webhook_url=_http_url(
                "NOTIFY_SLACK_WEBHOOK_URL", env.optional("NOTIFY_SLACK_WEBHOOK_URL")
            ),
            email=EmailSettings.from_env(env),
            on=_end_reasons(env),
            max_attempts=env.integer("NOTIFY_MAX_ATTEMPTS", 8, minimum=1, maximum=100),
            timeout_seconds=env.number("NOTIFY_TIMEOUT_SECONDS", 10.0, minimum=0.1, maximum=300.0),
            backoff_seconds=env.number(
                "NOTIFY_BACKOFF_SECONDS", 30.0, minimum=0.01, maximum=3600.0
            ),
            max_age_seconds=env.number(
                "NOTIFY_MAX_AGE_SECONDS", 86_400.0, minimum=1.0, maximum=30 * 86_400.0
            ),
        )

    @property
    def channels(self) -> tuple[NotifyChannel, ...]:
        """The channels that are on, in :data:`NOTIFY_CHANNELS` order."""
        on = {
            "webhook": self.webhook_url is not None,
            "slack": self.slack_webhook_url is not None,
            "email": self.email is not None,
        }
        return tuple(c for c in NOTIFY_CHANNELS if on[c])

    @property
    def secrets(self) -> list[str]:
        """Values that must never reach a log line, a metric or a stored error."""
        values = [
            self.webhook_url,
            self.webhook_secret,
            self.slack_webhook_url,
            self.email.password if self.email else None,
        ]
        return [v for v in values if v]


@dataclass(frozen=True)
class SchedulerSettings:
    #: Longest sleep between two looks for due pages; a start command wakes the loop early.
    poll_seconds: float
    #: Pages claimed per transaction; bounds one transaction's size at scale.
    claim_batch_size: int
    database: DatabaseSettings
    broker: BrokerSettings
    ops: OpsSettings
    log: LogSettings
    notify: NotifySettings
    #: What a stall is (``BATCH_STALL_SECONDS``); the API reads the same variable.
    batch: BatchDefaults

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SchedulerSettings:
        env = Env(environ)
        return cls(
            poll_seconds=env.number("SCHEDULER_POLL_SECONDS", 1.0, minimum=0.05, maximum=60.0),
            claim_batch_size=env.integer(
                "SCHEDULER_CLAIM_BATCH_SIZE", 500, minimum=1, maximum=10_000
            ),
            database=DatabaseSettings.from_env(env, default_pool_max=4),
            broker=BrokerSettings.from_env(env),
            ops=OpsSettings.from_env(environ, default_port=SCHEDULER_OPS_PORT),
            log=LogSettings.from_env(env),
            notify=NotifySettings.from_env(env),
            batch=BatchDefaults.from_env(env),
        )


@dataclass(frozen=True)
class WebhookSettings:
    """The built-in ``webhook`` handler: where it POSTs each to-do, and how long it waits."""

    #: ``None``: not configured, so batches choosing ``webhook`` fail their to-dos (retried).
    url: str | None
    timeout_seconds: float

    @classmethod
    def from_env(cls, env: Env, *, required: bool) -> WebhookSettings:
        url = env.optional("TODO_WEBHOOK_URL")
        if url is None and required:
            raise ConfigError("TODO_WEBHOOK_URL", "is required when TODO_HANDLER is webhook")
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(
                    "TODO_WEBHOOK_URL", "must be a URL starting with http:// or https://"
                )
        timeout = env.number("TODO_WEBHOOK_TIMEOUT_SECONDS", 10.0, minimum=0.1, maximum=600.0)
        return cls(url=url, timeout_seconds=timeout)


@dataclass(frozen=True)
class WorkerSettings:
    #: The default handler of this worker's batches: an installed handler's name (``complete``,
    #: ``webhook``, a plugin's) or ``module:function``. A batch may choose another by name.
    handler: str
    max_attempts: int
    handler_timeout_seconds: float
    #: Ticks (pages) one worker process works on at once.
    concurrency: int
    #: How long a page stays leased to a worker without a heartbeat.
    lease_seconds: float
    #: How long a stopping worker lets ticks in flight finish before handing them back;
    #: Kubernetes' terminationGracePeriodSeconds must be larger.
    drain_seconds: float
    #: Crashes in a row of one batch's ticks (our code raised, not an outage) that fail the
    #: batch, so a tick that can never be worked does not come back until the batch expires.
    crash_limit: int
    record_mode: RecordMode
    webhook: WebhookSettings
    #: ``shared``: one Notion rate limit for the fleet (in PostgreSQL); ``local``: per process.
    notion_rate_limit_scope: Literal["shared", "local"]
    database: DatabaseSettings
    broker: BrokerSettings
    #: The default integration's settings (``NOTION_TOKEN``).
    notion: NotionSettings
    ops: OpsSettings
    log: LogSettings
    #: Every integration this worker serves, by name, the default included.
    integrations: Mapping[str, NotionSettings] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if DEFAULT_INTEGRATION not in self.integrations:
            object.__setattr__(
                self, "integrations", {DEFAULT_INTEGRATION: self.notion, **self.integrations}
            )

    @property
    def notion_tokens(self) -> list[str]:
        """Every integration's token: secrets, for the log redactor."""
        return [n.token for n in self.integrations.values()]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerSettings:
        env = Env(environ)
        concurrency = env.integer("WORKER_CONCURRENCY", 4, minimum=1, maximum=256)
        handler = env.string("TODO_HANDLER", DEFAULT_HANDLER)
        resolve(handler, variable="TODO_HANDLER")
        mode = env.choice("NOTION_RECORD_MODE", "page_log", ("page_log", "todo_children"))
        integrations = {name: NotionSettings.from_env(env, name) for name in integration_names(env)}
        return cls(
            handler=handler,
            max_attempts=env.integer("TODO_MAX_ATTEMPTS", 3, minimum=1, maximum=100),
            handler_timeout_seconds=env.number(
                "TODO_HANDLER_TIMEOUT_SECONDS", 60.0, minimum=0.1, maximum=3600.0
            ),
            concurrency=concurrency,
            lease_seconds=env.number("WORKER_LEASE_SECONDS", 30.0, minimum=1.0, maximum=3600.0),
            drain_seconds=env.number(
                "WORKER_DRAIN_SECONDS", DEFAULT_WORKER_DRAIN_SECONDS, minimum=0.0, maximum=3600.0
            ),
            crash_limit=env.integer(
                "WORKER_CRASH_LIMIT", DEFAULT_WORKER_CRASH_LIMIT, minimum=1, maximum=100
            ),
            record_mode="todo_children" if mode == "todo_children" else "page_log",
            webhook=WebhookSettings.from_env(env, required=handler == "webhook"),
            notion_rate_limit_scope=(
                "local"
                if env.choice("NOTION_RATE_LIMIT_SCOPE", "shared", ("shared", "local")) == "local"
                else "shared"
            ),
            # Each page in work holds at most one connection at a time, plus heartbeats.
            database=DatabaseSettings.from_env(env, default_pool_max=concurrency + 4),
            broker=BrokerSettings.from_env(env),
            notion=integrations[DEFAULT_INTEGRATION],
            ops=OpsSettings.from_env(environ, default_port=WORKER_OPS_PORT),
            log=LogSettings.from_env(env),
            integrations=integrations,
        )
