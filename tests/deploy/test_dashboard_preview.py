"""scripts/dashboard_preview.py against the dashboard: every panel is drawn or named as not drawn.

No stack runs here: the panels' queries are prepared as the script sends them (and, where
Debian's ``promtool`` is installed, parsed by Prometheus's own parser), and the layout is
drawn from made-up answers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from scripts import dashboard_preview as preview

BOARD = preview.panels(json.loads(preview.DASHBOARD.read_text()))


def test_every_panel_is_drawn_or_named_with_why_not() -> None:
    shown = [p for p in BOARD if p.type != "row"]
    assert shown
    for panel in shown:
        if panel.not_drawn:
            # Only Loki's panels are left undrawn, and they say so in the picture.
            assert panel.not_drawn == preview.NOT_DRAWN_REASON, panel.title
            continue
        assert panel.type in ("stat", "timeseries"), panel.title
        assert panel.targets, panel.title
        for target in panel.targets:
            query = preview.promql(target.expr, step=1, scrape=1)
            assert "$" not in query, f"{panel.title}: a variable left in {query}"


@pytest.mark.skipif(not shutil.which("promtool"), reason="no promtool (apt-get install prometheus)")
def test_every_query_parses_in_prometheus(tmp_path: Path) -> None:
    queries = [
        preview.promql(t.expr, step=1, scrape=1)
        for p in BOARD
        if not p.not_drawn
        for t in p.targets
    ]
    # As recording rules, promtool parses each expression with Prometheus's parser.
    rules = [{"record": f"preview:query_{i}", "expr": q} for i, q in enumerate(queries)]
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "preview", "rules": rules}]}))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)],
        check=False,  # its output is the failure message
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(rules)} rules found" in checked.stdout


def test_rate_interval_and_legends_are_grafanas() -> None:
    assert preview.rate_interval(1, 1) == 4  # 4 × scrape
    assert preview.rate_interval(30, 15) == 60
    assert preview.rate_interval(60, 15) == 75  # step + scrape
    labels = {"operation": "check_todo", "status": "429"}
    assert preview.legend("{{operation}} {{status}}", labels, "x") == "check_todo 429"
    assert preview.legend("ended {{reason}}", {}, "x") == "ended"
    assert preview.legend("", {}, "max(up)") == "max(up)"
    assert preview.fmt(0.0475, "s") == "47.5 ms"
    assert preview.fmt(2.5, "reqps") == "2.5 req/s"
    assert preview.fmt(0.25, "percentunit") == "25%"
    assert preview.fmt(1500, "short") == "1.5 K"


def test_the_layout_draws_from_answers(tmp_path: Path) -> None:
    start = 1_800_000_000.0
    times = [start + i for i in range(60)]
    results: preview.Results = {
        (p.id, t.ref_id): [preview.Series(f"{t.ref_id} series", times, [i % 7 for i in range(60)])]
        for p in BOARD
        if not p.not_drawn
        for t in p.targets
    }
    out = preview.render(BOARD, results, start=start, end=times[-1], out=tmp_path / "board.png")
    with Image.open(out) as picture:
        rows = max(p.grid[1] + p.grid[3] for p in BOARD)
        assert picture.size[0] == preview.WIDTH_PX
        assert picture.size[1] > rows * preview.CELL_PX
