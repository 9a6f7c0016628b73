"""Every exchange, queue and routing key of notion-batch; nothing else spells a name.

    api ──batch.start / batch.stop / page.changed──▶ <ns> (direct) ──▶ <ns>.commands ──▶ scheduler
    scheduler ──tick──▶ <ns> (direct) ──▶ <ns>.ticks ──▶ workers (competing consumers)
    <ns>.ticks / <ns>.commands ──dead letters──▶ <ns>.dead (fanout) ──▶ <ns>.dead

Queues are quorum queues (replicated, durable) with a delivery limit: a message whose
processing keeps crashing is dead-lettered after a few redeliveries instead of looping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ROUTING_TICK = "tick"
ROUTING_START = "batch.start"
ROUTING_STOP = "batch.stop"
#: A person changed a running page in Notion (a webhook event): its tick is due now.
ROUTING_PAGE_CHANGED = "page.changed"

#: Deliveries of one message before RabbitMQ dead-letters it (RabbitMQ 3.10 has no default).
DELIVERY_LIMIT = 5


@dataclass(frozen=True)
class Topology:
    namespace: str

    @property
    def exchange(self) -> str:
        return self.namespace

    @property
    def dead_exchange(self) -> str:
        return f"{self.namespace}.dead"

    @property
    def ticks_queue(self) -> str:
        return f"{self.namespace}.ticks"

    @property
    def commands_queue(self) -> str:
        return f"{self.namespace}.commands"

    @property
    def dead_queue(self) -> str:
        return f"{self.namespace}.dead"

    def work_queue_arguments(self) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": self.dead_exchange,
        }

    def bindings(self) -> dict[str, tuple[str, ...]]:
        """Queue name → routing keys bound on the main exchange."""
        return {
            self.ticks_queue: (ROUTING_TICK,),
            self.commands_queue: (ROUTING_START, ROUTING_STOP, ROUTING_PAGE_CHANGED),
        }

    def all_queues(self) -> tuple[str, ...]:
        return (self.ticks_queue, self.commands_queue, self.dead_queue)

    def all_exchanges(self) -> tuple[str, ...]:
        return (self.exchange, self.dead_exchange)
