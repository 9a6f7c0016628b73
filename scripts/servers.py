"""The servers a picture-making script runs the product against: the PostgreSQL and RabbitMQ
of this machine unless told otherwise (the test suite's variables first, then the product's)."""

from __future__ import annotations

import argparse
import os


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """``--database-url`` and ``--amqp-url``, with this machine's servers by default."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL")
        or os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL server to create the run's own database on",
    )
    parser.add_argument(
        "--amqp-url",
        default=os.environ.get("TEST_AMQP_URL")
        or os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
    )
