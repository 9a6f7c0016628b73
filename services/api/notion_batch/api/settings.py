"""The API's settings (``API_*``, with the shared database, broker, batch, log and API-key
settings), read from the environment once, at the entry point.

A bad value raises :class:`ConfigError` naming the variable (``notion_batch.common.config``
says how the entry points turn it into an exit). The variables are documented in the
README's configuration table — keep the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from notion_batch.common.config import (
    DEFAULT_INTEGRATION,
    ApiAuthSettings,
    BatchDefaults,
    BrokerSettings,
    DatabaseSettings,
    Env,
    LogSettings,
    integration_names,
    integration_variable,
)
from notion_batch.common.errors import ConfigError


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


#: Shortest console session secret accepted: 32 characters (256 bits as hex).
MIN_CONSOLE_SECRET_LENGTH = 32


@dataclass(frozen=True)
class ConsoleSettings:
    """The web console's sessions (``/console``): signed cookies, so any API replica that
    shares the secret accepts a session another one opened."""

    #: The HMAC key sessions and CSRF tokens are signed with; ``None``: a random one per
    #: process (sessions then end with the process, and work with one replica only).
    session_secret: bytes | None = field(default=None, repr=False)
    #: How long a session lasts after sign-in.
    session_hours: int = 8

    @classmethod
    def from_env(cls, env: Env) -> ConsoleSettings:
        secret = env.optional("CONSOLE_SESSION_SECRET")
        # The message never shows the value: it is a secret.
        if secret is not None and len(secret) < MIN_CONSOLE_SECRET_LENGTH:
            raise ConfigError(
                "CONSOLE_SESSION_SECRET",
                f"must be at least {MIN_CONSOLE_SECRET_LENGTH} characters "
                "(e.g. the output of `openssl rand -hex 32`)",
            )
        return cls(
            session_secret=secret.encode() if secret is not None else None,
            session_hours=env.integer("CONSOLE_SESSION_HOURS", 8, minimum=1, maximum=24 * 30),
        )


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
    console: ConsoleSettings = field(default_factory=ConsoleSettings)

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
            console=ConsoleSettings.from_env(env),
        )
