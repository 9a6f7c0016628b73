"""The scheduler's settings (``SCHEDULER_*``, the batch-end notifications ``NOTIFY_*``, with
the shared database, broker, ops, log and batch settings), read from the environment once, at
the entry point.

A bad value raises :class:`ConfigError` naming the variable. The variables are documented in
the README's configuration table — keep the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Literal

from notion_batch.common.config import (
    BatchDefaults,
    BrokerSettings,
    DatabaseSettings,
    Env,
    LogSettings,
    OpsSettings,
)
from notion_batch.common.errors import ConfigError

#: The scheduler's default ops port (metrics and probes); the worker's is 9101, so the two can
#: share a host.
SCHEDULER_OPS_PORT = 9100
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
        webhook_url = env.http_url("NOTIFY_WEBHOOK_URL")
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
            slack_webhook_url=env.http_url("NOTIFY_SLACK_WEBHOOK_URL"),
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
                "SCHEDULER_CLAIM_BATCH_SIZE", 1000, minimum=1, maximum=10_000
            ),
            # The emitter's lanes (emitter.EMIT_LANES), and room for the gauges, the notifier,
            # the stall watch and a step cut at its deadline that still holds its connection.
            database=DatabaseSettings.from_env(env, default_pool_max=8),
            broker=BrokerSettings.from_env(env),
            ops=OpsSettings.from_env(environ, default_port=SCHEDULER_OPS_PORT),
            log=LogSettings.from_env(env),
            notify=NotifySettings.from_env(env),
            batch=BatchDefaults.from_env(env),
        )
