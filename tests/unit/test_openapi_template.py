"""openapi.yaml and its placeholders: every one filled, every value filled in used."""

from __future__ import annotations

import json
import re

from notion_batch.api import openapi


def test_no_placeholder_is_left_in_the_document() -> None:
    text = json.dumps(openapi.build_document("1.0.0", handlers=("complete",)))
    assert "${" not in text


def test_every_value_filled_in_is_a_placeholder_of_the_template() -> None:
    used = set(re.findall(r"\$\{([A-Za-z_]+)\}", json.dumps(openapi._template())))
    assert used == {*openapi._constants(), "version", "handlers", "integrations"}


def test_a_whole_placeholder_keeps_its_value_and_one_in_a_text_becomes_text() -> None:
    values = {"N": 5, "L": ["a", "b"]}
    filled = openapi._fill({"n": "${N}", "l": ["${L}"], "t": "up to ${N} of ${L}"}, values)
    assert filled == {"n": 5, "l": [["a", "b"]], "t": "up to 5 of ['a', 'b']"}
    assert filled["l"][0] is not values["L"]  # a copy: the document shares nothing
