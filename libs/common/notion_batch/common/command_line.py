"""What every console script shares: ``--help`` and ``--version``, and a port already in use
told as one line naming the variable to change.

The long-running services take all their settings from the environment, so their command
line is only these two flags; ``--help`` says where the settings are described.
"""

from __future__ import annotations

import argparse
import errno
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version

from notion_batch.common.errors import ConfigError

#: Where a newcomer finds every variable a service reads.
SETTINGS_HELP = (
    "Every setting is an environment variable: see the README's 'Configuration' table\n"
    "(DATABASE_URL, AMQP_URL, OPS_PORT, ... with their defaults and bounds)."
)


def distribution_version(distribution: str) -> str:
    """The installed version of ``distribution``, ``unknown`` when it is not installed."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def add_version_flag(parser: argparse.ArgumentParser, distribution: str) -> None:
    """``--version``: the program's name and its distribution's installed version."""
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {distribution_version(distribution)}",
    )


def parse_service_command_line(
    prog: str, description: str, argv: Sequence[str] | None = None
) -> argparse.Namespace:
    """The command line of a long-running service: ``--help`` and ``--version`` only (each
    prints and exits 0); anything else is an error (exit 2), never a service started."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=SETTINGS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_version_flag(parser, prog)
    return parser.parse_args(argv)


@contextmanager
def port_in_use_is_config_error(host_variable: str, port_variable: str) -> Iterator[None]:
    """Turn "address already in use" from binding a listening port into a
    :class:`ConfigError` naming the variables to change (the caller's ``exit_on_error``
    prints it as one line and exits 2), instead of a traceback."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise ConfigError(
            port_variable,
            f"the port is already in use ({exc.strerror}); set {port_variable} to a free port "
            f"(or {host_variable} to another address), e.g. when running two services on one "
            "host",
        ) from None
