"""The example plugin (examples/notion-batch-plugin-example) as the suite sees it.

`make install` installs it editable, as a team would install its own plugin, so its entry
point is real to importlib.metadata in this venv, for the API, the workers and these tests.
Its own tests live with it (a plugin's authors run them there); they run here too, in a
pytest of their own, so CI keeps the example working.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from notion_batch.common.handlers import ENTRY_POINT_GROUP, handler_names

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "notion-batch-plugin-example"


def test_the_example_is_installed_with_its_entry_point() -> None:
    found = {entry.name: entry for entry in entry_points(group=ENTRY_POINT_GROUP)}
    assert "triage" in found, (
        "the example plugin is not installed in this venv: run `make install` "
        f"(pip install -e {EXAMPLE.relative_to(EXAMPLE.parents[1])})"
    )
    assert found["triage"].value == "notion_batch_example.triage:triage"
    assert "triage" in handler_names()


def test_the_examples_own_tests_pass() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout
