"""schemathesis against the live API: requests generated from the OpenAPI document (valid
ones and deliberately broken ones) must never get a 5xx, and every answer must conform to
the document (status, content type, headers, body). One test per operation.

The schema is the document the API serves (``build_document``; test_openapi.py checks the
served one is that) loaded at import, since schemathesis' ``from_fixture`` does not work
with this pytest; the requests go to the live API process of ``live_api``.
"""

from __future__ import annotations

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
