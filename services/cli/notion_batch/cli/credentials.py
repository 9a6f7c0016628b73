"""Commands that set up access: ``keygen`` (a new API key and the entry that grants it) and
``notion-webhook-token`` (the verification token a Notion webhook subscription sent)."""

from __future__ import annotations

import argparse
import secrets
from typing import IO

from notion_batch.cli.client import ApiClient, CliError
from notion_batch.cli.commands import answered_as_json, dump, utc_now
from notion_batch.cli.render import local_time, relative, table
from notion_batch.common.config import API_KEY_NAME, ApiAuthSettings, Env
from notion_batch.common.errors import ConfigError


async def notion_webhook_token(api: ApiClient, args: argparse.Namespace, out: IO[str]) -> int:
    """The verification token Notion's webhook subscription sent, and what to do with it."""
    params = {"integration": args.integration} if args.integration else None
    answer = await api.get("/api/v1/notion/webhook-verification", params)
    if answered_as_json(answer, args, out):
        return 0
    now = utc_now()
    kept = answer["verifications"]
    latest = kept[0]
    out.write(
        f"Verification token of the Notion webhook subscription of integration "
        f"{answer['integration']!r}, received {local_time(latest['received_at'], now)} "
        f"({relative(latest['received_at'], now)}) from {latest['remote_address'] or '?'}:\n\n"
        f"  {answer['verification_token']}\n\n"
    )
    if latest["configured"]:
        out.write(f"It is the API's {answer['variable']}: Notion's events are accepted.\n")
    else:
        out.write(
            "1. Paste it into Notion (the integration's settings → Webhooks → Verify). Notion\n"
            "   accepts only the token it sent: if it refuses this one, it did not come from\n"
            "   Notion (anyone can send a verification request) — try an earlier one below,\n"
            "   or have Notion resend it.\n"
            f"2. Set {answer['variable']} to it on the API and restart the API.\n"
        )
    if len(kept) > 1:
        rows = [
            [
                local_time(v["received_at"], now),
                v["remote_address"] or "",
                "yes" if v["configured"] else "",
                v["verification_token"],
            ]
            for v in kept
        ]
        out.write(
            "\nEvery request kept, newest first:\n"
            + table(["RECEIVED", "FROM", "CONFIGURED", "TOKEN"], rows)
            + "\n"
        )
    return 0


def keygen(args: argparse.Namespace, out: IO[str]) -> int:
    """Make a new API key and the configuration lines that grant it."""
    if not API_KEY_NAME.fullmatch(args.name):
        raise CliError(
            "NAME may hold letters, digits, '.', '_' and '-' (at most 64, starting with a "
            "letter or digit)",
            exit_code=2,
        )
    key = "nbk_" + secrets.token_urlsafe(32)
    entry = f"{args.name}:{args.scope}:{key}"
    try:
        # Parsed exactly as the API will parse it, so what is printed is accepted there.
        parsed = ApiAuthSettings.from_env(Env({"API_KEYS": entry})).keys[0]
    except ConfigError as exc:
        raise CliError(str(exc).removeprefix("API_KEYS: "), exit_code=2) from None
    hashed = f"{args.name}:{args.scope}:sha256:{parsed.sha256.hex()}"
    if args.json:
        dump({"name": args.name, "scope": args.scope, "key": key, "api_keys_entry": hashed}, out)
        return 0
    out.write(
        f"API key for {args.name!r} (scope {args.scope}), shown only now:\n\n  {key}\n\n"
        f"Grant it on the API with this entry in API_KEYS or API_KEYS_FILE (only its hash):\n\n"
        f"  {hashed}\n\n"
        f"Use it from the CLI with NOTION_BATCH_API_KEY={key}\n"
    )
    return 0
