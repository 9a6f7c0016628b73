"""``python -m tests.soak``: the randomized fault soak (``make soak``).

Needs ``TEST_DATABASE_URL`` and ``TEST_AMQP_URL`` (the Makefile sets both for the local
servers); makes a database and a broker namespace of its own and removes them after. Exits
1 when any round breached an invariant, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from pathlib import Path

from notion_batch.common.db.migrate import migrate
from tests.outages.conftest import outages_allowed
from tests.soak.matrix import KINDS, OUTAGE_KINDS
from tests.soak.runner import RoundResult, SoakPlan, run_soak, soak_stack, table
from tests.support.isolation import delete_namespace, drop_database, with_database

ROOT = Path(__file__).resolve().parents[2]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--rounds", type=int, default=100, help="rounds to run (100)")
    parser.add_argument(
        "--seed", type=int, default=None, help="round i runs with seed+i (default: random)"
    )
    parser.add_argument(
        "--outages",
        choices=("on", "off"),
        default="on" if outages_allowed() else "off",
        help="PostgreSQL and RabbitMQ restarts in the matrix (on when NOTION_BATCH_OUTAGE_TESTS=1)",
    )
    parser.add_argument(
        "--kinds",
        default=None,
        help=f"comma-separated fault kinds to draw from (default: all of {', '.join(KINDS)},"
        " less the restarts with --outages off)",
    )
    parser.add_argument("--log-dir", type=Path, default=None, help="the services' logs")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.kinds is not None:
        args.kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
        unknown = [k for k in args.kinds if k not in KINDS]
        if unknown or not args.kinds:
            parser.error(f"unknown fault kinds {unknown}; known: {', '.join(KINDS)}")
        if args.outages == "off" and set(args.kinds) & set(OUTAGE_KINDS):
            parser.error("restarts of PostgreSQL and RabbitMQ need --outages on")
    for variable in ("TEST_DATABASE_URL", "TEST_AMQP_URL"):
        if not os.environ.get(variable):
            parser.error(f"{variable} is not set (make soak sets it for the local servers)")
    return args


async def main(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    log_dir = args.log_dir or ROOT / "soak-logs" / time.strftime(f"%Y%m%d-%H%M%S-seed{seed}")
    log_dir.mkdir(parents=True, exist_ok=True)
    kinds = args.kinds or SoakPlan.kinds_for(outages=args.outages == "on")
    plan = SoakPlan(rounds=args.rounds, seed=seed, kinds=kinds)
    print(
        f"soak: {plan.rounds} rounds, seeds {seed}..{seed + plan.rounds - 1},"
        f" faults {', '.join(kinds)}; logs in {log_dir}",
        flush=True,
    )
    admin = os.environ["TEST_DATABASE_URL"]
    amqp_url = os.environ["TEST_AMQP_URL"]
    name, namespace = f"nb_soak_{uuid.uuid4().hex[:10]}", f"nbsoak.{uuid.uuid4().hex[:10]}"
    database_url = with_database(admin, name)
    await migrate(database_url)
    results: list[RoundResult] = []

    def progress(result: RoundResult) -> None:
        results.append(result)
        _progress(result)

    try:
        async with soak_stack(database_url, amqp_url, namespace, log_dir) as stack:
            results = await run_soak(stack, plan, database_url, report=progress)
    finally:
        await drop_database(admin, name)
        await delete_namespace(amqp_url, namespace)
        # Also when the soak was interrupted: the rounds that ran are told.
        print()
        print(table(results))
        for result in results:
            if result.breaches:
                print(f'rerun round {result.index}: make soak SOAK_ARGS="{plan.rerun(result)}"')
        print(f"logs in {log_dir}")
    return 1 if any(r.breaches for r in results) else 0


def _progress(result: RoundResult) -> None:
    verdict = "held" if not result.breaches else f"{len(result.breaches)} BREACHES"
    print(
        f"round {result.index} seed {result.seed}: {result.kind} ({result.detail})"
        f" at {result.moment}s: {verdict}",
        flush=True,
    )
    for breach in result.breaches:
        print(f"  ! {breach}", flush=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse(sys.argv[1:]))))
