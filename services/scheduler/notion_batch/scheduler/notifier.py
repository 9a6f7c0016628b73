"""Batch-end notifications: from the outbox the run-end trigger fills, to each channel.

Runs in the scheduler as a task of its own, so a slow or dead receiver never delays a tick.
Each round:

1. **Summaries.** Newly ended runs get their :class:`BatchSummary` written, once the run's last
   tick is over (the page's lease is free), and one delivery per channel that is on and whose
   ``NOTIFY_ON`` includes the end reason.
2. **Deliveries.** Due deliveries are claimed with ``FOR UPDATE SKIP LOCKED`` (several
   schedulers share them; each claim counts an attempt and leases the delivery, so no
   connection is held while a receiver is called), sent concurrently, each within
   ``NOTIFY_TIMEOUT_SECONDS``, and their outcome written: delivered; failed, retried after an
   exponential backoff with jitter; or abandoned after ``NOTIFY_MAX_ATTEMPTS``, past
   ``NOTIFY_MAX_AGE_SECONDS``, or when the receiver refused it for good. One state per
   (run, channel): a channel that fails never makes another send twice.

Delivery is at least once: a notifier that dies between a receiver's answer and writing it
down leaves the delivery to be claimed again when its lease ends. The webhook's
``X-Notion-Batch-Delivery`` and the e-mail's ``Message-ID`` let a receiver spot the repeat.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence

import structlog

from notion_batch.common.db.notifications import Delivery, NotificationRepository
from notion_batch.common.errors import UnavailableError
from notion_batch.common.metrics import get_metrics
from notion_batch.scheduler.notifications.channel import Channel, DeliveryFailed
from notion_batch.scheduler.settings import NotifySettings

log = structlog.get_logger(__name__)

#: Longest wait between two attempts of one delivery, whatever the backoff says.
MAX_BACKOFF_SECONDS = 3600.0
#: How long a summary waits for the run's last tick to finish (its lease to be released)
#: before it is taken as it is: a worker stuck in a handler does not hold it back for ever.
SETTLE_SECONDS = 120.0
#: Summaries written and deliveries claimed per transaction.
CLAIM_BATCH_SIZE = 50
_REDACTED = "[redacted]"


def backoff_seconds(
    attempt: int, base: float, *, retry_after: float | None = None, rng: Callable[[], float]
) -> float:
    """The wait after failed attempt ``attempt`` (1, 2, …): ``base`` doubled per attempt,
    at most an hour, "equal jitter" (half fixed, half random) so that receivers coming back
    are not hit by every delivery at once; never less than a ``Retry-After`` asked for."""
    delay = min(base * 2.0 ** (attempt - 1), MAX_BACKOFF_SECONDS)
    delay = delay / 2 + rng() * delay / 2
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_BACKOFF_SECONDS))
    return delay


def _delivery_log(delivery: Delivery) -> structlog.stdlib.BoundLogger:
    """The logger of one attempt of one delivery: each of its events names these."""
    bound: structlog.stdlib.BoundLogger = log.bind(
        notion_page_id=delivery.summary.notion_page_id,
        batch_run_id=delivery.run_id,
        channel=delivery.channel,
        attempt=delivery.attempt,
    )
    return bound


class Notifier:
    """Writes summaries of ended runs and delivers them on the configured channels."""

    def __init__(
        self,
        notifications: NotificationRepository,
        channels: Mapping[str, Channel],
        settings: NotifySettings,
        *,
        poll_seconds: float,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._notifications = notifications
        self._channels = dict(channels)
        self._settings = settings
        self._poll_seconds = poll_seconds
        self._rng = rng
        self._secrets = tuple(settings.secrets)
        self._metrics = get_metrics()
        #: Longer than one attempt can take, so a live claim is never taken over.
        self._lease_seconds = 2 * settings.timeout_seconds + 30

    def channels_for(self, end_reason: str) -> Sequence[str]:
        if end_reason not in self._settings.on:
            return ()
        return tuple(self._channels)

    async def run_once(self) -> int:
        """One round: write new summaries, then send every due delivery; returns how many
        attempts were made."""
        while True:
            expanded = await self._notifications.expand_new(
                limit=CLAIM_BATCH_SIZE,
                settle_seconds=SETTLE_SECONDS,
                channels_for=self.channels_for,
            )
            for summary, channels in expanded:
                if channels:
                    log.info(
                        "notification_queued",
                        notion_page_id=summary.notion_page_id,
                        batch_run_id=summary.run_id,
                        end_reason=summary.end_reason,
                        channels=channels,
                    )
            if len(expanded) < CLAIM_BATCH_SIZE:
                break
        attempted = 0
        while self._channels:
            due = await self._notifications.claim_due(
                limit=CLAIM_BATCH_SIZE,
                channels=list(self._channels),
                lease_seconds=self._lease_seconds,
            )
            # Every attempt finishes (and writes its outcome) before a failure is raised.
            results = await asyncio.gather(*(self._deliver(d) for d in due), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            attempted += len(due)
            if len(due) < CLAIM_BATCH_SIZE:
                break
        return attempted

    async def run(self) -> None:
        """Notify until cancelled; a database outage pauses it with a growing wait."""
        log.info(
            "notifier_started",
            channels=list(self._channels),
            notify_on=sorted(self._settings.on),
        )
        failures = 0
        while True:
            try:
                await self.run_once()
                failures = 0
                pause = self._poll_seconds
            except UnavailableError as exc:
                failures += 1
                pause = min(self._poll_seconds * 2**failures, 30.0)
                log.warning("notifier_round_failed", error=str(exc), retry_in_s=pause)
            except Exception:
                # A bug of ours: seen (with its traceback) and retried, but never the end of
                # notifications for the rest of the scheduler's life.
                failures += 1
                pause = min(self._poll_seconds * 2**failures, 30.0)
                log.exception("notifier_round_crashed", retry_in_s=pause)
            await asyncio.sleep(pause)

    async def _deliver(self, delivery: Delivery) -> None:
        settings = self._settings
        dlog = _delivery_log(delivery)
        if delivery.age_seconds > settings.max_age_seconds:
            await self._abandon(
                delivery,
                f"not delivered within NOTIFY_MAX_AGE_SECONDS ({settings.max_age_seconds:g} s)",
            )
            return
        channel = self._channels[delivery.channel]
        started = time.monotonic()
        retry_after: float | None = None
        try:
            async with asyncio.timeout(settings.timeout_seconds):
                answer = await channel.send(delivery.summary)
        except DeliveryFailed as exc:
            if exc.permanent:
                await self._abandon(delivery, f"refused: {exc.reason}")
                return
            error, retry_after = exc.reason, exc.retry_after
        except TimeoutError:
            error = f"no answer within NOTIFY_TIMEOUT_SECONDS ({settings.timeout_seconds:g} s)"
        except Exception as exc:
            # A bug of ours (formatting, a library's surprise): logged with its traceback and
            # retried like a failure, so that one summary cannot stop the others.
            dlog.exception("notification_crashed")
            error = f"crashed: {type(exc).__name__}"
        else:
            await self._notifications.delivered(delivery)
            self._metrics.notifications.labels(channel=delivery.channel, outcome="delivered").inc()
            dlog.info(
                "notification_delivered",
                end_reason=delivery.summary.end_reason,
                answer=self._clean(answer),
                duration_ms=round((time.monotonic() - started) * 1000, 1),
            )
            return
        if delivery.attempt >= settings.max_attempts:
            await self._abandon(
                delivery, f"{error} (attempt {delivery.attempt} of {settings.max_attempts})"
            )
            return
        delay = backoff_seconds(
            delivery.attempt, settings.backoff_seconds, retry_after=retry_after, rng=self._rng
        )
        await self._notifications.retry_later(
            delivery, delay_seconds=delay, error=self._clean(error)
        )
        self._metrics.notifications.labels(channel=delivery.channel, outcome="failed").inc()
        dlog.warning(
            "notification_failed",
            error=self._clean(error),
            retry_in_s=round(delay, 3),
        )

    async def _abandon(self, delivery: Delivery, error: str) -> None:
        error = self._clean(error)
        await self._notifications.abandon(delivery, error=error)
        self._metrics.notifications.labels(channel=delivery.channel, outcome="abandoned").inc()
        _delivery_log(delivery).error("notification_abandoned", error=error)

    def _clean(self, text: str) -> str:
        """``text`` without the configured secrets: it is logged and stored in the database."""
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return text
