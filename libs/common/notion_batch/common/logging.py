"""One logging pipeline per process: structlog events, stdlib records routed through it.

Follows structlog's recipe: events go to stdout as JSON lines (or colours at a terminal),
context (``service``, ``notion_page_id``, ``tick_id``…) rides in contextvars, and aiohttp,
aio-pika, asyncpg and httpx logs pass through the same processors via ``ProcessorFormatter``.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Any

import structlog
from structlog.types import EventDict, Processor

from notion_batch.common.config import LogSettings

_REDACTED = "[redacted]"
# Notion integration tokens ("secret_…", "ntn_…") and bearer credentials, wherever they appear.
_TOKEN_PATTERN = re.compile(r"(?i)(bearer\s+)[^\s\"',]+|\b(?:secret|ntn)_[A-Za-z0-9]{8,}")


class SecretRedactor:
    """Processor that blanks known secrets and anything shaped like a Notion token."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = tuple(s for s in secrets if s and len(s) >= 4)

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        # What a text holds if the pattern can match it at all: checking first spares the
        # regex for nearly every value (ids, names, timestamps).
        lowered = text.lower()
        if "bearer" not in lowered and "secret_" not in lowered and "ntn_" not in lowered:
            return text
        return _TOKEN_PATTERN.sub(
            lambda m: (m.group(1) + _REDACTED) if m.group(1) else _REDACTED, text
        )

    def __call__(self, _: Any, __: str, event_dict: EventDict) -> EventDict:
        for key, value in event_dict.items():
            if isinstance(value, str):
                event_dict[key] = self._clean(value)
            elif isinstance(value, BaseException):
                event_dict[key] = self._clean(repr(value))
        return event_dict


def _drop_color_message(_: Any, __: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)
    return event_dict


def configure_logging(settings: LogSettings, *, service: str, secrets: Iterable[str] = ()) -> None:
    """Configure structlog and the stdlib root logger for this process."""
    redactor = SecretRedactor(secrets)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_color_message,
    ]
    renderer: Processor
    if settings.format == "json":
        # Tracebacks become text before the redactor, so that it sees them too.
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer()
    # Once per line, last before rendering: every field is final by then.
    shared.append(redactor)

    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    # Chatty libraries: their debug output is noise at our info level.
    for name in ("aiormq", "aio_pika", "httpx", "httpcore", "asyncio"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
