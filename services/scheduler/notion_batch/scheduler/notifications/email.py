"""E-mail over SMTP with aiosmtplib: a plain-text summary with an HTML alternative.

``NOTIFY_SMTP_TLS``: ``starttls`` upgrades the connection before anything else is said (and
fails if the server cannot), ``ssl`` speaks TLS from the first byte, ``none`` sends in the
clear (a trusted local relay). Certificates are verified, against ``NOTIFY_SMTP_CA_FILE`` when
set. A 5xx reply (authentication refused, a recipient or the message rejected) is given up at
once; a 4xx, a dropped connection or a timeout is retried later. The ``Message-ID`` is the
same on every retry of one summary, so a repeat can be recognised.
"""

from __future__ import annotations

import html
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib

from notion_batch.common.db.notifications import BatchSummary
from notion_batch.scheduler.notifications import text
from notion_batch.scheduler.notifications.channel import DeliveryFailed
from notion_batch.scheduler.settings import EmailSettings


def _plain(summary: BatchSummary) -> str:
    width = max(len(label) for label, _ in text.rows(summary))
    lines = [text.sentence(summary), ""]
    lines += [f"{label.ljust(width)}  {value}" for label, value in text.rows(summary)]
    lines += ["", "— notion-batch"]
    return "\n".join(lines) + "\n"


def _html(summary: BatchSummary) -> str:
    cells = []
    for label, value in text.rows(summary):
        shown = html.escape(value)
        if value == summary.notion_url:
            shown = f'<a href="{html.escape(value)}">{shown}</a>'
        cells.append(
            f'<tr><th align="left" style="padding-right:1em">{html.escape(label)}</th>'
            f"<td>{shown}</td></tr>"
        )
    return (
        f"<html><body><p>{html.escape(text.sentence(summary))}</p>"
        f"<table>{''.join(cells)}</table><p>— notion-batch</p></body></html>\n"
    )


def message(
    summary: BatchSummary, settings: EmailSettings, *, now: datetime | None = None
) -> EmailMessage:
    """The e-mail telling ``summary``, from and to the configured addresses."""
    mail = EmailMessage()
    mail["Subject"] = f"[notion-batch] {text.title(summary)}"
    mail["From"] = settings.sender
    mail["To"] = ", ".join(settings.recipients)
    mail["Date"] = format_datetime(now or datetime.now(UTC))
    domain = parseaddr(settings.sender)[1].rpartition("@")[2] or "notion-batch"
    mail["Message-ID"] = f"<notion-batch.run-{summary.run_id}@{domain}>"
    mail.set_content(_plain(summary))
    mail.add_alternative(_html(summary), subtype="html")
    return mail


class EmailChannel:
    name = "email"

    def __init__(self, settings: EmailSettings, timeout_seconds: float) -> None:
        self._settings = settings
        self._timeout_seconds = timeout_seconds
        self._tls_context: ssl.SSLContext | None = (
            ssl.create_default_context(cafile=settings.ca_file) if settings.ca_file else None
        )

    async def send(self, summary: BatchSummary) -> str:
        settings = self._settings
        try:
            _refused, answer = await aiosmtplib.send(
                message(summary, settings),
                sender=parseaddr(settings.sender)[1],
                recipients=list(settings.recipients),
                hostname=settings.host,
                port=settings.port,
                username=settings.username,
                password=settings.password,
                use_tls=settings.tls == "ssl",
                start_tls=settings.tls == "starttls",
                tls_context=self._tls_context,
                timeout=self._timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = sorted({e.code for e in exc.recipients})
            raise DeliveryFailed(
                f"every recipient refused: SMTP {codes}",
                permanent=all(code >= 500 for code in codes),
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryFailed(
                f"SMTP {exc.code}: {exc.message}"[:300], permanent=exc.code >= 500
            ) from None
        except TimeoutError:
            raise  # the notifier words it, with the time limit
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP: {type(exc).__name__}: {exc}"[:300]) from None
        return f"SMTP {answer}"[:200]
