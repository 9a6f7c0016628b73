"""schemathesis against the live API: requests generated from the OpenAPI document (valid
ones and deliberately broken ones) must never get a 5xx, and every answer must conform to
the document (status, content type, headers, body). One test per operation.

The schema is the document the API serves (``build_document``; test_openapi.py checks the
served one is that) loaded at import, since schemathesis' ``from_fixture`` does not work
with this pytest; the requests go to the live API process of ``live_api``.
"""

from __future__ import annotations

import socket
import time

import schemathesis
from schemathesis import Case

from notion_batch.api.openapi import build_document
from tests.contract.conftest import WRITE_KEY, LiveApi

#: Generated cases per operation and phase: enough to find drift, fast enough for `make test`.
MAX_EXAMPLES = 30
#: What schemathesis may expect for a valid request by default, plus 422 for start: a
#: generated Idempotency-Key (drawn from a small alphabet) comes back with another body.
START_ACCEPTS = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"max-examples": MAX_EXAMPLES},
        "request-timeout": 10,
        "operations": [
            {
                "include-name": "POST /api/v1/batch/start",
                "checks": {"positive_data_acceptance": {"expected-statuses": START_ACCEPTS}},
            }
        ],
    }
)
schema = schemathesis.openapi.from_dict(build_document("contract"), config=CONFIG)


@schema.parametrize()
def test_the_live_api_keeps_its_contract(case: Case, live_api: LiveApi) -> None:
    # A write key reaches every operation; checks such as ignored_auth send the same
    # request again without it and expect a 401.
    try:
        case.call_and_validate(
            base_url=live_api.url, headers={"Authorization": f"Bearer {WRITE_KEY}"}
        )
    except Exception:
        print(live_api.log()[-5000:])
        raise


def test_no_key_reaches_the_log_even_from_garbled_requests(live_api: LiveApi) -> None:
    """After all of the above (every request carried the key), and a request the HTTP parser
    itself refuses (aiohttp logs those with the offending header line), the log holds no key."""
    host, port = live_api.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(
            b"GET /api/v1/batch/status HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {WRITE_KEY}".encode()
            + b"\x01\r\n\r\n"
        )
        assert raw.recv(100).startswith(b"HTTP/1.")
    deadline = time.monotonic() + 5
    while "Error handling request" not in live_api.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = live_api.log()
    assert "Error handling request" in log
    assert WRITE_KEY not in log
